"""The demo against real engines serving Gemma 3 270M: llama.cpp's server (llama-cpp-python)
and Ollama 0.24.0, built from its Go module. Gemma 3 270M shares its tokenizer and turn format
with the gemma3 models in the post's table.

A recording proxy sits between the demo and the engine, so that every number the demo prints is
held against the response the engine sent, and every prompt against what the engine's own
tokenizer makes of it.
"""

import re

import pytest
from engines import Engine, Run, gemma_turns, rendered_prompts, run_through_proxy
from rundemo import README, readme_sample_output

COUNT_LABELS = ("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", "replay prompt_tokens")


@pytest.fixture(scope="module")
def run(engine: Engine) -> Run:
    return run_through_proxy(engine)


def test_demo_runs_cleanly_and_makes_the_four_calls_the_post_describes(run: Run) -> None:
    run.outcome.success()
    assert "Traceback" not in run.outcome.err
    assert len(run.chats) == 4
    block1, one, five, replay = (c.request["messages"] for c in run.chats)
    assert len(block1) == 1 and len(one) == 1 and block1 != one
    assert [m["role"] for m in five] == ["user", "assistant", "user", "assistant", "user"]
    assert five[-1] == one[0], "the same question, as the 5th turn"
    assert replay == one


def test_printed_numbers_are_the_served_ones(run: Run) -> None:
    block1, one, five, replay = (c.response["usage"] for c in run.chats)
    usage_line = next(line for line in run.outcome.out.splitlines() if line.startswith("usage: "))
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert f"{name}={block1[name]}" in usage_line
    assert run.printed("1-turn prompt_tokens") == one["prompt_tokens"]
    assert run.printed("5-turn prompt_tokens") == five["prompt_tokens"]
    assert run.printed("delta") == five["prompt_tokens"] - one["prompt_tokens"]
    assert run.printed("replay prompt_tokens") == replay["prompt_tokens"]


def test_replay_counts_what_the_one_turn_call_counted_and_says_so(run: Run) -> None:
    alone = run.printed("1-turn prompt_tokens")
    assert run.printed("5-turn prompt_tokens") > alone
    assert run.printed("replay prompt_tokens") == alone
    assert f"The replay counted {alone} again: the 5-turn call added nothing to it." in " ".join(
        run.outcome.out.split()
    )


def test_counts_are_the_rendered_prompts_and_the_delta_is_the_history_to_the_token(
    run: Run,
) -> None:
    """Render each prompt as the engine does (Gemma's turns), count it with the engine's own
    tokenizer, and find exactly the served counts; then the delta is exactly the four history
    messages, each wrapped in its turn markers, and nothing else."""
    count, render = run.engine.count, run.engine.render
    _, one, five, _ = (c.request["messages"] for c in run.chats)
    assert count(render(one)) == run.printed("1-turn prompt_tokens")
    assert count(render(five)) == run.printed("5-turn prompt_tokens")
    history = render(five[:4]).removesuffix(render([]))
    assert render(five) == history + render(one)
    begin = count("<start_of_turn>") - 1  # what the engine adds to any prompt: <bos>
    assert run.printed("delta") == count(history) - begin


def test_two_runs_print_the_same_prompt_tokens(run: Run) -> None:
    again = run_through_proxy(run.engine)
    assert [again.printed(label) for label in COUNT_LABELS] == [
        run.printed(label) for label in COUNT_LABELS
    ]


def test_readme_numbers_to_expect_are_the_measured_ones(run: Run) -> None:
    row = next(line for line in README.splitlines() if f"| {run.engine.label} |" in line)
    numbers = [int(cell) for cell in re.findall(r"\| (\d+) (?=\|)", row)]
    assert numbers == [run.printed(label) for label in COUNT_LABELS], row


def test_ollama_renders_each_prompt_as_the_counts_assume(ollama: Engine) -> None:
    # Ollama's trace log shows each prompt as its template rendered it: the gemma3 template
    # from Ollama's own source, as the session imported the model.
    run = run_through_proxy(ollama)
    assert rendered_prompts(run.log) == [ollama.render(c.request["messages"]) for c in run.chats]


def test_both_engines_count_gemmas_turns_alike(llama_cpp_engine: Engine, ollama: Engine) -> None:
    """Each of the demo's prompts in Gemma's turn format, as llama.cpp's server renders it (and
    as the gemma3 template of Ollama's library does, which ends where the turns end), counts
    the same on Ollama's Go tokenizer as on llama.cpp's."""
    for chat in run_through_proxy(llama_cpp_engine).chats:
        prompt = gemma_turns(chat.request["messages"])
        assert ollama.count(prompt) == llama_cpp_engine.count(prompt), prompt


def test_ollama_counts_a_blank_line_as_two_tokens_where_llama_cpp_counts_one(
    llama_cpp_engine: Engine, ollama: Engine
) -> None:
    # Why Ollama's row in the README is one higher: the gemma3 template in its source ends
    # with a newline, after the prompt's own, and Ollama 0.24.0 does not merge the two.
    assert ollama.render([]).endswith("model\n\n")
    assert ollama.count("\n\n") == llama_cpp_engine.count("\n\n") + 1


def without_answers(text: str) -> str:
    """The demo's output with what a model may word differently masked: each answer, up to the
    label that follows it (an answer may run over lines), and the tokens spent on them."""
    for label, following in [
        ("content", "usage"),
        ("1-turn response", "5-turn response"),
        ("5-turn response", "1-turn prompt_tokens"),
    ]:
        text = re.sub(
            rf"^{label}: .*?\n(?={following}: )", f"{label}: …\n", text, flags=re.M | re.S
        )
    return re.sub(r"(completion_tokens|total_tokens)=\d+", r"\1=…", text)


def test_readme_sample_output_is_what_the_demo_prints_today(llama_cpp_engine: Engine) -> None:
    printed = run_through_proxy(llama_cpp_engine).outcome.out
    assert without_answers(readme_sample_output()) == without_answers(printed)

"""The demo against the real engines: llama.cpp's own llama-server serving Gemma 3 270M, and
Ollama 0.34.4 serving gemma3:270m and smollm2:135m as its library ships them.

A recording proxy sits between the demo and the engine, so that every number the demo prints is
held against the response the engine sent, and every prompt against what the engine rendered
and what its own tokenizer makes of that.
"""

import re

import pytest
from engines import Engine, Run, run_through_proxy
from rundemo import readme_sample_output

pytestmark = pytest.mark.engine

COUNT_LABELS = ("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", "replay prompt_tokens")


@pytest.fixture(scope="module", params=["llama_cpp", "ollama_gemma", "ollama_smollm2_capped"])
def run(request: pytest.FixtureRequest) -> Run:
    """One run of the demo on each engine in turn."""
    engine: Engine = request.getfixturevalue(request.param)
    return run_through_proxy(engine)


def test_demo_makes_the_four_calls_the_post_describes_and_no_more(run: Run) -> None:
    run.outcome.assert_succeeded()
    assert len(run.chats) == 4
    block1, one, five, replay = (c.request["messages"] for c in run.chats)
    assert len(block1) == 1 and len(one) == 1 and block1 != one
    assert [m["role"] for m in five] == ["user", "assistant", "user", "assistant", "user"]
    assert five[-1] == one[0], "the same question, as the 5th turn"
    assert replay == one
    assert all(set(c.request) == {"model", "messages"} for c in run.chats), "no cap, no extras"


def test_printed_numbers_are_the_served_ones(run: Run) -> None:
    block1, one, five, replay = (c.response["usage"] for c in run.chats)
    usage_line = next(line for line in run.outcome.out.splitlines() if line.startswith("usage: "))
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert f"{name}={block1[name]}" in usage_line
    assert f"cached_tokens={block1['prompt_tokens_details']['cached_tokens']}" in usage_line
    assert run.printed("1-turn prompt_tokens") == one["prompt_tokens"]
    assert run.printed("5-turn prompt_tokens") == five["prompt_tokens"]
    assert run.printed("delta") == five["prompt_tokens"] - one["prompt_tokens"]
    assert run.printed("replay prompt_tokens") == replay["prompt_tokens"]


def test_cache_line_gives_the_replays_cached_tokens_as_served(run: Run) -> None:
    cached = run.chats[3].response["usage"]["prompt_tokens_details"]["cached_tokens"]
    said = " ".join(run.outcome.out.split())
    assert f"The server read {cached} of those from its prompt cache (cached_tokens)," in said
    assert "yet all were still sent and counted" in said


def test_each_count_is_the_rendered_prompt_to_the_token(run: Run) -> None:
    """Each prompt as the engine rendered it, counted by the engine's own tokenizer, is exactly
    the count it served; and the replay rendered exactly as the 1-turn call did."""
    prompts = run.prompts()
    for prompt, served in prompts:
        assert run.engine.count(prompt) == served, prompt
    assert prompts[3][0] == prompts[1][0]


def test_the_delta_is_the_four_history_messages_in_their_turn_markers(run: Run) -> None:
    """The 5-turn prompt is the 1-turn prompt with the four history turns put in where its
    first turn begins (after whatever comes first, a system prompt say), and the delta is what
    those turns count, to the token."""
    render, count = run.engine.render, run.engine.count
    _, one, five, _ = (c.request["messages"] for c in run.chats)
    alone, whole = render(one), render(five)
    start = next(i for i, (a, b) in enumerate(zip(alone, whole, strict=False)) if a != b)
    history = whole[start : start + len(whole) - len(alone)]
    assert whole == alone[:start] + history + alone[start:]
    in_order = ".*".join(re.escape(m["content"]) for m in five[:4])
    assert re.fullmatch(f".*{in_order}.*", history, re.S) and one[0]["content"] not in history
    begin = count("")  # what the engine adds to any prompt: its BOS, or nothing
    assert run.printed("delta") == count(history) - begin


def test_two_runs_print_the_same_prompt_tokens(run: Run) -> None:
    again = run_through_proxy(run.engine)
    assert [again.printed(label) for label in COUNT_LABELS] == [
        run.printed(label) for label in COUNT_LABELS
    ]


def without_answers(text: str) -> str:
    """The demo's output with what a model may word differently masked: each answer, up to the
    label that follows it (an answer may run over lines), the tokens spent on them, and the
    cache's share, which changes from run to run."""
    for label, following in [
        ("content", "usage"),
        ("1-turn response", "5-turn response"),
        ("5-turn response", "1-turn prompt_tokens"),
    ]:
        text = re.sub(
            rf"^{label}: .*?\n(?={following}: )", f"{label}: …\n", text, flags=re.M | re.S
        )
    text = re.sub(r"(completion_tokens|total_tokens|cached_tokens)=\d+", r"\1=…", text)
    return re.sub(r"^The server read \d+ of", "The server read … of", text, flags=re.M)


def test_readme_sample_output_is_what_the_demo_prints_today(ollama_smollm2: Engine) -> None:
    # No cap, as the README says: four answers of up to 4,096 tokens each may take minutes.
    printed = run_through_proxy(ollama_smollm2, bound=600).outcome.assert_succeeded()
    assert without_answers(readme_sample_output()) == without_answers(printed)

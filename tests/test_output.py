"""What the demo prints, against fakes that answer as Ollama does with the counts each case needs:
the explanation in each of its cases, the cache line only with the server's own number, and an
answer with no text."""

import pytest
from conftest import Demo
from fakes import always, completion, counts, json_reply


def explanation(stdout: str) -> str:
    """What follows the last count, as one line of words."""
    return " ".join(stdout.split("replay prompt_tokens:", 1)[1].split()[1:])


def test_the_output_follows_the_posts_blocks_with_the_three_calls_named(demo: Demo) -> None:
    outcome, _ = demo(counts(27, 16, 89, 16))
    lines = outcome.assert_succeeded().splitlines()
    assert lines[:3] == [
        "=" * 60,
        "Block 1 — one chat call through the OpenAI SDK, and its usage",
        "=" * 60,
    ]
    assert lines[3] == "content: Ottawa."
    assert lines[4].startswith("usage: CompletionUsage(completion_tokens=5, prompt_tokens=27, ")
    assert lines[5:8] == [
        "=" * 60,
        "Block 2 — three calls: a question alone, after four turns, again",
        "=" * 60,
    ]
    assert lines[8:15] == [
        "1-turn response: Ottawa.",
        "5-turn response: Ottawa.",
        "1-turn prompt_tokens: 16",
        "5-turn prompt_tokens: 89",
        "delta: 73",
        "replay prompt_tokens: 16",
        "",
    ]
    assert max(len(line) for line in lines[15:]) <= 90, "fits a terminal"


def test_the_stateless_contract_is_told_in_plain_words_with_the_delta(demo: Demo) -> None:
    outcome, _ = demo(counts(27, 16, 89, 16))
    said = explanation(outcome.assert_succeeded())
    assert said.startswith(
        "The chat completions API is stateless: the server keeps no conversation between "
        "calls, so each request carries everything the model sees, and the client sends the "
        "whole history every time. The delta, 73, is the four made-up messages, each wrapped in "
        "the model's turn markers. The replay counted 16 again: the five turns before it left no "
        "trace in its count."
    )


def test_the_cache_line_gives_the_servers_cached_tokens_and_says_all_were_counted(
    demo: Demo,
) -> None:
    outcome, _ = demo(counts(27, 16, 89, 16, cached_tokens=15))
    assert explanation(outcome.assert_succeeded()).endswith(
        "no trace in its count. The server read 15 of those from its prompt cache "
        "(cached_tokens), yet all were still sent and counted: the cache makes reading faster; "
        "it is not the conversation."
    )


def test_without_cached_tokens_the_general_sentence_stays_and_no_number_is_made_up(
    demo: Demo,
) -> None:
    outcome, _ = demo(counts(27, 16, 89, 16, cached_tokens=None))
    said = explanation(outcome.assert_succeeded())
    assert said.endswith(
        "no trace in its count. A server may cache the start of a prompt to read it faster; "
        "that is not memory."
    )
    assert "cached_tokens" not in said


@pytest.mark.parametrize(
    "served",
    [
        (27, 16, 85, 1),  # Ollama 0.30.0 counted only what its cache missed (fixed in 0.30.1)
        (27, 16, 16, 16),  # a history that costs nothing
        (27, 0, 0, 0),  # a server that counts nothing
    ],
    ids=["replay-counted-differently", "no-delta", "no-counts"],
)
def test_counts_that_do_not_follow_the_prompts_are_said_to_prove_nothing(
    demo: Demo, served: tuple[int, ...]
) -> None:
    outcome, _ = demo(counts(*served))
    out = outcome.assert_succeeded()
    _, one, five, replay = served
    assert f"1-turn prompt_tokens: {one}\n5-turn prompt_tokens: {five}\n" in out
    assert f"delta: {five - one}\nreplay prompt_tokens: {replay}\n" in out
    said = explanation(out)
    assert said == (
        "These counts do not follow the prompts sent (the same request should count the same, "
        "a longer one more), so they cannot show what the server kept."
    )


def test_answer_is_shown_as_the_model_gave_it(demo: Demo) -> None:
    outcome, _ = demo(always(json_reply(completion("Ottawa.\nIt is in Ontario."))))
    assert "content: Ottawa.\nIt is in Ontario.\nusage: " in outcome.assert_succeeded()


@pytest.mark.parametrize("content", [None, ""])
def test_an_answer_with_no_text_says_so_not_none(demo: Demo, content: str | None) -> None:
    # Ollama returns a thinking model's reasoning in message.reasoning, apart from the answer.
    reply = completion(content, finish_reason="length", reasoning="The user asks about")
    outcome, _ = demo(always(json_reply(reply)))
    out = outcome.assert_succeeded()
    assert out.count("(no answer text)") == 3
    assert "None" not in out.replace("=None", "")

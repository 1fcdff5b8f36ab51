"""The flags: each reaches the server as given, --help shows every default but never a key, and
a value that cannot work is refused before any call, with exit code 2."""

import pytest
from conftest import Demo
from fakes import always, completion, json_reply
from rundemo import run_demo


def test_flags_reach_the_server_as_given(demo: Demo) -> None:
    flags = ["--model", "llama3.2:3b", "--api-key", "key-1", "--max-tokens", "64"]
    outcome, server = demo(always(json_reply(completion())), *flags)
    outcome.success()
    sent = {
        (c.body["model"], c.headers["authorization"], c.body["max_tokens"])
        for c in server.chat_calls()
    }
    assert sent == {("llama3.2:3b", "Bearer key-1", 64)}


def test_by_default_the_demo_asks_for_the_posts_model_with_no_cap_and_a_placeholder_key(
    demo: Demo,
) -> None:
    outcome, server = demo(always(json_reply(completion())))
    outcome.success()
    calls = server.chat_calls()
    assert len(calls) == 4
    assert {c.body["model"] for c in calls} == {"gpt-oss:20b"}
    assert {c.headers["authorization"] for c in calls} == {"Bearer ollama"}
    assert {c.body.get("max_tokens") for c in calls} == {None}, "like the post: no cap"


def test_help_names_every_flag_and_its_default() -> None:
    text = " ".join(run_demo("--help").success().split())
    for flag in ("--model", "--base-url", "--api-key", "--timeout", "--max-tokens"):
        assert flag in text
    assert "a model the server has: gpt-oss:20b" in text
    assert "the server's /v1 URL: http://localhost:11434/v1" in text


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout=-1"],
        ["--timeout=0"],
        ["--timeout=abc"],
        ["--timeout=nan"],
        ["--max-tokens=0"],
        ["--max-tokens=1.5"],
        ["--api-key="],
        ["--base-url", "localhost:11434/v1"],
        ["--nope"],
    ],
)
def test_values_that_cannot_work_are_refused_before_any_call(args: list[str]) -> None:
    said = run_demo(*args).failure(code=2)
    assert "usage:" in said
    assert "asking" not in said

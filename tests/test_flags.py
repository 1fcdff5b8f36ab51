"""The flags: each reaches the server as given, the defaults are the post's, and a value that
cannot work is refused before any call, with exit code 2."""

import pytest
from conftest import Demo
from fakes import always, completion, json_reply
from rundemo import run_demo


def test_by_default_the_demo_asks_for_the_posts_model_with_the_placeholder_key_and_no_cap(
    demo: Demo,
) -> None:
    outcome, server = demo(always(json_reply(completion())))
    outcome.assert_succeeded()
    calls = server.chat_calls()
    assert len(calls) == 4
    assert {c.body["model"] for c in calls} == {"gpt-oss:20b"}
    assert {c.headers["authorization"] for c in calls} == {"Bearer ollama"}
    assert all(set(c.body) == {"model", "messages"} for c in calls), "like the post: no cap"


def test_the_model_flag_reaches_the_server(demo: Demo) -> None:
    outcome, server = demo(always(json_reply(completion())), "--model", "llama3.2:3b")
    outcome.assert_succeeded()
    assert {c.body["model"] for c in server.chat_calls()} == {"llama3.2:3b"}


def test_help_names_every_flag_and_its_default() -> None:
    text = " ".join(run_demo("--help").assert_succeeded().split())
    assert "--model MODEL the model to ask: gpt-oss:20b" in text
    assert "--base-url BASE_URL the server's /v1 URL: http://localhost:11434/v1" in text
    assert "--timeout TIMEOUT per answer: 300s" in text


@pytest.mark.parametrize(
    "args", [["--timeout=-1"], ["--timeout=0"], ["--timeout=abc"], ["--timeout=nan"], ["--nope"]]
)
def test_values_that_cannot_work_are_refused_before_any_call(demo: Demo, args: list[str]) -> None:
    outcome, server = demo(always(json_reply(completion())), *args)
    said = outcome.assert_failed(code=2)
    assert said.startswith("usage: demo.py")
    assert server.requests == []

"""Settings: each flag has a PORTWAY_ variable; the flag wins, then the variable, then the
default. A value that cannot work is refused before any call, with exit code 2."""

import pytest
from helpers import FakeServer, Serve, answers, assert_clean_failure, completion, run_demo


def test_settings_flag_beats_variable_beats_default(serve: Serve) -> None:
    by_default, by_variable, by_flag = (serve(answers(completion())) for _ in range(3))
    run_demo(env={"PORTWAY_BASE_URL": by_default.url + "/v1"})
    variables = {
        "PORTWAY_BASE_URL": by_variable.url + "/v1",
        "PORTWAY_MODEL": "from-variable",
        "PORTWAY_API_KEY": "key-from-variable",
        "PORTWAY_MAX_TOKENS": "77",
    }
    run_demo(env=variables)
    flags = ["--base-url", by_flag.url + "/v1", "--model", "from-flag"]
    flags += ["--api-key", "key-from-flag", "--max-tokens", "88"]
    run_demo(*flags, env=variables)

    def seen(server: FakeServer) -> set[tuple[str, str, int]]:
        calls = server.chat_calls()
        assert len(calls) == 4
        return {(c.body["model"], c.headers["authorization"], c.body["max_tokens"]) for c in calls}

    assert seen(by_default) == {("gpt-oss:20b", "Bearer ollama", 1024)}
    assert seen(by_variable) == {("from-variable", "Bearer key-from-variable", 77)}
    assert seen(by_flag) == {("from-flag", "Bearer key-from-flag", 88)}


def test_timeout_flag_beats_a_bad_variable_and_the_bad_variable_is_named(serve: Serve) -> None:
    server = serve(answers(completion()))
    proc = run_demo(
        "--base-url", server.url + "/v1", "--timeout", "30", env={"PORTWAY_TIMEOUT": "abc"}
    )
    assert proc.returncode == 0, proc.stderr
    said = assert_clean_failure(run_demo(env={"PORTWAY_TIMEOUT": "abc"}), code=2)
    assert "argument --timeout: 'abc' is not a number of seconds above 0" in said
    assert "(PORTWAY_TIMEOUT)" in said


def test_timeout_variable_beats_the_default(serve: Serve) -> None:
    server = serve(lambda request: "hang")
    proc = run_demo(env={"PORTWAY_BASE_URL": server.url + "/v1", "PORTWAY_TIMEOUT": "1.5"})
    assert "within 1.5 s" in assert_clean_failure(proc)


def test_help_names_every_flag_its_variable_and_its_value() -> None:
    proc = run_demo("--help", env={"PORTWAY_MODEL": "qwen2.5:7b"})
    assert proc.returncode == 0
    help_text = " ".join(proc.stdout.split())
    for flag in ("--model", "--base-url", "--api-key", "--timeout", "--max-tokens"):
        assert f"(PORTWAY_{flag[2:].upper().replace('-', '_')}" in help_text, flag
    assert "now: qwen2.5:7b" in help_text and "now: http://localhost:11434/v1" in help_text


def test_help_never_shows_the_key() -> None:
    proc = run_demo("--help", env={"PORTWAY_API_KEY": "sk-do-not-show-me"})
    assert proc.returncode == 0
    assert "sk-do-not-show-me" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout=-1"],
        ["--timeout=0"],
        ["--timeout=abc"],
        ["--timeout=nan"],
        ["--timeout=inf"],
        ["--max-tokens=0"],
        ["--max-tokens=1.5"],
        ["--base-url", "localhost:11434/v1"],
        ["--model", " "],
        ["--api-key", ""],
        ["--nope"],
    ],
)
def test_settings_that_cannot_work_are_refused_before_any_call(args: list[str]) -> None:
    said = assert_clean_failure(run_demo(*args), code=2)
    assert "usage:" in said
    assert "asking" not in said

"""Settings: each flag has an environment variable; the flag wins, then the variable, then the
default. Settings that cannot work are refused before any call, by argparse."""

import pytest
from conftest import (
    FakeServer,
    Serve,
    answers,
    assert_clean_failure,
    completion,
    run_demo,
)


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


def test_timeout_flag_beats_a_bad_variable(serve: Serve) -> None:
    server = serve(answers(completion()))
    proc = run_demo(
        "--base-url", server.url + "/v1", "--timeout", "30", env={"PORTWAY_TIMEOUT": "abc"}
    )
    assert proc.returncode == 0, proc.stderr
    said = assert_clean_failure(run_demo(env={"PORTWAY_TIMEOUT": "abc"}), code=2)
    assert "PORTWAY_TIMEOUT" in said


def test_timeout_variable_beats_the_default(serve: Serve) -> None:
    server = serve(lambda request: None)
    proc = run_demo(env={"PORTWAY_BASE_URL": server.url + "/v1", "PORTWAY_TIMEOUT": "1.5"})
    assert "within 1.5 s" in assert_clean_failure(proc)


def test_help_explains_every_setting() -> None:
    proc = run_demo("--help")
    assert proc.returncode == 0
    for flag, variable in [
        ("--model", "PORTWAY_MODEL"),
        ("--base-url", "PORTWAY_BASE_URL"),
        ("--api-key", "PORTWAY_API_KEY"),
        ("--timeout", "PORTWAY_TIMEOUT"),
        ("--max-tokens", "PORTWAY_MAX_TOKENS"),
    ]:
        assert flag in proc.stdout and variable in proc.stdout


def test_help_never_shows_the_key() -> None:
    proc = run_demo("--help", env={"PORTWAY_API_KEY": "sk-do-not-show-me"})
    assert proc.returncode == 0
    assert "sk-do-not-show-me" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["-1", "0", "abc", "nan", "inf"])
def test_bad_timeout_is_refused_by_argparse(value: str) -> None:
    said = assert_clean_failure(run_demo(f"--timeout={value}"), code=2)
    assert "usage:" in said and "--timeout" in said


@pytest.mark.parametrize(
    "args",
    [["--base-url", "localhost:11434/v1"], ["--max-tokens", "0"], ["--model", " "], ["--nope"]],
)
def test_bad_settings_are_refused_by_argparse(args: list[str]) -> None:
    said = assert_clean_failure(run_demo(*args), code=2)
    assert "usage:" in said

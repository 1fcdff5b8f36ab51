"""Every way a person can run the demo wrong ends in one clear message and a fix.

Each fault is served by a small local HTTP server, since no real engine produces it on
demand. Each test checks what the person is told, the exit code, and that no traceback
shows.
"""

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
from conftest import (
    HUNG,
    REPO,
    RUN_DEMO,
    FakeServer,
    Reply,
    Request,
    answers,
    assert_clean_failure,
    clean_env,
    completion,
    free_port,
    json_reply,
    run_demo,
)

Serve = Callable[[Callable[[Request], Reply]], FakeServer]
RUN = " ".join(RUN_DEMO)
OLLAMA_404 = {
    "error": {
        "message": 'model "gpt-oss:20b" not found, try pulling it first',
        "type": "api_error",
        "param": None,
        "code": None,
    }
}


def ollama_without_the_model(request: Request) -> Reply:
    if request.path == "/v1/models":
        models = [
            {"id": name, "object": "model", "created": 1, "owned_by": "library"}
            for name in ("llama3.2:3b", "qwen2.5:7b")
        ]
        return json_reply({"object": "list", "data": models})
    return json_reply(OLLAMA_404, status=404)


def test_nothing_listening_says_how_to_start_ollama() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    said = assert_clean_failure(run_demo("--base-url", url))
    assert f"Cannot reach {url} to ask gpt-oss:20b" in said
    assert "ollama serve" in said
    assert f"  {RUN} --base-url {url}\n" in said  # the same run, once the server is up
    assert f"  {RUN} --base-url http://localhost:8080/v1" in said


def test_url_without_v1_gives_the_url_with_v1(serve: Serve) -> None:
    def ollama_root(request: Request) -> Reply:
        if request.path == "/":
            return 200, {"Content-Type": "text/plain"}, b"Ollama is running"
        return 404, {"Content-Type": "text/plain"}, b"404 page not found"

    server = serve(ollama_root)
    said = assert_clean_failure(run_demo("--base-url", server.url))
    assert f"{RUN} --base-url {server.url}/v1" in said
    assert [r.path for r in server.requests] == ["/chat/completions"], "no retry elsewhere"


def test_full_endpoint_as_base_url_is_cut_back_to_v1(serve: Serve) -> None:
    server = serve(lambda request: (404, {"Content-Type": "text/plain"}, b"404 page not found"))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1/chat/completions"))
    assert f"{RUN} --base-url {server.url}/v1\n" in said + "\n"


def test_multi_line_answer_prints_whole_with_every_label_on_its_own_line(serve: Serve) -> None:
    server = serve(answers(completion("Ottawa.\nIt is in Ontario.\ndelta: not a label")))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "content: Ottawa.\n    It is in Ontario.\n    delta: not a label\n" in proc.stdout
    assert [line for line in proc.stdout.splitlines() if line.startswith("delta:")] == ["delta: 0"]


def test_missing_model_says_pull_it_and_lists_the_pulled_ones(serve: Serve) -> None:
    server = serve(ollama_without_the_model)
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "ollama pull gpt-oss:20b" in said
    assert "llama3.2:3b, qwen2.5:7b" in said
    assert f"{RUN} --model llama3.2:3b --base-url {server.url}/v1" in said
    assert len(server.chat_calls()) == 1, "never falls back to another model"


def test_missing_model_on_an_empty_server_names_the_smallest_model(serve: Serve) -> None:
    def empty_ollama(request: Request) -> Reply:
        if request.path == "/v1/models":
            return json_reply({"object": "list", "data": []})
        return json_reply(OLLAMA_404, status=404)

    server = serve(empty_ollama)
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "ollama pull gpt-oss:20b" in said
    assert "ollama pull llama3.2:3b" in said


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("how", ["flag", "variable"])
def test_refused_key_is_reported_without_the_key(serve: Serve, status: int, how: str) -> None:
    secret = "sk-portway-test-4f9c2e81d7"
    # A server that echoes the key back, as some do in their error message.
    body = {"error": {"message": f"Incorrect API key provided: {secret}", "type": "auth"}}
    server = serve(lambda request: json_reply(body, status=status))
    args, env = ["--base-url", server.url + "/v1"], {}
    if how == "flag":
        args += ["--api-key", secret]
    else:
        env["PORTWAY_API_KEY"] = secret
    proc = run_demo(*args, env=env)
    said = assert_clean_failure(proc)
    assert f"refused the API key (HTTP {status}) when asked for gpt-oss:20b" in said
    assert "PORTWAY_API_KEY" in said and "--api-key" in said
    assert secret not in proc.stdout + proc.stderr
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"


def test_silent_server_is_given_up_on_after_the_timeout(serve: Serve) -> None:
    server = serve(lambda request: None)
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1", "--timeout", "2"))
    assert f"No answer from {server.url}/v1 within 2 s" in said
    assert "loading the model" in said
    assert f"{RUN} --base-url {server.url}/v1 --timeout 600" in said
    assert len(server.requests) == 1, "a timed-out call must not be retried"


def test_html_page_is_not_an_openai_compatible_api(serve: Serve) -> None:
    page = b"<!doctype html><html><body><h1>My web app</h1></body></html>"
    server = serve(lambda request: (200, {"Content-Type": "text/html"}, page))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "not an OpenAI-compatible API" in said
    assert "port" in said


def test_html_error_page_is_not_an_openai_compatible_api(serve: Serve) -> None:
    page = b"<html><body>Not Found</body></html>"
    server = serve(lambda request: (404, {"Content-Type": "text/html"}, page))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "not an OpenAI-compatible API" in said


def test_body_labelled_json_that_is_not_json_is_not_an_api(serve: Serve) -> None:
    server = serve(lambda request: (200, {"Content-Type": "application/json"}, b"{oops"))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "not an OpenAI-compatible API" in said


def test_server_error_shows_its_message_and_a_smaller_model(serve: Serve) -> None:
    oom = "model requires more system memory (13.6 GiB) than is available (9.0 GiB)"
    server = serve(lambda request: json_reply({"error": {"message": oom}}, status=500))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert oom in said
    assert "HTTP 500" in said
    assert f"{RUN} --model llama3.2:3b --base-url {server.url}/v1" in said
    assert len(server.requests) == 1, "a server error must not be retried"


def test_answer_without_usage_says_the_proof_cannot_be_made(serve: Serve) -> None:
    server = serve(answers(completion(usage=False)))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "without token usage" in said
    assert "Ollama" in said and "llama-server" in said


def test_reasoning_only_answer_is_a_note_not_a_failure(serve: Serve) -> None:
    thinking = "The user asks for the capital of Canada. That is Ottawa."
    server = serve(answers(completion("", reasoning=thinking)))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "answered only in its reasoning channel" in proc.stdout
    assert thinking[:40] in proc.stdout
    assert "1-turn prompt_tokens: 12" in proc.stdout
    assert len(server.chat_calls()) == 4


def test_llama_cpp_reasoning_content_is_read_too(serve: Serve) -> None:
    server = serve(answers(completion(None, reasoning_content="Thinking it over: Ottawa.")))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert '"Thinking it over: Ottawa.' in proc.stdout


def test_answer_cut_by_the_token_cap_says_how_to_raise_it(serve: Serve) -> None:
    cut = completion("", finish_reason="length", reasoning="Let me think about rivers")
    server = serve(answers(cut))
    proc = run_demo("--base-url", server.url + "/v1", "--max-tokens", "64")
    assert proc.returncode == 0, proc.stderr
    assert "token cap (64) cut this answer short" in proc.stdout
    assert f"{RUN} --base-url {server.url}/v1 --max-tokens 256" in proc.stdout
    assert all(r.body["max_tokens"] == 64 for r in server.chat_calls())


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


def test_ctrl_c_ends_with_one_line_and_exit_130(serve: Serve) -> None:
    server = serve(lambda request: None)
    # A terminal's Ctrl-C reaches the whole foreground group: uv and the demo both.
    proc = subprocess.Popen(
        [*RUN_DEMO, "--base-url", server.url + "/v1"],
        cwd=REPO,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        notice = proc.stderr.readline()  # the demo is in the middle of a call now
        assert "waiting for gpt-oss:20b" in notice
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=HUNG)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip() == "Interrupted."
    assert "Traceback" not in out + err


def test_slow_call_says_what_it_waits_for_on_stderr_only(serve: Serve) -> None:
    slow = {"first": True}

    def slow_first_answer(request: Request) -> Reply:
        if slow.pop("first", False):
            time.sleep(3)  # longer than the moment the demo waits before it speaks up
        return json_reply(completion())

    server = serve(slow_first_answer)
    proc = run_demo("--base-url", server.url + "/v1", "--model", "llama3.2:3b")
    assert proc.returncode == 0, proc.stderr
    assert f"waiting for llama3.2:3b at {server.url}/v1" in proc.stderr
    assert "waiting" not in proc.stdout


def test_replay_counted_differently_is_called_out(serve: Serve) -> None:
    counts = iter([20, 20, 60, 27])  # block 1, 1-turn, 5-turn, replay

    server = serve(lambda request: json_reply(completion(prompt_tokens=next(counts))))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "1-turn replay prompt_tokens: 27" in proc.stdout
    assert "the replay counted 27 prompt tokens, not 20" in proc.stdout
    assert "counted 20 again" not in proc.stdout


def test_cached_tokens_the_server_reports_are_shown_as_a_speed_up(serve: Serve) -> None:
    replies = iter(
        [
            completion(),
            completion(prompt_tokens=20),
            completion(prompt_tokens=90),
            completion(prompt_tokens=20, cached=18),
        ]
    )
    server = serve(lambda request: json_reply(next(replies)))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "The server says 18 of the replay's 20 prompt tokens came from its prefix" in proc.stdout
    assert "counted 20 again" in proc.stdout


def test_redirect_is_not_followed_to_another_url(serve: Serve) -> None:
    elsewhere = serve(answers(completion()))
    target = elsewhere.url + "/v1/chat/completions"
    server = serve(lambda request: (307, {"Location": target}, b""))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "HTTP 307" in said
    assert elsewhere.requests == []


def test_proxy_settings_in_the_environment_are_ignored(serve: Serve) -> None:
    proxy = serve(answers(completion(prompt_tokens=999)))
    server = serve(answers(completion()))
    env = {name: proxy.url for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    proc = run_demo("--base-url", server.url + "/v1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proxy.requests == []
    assert len(server.chat_calls()) == 4


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


def test_requests_carry_the_conversation_the_post_describes(serve: Serve) -> None:
    server = serve(answers(completion()))
    assert run_demo("--base-url", server.url + "/v1").returncode == 0
    block1, one, five, replay = (c.body["messages"] for c in server.chat_calls())
    assert len(block1) == 1 and len(one) == 1
    assert [m["role"] for m in five] == ["user", "assistant", "user", "assistant", "user"]
    assert five[-1] == one[0]
    assert replay == one
    assert json.dumps(one) != json.dumps(block1)


def test_reader_that_stops_reading_ends_the_demo_quietly(serve: Serve) -> None:
    closed = threading.Event()

    def answer_once_stdout_is_closed(request: Request) -> Reply:
        closed.wait(HUNG)
        return json_reply(completion())

    server = serve(answer_once_stdout_is_closed)
    proc = subprocess.Popen(
        [*RUN_DEMO, "--base-url", server.url + "/v1"],
        cwd=REPO,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # like `| head` once it has read enough
    closed.set()
    _, err = proc.communicate(timeout=HUNG)
    assert proc.returncode == 1
    assert "Traceback" not in err and "Exception ignored" not in err

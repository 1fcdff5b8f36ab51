"""Every way a person can run the demo wrong ends in one clear message and a fix.

Each fault is served by a small local HTTP server, since no real engine produces it on
demand. Each test checks what the person is told, the exit code, and that no traceback
shows.
"""

import os
import signal
import threading

import pytest
from conftest import (
    HUNG,
    RUN,
    Reply,
    Request,
    Serve,
    answers,
    assert_clean_failure,
    completion,
    free_port,
    json_reply,
    run_demo,
    start_demo,
)

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


def test_ctrl_c_ends_with_one_line_and_exit_130(serve: Serve) -> None:
    server = serve(lambda request: None)
    # A terminal's Ctrl-C reaches the whole foreground group: uv and the demo both.
    proc = start_demo("--base-url", server.url + "/v1", new_session=True)
    try:
        assert proc.stderr is not None
        # Once it says what it waits for, the demo is in the middle of a call.
        while "waiting for gpt-oss:20b" not in (line := proc.stderr.readline()):
            assert line, "the demo ended before it said what it was waiting for"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=HUNG)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip() == "Interrupted."
    assert "Traceback" not in out + err


def test_reader_that_stops_reading_ends_the_demo_quietly(serve: Serve) -> None:
    closed = threading.Event()

    def answer_once_stdout_is_closed(request: Request) -> Reply:
        closed.wait(HUNG)
        return json_reply(completion())

    server = serve(answer_once_stdout_is_closed)
    proc = start_demo("--base-url", server.url + "/v1")
    assert proc.stdout is not None
    proc.stdout.close()  # like `| head` once it has read enough
    closed.set()
    _, err = proc.communicate(timeout=HUNG)
    assert proc.returncode == 1
    assert "Traceback" not in err and "Exception ignored" not in err

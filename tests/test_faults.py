"""Every way a run can go wrong ends in one message on stderr and a non-zero exit, with no
traceback: what happened in the server's or the system's words, then a fix only for the faults
this post's readers meet, where the cause is known.

Network faults are real sockets on loopback; the servers' faults come from fakes that answer as
Ollama's source does (fakes.py). test_ollama.py makes the same faults on the real Ollama where
it can.
"""

import os
import pty
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Demo, Serve
from engines import free_port
from fakes import (
    CLOSE,
    HANG,
    HOST_NOT_ALLOWED,
    HUNG,
    TLS,
    FakeServer,
    Reply,
    Request,
    always,
    completion,
    json_reply,
    missing_model,
    missing_model_before_v0_12,
    ollama,
    ollama_error,
    out_of_memory,
    text_reply,
)
from rundemo import run_demo, start_demo

# --- 1. Nothing listens at the URL ------------------------------------------------------------


def test_nothing_listening_on_ollamas_port_says_start_ollama() -> None:
    # Bound but not listening: the port is held, so a connection is refused, whatever else runs.
    with socket.socket() as held:
        held.bind(("127.0.0.2", 11434))
        said = run_demo("--base-url", "http://127.0.0.2:11434/v1").assert_failed()
    assert said == (
        "The request to http://127.0.0.2:11434/v1 failed: [Errno 111] Connection refused\n"
        "Start Ollama: `ollama serve`, or open the Ollama app.\n"
    )


def test_nothing_listening_elsewhere_says_start_your_server_or_check_the_port() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    said = run_demo("--base-url", url).assert_failed()
    assert said == (
        f"The request to {url} failed: [Errno 111] Connection refused\n"
        "Start your server, or check the port in --base-url.\n"
    )


# --- 2. The model is not on the server --------------------------------------------------------


@pytest.mark.parametrize("words", [missing_model, missing_model_before_v0_12])
def test_missing_model_names_the_models_the_server_has_before_saying_pull(
    demo: Demo, words: Callable[[str], Reply]
) -> None:
    outcome, server = demo(ollama(always(words("gpt-oss:20b")), ["llama3.2:3b", "qwen2.5:7b"]))
    first, advice = outcome.assert_failed().splitlines()
    assert first.startswith(f"HTTP 404 from {server.url}/v1/chat/completions: model ")
    assert advice == (
        "It has llama3.2:3b, qwen2.5:7b: pass one with --model, or `ollama pull gpt-oss:20b`."
    )
    assert len(server.chat_calls()) == 1, "never falls back to another model by itself"


def test_missing_model_on_an_ollama_with_nothing_pulled_says_pull_it(demo: Demo) -> None:
    outcome, _ = demo(ollama(always(missing_model("gpt-oss:20b")), []))  # "data": null
    assert outcome.assert_failed().endswith("\nPull it: `ollama pull gpt-oss:20b`.\n")


@pytest.mark.parametrize(
    "listing",
    [
        text_reply("<html>login</html>", kind="text/html"),
        (200, {"Content-Type": "application/json"}, b"{oops"),
    ],
    ids=["web-page", "broken-json"],
)
def test_missing_model_with_a_list_that_is_not_one_still_says_pull_it(
    demo: Demo, listing: Reply
) -> None:
    def respond(request: Request) -> Reply:
        return listing if request.path == "/v1/models" else missing_model("gpt-oss:20b")

    outcome, _ = demo(respond)
    assert outcome.assert_failed().endswith("\nPull it: `ollama pull gpt-oss:20b`.\n")


# --- 3. No answer within the timeout ----------------------------------------------------------


def test_silent_server_is_given_up_on_after_the_timeout_and_not_asked_again(demo: Demo) -> None:
    outcome, server = demo(always(HANG), "--timeout", "0.5")
    assert outcome.assert_failed() == (
        f"No answer from {server.url}/v1 within 0.5 s.\n"
        "A first call may be loading the model: --timeout 1 waits longer.\n"
    )
    assert len(server.requests) == 1, "a timed-out call must not be retried"


# --- 4. The server speaks of memory -----------------------------------------------------------


def test_server_error_about_memory_points_to_a_smaller_model(demo: Demo) -> None:
    outcome, server = demo(always(out_of_memory()))
    first, advice = outcome.assert_failed().splitlines()
    assert first.startswith(f"HTTP 500 from {server.url}/v1/chat/completions: llama-server ")
    assert first.endswith("failed to allocate buffer of size 14495514624")
    assert advice == "A smaller model from the post's table needs 8 GB: --model llama3.2:3b"
    assert len(server.requests) == 1, "a server error must not be retried"


def test_server_error_about_something_else_is_its_words_alone(demo: Demo) -> None:
    outcome, server = demo(always(ollama_error(500, "unexpected EOF")))
    assert outcome.assert_failed() == (
        f"HTTP 500 from {server.url}/v1/chat/completions: unexpected EOF\n"
    )


# --- 5. A base URL without /v1 ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/", "/api", "/v1/chat/completions"])
def test_url_that_is_not_the_v1_base_is_corrected(serve: Serve, path: str) -> None:
    server = serve(ollama(always(json_reply(completion())), ["gemma3:270m"]))
    said = run_demo("--base-url", server.url + path).assert_failed()
    asked = f"{server.url}{path.rstrip('/')}/chat/completions"
    assert said == (
        f"HTTP 404 from {asked}: 404 page not found\n"
        f"The base URL must end in /v1: --base-url {server.url}/v1\n"
    )
    assert len(server.requests) == 1, "no retry elsewhere"


def test_not_found_under_v1_is_reported_in_the_servers_words_alone(demo: Demo) -> None:
    outcome, server = demo(always(text_reply("<h1>Not Found</h1>", 404, kind="text/html")))
    assert outcome.assert_failed() == (
        f"HTTP 404 from {server.url}/v1/chat/completions: <h1>Not Found</h1>\n"
    )


# --- 6. Ctrl-C --------------------------------------------------------------------------------


def test_ctrl_c_ends_with_one_line_and_exit_130(serve: Serve) -> None:
    server = serve(always(HANG))
    # A terminal's Ctrl-C reaches the whole foreground group: uv and the demo both. Given a
    # terminal, uv leaves the signal to the demo (without one, it would send it a second).
    terminal, tty = pty.openpty()
    # subtle: a Ctrl-C that this process ignores (as a job started with `&` does) would be
    # ignored by the demo too; the demo is given a terminal's default instead.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = start_demo("--base-url", server.url + "/v1", new_session=True, stdin=tty)
    finally:
        signal.signal(signal.SIGINT, ignored)
        os.close(tty)
    try:
        deadline = time.monotonic() + HUNG
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.requests, "the demo never made its call"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=HUNG)
    finally:
        os.close(terminal)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err == "\nInterrupted.\n"
    assert "Traceback" not in out


# --- Every other fault: one true line ---------------------------------------------------------


def test_host_that_does_not_resolve_is_one_line_in_the_systems_words(
    names: dict[str, str],
) -> None:
    said = run_demo("--base-url", "http://lcoalhost:11434/v1", env=names).assert_failed()
    assert said == (
        "The request to http://lcoalhost:11434/v1 failed: [Errno -2] Name or service not known\n"
    )


def test_https_to_a_plain_http_server_is_one_line_in_the_systems_words(serve: Serve) -> None:
    server = serve(always(json_reply(completion())))
    url = server.url.replace("http://", "https://") + "/v1"
    said = run_demo("--base-url", url).assert_failed()
    assert said.startswith(f"The request to {url} failed: [SSL: WRONG_VERSION_NUMBER]")
    assert said.count("\n") == 1


@pytest.fixture
def untrusted_tls(tmp_path: Path) -> TLS:
    """A server context with a certificate signed by no one this machine trusts."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", str(key), "-out", str(cert)]
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", *subject]
    subprocess.run(openssl, check=True, capture_output=True)
    context = TLS(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_a_certificate_the_system_does_not_trust_is_one_line(untrusted_tls: TLS) -> None:
    with FakeServer(always(json_reply(completion())), tls=untrusted_tls) as server:
        url = server.url + "/v1"
        said = run_demo("--base-url", url).assert_failed()
    assert said.startswith(f"The request to {url} failed: [SSL: CERTIFICATE_VERIFY_FAILED]")
    assert said.count("\n") == 1


@pytest.fixture
def deaf_port() -> Iterator[int]:
    """A port where something listens but accepts no connection: its backlog is full."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
        for filler in fillers:
            filler.close()


def test_a_connection_never_accepted_is_one_line_not_the_loading_advice(deaf_port: int) -> None:
    url = f"http://127.0.0.1:{deaf_port}/v1"
    said = run_demo("--base-url", url, "--timeout", "0.5").assert_failed()
    assert said == f"The request to {url} failed: timed out\n"


def test_a_key_refused_is_one_line_in_the_servers_words(demo: Demo) -> None:
    refusal = {"error": {"message": "Incorrect API key provided: ollama.", "type": "auth"}}
    outcome, server = demo(always(json_reply(refusal, 401)))
    assert outcome.assert_failed() == (
        f"HTTP 401 from {server.url}/v1/chat/completions: Incorrect API key provided: ollama.\n"
    )


def test_forbidden_with_an_empty_body_is_one_line_that_says_so(demo: Demo) -> None:
    outcome, server = demo(always(HOST_NOT_ALLOWED))
    assert outcome.assert_failed() == (
        f"HTTP 403 from {server.url}/v1/chat/completions: (an empty body)\n"
    )


def test_a_reply_without_usage_is_one_line(demo: Demo) -> None:
    outcome, server = demo(always(json_reply(completion(usage=False))))
    assert outcome.assert_failed() == (
        f"{server.url}/v1 sent a reply the demo cannot use: a chat completion without `usage`, "
        "so there are no counts to show\n"
    )


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (
            text_reply("<!doctype html><h1>My web app</h1>", kind="text/html"),
            "it is not a chat completion: '<!doctype html><h1>My web app</h1>'",
        ),
        (json_reply({"status": "ok"}), "it is not a chat completion: "),
        (
            (200, {"Content-Type": "application/json"}, b"{oops"),
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
    ],
    ids=["web-page", "json-not-a-completion", "broken-json"],
)
def test_a_reply_that_is_not_a_chat_completion_is_one_line(
    demo: Demo, reply: Reply, words: str
) -> None:
    outcome, server = demo(always(reply))
    said = outcome.assert_failed()
    assert said.startswith(f"{server.url}/v1 sent a reply the demo cannot use: {words}")
    assert said.count("\n") == 1


def test_server_that_hangs_up_is_one_line_in_the_words_of_the_library(demo: Demo) -> None:
    outcome, server = demo(always(CLOSE))
    assert outcome.assert_failed() == (
        f"The request to {server.url}/v1 failed: Server disconnected without sending a response.\n"
    )

"""Every way a run can go wrong ends in one message on stderr: what happened, in the words of the
server or of the system where there are any, then the one fix that follows from the cause; a
non-zero exit, and no traceback.

The network faults are real sockets on loopback. The servers' faults come from fakes shaped
like Ollama (fakes.py); test_ollama.py makes the same faults on a real Ollama where it can.
"""

import os
import pty
import signal
import socket
import ssl
import subprocess
import threading
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
    text_reply,
)
from rundemo import run_demo, start_demo


def test_nothing_listening_on_ollamas_port_says_start_ollama() -> None:
    # Bound but not listening: the port is held, so a connection is refused, whatever else runs.
    with socket.socket() as held:
        held.bind(("127.0.0.2", 11434))
        said = run_demo("--base-url", "http://127.0.0.2:11434/v1").failure()
    assert said.endswith(
        "The connection to http://127.0.0.2:11434/v1 failed: [Errno 111] Connection refused\n"
        "Start Ollama (`ollama serve`, or open the app), then run the demo again.\n"
    )


def test_nothing_listening_elsewhere_says_start_your_server_or_check_the_port() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    said = run_demo("--base-url", url).failure()
    assert said.endswith(
        f"The connection to {url} failed: [Errno 111] Connection refused\n"
        "Start your server, or check the port (Ollama's is 11434).\n"
    )


def test_host_that_does_not_resolve_is_named_in_the_systems_words(names: dict[str, str]) -> None:
    said = run_demo("--base-url", "http://lcoalhost:11434/v1", env=names).failure()
    assert said.endswith(
        "The connection to http://lcoalhost:11434/v1 failed: [Errno -2] Name or service not "
        "known\nCheck the spelling of the host in --base-url.\n"
    )


def test_https_to_a_plain_http_server_says_use_http(serve: Serve) -> None:
    server = serve(always(json_reply(completion())))
    url = server.url.replace("http://", "https://") + "/v1"
    said = run_demo("--base-url", url).failure()
    assert f"The connection to {url} failed: [SSL: WRONG_VERSION_NUMBER] wrong version" in said
    assert said.endswith(f"\nLocal servers speak plain http: --base-url {server.url}/v1\n")


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


def test_a_certificate_the_system_does_not_trust_is_named_not_blamed_on_https(
    untrusted_tls: TLS,
) -> None:
    with FakeServer(always(json_reply(completion())), tls=untrusted_tls) as server:
        url = server.url + "/v1"
        said = run_demo("--base-url", url).failure()
    assert said.splitlines()[-1].startswith(
        f"The connection to {url} failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify"
    )


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


def test_server_that_accepts_no_connection_is_given_up_on(deaf_port: int) -> None:
    url = f"http://127.0.0.1:{deaf_port}/v1"
    said = run_demo("--base-url", url, "--timeout", "1").failure()
    assert said.endswith(f"{url} accepted no connection in 1 s: is its server up?\n")


def test_silent_server_is_given_up_on_after_the_timeout(demo: Demo) -> None:
    outcome, server = demo(always(HANG), "--timeout", "2")
    assert outcome.failure().endswith(
        f"No answer from {server.url}/v1 within 2 s (model gpt-oss:20b).\n"
        "A first call may still be loading the model, and a long answer takes time: to wait\n"
        "longer, --timeout 600; to cap each answer, --max-tokens.\n"
    )
    assert len(server.requests) == 1, "a timed-out call must not be retried"


@pytest.mark.parametrize("words", [missing_model, missing_model_before_v0_12])
def test_missing_model_says_pull_it_and_names_one_the_server_has(
    demo: Demo, words: Callable[[str], Reply]
) -> None:
    outcome, server = demo(ollama(always(words("gpt-oss:20b")), ["llama3.2:3b", "qwen2.5:7b"]))
    said = outcome.failure()
    assert f"HTTP 404 from {server.url}/v1/chat/completions: model " in said
    assert said.endswith(
        "\nPull it: ollama pull gpt-oss:20b\n"
        "Or use one it has (llama3.2:3b, qwen2.5:7b): --model llama3.2:3b\n"
    )
    assert len(server.chat_calls()) == 1, "never falls back to another model by itself"


def test_missing_model_on_an_ollama_with_nothing_pulled_says_pull_it(demo: Demo) -> None:
    outcome, _ = demo(ollama(always(missing_model("gpt-oss:20b")), []))  # "data": null
    assert outcome.failure().endswith("\nPull it: ollama pull gpt-oss:20b\n")


@pytest.mark.parametrize("listing", [HANG, text_reply("<html>login</html>", kind="text/html")])
def test_missing_model_is_reported_when_the_model_list_never_comes(
    demo: Demo, listing: Reply
) -> None:
    def respond(request: Request) -> Reply:
        return listing if request.path == "/v1/models" else missing_model("gpt-oss:20b")

    # The demo waits up to its 300 s for an answer, but only CONNECT_S for the list.
    outcome, _ = demo(respond)
    assert outcome.failure().endswith("\nPull it: ollama pull gpt-oss:20b\n")


@pytest.mark.parametrize("path", ["", "/api", "/v1/chat/completions"])
def test_url_that_is_not_the_v1_base_is_corrected(serve: Serve, path: str) -> None:
    server = serve(ollama(always(json_reply(completion())), ["gemma3:270m"]))
    said = run_demo("--base-url", server.url + path).failure()
    assert said.endswith(
        f"HTTP 404 from {server.url}{path}/chat/completions: 404 page not found\n"
        f"The base URL must end in /v1: --base-url {server.url}/v1\n"
    )
    assert len(server.requests) == 1, "no retry elsewhere"


def test_a_trailing_slash_is_no_fault(serve: Serve) -> None:
    server = serve(always(missing_model("gpt-oss:20b")))
    said = run_demo("--base-url", server.url + "/v1/").failure()
    assert said.endswith(
        f"HTTP 404 from {server.url}/v1/chat/completions: model 'gpt-oss:20b' not found\n"
        "Pull it: ollama pull gpt-oss:20b\n"
    )


def test_not_found_under_v1_is_reported_in_the_servers_words_alone(demo: Demo) -> None:
    outcome, server = demo(always(text_reply("<h1>Not Found</h1>", 404, kind="text/html")))
    assert outcome.failure().endswith(
        f"HTTP 404 from {server.url}/v1/chat/completions: <h1>Not Found</h1>\n"
    )


def test_forbidden_with_an_empty_body_says_so_and_blames_no_key(demo: Demo) -> None:
    outcome, server = demo(always(HOST_NOT_ALLOWED))
    assert outcome.failure().endswith(
        f"HTTP 403 from {server.url}/v1/chat/completions: (an empty body)\n"
    )


def test_a_key_the_server_echoes_is_masked(demo: Demo) -> None:
    secret = "sk-portway-test-4f9c2e81d7"
    refusal = {"error": {"message": f"Incorrect API key provided: {secret}.", "type": "auth"}}
    outcome, server = demo(always(json_reply(refusal, 401)), "--api-key", secret)
    assert outcome.failure().endswith(": Incorrect API key provided: [your key].\n")
    assert secret not in outcome.out + outcome.err
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"


def test_server_error_about_memory_points_to_a_smaller_model(demo: Demo) -> None:
    # llm/server.go, the scheduler's check before loading; a 500 through handleScheduleError.
    oom = "model requires more system memory (13.6 GiB) than is available (9.0 GiB)"
    outcome, server = demo(always(ollama_error(500, oom)))
    assert outcome.failure().endswith(
        f"HTTP 500 from {server.url}/v1/chat/completions: {oom}\n"
        "A smaller model from the post's table needs 8 GB: --model llama3.2:3b\n"
    )
    assert len(server.requests) == 1, "a server error must not be retried"


@pytest.mark.parametrize(
    "reply",
    [
        text_reply("<!doctype html><html><h1>My web app</h1></html>", kind="text/html"),
        (200, {"Content-Type": "application/json"}, b"{oops"),
        json_reply({"status": "ok"}),
    ],
    ids=["web-page", "broken-json", "json-not-a-completion"],
)
def test_what_is_not_an_openai_api_is_called_so(demo: Demo, reply: Reply) -> None:
    outcome, server = demo(always(reply))
    said = outcome.failure()
    assert f"What answered at {server.url}/v1 is not an OpenAI-compatible API: " in said
    assert said.endswith(
        "\nPoint --base-url at your model server's /v1 URL (Ollama's: http://localhost:11434/v1).\n"
    )


def test_answer_without_usage_says_there_is_nothing_to_count(demo: Demo) -> None:
    outcome, server = demo(always(json_reply(completion(usage=False))))
    assert outcome.failure().endswith(
        f"{server.url}/v1 answered without `usage`: it sent no token counts to show.\n"
        "Point --base-url at a server that sends them: Ollama, llama-server, vLLM.\n"
    )


def test_redirect_is_reported_and_not_followed(serve: Serve, demo: Demo) -> None:
    elsewhere = serve(always(json_reply(completion())))
    moved: Reply = (307, {"Location": elsewhere.url + "/v1/chat/completions"}, b"")
    outcome, server = demo(always(moved))
    assert outcome.failure().endswith(
        f"HTTP 307 from {server.url}/v1/chat/completions: (an empty body)\n"
    )
    assert elsewhere.requests == []


def test_server_that_hangs_up_is_reported_in_the_words_of_the_library(demo: Demo) -> None:
    outcome, server = demo(always(CLOSE))
    assert outcome.failure().endswith(
        f"The connection to {server.url}/v1 failed: "
        "Server disconnected without sending a response.\n"
    )


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
    assert err.splitlines()[-1] == "Interrupted."
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

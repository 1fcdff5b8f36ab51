"""Each fault ends in one message on stderr and exit 1 (130 for Ctrl-C): what happened, in the
server's or the system's words, then a fix where the cause is known. Network faults are real
sockets on loopback; the server's, fakes (fakes.py) of those no real engine makes on demand
(test_ollama.py has the rest, on the real Ollama)."""

import os
import pty
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from unittest.mock import Mock

import pytest
import trustme
from fakes import completion, json_response, missing_model, out_of_memory
from pytest_httpserver import HTTPServer
from rundemo import run_demo, start_readme_command, troubleshooting_row
from werkzeug import Request, Response

WEB_PAGE = Response("<!doctype html><h1>My web app</h1>", content_type="text/html")
BROKEN_JSON = Response("{oops", content_type="application/json")


def fails_with(httpserver: HTTPServer, reply: Response, *flags: str) -> str:
    """The demo's stderr when every chat call gets reply."""
    httpserver.expect_request("/v1/chat/completions").respond_with_response(reply)
    return run_demo("--base-url", httpserver.url_for("/v1"), *flags).failed()


# --- The faults readers meet, with a fix --------------------------------------------------------


def test_nothing_listening_says_start_ollama_or_fix_the_port() -> None:
    # Bound but not listening: the port is held, so a connection is refused, whatever else runs.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/v1"
        said = run_demo("--base-url", url).failed()
    assert said == (
        f"The request to {url} failed: [Errno 111] Connection refused\n"
        "Start Ollama (`ollama serve`, or its app), or fix the port in --base-url.\n"
    )


@pytest.fixture
def held(httpserver: HTTPServer) -> Iterator[list[Request]]:
    """The fake holds each chat call without an answer until the test ends; the calls held."""
    calls: list[Request] = []
    release = threading.Event()

    def hold(request: Request) -> Response:
        calls.append(request)
        release.wait(60)
        return json_response(completion())

    httpserver.expect_request("/v1/chat/completions").respond_with_handler(hold)
    yield calls
    release.set()
    while len(httpserver.log) < len(calls):  # so that no call ends in the next test's log
        time.sleep(0.01)


def test_no_answer_within_the_timeout_names_both_causes_and_a_wait_that_can_work(
    httpserver: HTTPServer, held: list[Request]
) -> None:
    url = httpserver.url_for("/v1")
    assert run_demo("--base-url", url, "--timeout", "0.5").failed() == (
        f"No answer from {url} within 0.5 s: the model may still be loading,\n"
        "or its answer still running. --timeout 300 waits longer.\n"  # the default, not 1
    )
    assert len(held) == 1, "a timed-out call is not made again"


@pytest.mark.parametrize(
    ("model", "advice"),
    [
        ("gpt-oss:20b", ["The post's smallest model needs 8 GB: --model llama3.2:3b"]),
        ("llama3.2:3b", []),  # the smallest already
        ("smollm2:135m", []),  # not in the post's table: its size is not known here
    ],
)
def test_out_of_memory_is_the_servers_words_then_a_smaller_model_if_one_is_known(
    httpserver: HTTPServer, model: str, advice: list[str]
) -> None:
    first, *rest = fails_with(httpserver, out_of_memory(), "--model", model).splitlines()
    url = httpserver.url_for("/v1/chat/completions")
    assert first.startswith(f"HTTP 500 from {url}: llama-server reported out-of-memory")
    assert rest == advice
    assert len(httpserver.log) == 1, "a server error is not retried"


@pytest.mark.parametrize("listing", [WEB_PAGE, BROKEN_JSON], ids=["web-page", "broken-json"])
def test_a_missing_model_with_a_list_that_is_not_one_says_pull_it(
    httpserver: HTTPServer, listing: Response
) -> None:
    httpserver.expect_request("/v1/models").respond_with_response(listing)
    said = fails_with(httpserver, missing_model("gpt-oss:20b"))
    assert said.endswith(
        "not found\nPull it: `ollama pull gpt-oss:20b`, if that name is in Ollama's library.\n"
    )


# --- Every other fault: one true line -----------------------------------------------------------


def test_a_host_that_does_not_resolve_is_the_systems_words(monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")  # glibc's words
    monkeypatch.setattr(socket, "getaddrinfo", Mock(side_effect=unknown))
    assert run_demo("--base-url", "http://lcoalhost:11434/v1").failed() == (
        "The request to http://lcoalhost:11434/v1 failed: [Errno -2] Name or service not known\n"
    )


def test_https_to_plain_http_is_the_systems_words_then_the_http_url(httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/v1")
    said = run_demo("--base-url", url.replace("http://", "https://")).failed()
    assert said.startswith(f"The request to https{url[4:]} failed: [SSL: WRONG_VERSION_NUMBER]")
    assert said.endswith(f"\nFor plain HTTP: --base-url {url}\n")
    assert said.count("\n") == 2


def test_a_certificate_no_one_trusts_is_the_systems_words() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)  # a CA this machine lacks
    with HTTPServer(host="127.0.0.1", port=0, ssl_context=context) as server:
        url = server.url_for("/v1")
        said = run_demo("--base-url", url).failed()
    assert said.startswith(f"The request to {url} failed: [SSL: CERTIFICATE_VERIFY_FAILED]")
    assert said.count("\n") == 1


@pytest.fixture
def deaf_port() -> Iterator[int]:
    """A port where something listens but accepts no connection: its backlog is full."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        yield port
        for filler in fillers:
            filler.close()


def test_a_connection_never_accepted_is_not_taken_for_a_slow_answer(deaf_port: int) -> None:
    url = f"http://127.0.0.1:{deaf_port}/v1"
    assert run_demo("--base-url", url, "--timeout", "0.5").failed() == (
        f"The request to {url} failed: timed out\n"
    )


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """A base URL where each connection is closed without a word: no HTTP server does that on
    demand, so this is a plain socket."""
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def close_each() -> None:
            while True:
                try:
                    with listener.accept()[0] as connection:
                        connection.shutdown(socket.SHUT_WR)  # the end of the stream, no answer
                        while connection.recv(65536):  # all it sent read: no reset on close
                            pass
                except OSError:  # the listener is closed: the test is over
                    return

        threading.Thread(target=close_each, daemon=True).start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def test_a_server_that_hangs_up_is_the_sdk_librarys_words(hangs_up: str) -> None:
    assert run_demo("--base-url", hangs_up).failed() == (
        f"The request to {hangs_up} failed: Server disconnected without sending a response.\n"
    )


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (json_response(completion() | {"usage": None}), "the reply has no `usage`, so there"),
        (WEB_PAGE, "the reply is not a chat completion: '<!doctype html><h1>My web app</h1>'"),
        (json_response({"status": "ok"}), "the reply is not a chat completion: "),
        (BROKEN_JSON, "Expecting property name enclosed in double quotes: line 1 column 2"),
    ],
    ids=["no-usage", "web-page", "json-not-a-completion", "broken-json"],
)
def test_a_reply_the_demo_cannot_use_is_one_line(
    httpserver: HTTPServer, reply: Response, words: str
) -> None:
    said = fails_with(httpserver, reply)
    assert said.startswith(f"The request to {httpserver.url_for('/v1')} failed: {words}")
    assert said.count("\n") == 1


def test_ctrl_c_ends_with_one_line_and_exit_130(
    httpserver: HTTPServer, held: list[Request]
) -> None:
    # A terminal's Ctrl-C reaches the whole foreground group: uv and the demo both. Given a
    # terminal, uv leaves the signal to the demo (without one, it would send it a second).
    terminal, tty = pty.openpty()
    # subtle: a Ctrl-C this process ignores (as a job started with `&` does) would be ignored by
    # the demo too; it is given a terminal's default instead.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    pipes = {"stdout": -1, "stderr": -1, "stdin": tty, "start_new_session": True}
    try:
        demo = start_readme_command("--base-url", httpserver.url_for("/v1"), **pipes)
    finally:
        signal.signal(signal.SIGINT, ignored)
        os.close(tty)
    try:
        while not held and demo.poll() is None:
            time.sleep(0.05)
        os.killpg(demo.pid, signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        os.close(terminal)
    assert (demo.returncode, err) == (130, "\nInterrupted.\n")
    assert troubleshooting_row("Interrupted.") == "Interrupted."
    assert "Traceback" not in out

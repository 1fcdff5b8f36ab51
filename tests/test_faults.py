"""Every way a person can run the demo wrong ends in one true message on stderr, the command
that fixes it, a non-zero exit, and no traceback.

Faults that no engine produces on demand are served by small local servers shaped like
Ollama; the network faults are real sockets on loopback.
"""

import os
import pty
import shlex
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    CLOSE,
    HANG,
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
    ollama_without,
    run_demo,
    start_demo,
    text_reply,
)


def test_nothing_listening_on_ollamas_port_says_start_ollama() -> None:
    # Bound but not listening: the port is held, so a connection is refused, whatever else runs.
    with socket.socket() as held:
        held.bind(("127.0.0.2", 11434))
        url = "http://127.0.0.2:11434/v1"
        said = assert_clean_failure(run_demo("--base-url", url))
    assert f"Nothing is listening at {url}.\nStart Ollama (`ollama serve`" in said
    assert f"\n  {RUN} --base-url {url}\n" in said  # the same run, once Ollama is up


def test_nothing_listening_elsewhere_says_start_your_server() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    said = assert_clean_failure(run_demo("--base-url", url, "--model", "qwen2.5:7b"))
    assert f"Nothing is listening at {url}.\nStart your server, then:" in said
    assert "Ollama" not in said
    assert f"\n  {RUN} --model qwen2.5:7b --base-url {url}\n" in said


@pytest.fixture
def unknown_host(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment in which the name `lcoalhost` does not resolve. The demo's own resolver
    call fails as it would for a typo, without asking any name server (no traffic leaves the
    machine): a sitecustomize makes socket.getaddrinfo raise for that one name."""
    (tmp_path / "sitecustomize.py").write_text(
        "import socket\n"
        "_real = socket.getaddrinfo\n"
        "def getaddrinfo(host, *args, **kwargs):\n"
        "    if host == 'lcoalhost':\n"
        "        raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')\n"
        "    return _real(host, *args, **kwargs)\n"
        "socket.getaddrinfo = getaddrinfo\n"
    )
    yield {"PYTHONPATH": str(tmp_path)}


def test_host_that_does_not_resolve_is_named_not_blamed_on_the_server(
    unknown_host: dict[str, str],
) -> None:
    said = assert_clean_failure(
        run_demo("--base-url", "http://lcoalhost:11434/v1", env=unknown_host)
    )
    assert "The host 'lcoalhost' could not be found; check its spelling." in said
    assert "listening" not in said
    assert said.endswith(f"\n  {RUN} --base-url http://localhost:11434/v1\n")


def test_https_to_a_plain_http_server_says_use_http(serve: Serve) -> None:
    server = serve(answers(completion()))
    url = server.url.replace("http://", "https://") + "/v1"
    said = assert_clean_failure(run_demo("--base-url", url))
    assert f"The TLS handshake with {url} failed; local servers speak plain http://" in said
    assert f"\n  {RUN} --base-url {server.url}/v1" in said


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
    said = assert_clean_failure(run_demo("--base-url", url, "--timeout", "1"))
    assert f"{url} accepted no connection within 1 s" in said
    assert f"\n  {RUN} --base-url {url} --timeout 1\n" in said


def test_silent_server_is_given_up_on_after_the_timeout(serve: Serve) -> None:
    server = serve(lambda request: HANG)
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1", "--timeout", "2"))
    assert f"No answer from {server.url}/v1 within 2 s (model gpt-oss:20b)" in said
    assert "loading the model" in said
    assert f"\n  {RUN} --base-url {server.url}/v1 --timeout 600\n" in said
    assert len(server.requests) == 1, "a timed-out call must not be retried"


@pytest.mark.parametrize("old", [False, True], ids=["current-ollama", "older-ollama"])
def test_missing_model_says_pull_it_and_offers_one_that_is_there(serve: Serve, old: bool) -> None:
    server = serve(ollama_without("gpt-oss:20b", ["llama3.2:3b", "qwen2.5:7b"], old=old))
    url = server.url + "/v1"
    said = assert_clean_failure(run_demo("--base-url", url))
    assert "The server has no model 'gpt-oss:20b' (HTTP 404: model" in said
    assert f"\n  ollama pull gpt-oss:20b\n  {RUN} --base-url {url}\n" in said
    assert f"Or use one it has (llama3.2:3b, qwen2.5:7b):\n  {RUN} --model llama3.2:3b" in said
    assert len(server.chat_calls()) == 1, "never falls back to another model by itself"


def test_missing_model_is_reported_even_when_the_model_list_never_comes(serve: Serve) -> None:
    ollama = ollama_without("gpt-oss:20b", ["llama3.2:3b"])
    server = serve(lambda request: HANG if request.path == "/v1/models" else ollama(request))
    # The demo waits its usual 300 s for an answer, but not for the list of models.
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "\n  ollama pull gpt-oss:20b\n" in said
    assert "Or use one" not in said


def test_missing_model_on_an_empty_server_says_pull_it(serve: Serve) -> None:
    server = serve(ollama_without("my model", []))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1", "--model", "my model"))
    assert "\n  ollama pull 'my model'\n" in said
    assert "Or use one" not in said


@pytest.mark.parametrize("path", ["", "/v1/chat/completions"], ids=["no-v1", "full-endpoint"])
def test_url_that_is_not_the_v1_base_is_corrected(serve: Serve, path: str) -> None:
    def ollama(request: Request) -> Reply:
        if request.path == "/":
            return text_reply("Ollama is running")
        return text_reply("404 page not found", status=404)

    server = serve(ollama)
    said = assert_clean_failure(run_demo("--base-url", server.url + path))
    assert f"Nothing at {server.url}{path}/chat/completions (HTTP 404)" in said
    assert said.endswith(f"\n  {RUN} --base-url {server.url}/v1\n")
    assert len(server.requests) == 1, "no retry elsewhere"


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
    assert f"\n  {RUN} --base-url {server.url}/v1 --api-key YOUR_KEY\n" in said
    assert secret not in proc.stdout + proc.stderr
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"


def test_server_error_shows_its_words_and_the_smallest_model(serve: Serve) -> None:
    oom = "model requires more system memory (13.6 GiB) than is available (9.0 GiB)"
    server = serve(lambda request: json_reply({"error": {"message": oom}}, status=500))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert f"failed on gpt-oss:20b (HTTP 500: {oom})" in said
    assert (
        f"\n  ollama pull llama3.2:3b\n  {RUN} --model llama3.2:3b --base-url {server.url}/v1"
        in said
    )
    assert len(server.requests) == 1, "a server error must not be retried"


@pytest.mark.parametrize(
    "reply",
    [
        text_reply("<!doctype html><html><h1>My web app</h1></html>", kind="text/html"),
        text_reply("<html><body>Not Found</body></html>", status=404, kind="text/html"),
        (200, {"Content-Type": "application/json"}, b"{oops"),
        json_reply({"status": "ok"}),
    ],
    ids=["html-page", "html-404", "broken-json", "json-not-a-completion"],
)
def test_what_is_not_an_openai_api_is_called_so(serve: Serve, reply: Reply) -> None:
    server = serve(lambda request: reply)
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert (
        f"What answered at {server.url}/v1 is not an OpenAI-compatible API.\nCheck the port" in said
    )
    assert said.endswith(f"\n  {RUN} --base-url http://localhost:11434/v1\n"), "back to Ollama"


def test_answer_without_usage_says_there_is_nothing_to_compare(serve: Serve) -> None:
    server = serve(answers(completion(usage=False)))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert f"{server.url}/v1 answered without token usage: no counts to compare" in said
    assert "llama-server" in said
    assert said.endswith(f"\n  {RUN} --base-url http://localhost:11434/v1\n")


def test_redirect_is_reported_and_not_followed(serve: Serve) -> None:
    elsewhere = serve(answers(completion()))
    server = serve(lambda request: (307, {"Location": elsewhere.url + "/v1/chat/completions"}, b""))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert said.splitlines()[-1].startswith(
        f"The call to {server.url}/v1 for gpt-oss:20b failed: HTTP 307"
    )
    assert elsewhere.requests == []


def test_server_that_hangs_up_gets_one_line_not_a_traceback(serve: Serve) -> None:
    server = serve(lambda request: CLOSE)
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    last = said.splitlines()[-1]
    assert last.startswith(f"The call to {server.url}/v1 for gpt-oss:20b failed: ")
    assert "disconnected" in last.lower()


def test_ctrl_c_ends_with_one_line_and_exit_130(serve: Serve) -> None:
    server = serve(lambda request: HANG)
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
        assert proc.stderr is not None
        # The demo says what it asks before it asks (uv may speak first)...
        while not (line := proc.stderr.readline()).startswith("... asking gpt-oss:20b"):
            assert line, "the demo ended before it said what it was asking"
        # ...and once the server holds the call, the demo is waiting in the middle of it.
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


def test_every_printed_command_pastes_back_to_the_same_settings(serve: Serve) -> None:
    server = serve(lambda request: json_reply({"error": {"message": "no"}}, status=401))
    url, model = server.url + "/v1", "my model:latest"  # a name the shell must see quoted
    settings = ["--timeout", "45", "--max-tokens", "64", "--api-key", "k-1"]
    said = assert_clean_failure(run_demo("--base-url", url, "--model", model, *settings))
    command = said.splitlines()[-1].strip()
    words = shlex.split(command)
    assert words[: len(RUN.split())] == RUN.split()
    flags = dict(zip(words[len(RUN.split()) :: 2], words[len(RUN.split()) + 1 :: 2], strict=True))
    assert flags == {
        "--model": model,
        "--base-url": url,
        "--timeout": "45",
        "--max-tokens": "64",
        "--api-key": "YOUR_KEY",
    }
    assert "k-1" not in said

"""What the tests share: the demo run as the README runs it, small local servers shaped like
the engines, and llama.cpp's server with a model the tests bring.

Every server here binds 127.0.0.1 (or another loopback address) on a port the OS picks, and
whoever starts one stops it.
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "1-local-first" / "demo.py"
RUN_DEMO = ["uv", "run", "--project", "1-local-first", "python", "1-local-first/demo.py"]
RUN = " ".join(RUN_DEMO)
README = (REPO / "README.md").read_text()
# Not a timing assertion: a bound so that a hung demo fails its test instead of the suite.
HUNG = 120


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the settings that would steer the demo (an
    unbuffered Python among them: a person's stdout is buffered unless the demo flushes it)."""
    proxies = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    steering = ("PORTWAY_", "OPENAI_", "PYTHONUNBUFFERED", *proxies)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(steering)}
    return {**env, **(extra or {})}


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run demo.py exactly as the README does, from the repository root."""
    return subprocess.run(
        [*RUN_DEMO, *args],
        cwd=REPO,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=HUNG,
        stdin=subprocess.DEVNULL,
    )


def start_demo(
    *args: str, new_session: bool = False, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """Start demo.py as run_demo does, without waiting, for tests that act mid-run."""
    return subprocess.Popen(
        [*RUN_DEMO, *args],
        cwd=REPO,
        env=clean_env(),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The demo failed the way a person should see it fail; returns what it said."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.stderr.strip(), "a failure must say something on stderr"
    return proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- Small local HTTP servers ---------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any


# (status, headers, body); HANG for "never answer"; CLOSE for "hang up without a word".
Reply = tuple[int, dict[str, str], bytes] | str
HANG, CLOSE = "hang", "close"


@dataclass
class FakeServer:
    """A stdlib HTTP server on 127.0.0.1 that answers each request with respond(request)."""

    respond: Callable[[Request], Reply]
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, self.path, headers, body)
                server.requests.append(request)
                reply = server.respond(request)
                if reply == HANG:
                    server._release.wait(HUNG)
                if isinstance(reply, str):
                    self.close_connection = True
                    return
                status, headers, payload = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def chat_calls(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def release(self) -> None:
        """Let every request that hangs go (without an answer)."""
        self._release.set()

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()


# The type of the `serve` fixture: give it a responder, get a running server.
Serve = Callable[[Callable[[Request], Reply]], FakeServer]


def json_reply(payload: object, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def text_reply(text: str, status: int = 200, kind: str = "text/plain") -> Reply:
    return status, {"Content-Type": f"{kind}; charset=utf-8"}, text.encode()


def completion(
    content: str | None = "Ottawa.",
    *,
    prompt_tokens: int = 12,
    finish_reason: str = "stop",
    usage: bool = True,
    cached: int | None = None,
    **message_extra: object,
) -> dict[str, Any]:
    """A chat completion as Ollama's /v1/chat/completions sends it."""
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model",
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message_extra},
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 5,
            "total_tokens": prompt_tokens + 5,
        }
        if cached is not None:
            body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
    return body


def answers(payload: dict[str, Any]) -> Callable[[Request], Reply]:
    """A responder that answers every request with the same JSON body."""
    return lambda request: json_reply(payload)


def counts(*prompt_tokens: int, **extra: Any) -> Callable[[Request], Reply]:
    """A responder that counts the four chat calls' prompt tokens as told, in order."""
    replies = iter(prompt_tokens)
    return lambda request: json_reply(completion(prompt_tokens=next(replies), **extra))


def ollama_without(model: str, pulled: list[str], old: bool = False) -> Callable[[Request], Reply]:
    """Ollama as it answers for a model it does not have: 404, in its current words or in
    those of versions before it named the error type."""
    message = (
        f'model "{model}" not found, try pulling it first' if old else f"model '{model}' not found"
    )
    error = {"message": message, "type": "api_error" if old else "not_found_error", "param": None}

    def respond(request: Request) -> Reply:
        if request.path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1, "owned_by": "library"} for m in pulled
            ]
            return json_reply({"object": "list", "data": data})
        return json_reply({"error": {**error, "code": None}}, status=404)

    return respond


# --- The real engine: llama.cpp's server, through llama-cpp-python ---------------------------


@dataclass
class Engine:
    """llama.cpp's server on a loopback port, serving one model under an alias."""

    root: str  # e.g. http://127.0.0.1:PORT
    model: str  # the alias the demo asks for
    render: Callable[[list[dict[str, str]]], str]  # messages as the model's turn format writes them
    label: str  # how the README's table of numbers names it
    demo_args: tuple[str, ...] = ()  # what the demo needs besides --base-url and --model

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def count(self, text: str) -> int:
        """How many tokens the engine's own tokenizer makes of text, as part of a prompt: its
        /extras/tokenize adds the model's begin-of-text token, if it has one, which the engine
        adds to every prompt too."""
        body = post_json(self.root + "/extras/tokenize", {"input": text})
        return len(body["tokens"])


def post_json(url: str, payload: object) -> Any:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=HUNG) as response:
        return json.load(response)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def llama_server(model: Path, alias: str, log: Path, *extra: str) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port; yields its root URL
    once /v1/models answers, and stops it afterwards. Fails with the log's tail if it dies."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--model_alias", alias, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", "4096", "--n_threads", "2", *extra]
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HUNG
        while not _answers(root + "/v1/models"):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"llama.cpp's server did not start:\n{tail}")
            time.sleep(0.2)
        yield root
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def readme_sample_output() -> str:
    """The first code block under the README's 'Sample output' heading."""
    section = README.split("## Sample output", 1)[1]
    match = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert match, "no ```text block under '## Sample output'"
    return match.group(1)

"""Small local HTTP servers for the faults no real engine makes on demand, and the bodies they
send. Where a body is Ollama's, the comment above it names the file and function in
ollama/ollama (v0.34.4 unless it says otherwise) that writes it; test_ollama.py compares each
with what the real Ollama sends for the same request.

Every server binds 127.0.0.1 on a port the OS picks; the fixture that starts one stops it.
"""

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Not a timing assertion: a bound so that a hung demo fails its test instead of the suite.
HUNG = 120


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any


# (status, headers, body); HANG for "never answer"; CLOSE for "hang up without a word".
Reply = tuple[int, dict[str, str], bytes] | str
Responder = Callable[[Request], Reply]
HANG, CLOSE = "hang", "close"
TLS = ssl.SSLContext


@dataclass
class FakeServer:
    """A stdlib HTTP server on 127.0.0.1 that answers each request with respond(request)."""

    respond: Responder
    tls: TLS | None = None  # a server context, for a server that speaks HTTPS
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
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def chat_calls(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # let every request that hangs go, without an answer
        self._httpd.shutdown()
        self._httpd.server_close()


def json_reply(payload: object, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def text_reply(text: str, status: int = 200, kind: str = "text/plain") -> Reply:
    return status, {"Content-Type": f"{kind}; charset=utf-8"}, text.encode()


def always(reply: Reply) -> Responder:
    return lambda request: reply


# --- Ollama's answers -------------------------------------------------------------------------


def completion(
    content: str | None = "Ottawa.",
    *,
    prompt_tokens: int = 12,
    cached_tokens: int | None = 0,
    finish_reason: str = "stop",
    usage: bool = True,
    **message_extra: object,
) -> dict[str, Any]:
    """A chat completion as Ollama sends it: openai/openai.go, ToChatCompletion, with ToUsage
    (prompt_tokens_details since v0.33.3; None leaves it out, as llama-server's cache_n absent
    would); a thinking model's reasoning goes in message.reasoning, set through message_extra."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
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
        body["usage"] = {"prompt_tokens": prompt_tokens}
        if cached_tokens is not None:
            body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
        body["usage"] |= {"completion_tokens": 5, "total_tokens": prompt_tokens + 5}
    return body


def counts(*prompt_tokens: int, cached_tokens: int | None = 0) -> Responder:
    """Chat completions that count the demo's four prompts as told, in order."""
    replies = iter(prompt_tokens)
    return lambda request: json_reply(
        completion(prompt_tokens=next(replies), cached_tokens=cached_tokens)
    )


def ollama_error(status: int, message: str) -> Reply:
    """An error on Ollama's /v1 routes: middleware/openai.go, BaseWriter.writeError, with the
    body of openai/openai.go, NewError (its type named by the status)."""
    kinds = {400: "invalid_request_error", 404: "not_found_error"}
    error = {"message": message, "type": kinds.get(status, "api_error"), "param": None}
    return json_reply({"error": {**error, "code": None}}, status)


def missing_model(model: str) -> Reply:
    """server/routes.go, ChatHandler, since v0.12: `model 'X' not found`."""
    return ollama_error(404, f"model '{model}' not found")


def missing_model_before_v0_12(model: str) -> Reply:
    """ChatHandler's wording before v0.12, which server/routes.go, handleScheduleError, still
    sends when a model's weights file is gone."""
    return ollama_error(404, f'model "{model}" not found, try pulling it first')


def out_of_memory() -> Reply:
    """A model too big for this machine's memory: llama-server logs ggml/src/ggml-backend.cpp's
    `failed to allocate buffer of size N`, which llm/status.go keeps as the runner's last error,
    and which llm/llama_server.go, WaitUntilRunning, wraps; handleScheduleError sends a 500."""
    allocate = "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size"
    said = f"llama-server reported out-of-memory during startup: {allocate} 14495514624"
    return ollama_error(500, said)


def model_list(names: list[str]) -> Reply:
    """GET /v1/models: openai/openai.go, ToListCompletion. Its slice stays nil when nothing is
    pulled, so the list is `"data": null`, not `[]`."""
    data = [{"id": n, "object": "model", "created": 1, "owned_by": "library"} for n in names]
    return json_reply({"object": "list", "data": data or None})


# A path without a route (no /v1): gin's default 404, which server/routes.go, GenerateRoutes
# leaves in place: plain text.
PAGE_NOT_FOUND: Reply = (404, {"Content-Type": "text/plain"}, b"404 page not found")
# A Host header that is not a local name: server/routes.go, allowedHostsMiddleware,
# AbortWithStatus(403): no body at all.
HOST_NOT_ALLOWED: Reply = (403, {}, b"")


def ollama(chat: Responder, pulled: list[str]) -> Responder:
    """An Ollama that answers chat calls with chat, lists the models pulled, and 404s the rest."""

    def respond(request: Request) -> Reply:
        if request.path == "/v1/models":
            return model_list(pulled)
        if request.path == "/v1/chat/completions":
            return chat(request)
        return PAGE_NOT_FOUND

    return respond

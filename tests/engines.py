"""The real engines the demo runs against, on loopback: llama.cpp's own llama-server and
Ollama 0.34.4 (builds.py), with a recording proxy between the demo and either, so that every
number printed can be held against the response the engine sent.

Whoever starts a server stops it; each binds 127.0.0.1 on a free port.
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builds import llama_server_binary, ollama_binary
from fakes import HUNG, FakeServer, Reply, Request
from rundemo import Outcome, run_demo

Messages = list[dict[str, str]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def call(
    url: str,
    payload: object = None,
    method: str = "POST",
    host: str | None = None,
    bound: float = HUNG,
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one request, whatever its status; host, if given, is
    the Host header to send instead of the URL's."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} | ({"Host": host} if host else {})
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=bound) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def call_json(url: str, payload: object = None, method: str = "POST") -> Any:
    status, _, body = call(url, payload, method)
    assert status == 200, (url, status, body)
    return json.loads(body)


@contextmanager
def serving(command: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[None]:
    """Run a server until the block ends, once GET `ready` answers 200; if it dies or does not
    answer in time, fail with the tail of its log."""
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + HUNG
        while not _answers(ready):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"{command[0]} did not start:\n{tail}")
            time.sleep(0.2)
        yield
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _answers(url: str) -> bool:
    try:
        return call(url, method="GET")[0] == 200
    except OSError:
        return False


@dataclass
class Engine:
    root: str  # http://127.0.0.1:PORT
    model: str  # the name it serves the model under
    render: Callable[[Messages], str]  # messages as the prompt the engine makes of them
    count: Callable[[str], int]  # tokens the engine makes of a prompt, begin-of-text included
    layers: dict[str, str] = field(default_factory=dict)  # Ollama's, by kind: their digests

    @property
    def base_url(self) -> str:
        return self.root + "/v1"


# --- llama.cpp's llama-server ------------------------------------------------------------------


@contextmanager
def llama_server(gguf: Path, folder: Path, *args: str) -> Iterator[str]:
    """llama.cpp's own llama-server serving one GGUF file; yields its root URL."""
    port = free_port()
    command = [str(llama_server_binary()), "--model", str(gguf), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--ctx-size", "4096", "--threads", "2", *args]
    log = folder / f"llama-server-{port}.log"
    with serving(command, dict(os.environ), f"http://127.0.0.1:{port}/health", log):
        yield f"http://127.0.0.1:{port}"


def tokens(root: str) -> Callable[[str], int]:
    """The number of tokens llama-server at root makes of a text, the BOS it adds included, as
    it does to a prompt it is sent (its /tokenize, with add_special)."""
    return lambda text: len(
        call_json(root + "/tokenize", {"content": text, "add_special": True})["tokens"]
    )


def llama_server_engine(root: str, model: str) -> Engine:
    """llama-server at root, which renders a chat with its own template (/apply-template)."""

    def render(messages: Messages) -> str:
        return str(call_json(root + "/apply-template", {"messages": messages})["prompt"])

    return Engine(root, model, render, tokens(root))


# --- Ollama ------------------------------------------------------------------------------------


@contextmanager
def ollama_serve(folder: Path) -> Iterator[str]:
    """`ollama serve` with its models and keys in folder; yields its root URL."""
    root = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env |= {
        "OLLAMA_HOST": root.removeprefix("http://"),
        "OLLAMA_MODELS": str(folder / "models"),
        "OLLAMA_NO_CLOUD": "1",
        "HOME": str(folder),  # where `ollama serve` keeps its key pair
    }
    with serving([str(ollama_binary()), "serve"], env, root, folder / "serve.log"):
        yield root


def ollama_create(root: str, name: str, modelfile: str, folder: Path) -> dict[str, str]:
    """`ollama create name` from the Modelfile's text, against the server at root; the digest
    of each layer it made, by media type (template, system, params, model)."""
    path = folder / f"{name.replace(':', '-').replace('/', '-')}.Modelfile"
    path.write_text(modelfile)
    env = {**os.environ, "OLLAMA_HOST": root.removeprefix("http://"), "HOME": str(folder)}
    command = [str(ollama_binary()), "create", name, "-f", str(path)]
    done = subprocess.run(command, env=env, text=True, capture_output=True, timeout=HUNG)
    if done.returncode != 0:
        raise RuntimeError(f"ollama create {name} failed:\n{done.stderr[-2000:]}")
    repo, _, tag = name.partition(":")
    manifest = folder / "models/manifests/registry.ollama.ai/library" / repo / (tag or "latest")
    layers = json.loads(manifest.read_text())["layers"]
    return {x["mediaType"].rsplit(".", 1)[1]: x["digest"].removeprefix("sha256:") for x in layers}


def ollama_render(root: str, model: str) -> Callable[[Messages], str]:
    """The prompt Ollama renders from its Go template for messages: its `_debug_render_only`
    field answers `_debug_info.rendered_template` instead of running the model."""

    def render(messages: Messages) -> str:
        payload = {"model": model, "messages": messages, "_debug_render_only": True}
        reply = call_json(root + "/v1/chat/completions", payload)
        return str(reply["_debug_info"]["rendered_template"])

    return render


# --- The recording proxy -----------------------------------------------------------------------


@dataclass
class Exchange:
    request: Any
    response: Any


def forward_to(root: str, chats: list[Exchange], bound: float) -> Callable[[Request], Reply]:
    """A responder that passes each request on to root, waiting up to bound seconds for its
    answer, and records the chat calls."""

    def respond(request: Request) -> Reply:
        status, kind, payload = call(root + request.path, request.body, request.method, bound=bound)
        if request.path.endswith("/chat/completions"):
            chats.append(Exchange(request.body, json.loads(payload)))
        return status, {"Content-Type": kind}, payload

    return respond


@dataclass
class Run:
    engine: Engine
    outcome: Outcome
    chats: list[Exchange]

    def printed(self, label: str) -> int:
        """The number the demo printed after `label: `."""
        lines = [line for line in self.outcome.out.splitlines() if line.startswith(f"{label}: ")]
        assert len(lines) == 1, f"no one '{label}:' line in:\n{self.outcome.out}"
        return int(lines[0].removeprefix(f"{label}: "))

    def prompts(self) -> list[tuple[str, int]]:
        """Each chat's prompt as the engine rendered it, and the prompt_tokens it served."""
        render = self.engine.render
        return [
            (render(c.request["messages"]), c.response["usage"]["prompt_tokens"])
            for c in self.chats
        ]


def run_through_proxy(engine: Engine, bound: float = HUNG) -> Run:
    chats: list[Exchange] = []
    with FakeServer(forward_to(engine.root, chats, bound)) as proxy:
        outcome = run_demo("--base-url", proxy.url + "/v1", "--model", engine.model, bound=bound)
    return Run(engine, outcome, chats)

"""The real engines on loopback (builds.py), the models served on them, and a recording proxy
between the demo and either. Whoever starts a server stops it; each binds 127.0.0.1 on a free
port."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from builds import llama_server_binary, ollama_binary
from fakes import Messages
from library import LibraryModel
from pytest_httpserver import HTTPServer
from rundemo import Chat, Outcome, chats, run_demo
from werkzeug import Request, Response

HUNG = 120  # seconds: not a timing assertion, a bound on a server that does not start or answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def call(method: str, url: str, payload: object = None) -> httpx2.Response:
    """One request on loopback, whatever its status."""
    return httpx2.request(method, url, json=payload, timeout=HUNG, trust_env=False)


def post(url: str, payload: object) -> Any:
    """The JSON answer to a POST that must succeed."""
    return call("POST", url, payload).raise_for_status().json()


@contextmanager
def serving(command: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[None]:
    """A server, once GET `ready` answers 200; if it dies first, the tail of its log."""
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + HUNG
        while not answers(ready):
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


def answers(url: str) -> bool:
    try:
        return call("GET", url).status_code == 200
    except httpx2.TransportError:
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


# --- llama.cpp's llama-server -------------------------------------------------------------------


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
    """The tokens llama-server at root makes of a text, with the BOS it adds to a prompt."""
    return lambda text: len(
        post(root + "/tokenize", {"content": text, "add_special": True})["tokens"]
    )


def llama_server_engine(root: str, model: str) -> Engine:
    """llama-server at root, which renders a chat with its own template (/apply-template)."""

    def render(messages: Messages) -> str:
        return str(post(root + "/apply-template", {"messages": messages})["prompt"])

    return Engine(root, model, render, tokens(root))


# --- Ollama -------------------------------------------------------------------------------------


@dataclass
class Ollama:
    root: str
    folder: Path  # its models and its key pair

    def create(self, name: str, modelfile: str) -> dict[str, str]:
        """`ollama create`; the digest of each layer it made, by kind (template, params, ...)."""
        path = self.folder / f"{re.sub('[:/]', '-', name)}.Modelfile"
        path.write_text(modelfile)
        env = {**os.environ, "OLLAMA_HOST": self.root.removeprefix("http://")}
        command = [str(ollama_binary()), "create", name, "-f", str(path)]
        done = subprocess.run(command, env=env | {"HOME": str(self.folder)}, capture_output=True)
        assert done.returncode == 0, f"ollama create {name}:\n{done.stderr.decode()[-2000:]}"
        repo, _, tag = name.partition(":")
        manifest = self.folder / "models/manifests/registry.ollama.ai/library" / repo / tag
        layers = json.loads(manifest.read_text())["layers"]
        return {
            x["mediaType"].rsplit(".", 1)[1]: x["digest"].removeprefix("sha256:") for x in layers
        }

    def blob(self, digest: str) -> Path:
        return self.folder / "models" / "blobs" / f"sha256-{digest}"

    def render(self, model: str) -> Callable[[Messages], str]:
        """The prompt Ollama renders from its Go template (asked by `_debug_render_only`)."""

        def render(messages: Messages) -> str:
            payload = {"model": model, "messages": messages, "_debug_render_only": True}
            reply = post(self.root + "/v1/chat/completions", payload)
            return str(reply["_debug_info"]["rendered_template"])

        return render

    @contextmanager
    def serving(self, model: LibraryModel, gguf: Path, **params: object) -> Iterator[Engine]:
        """The model on the GGUF with the library's layers (and params), its tokens counted by a
        llama-server that loads the same file."""
        layers = self.create(model.name, model.modelfile(gguf, **params))
        with llama_server(gguf, self.folder) as counter:
            yield Engine(self.root, model.name, self.render(model.name), tokens(counter), layers)


@contextmanager
def ollama_serve(folder: Path) -> Iterator[Ollama]:
    """`ollama serve` with its models and its key pair in folder."""
    root = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env |= {
        "OLLAMA_HOST": root.removeprefix("http://"),
        "OLLAMA_MODELS": str(folder / "models"),
        "OLLAMA_NO_CLOUD": "1",
        "HOME": str(folder),  # where `ollama serve` keeps its key pair
    }
    with serving([str(ollama_binary()), "serve"], env, root, folder / "serve.log"):
        yield Ollama(root, folder)


def copy_of(gguf: Path, folder: Path, padding: bytes) -> Path:
    """A copy of the file with padding after its bytes, so that no other model shares its blob
    (Ollama keeps each distinct file once)."""
    copy = folder / f"{gguf.stem}-{padding.hex()}.gguf"
    shutil.copyfile(gguf, copy)
    with open(copy, "ab") as out:
        out.write(padding)
    return copy


# --- The recording proxy ------------------------------------------------------------------------


@dataclass
class Run:
    engine: Engine
    outcome: Outcome
    chats: list[Chat]

    def number(self, label: str) -> int:
        return int(self.outcome.printed(label))


Measure = Callable[[str], Run]  # the demo's run on an engine, by name (conftest.measure)


def run_through_proxy(engine: Engine) -> Run:
    """The demo run on the engine through a proxy that records each exchange."""

    def forward(request: Request) -> Response:
        sent = call(request.method, engine.root + request.path, request.get_json(silent=True))
        return Response(sent.content, sent.status_code, content_type=sent.headers["content-type"])

    with HTTPServer(host="127.0.0.1", port=0) as proxy:
        proxy.expect_request(re.compile(".*")).respond_with_handler(forward)
        outcome = run_demo("--base-url", proxy.url_for("/v1"), "--model", engine.model)
        return Run(engine, outcome, chats(proxy))

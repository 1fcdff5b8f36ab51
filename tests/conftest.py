"""Fixtures: fake servers for one test, and llama.cpp's server for the whole session, serving
either the tiny model the tests write or Gemma 3 270M from PyPI."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from helpers import Engine, FakeServer, Reply, Request, Serve, llama_server
from tiny_model import IM_END, IM_START, write_tiny_model


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start fake servers for one test; all are stopped when it ends."""
    with ExitStack() as stack:

        def start(respond: Callable[[Request], Reply]) -> FakeServer:
            return stack.enter_context(FakeServer(respond))

        yield start


def chatml(messages: list[dict[str, str]]) -> str:
    """The tiny model's template (ChatML), as the chat template in its file renders it."""
    turns = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return turns + f"{IM_START}assistant\n"


def gemma_turns(messages: list[dict[str, str]]) -> str:
    """Gemma's turn format, as llama-cpp-python's `gemma` chat format writes it (and Ollama's
    gemma3 template): the assistant's role is called `model`."""
    roles = {"user": "user", "assistant": "model"}
    turns = "".join(
        f"<start_of_turn>{roles[m['role']]}\n{m['content']}<end_of_turn>\n" for m in messages
    )
    return turns + "<start_of_turn>model\n"


@pytest.fixture(scope="session")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("tiny")
    model = write_tiny_model(folder / "tiny.gguf")
    with llama_server(model, "tiny", folder / "server.log") as root:
        yield Engine(root, "tiny", chatml, "the tiny test model")


@pytest.fixture(scope="session")
def gemma_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from gemma_model import gemma_f16

    folder = tmp_path_factory.mktemp("gemma")
    with llama_server(
        gemma_f16(), "gemma3:270m", folder / "server.log", "--chat_format", "gemma"
    ) as root:
        # A base model rambles; a small cap keeps its answers short. The counts do not care.
        yield Engine(root, "gemma3:270m", gemma_turns, "Gemma 3 270M", ("--max-tokens", "8"))


@pytest.fixture(scope="session", params=["tiny", "gemma"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each real engine in turn: the tests that take it run once per model."""
    found: Engine = request.getfixturevalue(f"{request.param}_engine")
    return found

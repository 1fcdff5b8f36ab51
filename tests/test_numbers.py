"""The README's table of the numbers each reader will see: every model of the post's table, and
the two small ones, each row read from the README and proven by running the demo on Ollama
0.34.4, serving the model with the library's layers and the model's real tokenizer (table.py)."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from builds import OLLAMA_VERSION
from engines import (
    Engine,
    Run,
    llama_server,
    ollama_create,
    ollama_render,
    ollama_serve,
    run_through_proxy,
    tokens,
)
from library import GPT_OSS
from rundemo import readme_section
from table import ROWS, Row
from tokenizers import o200k_harmony

COLUMNS = ("Block 1", "1-turn", "5-turn", "delta", "replay")
POSTS_TABLE = ("llama3.2:3b", "gemma3:4b", "mistral:7b", "llama3.1:8b", "qwen2.5:7b", "gpt-oss:20b")


def readme_table() -> dict[str, list[int]]:
    """Each row of the README's table: the model, and its five numbers."""
    section = readme_section("The numbers you will see")
    rows = re.findall(r"^\| `(\S+)` \|((?: \d+ \|){5})$", section, re.M)
    return {model: [int(n) for n in numbers.split("|") if n.strip()] for model, numbers in rows}


def test_the_table_has_every_model_of_the_posts_table_and_the_two_small_ones() -> None:
    assert list(readme_table()) == [*POSTS_TABLE, "gemma3:270m", "smollm2:135m"]
    assert [row.model.name for row in ROWS] == list(readme_table())


@dataclass
class Measured:
    row: Row
    run: Run
    folder: Path

    def numbers(self) -> list[int]:
        usage = re.search(r"^usage: .*\bprompt_tokens=(\d+)", self.run.outcome.out, re.M)
        assert usage, self.run.outcome.out
        labels = ("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", "replay prompt_tokens")
        return [int(usage.group(1)), *(self.run.printed(label) for label in labels)]


@pytest.fixture(scope="module")
def table_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("table-ollama")
    with ollama_serve(folder) as root:
        yield root, folder


@pytest.fixture(scope="module", params=ROWS, ids=[row.model.name for row in ROWS])
def measured(
    request: pytest.FixtureRequest,
    table_ollama: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Measured]:
    """The row's model created on Ollama, and the demo run on it through the recording proxy;
    its tokens counted by a llama-server that loads the same GGUF."""
    row: Row = request.param
    root, folder = table_ollama
    name = row.model.name
    # Each answer stops after one token: counts do not depend on the answers.
    layers = ollama_create(root, name, row.model.modelfile(row.gguf(), num_predict=1), folder)
    with llama_server(row.gguf(), tmp_path_factory.mktemp("tokens")) as counter:
        engine = Engine(root, name, ollama_render(root, name), tokens(counter), layers)
        yield Measured(row, run_through_proxy(engine), folder)


@pytest.mark.engine
def test_readme_row_is_what_the_demo_prints_on_ollama(measured: Measured) -> None:
    measured.run.outcome.assert_succeeded()
    assert measured.numbers() == readme_table()[measured.row.model.name]


@pytest.mark.engine
def test_each_count_is_the_tokenizers_count_of_the_prompt_ollama_rendered(
    measured: Measured,
) -> None:
    for prompt, served in measured.run.prompts():
        assert measured.run.engine.count(prompt) == served, prompt


@pytest.mark.engine
def test_the_model_carries_the_librarys_layers(measured: Measured) -> None:
    model, layers = measured.row.model, measured.run.engine.layers
    assert layers["template"] == model.template
    assert layers.get("system") == model.system
    made = measured.folder / "models" / "blobs" / f"sha256-{layers['params']}"
    assert json.loads(made.read_text()) == model.parameters() | {"num_predict": 1}


GPT_OSS_ROW = next(row for row in ROWS if row.model is GPT_OSS)


@pytest.mark.engine
@pytest.mark.parametrize("measured", [GPT_OSS_ROW], ids=["gpt-oss:20b"], indirect=True)
def test_gpt_oss_counts_are_tiktokens_own_o200k_harmony(measured: Measured) -> None:
    """An independent check of the vocabulary made for gpt-oss: tiktoken's o200k_harmony counts
    each prompt Ollama rendered exactly as the served count."""
    harmony = o200k_harmony()
    for prompt, served in measured.run.prompts():
        assert len(harmony.encode(prompt, allowed_special="all")) == served, prompt


def test_ollama_version_in_the_readme_is_the_tests() -> None:
    assert f"Ollama {OLLAMA_VERSION}" in readme_section("The numbers you will see")

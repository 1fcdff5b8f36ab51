"""The library's layers kept in tests/library/ are the library's, byte for byte, and the models
the tests serve on Ollama carry them."""

import hashlib
import json
from pathlib import Path

import pytest
from conftest import GEMMA_CAP
from engines import Engine
from library import GEMMA3_270M, LAYERS, SMOLLM2


def test_each_layer_kept_is_the_blob_its_name_says() -> None:
    kept = sorted(LAYERS.iterdir())
    assert kept
    for path in kept:
        assert path.name == "sha256-" + hashlib.sha256(path.read_bytes()).hexdigest(), path


@pytest.mark.engine
def test_smollm2_on_ollama_carries_the_librarys_layers_exactly(ollama_smollm2: Engine) -> None:
    layers = ollama_smollm2.layers
    assert (layers["template"], layers["system"], layers["params"]) == (
        SMOLLM2.template,
        SMOLLM2.system,
        SMOLLM2.params,
    )


@pytest.mark.engine
def test_gemma3_on_ollama_carries_the_librarys_template_and_params_and_a_cap(
    ollama_gemma: Engine, ollama_folder: Path
) -> None:
    assert ollama_gemma.layers["template"] == GEMMA3_270M.template
    assert "system" not in ollama_gemma.layers
    made = ollama_folder / "models" / "blobs" / f"sha256-{ollama_gemma.layers['params']}"
    assert json.loads(made.read_text()) == GEMMA3_270M.parameters() | {"num_predict": GEMMA_CAP}

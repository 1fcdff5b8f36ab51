"""Ollama's faults, made by the real Ollama 0.34.4: the demo's message for each, and each fake in
fakes.py held against what the real Ollama sends for the same request, so that the fakes cannot
drift from it."""

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from builds import smollm2_gguf
from engines import Engine, call, ollama_create
from fakes import (
    HOST_NOT_ALLOWED,
    PAGE_NOT_FOUND,
    Reply,
    completion,
    missing_model,
    missing_model_before_v0_12,
    model_list,
    ollama_error,
)
from library import SMOLLM2
from rundemo import run_demo

pytestmark = pytest.mark.engine

CHAT = {"messages": [{"role": "user", "content": "What is the capital of Canada?"}]}


def shape(value: Any) -> Any:
    """The keys of a JSON value, all the way down, and the types of its leaves."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def body(reply: Reply) -> Any:
    assert not isinstance(reply, str)
    return json.loads(reply[2])


def own_blob(root: str, folder: Path, name: str, padding: bytes) -> Path:
    """Create a model from a copy of the SmolLM2 file, with padding after its bytes so that no
    other model shares its blob (Ollama keeps each distinct file once); its blob's path."""
    copy = folder / f"{name}.gguf"
    shutil.copyfile(smollm2_gguf(), copy)
    with open(copy, "ab") as out:
        out.write(padding)
    digest = ollama_create(root, name, f"FROM {copy}\n", folder)["model"]
    return folder / "models" / "blobs" / f"sha256-{digest}"


@pytest.fixture(scope="module")
def damaged(ollama: str, ollama_folder: Path) -> str:
    """A model whose weights file is cut short after import, as a failed copy might leave it:
    Ollama fails to load it, with a 500."""
    os.truncate(own_blob(ollama, ollama_folder, "damaged", b"0"), 50_000_000)
    return "damaged"


@pytest.fixture(scope="module")
def gone(ollama: str, ollama_folder: Path) -> str:
    """A model whose weights file was deleted after import: Ollama still lists it, and answers
    a chat with the wording ChatHandler had before v0.12."""
    own_blob(ollama, ollama_folder, "gone", b"1").unlink()
    return "gone"


def listed(root: str) -> list[str]:
    return [m["id"] for m in json.loads(call(root + "/v1/models", method="GET")[2])["data"]]


def test_missing_model_names_the_models_a_real_ollama_has(ollama_smollm2: Engine) -> None:
    said = run_demo("--base-url", ollama_smollm2.base_url, "--model", "gpt-oss:20b").assert_failed()
    names = listed(ollama_smollm2.root)
    assert SMOLLM2.name in names
    assert said == (
        f"HTTP 404 from {ollama_smollm2.base_url}/chat/completions: model 'gpt-oss:20b' not "
        f"found\nIt has {', '.join(names)}: pass one with --model, or `ollama pull gpt-oss:20b`.\n"
    )


def test_missing_model_on_a_fresh_ollama_says_pull_it_and_nothing_more(fresh_ollama: str) -> None:
    said = run_demo("--base-url", fresh_ollama + "/v1").assert_failed()
    assert said == (
        f"HTTP 404 from {fresh_ollama}/v1/chat/completions: model 'gpt-oss:20b' not found\n"
        "Pull it: `ollama pull gpt-oss:20b`.\n"
    )


def test_a_model_whose_weights_are_gone_gets_the_old_wording_and_pull_it(
    ollama_smollm2: Engine, gone: str
) -> None:
    said = run_demo("--base-url", ollama_smollm2.base_url, "--model", gone).assert_failed()
    first, advice = said.splitlines()
    assert first == (
        f'HTTP 404 from {ollama_smollm2.base_url}/chat/completions: model "{gone}" not found, '
        "try pulling it first"
    )
    assert advice.endswith(f": pass one with --model, or `ollama pull {gone}`.")


def test_base_url_without_v1_on_a_real_ollama_gets_the_v1_url(ollama_smollm2: Engine) -> None:
    said = run_demo("--base-url", ollama_smollm2.root).assert_failed()
    assert said == (
        f"HTTP 404 from {ollama_smollm2.root}/chat/completions: 404 page not found\n"
        f"The base URL must end in /v1: --base-url {ollama_smollm2.base_url}\n"
    )


def test_host_a_real_ollama_does_not_serve_gets_one_line_with_its_empty_403(
    ollama_smollm2: Engine, names: dict[str, str]
) -> None:
    url = ollama_smollm2.base_url.replace("127.0.0.1", "ollama.example")
    said = run_demo("--base-url", url, "--model", SMOLLM2.name, env=names).assert_failed()
    assert said == f"HTTP 403 from {url}/chat/completions: (an empty body)\n"


def test_a_model_ollama_cannot_load_is_reported_in_its_words_without_advice(
    ollama_smollm2: Engine, damaged: str
) -> None:
    said = run_demo("--base-url", ollama_smollm2.base_url, "--model", damaged).assert_failed()
    prefix = f"HTTP 500 from {ollama_smollm2.base_url}/chat/completions: read GGUF metadata "
    assert said.startswith(prefix) and said.count("\n") == 1
    assert said.endswith("offset+size exceeds file size\n")


# --- The fakes against the real thing ---------------------------------------------------------


def test_fake_missing_model_is_what_ollama_sends(ollama: str) -> None:
    status, kind, sent = call(ollama + "/v1/chat/completions", {"model": "nope", **CHAT})
    fake = missing_model("nope")
    assert (status, kind, json.loads(sent)) == (fake[0], "application/json", body(fake))


def test_fake_old_wording_is_what_ollama_sends_for_a_model_without_weights(
    ollama: str, gone: str
) -> None:
    status, kind, sent = call(ollama + "/v1/chat/completions", {"model": gone, **CHAT})
    fake = missing_model_before_v0_12(gone)
    assert (status, kind, json.loads(sent)) == (fake[0], "application/json", body(fake))


def test_fake_empty_model_list_is_what_a_fresh_ollama_sends(fresh_ollama: str) -> None:
    status, _, sent = call(fresh_ollama + "/v1/models", method="GET")
    assert (status, json.loads(sent)) == (200, body(model_list([])))
    assert json.loads(sent)["data"] is None


def test_fake_model_list_has_the_shape_ollama_sends(ollama_smollm2: Engine) -> None:
    sent = json.loads(call(ollama_smollm2.base_url + "/models", method="GET")[2])
    assert shape(sent) == shape(body(model_list([SMOLLM2.name])))


def test_fake_page_not_found_is_what_ollama_sends(ollama: str) -> None:
    status, kind, sent = call(ollama + "/chat/completions", {"model": SMOLLM2.name, **CHAT})
    assert (status, {"Content-Type": kind}, sent) == PAGE_NOT_FOUND


def test_fake_forbidden_host_is_what_ollama_sends(ollama: str) -> None:
    sent = call(ollama + "/v1/models", method="GET", host="ollama.example")
    assert (sent[0], sent[2]) == (HOST_NOT_ALLOWED[0], HOST_NOT_ALLOWED[2])


def test_fake_completion_has_the_shape_and_key_order_ollama_sends(ollama_smollm2: Engine) -> None:
    payload = {"model": SMOLLM2.name, "max_tokens": 4, **CHAT}
    sent = json.loads(call(ollama_smollm2.base_url + "/chat/completions", payload)[2])
    fake = completion(finish_reason="length")
    assert json.dumps(shape(sent)) == json.dumps(shape(fake))
    assert sent["choices"][0]["finish_reason"] == "length"


def test_fake_server_error_has_the_shape_ollama_sends(ollama: str, damaged: str) -> None:
    status, _, sent = call(ollama + "/v1/chat/completions", {"model": damaged, **CHAT})
    fake = ollama_error(500, "any words")
    assert (status, shape(json.loads(sent))) == (fake[0], shape(body(fake)))
    assert json.loads(sent)["error"]["type"] == body(fake)["error"]["type"] == "api_error"

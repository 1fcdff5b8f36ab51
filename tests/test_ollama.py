"""Ollama's faults, made by a real Ollama (0.24.0, built from its Go module): the demo's
message for each, and each fake in fakes.py held against what the real Ollama sends for the
same request, so that the fakes cannot drift from it."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from engines import DEMO_ARGS, MODEL, Engine, call, ollama_create
from fakes import (
    HOST_NOT_ALLOWED,
    PAGE_NOT_FOUND,
    Reply,
    completion,
    missing_model,
    model_list,
    ollama_error,
)
from gemma_model import gemma_f16
from rundemo import run_demo

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


@pytest.fixture(scope="module")
def damaged(ollama: Engine, ollama_command: Path, ollama_folder: Path) -> str:
    """A model whose weights file is cut short after import, as a failed download might leave
    it: Ollama fails to load it, with a 500."""
    ollama_create(ollama_command, ollama.root, "damaged", f"FROM {gemma_f16()}\n", ollama_folder)
    manifest = ollama_folder / "models/manifests/registry.ollama.ai/library/damaged/latest"
    layers = json.loads(manifest.read_text())["layers"]
    digest = next(x["digest"] for x in layers if x["mediaType"].endswith(".model"))
    blob = ollama_folder / "models" / "blobs" / digest.replace(":", "-")
    assert blob.stat().st_nlink == 1, "Ollama's own copy, not the cached file"
    os.truncate(blob, 100_000_000)
    return "damaged"


def test_missing_model_names_the_models_a_real_ollama_has(ollama: Engine) -> None:
    listed = [
        m["id"] for m in json.loads(call(ollama.base_url + "/models", method="GET")[2])["data"]
    ]
    assert MODEL in listed
    said = run_demo("--base-url", ollama.base_url, "--model", "gpt-oss:20b").failure()
    assert said.endswith(
        f"HTTP 404 from {ollama.base_url}/chat/completions: model 'gpt-oss:20b' not found\n"
        "Pull it: ollama pull gpt-oss:20b\n"
        f"Or use one it has ({', '.join(listed)}): --model {listed[0]}\n"
    )


def test_missing_model_on_a_fresh_ollama_says_pull_it_and_nothing_more(fresh_ollama: str) -> None:
    said = run_demo("--base-url", fresh_ollama + "/v1", *DEMO_ARGS).failure()
    assert said.endswith(
        f"HTTP 404 from {fresh_ollama}/v1/chat/completions: model '{MODEL}' not found\n"
        f"Pull it: ollama pull {MODEL}\n"
    )


def test_base_url_without_v1_on_a_real_ollama_gets_the_v1_url(ollama: Engine) -> None:
    said = run_demo("--base-url", ollama.root, *DEMO_ARGS).failure()
    assert said.endswith(
        f"HTTP 404 from {ollama.root}/chat/completions: 404 page not found\n"
        f"The base URL must end in /v1: --base-url {ollama.base_url}\n"
    )


def test_host_a_real_ollama_does_not_serve_gets_its_empty_403(
    ollama: Engine, names: dict[str, str]
) -> None:
    url = ollama.base_url.replace("127.0.0.1", "ollama.example")
    said = run_demo("--base-url", url, *DEMO_ARGS, env=names).failure()
    assert said.endswith(f"HTTP 403 from {url}/chat/completions: (an empty body)\n")


def test_a_model_ollama_cannot_load_is_reported_in_its_words_without_advice(
    ollama: Engine, damaged: str
) -> None:
    said = run_demo("--base-url", ollama.base_url, "--model", damaged).failure()
    last = said.splitlines()[-1]
    assert last.startswith(f"HTTP 500 from {ollama.base_url}/chat/completions: tensor ")
    assert last.endswith("exceeds file size (100000000)")


# --- The fakes against the real thing ---------------------------------------------------------


def test_fake_missing_model_is_what_ollama_sends(ollama: Engine) -> None:
    status, kind, sent = call(ollama.base_url + "/chat/completions", {"model": "nope", **CHAT})
    fake = missing_model("nope")
    assert (status, kind, json.loads(sent)) == (fake[0], "application/json", body(fake))


def test_fake_empty_model_list_is_what_a_fresh_ollama_sends(fresh_ollama: str) -> None:
    status, _, sent = call(fresh_ollama + "/v1/models", method="GET")
    assert (status, json.loads(sent)) == (200, body(model_list([])))
    assert json.loads(sent)["data"] is None


def test_fake_model_list_has_the_shape_ollama_sends(ollama: Engine) -> None:
    sent = json.loads(call(ollama.base_url + "/models", method="GET")[2])
    assert shape(sent) == shape(body(model_list([MODEL])))


def test_fake_page_not_found_is_what_ollama_sends(ollama: Engine) -> None:
    status, kind, sent = call(ollama.root + "/chat/completions", {"model": MODEL, **CHAT})
    assert (status, {"Content-Type": kind}, sent) == PAGE_NOT_FOUND


def test_fake_forbidden_host_is_what_ollama_sends(ollama: Engine) -> None:
    sent = call(ollama.base_url + "/models", method="GET", host="ollama.example")
    assert (sent[0], sent[2]) == (HOST_NOT_ALLOWED[0], HOST_NOT_ALLOWED[2])


@pytest.mark.parametrize("cap", [8, 1])
def test_fake_completion_has_the_shape_ollama_sends(ollama: Engine, cap: int) -> None:
    sent = json.loads(
        call(ollama.base_url + "/chat/completions", {"model": MODEL, "max_tokens": cap, **CHAT})[2]
    )
    assert shape(sent) == shape(completion())
    if cap == 1:  # cut by the cap, as a thinking model's answer would be
        assert sent["choices"][0]["finish_reason"] == "length"


def test_fake_server_error_has_the_shape_ollama_sends(ollama: Engine, damaged: str) -> None:
    status, _, sent = call(ollama.base_url + "/chat/completions", {"model": damaged, **CHAT})
    fake = ollama_error(500, "model requires more system memory")
    assert (status, shape(json.loads(sent))) == (fake[0], shape(body(fake)))
    assert json.loads(sent)["error"]["type"] == body(fake)["error"]["type"] == "api_error"

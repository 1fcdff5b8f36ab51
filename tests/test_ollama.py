"""The faults a real Ollama 0.34.4 makes on demand, and the demo's message for each; then each
fake of fakes.py held against the real Ollama's answer to the same request, so that the fakes
cannot drift from it."""

import json
import os
import socket
from typing import Any

import pytest
from builds import made
from demo import ONE_TURN
from engines import Engine, Ollama, call, copy_of
from fakes import completion, missing_model, ollama_error
from library import SMOLLM2
from rundemo import run_demo
from werkzeug import Response

pytestmark = pytest.mark.engine

CHAT = {"messages": ONE_TURN}  # the demo's 1-turn request


def listed(ollama: Ollama) -> str:
    """The names Ollama lists, as the demo joins them."""
    models = call("GET", ollama.root + "/v1/models").json()["data"]
    return ", ".join(model["id"] for model in models)


@pytest.fixture(scope="module")
def damaged(ollama: Ollama, smollm2: Engine) -> str:
    """A model whose weights file was cut short after import: Ollama fails to load it."""
    gguf = copy_of(made(SMOLLM2.gguf), ollama.folder, b"0")
    os.truncate(ollama.blob(ollama.create("damaged:latest", f"FROM {gguf}\n")["model"]), 50_000_000)
    return "damaged:latest"


@pytest.fixture(scope="module")
def gone(ollama: Ollama, smollm2: Engine) -> str:
    """A model whose weights file was deleted after import: Ollama still lists it, and answers
    with the words ChatHandler used before v0.12."""
    gguf = copy_of(made(SMOLLM2.gguf), ollama.folder, b"1")
    ollama.blob(ollama.create("gone:latest", f"FROM {gguf}\n")["model"]).unlink()
    return "gone:latest"


def test_a_model_it_lacks_gets_the_list_of_models_it_has(ollama: Ollama, smollm2: Engine) -> None:
    said = run_demo("--base-url", smollm2.base_url, "--model", "smolm2:135m").failed()
    assert "smollm2:135m" in listed(ollama).split(", ")
    assert said == (
        f"HTTP 404 from {smollm2.base_url}/chat/completions: model 'smolm2:135m' not found\n"
        f"It has {listed(ollama)}: --model one of those, or `ollama pull smolm2:135m`, if that "
        "name is in Ollama's library.\n"
    )


def test_missing_model_on_a_fresh_ollama_says_pull_it(fresh_ollama: Ollama) -> None:
    said = run_demo("--base-url", fresh_ollama.root + "/v1").failed()
    assert said == (
        f"HTTP 404 from {fresh_ollama.root}/v1/chat/completions: model 'gpt-oss:20b' not found\n"
        "Pull it: `ollama pull gpt-oss:20b`, if that name is in Ollama's library.\n"
    )
    models = call("GET", fresh_ollama.root + "/v1/models").json()
    assert models["data"] is None, "a fresh Ollama lists its models as null"


def test_a_model_whose_weights_are_gone_gets_the_old_words_and_the_list(
    ollama: Ollama, smollm2: Engine, gone: str
) -> None:
    said = run_demo("--base-url", smollm2.base_url, "--model", gone).failed()
    advice = f"It has {listed(ollama)}: --model one of those, or `ollama pull {gone}`, if that name"
    advice += " is in Ollama's library."
    assert said == (
        f'HTTP 404 from {smollm2.base_url}/chat/completions: model "{gone}" not found, try '
        f"pulling it first\n{advice}\n"
    )


def test_a_base_url_without_v1_gets_the_v1_url(smollm2: Engine) -> None:
    said = run_demo("--base-url", smollm2.root, "--model", SMOLLM2.name).failed()
    assert said == (
        f"HTTP 404 from {smollm2.root}/chat/completions: 404 page not found\n"
        f"The base URL must end in /v1: --base-url {smollm2.base_url}\n"
    )


def test_a_host_ollama_does_not_serve_gets_one_line_with_its_empty_403(
    smollm2: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve = socket.getaddrinfo  # the name is this machine's, below
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *rest: resolve("127.0.0.1", *rest))
    url = smollm2.base_url.replace("127.0.0.1", "ollama.example")
    said = run_demo("--base-url", url, "--model", SMOLLM2.name).failed()
    assert said == f"HTTP 403 from {url}/chat/completions: (an empty body)\n"


def test_a_model_ollama_cannot_load_is_its_words_alone(smollm2: Engine, damaged: str) -> None:
    said = run_demo("--base-url", smollm2.base_url, "--model", damaged).failed()
    prefix = f"HTTP 500 from {smollm2.base_url}/chat/completions: read GGUF metadata "
    assert said.startswith(prefix) and said.endswith("offset+size exceeds file size\n")
    assert said.count("\n") == 1


# --- The fakes against the real thing ---------------------------------------------------------


def shape(value: Any) -> Any:
    """The keys of a JSON value, in order and all the way down, and the types of its leaves."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def faked(fake: Response) -> tuple[int, str, Any]:
    return fake.status_code, fake.content_type or "", json.loads(fake.get_data())


def sent(ollama: Ollama, model: str) -> tuple[int, str, Any]:
    """Status, content type and JSON body of the real Ollama's answer to a chat with model."""
    real = call("POST", ollama.root + "/v1/chat/completions", {"model": model, **CHAT})
    return real.status_code, real.headers["content-type"], real.json()


def test_fake_missing_model_is_what_ollama_sends(ollama: Ollama) -> None:
    assert sent(ollama, "nope") == faked(missing_model("nope"))


def test_fake_server_error_has_the_shape_ollama_sends(ollama: Ollama, damaged: str) -> None:
    status, kind, body = sent(ollama, damaged)
    fake_status, fake_kind, fake_body = faked(ollama_error(500, "any words"))
    assert (status, kind, shape(body)) == (fake_status, fake_kind, shape(fake_body))


def test_fake_completion_has_the_shape_and_key_order_ollama_sends(smollm2: Engine) -> None:
    payload = {"model": SMOLLM2.name, "max_tokens": 1, **CHAT}
    body = call("POST", smollm2.base_url + "/chat/completions", payload).json()
    body["choices"][0]["finish_reason"] = "stop"  # cut at one token, it says "length"
    assert shape(body) == shape(completion())

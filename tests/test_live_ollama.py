"""The demo against a live Ollama on this machine, when one is running.

The only test allowed to skip: a machine where nothing listens on Ollama's port (CI's among
them) cannot run it, and the skip says why. Where Ollama answers, it proves what the README
promises: a clean run, a 5-turn count above the 1-turn count, and a replay that counts the
same. An Ollama that hangs fails the test.
"""

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest
from helpers import HANG, Serve, json_reply, run_demo

OLLAMA = "http://localhost:11434"


def smallest_chat_model(root: str) -> str:
    """The smallest pulled model that chats (an embedding model cannot), or a skip when nothing
    listens at root; an Ollama that does not answer fails."""
    try:
        with urllib.request.urlopen(root + "/api/tags", timeout=5) as response:
            models = json.load(response)["models"]
    except urllib.error.URLError as err:
        if isinstance(err.reason, ConnectionRefusedError):
            pytest.skip(f"no Ollama listens at {root}")
        pytest.fail(f"Ollama at {root} did not list its models: {err.reason}")
    except (OSError, ValueError, KeyError) as err:
        pytest.fail(f"Ollama at {root} did not list its models: {err!r}")
    chat = [m for m in models if "embed" not in json.dumps([m["name"], m.get("details")])]
    if not chat:
        pytest.skip(f"Ollama at {root} has no chat model pulled")
    return str(min(chat, key=lambda m: m["size"])["name"])


def test_demo_proves_the_contract_against_a_live_ollama() -> None:
    model = smallest_chat_model(OLLAMA)
    try:
        proc = run_demo("--model", model, "--timeout", "60")
    except subprocess.TimeoutExpired:
        pytest.fail(f"Ollama at {OLLAMA} did not finish a run of {model}: is it hung?")
    assert proc.returncode == 0, proc.stderr

    def printed(label: str) -> int:
        match = re.search(rf"^{label}: (\d+)$", proc.stdout, re.MULTILINE)
        assert match, proc.stdout
        return int(match.group(1))

    n, m = printed("1-turn prompt_tokens"), printed("5-turn prompt_tokens")
    assert m > n
    assert printed("replay prompt_tokens") == n


def test_the_live_test_picks_the_smallest_chat_model(serve: Serve) -> None:
    tags = {
        "models": [
            {"name": "gpt-oss:20b", "size": 13_780_000_000, "details": {"family": "gptoss"}},
            {"name": "nomic-embed-text:latest", "size": 274_000_000, "details": {}},
            {"name": "llama3.2:3b", "size": 2_019_000_000, "details": {"family": "llama"}},
        ]
    }
    server = serve(lambda request: json_reply(tags))
    assert smallest_chat_model(server.url) == "llama3.2:3b"


def test_the_live_test_fails_on_an_ollama_that_hangs(serve: Serve) -> None:
    server = serve(lambda request: HANG)
    with pytest.raises(pytest.fail.Exception, match="did not list its models"):
        smallest_chat_model(server.url)

"""The demo against a live Ollama on this machine, when one is running.

The only test allowed to skip: a machine without Ollama (CI's among them) cannot run it, and
the skip says why. Where Ollama answers, it proves what the README promises: a clean run, a
5-turn count above the 1-turn count, and a replay that counts the same.
"""

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest
from helpers import run_demo

OLLAMA = "http://localhost:11434"


def smallest_chat_model() -> str:
    """The smallest pulled model that chats (embedding models cannot), or a skip saying why."""
    try:
        with urllib.request.urlopen(OLLAMA + "/api/tags", timeout=5) as response:
            models = json.load(response)["models"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
        pytest.skip(f"no Ollama answers at {OLLAMA} ({err})")
    chat = [m for m in models if "embed" not in (m["name"] + str(m.get("details", ""))).lower()]
    if not chat:
        pytest.skip(f"Ollama at {OLLAMA} has no chat model pulled")
    return str(min(chat, key=lambda m: m["size"])["name"])


def test_demo_proves_the_contract_against_a_live_ollama() -> None:
    model = smallest_chat_model()
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

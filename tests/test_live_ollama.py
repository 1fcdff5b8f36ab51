"""The demo against a live Ollama on this machine, when one is running.

This is the only test allowed to skip: a machine without Ollama (CI's among them) cannot
run it, and says so in the skip reason.
"""

import json
import os
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from conftest import run_demo

BASE_URL = os.environ.get("PORTWAY_BASE_URL", "http://localhost:11434/v1").rstrip("/")


def pulled_models() -> list[str]:
    if urlsplit(BASE_URL).hostname not in ("localhost", "127.0.0.1", "::1"):
        pytest.skip(f"{BASE_URL} is not on this machine; the tests talk to loopback only")
    try:
        with urllib.request.urlopen(BASE_URL + "/models", timeout=2) as response:
            listing = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as err:
        pytest.skip(f"no Ollama answers at {BASE_URL} ({err})")
    models = [m["id"] for m in listing.get("data", [])]
    if not models:
        pytest.skip(f"Ollama at {BASE_URL} has no models pulled")
    return models


def test_demo_runs_against_a_live_ollama() -> None:
    model = pulled_models()[0]
    proc = run_demo("--base-url", BASE_URL, "--model", model)
    assert proc.returncode == 0, proc.stderr
    for label in ("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", "1-turn replay"):
        assert f"\n{label}" in proc.stdout

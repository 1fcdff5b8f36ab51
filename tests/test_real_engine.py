"""The demo against a real engine: llama.cpp's OpenAI-compatible server, serving a tiny model.

A recording proxy sits between the demo and the engine, so every number the demo prints
can be checked against the response the engine actually sent.
"""

import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import HUNG, Engine, FakeServer, Reply, Request, run_demo
from test_readme import readme_sample_output

pytestmark = pytest.mark.e2e

COUNT_LABELS = (
    "1-turn prompt_tokens",
    "5-turn prompt_tokens",
    "delta",
    "1-turn replay prompt_tokens",
)


@dataclass
class Exchange:
    request: Any
    response: Any


def forward_to(engine: Engine, log: list[Exchange]) -> Callable[[Request], Reply]:
    """A responder that passes each request on to the engine and records both sides."""

    def respond(request: Request) -> Reply:
        data = None if request.body is None else json.dumps(request.body).encode()
        upstream = urllib.request.Request(
            engine.root + request.path,
            data=data,
            method=request.method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(upstream, timeout=HUNG) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, payload = err.code, err.read()
        if request.path.endswith("/chat/completions"):
            log.append(Exchange(request.body, json.loads(payload)))
        return status, {"Content-Type": "application/json"}, payload

    return respond


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    chats: list[Exchange]

    def printed(self, label: str) -> int:
        match = re.search(rf"^{re.escape(label)}: (-?\d+)$", self.proc.stdout, re.MULTILINE)
        assert match, f"no '{label}:' line in:\n{self.proc.stdout}"
        return int(match.group(1))


def run_through_proxy(engine: Engine) -> Run:
    chats: list[Exchange] = []
    with FakeServer(forward_to(engine, chats)) as proxy:
        proc = run_demo("--base-url", proxy.url + "/v1", "--model", engine.model)
    return Run(proc, chats)


@pytest.fixture(scope="module")
def run(engine: Engine) -> Iterator[Run]:
    yield run_through_proxy(engine)


def test_demo_runs_cleanly_and_prints_every_label(run: Run) -> None:
    assert run.proc.returncode == 0, run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    lines = run.proc.stdout.splitlines()
    for label in ("content", "usage", "1-turn response", "5-turn response", *COUNT_LABELS):
        assert any(line.startswith(label + ": ") for line in lines), label


def test_demo_makes_exactly_four_chat_calls(run: Run) -> None:
    assert len(run.chats) == 4


def test_printed_numbers_are_the_served_ones(run: Run) -> None:
    block1, one, five, replay = (c.response["usage"] for c in run.chats)
    usage_line = next(line for line in run.proc.stdout.splitlines() if line.startswith("usage: "))
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert f"{name}={block1[name]}" in usage_line
    assert run.printed("1-turn prompt_tokens") == one["prompt_tokens"]
    assert run.printed("5-turn prompt_tokens") == five["prompt_tokens"]
    assert run.printed("delta") == five["prompt_tokens"] - one["prompt_tokens"]
    assert run.printed("1-turn replay prompt_tokens") == replay["prompt_tokens"]


def test_history_costs_tokens_and_the_replay_counts_the_same(run: Run) -> None:
    n, m = run.printed("1-turn prompt_tokens"), run.printed("5-turn prompt_tokens")
    assert m > n
    assert run.printed("1-turn replay prompt_tokens") == n
    assert f"counted {n} again" in run.proc.stdout


def test_five_turn_request_carries_the_history_and_the_same_question(run: Run) -> None:
    _, one, five, replay = (c.request["messages"] for c in run.chats)
    assert len(one) == 1
    assert [m["role"] for m in five] == ["user", "assistant", "user", "assistant", "user"]
    assert five[-1]["content"] == one[0]["content"]
    assert replay == one


def test_delta_is_the_resent_history(run: Run, engine: Engine) -> None:
    history = run.chats[2].request["messages"][:4]
    history_tokens = sum(len(engine.tokenize(m["content"])) for m in history)
    # The template wraps each message in role markers, so the delta is the text and more.
    assert run.printed("delta") > history_tokens


def test_two_runs_print_the_same_prompt_tokens(run: Run, engine: Engine) -> None:
    again = run_through_proxy(engine)
    assert again.proc.returncode == 0, again.proc.stderr
    assert [again.printed(label) for label in COUNT_LABELS] == [
        run.printed(label) for label in COUNT_LABELS
    ]


def test_readme_sample_output_is_what_the_demo_prints_today(run: Run) -> None:
    # The README's sample comes from this same engine and model, whose answers are fixed
    # and whose counts repeat, so the whole text must match, not just the labels.
    assert readme_sample_output() == run.proc.stdout

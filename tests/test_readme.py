"""The README is the front door: short, its commands the ones that work, and a troubleshooting
row for every message demo.py can print. (That its sample output and its Gemma numbers are
what the demo prints today is checked against the real engine, in test_real_engine.py.)
"""

import ast
import re

from helpers import DEMO, README, REPO, RUN

TEST_COMMAND = "uv run --group test pytest"

# How each message demo.py can print on stderr, or instead of an answer, begins.
MESSAGES = [
    "Nothing is listening at",
    "The host",
    "The TLS handshake with",
    "accepted no connection within",
    "No answer from",
    "refused the API key",
    "What answered at",
    "answered without token usage",
    "The server has no model",
    "Nothing at",
    "The server at",
    "The call to",
    "(none: the cap of",
    "[cut by the token cap]",
    "(no answer text)",
    "... asking",
    "Interrupted.",
    "is not a",  # a setting that cannot work, in argparse's `error: argument --flag: ...`
]


def troubleshooting() -> str:
    return README.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]


def test_readme_gives_the_setup_run_and_test_commands_verbatim() -> None:
    assert "\nuv sync\n" in README
    assert f"\n{RUN}\n" in README
    assert f"\n{TEST_COMMAND}\n" in README
    assert f"\nstep {TEST_COMMAND}" in (REPO / ".ci" / "run").read_text()


def test_readme_is_short_enough_to_finish_in_three_minutes() -> None:
    assert len(README.split()) <= 1100


def test_troubleshooting_has_a_row_for_every_message_the_demo_prints() -> None:
    demo, rows = DEMO.read_text(), troubleshooting()
    for opening in MESSAGES:
        assert opening in demo, f"demo.py no longer prints {opening!r}"
        assert re.search(rf"^\|[^\n]*{re.escape(opening)}", rows, re.MULTILINE), opening


def test_every_fault_message_in_demo_py_is_in_the_list() -> None:
    """Each message explain() returns opens with one of MESSAGES, so that a new message
    cannot be added without its README row."""
    tree = ast.parse(DEMO.read_text())
    explain = next(
        f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "explain"
    )
    returns = [node.value for node in ast.walk(explain) if isinstance(node, ast.Return)]
    messages = [value for value in returns if isinstance(value, ast.JoinedStr)]
    assert len(messages) >= 10
    for value in messages:
        text = ast.unparse(value)
        assert any(opening in text[:80] for opening in MESSAGES if opening != "is not a"), text

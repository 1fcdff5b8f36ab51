"""The README is the front door: its commands are the ones that work, and its troubleshooting
covers every message the demo can print. (That its sample output is what the demo prints
today is checked against the real engine, in test_real_engine.py.)
"""

import re

from conftest import REPO, RUN_DEMO

README = (REPO / "README.md").read_text()
TEST_COMMAND = "uv run --group e2e pytest"

# The opening words of every message demo.py can print on a fault or a surprise.
MESSAGES = [
    "Cannot reach",
    "Nothing at",
    "is not available at",
    "refused the API key",
    "No answer from",
    "is not an OpenAI-compatible API",
    "failed on model",
    "without token usage",
    "answered HTTP",
    "answered only in its reasoning channel",
    "cut this answer short",
    "Look closely: the replay counted",
    "did not count more prompt tokens",
    "waiting for",
    "Interrupted.",
    "error: argument",
]


def readme_sample_output() -> str:
    """The first code block under the README's 'Sample output' heading."""
    section = README.split("## Sample output", 1)[1]
    match = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert match, "no ```text block under '## Sample output'"
    return match.group(1)


def test_readme_gives_the_setup_and_run_commands_verbatim() -> None:
    assert "\nuv sync\n" in README
    assert "\n" + " ".join(RUN_DEMO) + "\n" in README


def test_ci_runs_the_readme_test_command() -> None:
    assert f"\n{TEST_COMMAND}\n" in README
    assert f"\nstep {TEST_COMMAND}" in (REPO / ".ci" / "run").read_text()


def test_troubleshooting_covers_every_message_the_demo_prints() -> None:
    demo = (REPO / "1-local-first" / "demo.py").read_text()
    troubleshooting = README.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for opening in MESSAGES:
        if opening != "error: argument":  # argparse's own words
            assert opening in demo, f"demo.py no longer prints {opening!r}"
        assert opening in troubleshooting, f"README's troubleshooting lacks {opening!r}"


def test_readme_cites_the_posts_figures() -> None:
    assert "75" in README and "139" in README and "gpt-oss:20b" in README

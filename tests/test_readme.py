"""The README is the front door: short, its commands the ones that work, and a troubleshooting
row for every message demo.py prints. (Each failure a test provokes is checked against those
rows by Outcome.failure(); the sample output and the numbers, against real runs.)"""

import re

from rundemo import DEMO, README, REPO, RUN, troubleshooting_row, troubleshooting_rows

TEST_COMMAND = "uv run --group test pytest"


def test_readme_gives_the_setup_run_and_test_commands_verbatim() -> None:
    assert "\nuv sync\n" in README
    assert f"\n{RUN}\n" in README
    assert f"\n{TEST_COMMAND}\n" in README
    assert f"\nstep {TEST_COMMAND}" in (REPO / ".ci" / "run").read_text()


def test_readme_is_short_enough_to_finish_in_three_minutes() -> None:
    assert len(README.split()) <= 1100


# Rows for messages in others' words: the SDK's (an empty key) and argparse's.
OTHERS_WORDS = ("Missing credentials", "demo.py: error: …")


def test_every_troubleshooting_row_opens_with_words_demo_py_prints() -> None:
    demo, rows = DEMO.read_text(), troubleshooting_rows()
    assert len(rows) >= 15
    for row in rows:
        if row in OTHERS_WORDS:
            continue
        opening = next(part for part in re.split(r"<url>|<model>|<n>|…|\d+", row) if part.strip())
        assert opening in demo, row


def test_the_notes_an_answer_may_carry_have_rows() -> None:
    for note in (
        "(no answer text)",
        "Ottawa [cut off: the token limit was reached]",
        "(no answer text: the token limit ran out; a thinking model spends it reasoning first)",
    ):
        assert troubleshooting_row(note), note

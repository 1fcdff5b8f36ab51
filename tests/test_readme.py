"""The README: short, its commands the ones that work, a troubleshooting row for each message
(each fault a test makes is held against them by Outcome.failed())."""

import re

from rundemo import README, REPO, RUN, troubleshooting_rows

TEST_COMMAND = "uv run --group test pytest"


def test_readme_gives_the_setup_run_and_test_commands_verbatim() -> None:
    assert "\nuv sync\n" in README
    assert f"\n{RUN}\n" in README
    assert f"\n{TEST_COMMAND}\n" in README
    assert f"\nstep {TEST_COMMAND}" in (REPO / ".ci" / "run").read_text()


def test_readme_is_short_enough_to_read_in_three_minutes() -> None:
    assert len(README.split()) <= 700


def test_every_troubleshooting_row_opens_with_words_demo_py_prints() -> None:
    demo, rows = (REPO / "1-local-first" / "demo.py").read_text(), troubleshooting_rows()
    for row in rows:
        if row.startswith("demo.py: error:"):  # argparse's words
            continue
        opening = next(part for part in re.split(r"<url>|<model>|<n>|…|\d+", row) if part.strip())
        assert opening.strip() in demo, row

"""The README: short, its commands the ones that work, a troubleshooting row for each message
(each fault a test makes is held against them by Outcome.failed())."""

import re

from rundemo import README, REPO, RUN, troubleshooting_row, troubleshooting_rows

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


def test_each_message_with_its_own_advice_has_its_own_row() -> None:
    for said, row in [
        ("The request to http://x/v1 failed: [Errno 61] Connection refused", "Connection"),
        ("HTTP 404 from http://x/v1/chat/completions: model 'm' not found", "model … not"),
        ('HTTP 404 from http://x/v1/chat: model "m" not found, try pulling it first', "model …"),
        ("No answer from http://x/v1 within 300 s. A first call", "No answer"),
        ("HTTP 500 from http://x/v1/chat/completions: ... out-of-memory ...", "memory"),
        ("HTTP 404 from http://x/chat/completions: 404 page not found", "404 page not found"),
        ("Interrupted.", "Interrupted."),
    ]:
        found = troubleshooting_row(said)
        assert found is not None and row in found, (said, found)

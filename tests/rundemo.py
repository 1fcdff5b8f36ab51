"""demo.py run as the README runs it, what a test checks of a run, and the README itself."""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fakes import HUNG

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "1-local-first" / "demo.py"
RUN = "uv run --project 1-local-first python 1-local-first/demo.py"
README = (REPO / "README.md").read_text()


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what would steer the demo: the SDK's variables,
    proxies, and an unbuffered Python (a person's stdout is buffered unless the demo flushes)."""
    proxies = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    steering = ("OPENAI_", "PYTHONUNBUFFERED", *proxies)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(steering)}
    return {**env, **(extra or {})}


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def failure(self, code: int = 1) -> str:
        """What the demo said on stderr, once it is clear it failed as a person should see it
        fail: with that exit code, no traceback, and a message the README's troubleshooting
        table has a row for (the line after the notice; argparse's last line)."""
        assert self.code == code, (self.code, self.out, self.err)
        assert "Traceback" not in self.err + self.out, self.err
        lines = [line for line in self.err.splitlines() if line.strip()]
        notices = [i for i, line in enumerate(lines) if line.startswith("... asking ")]
        said = lines[notices[0] + 1] if notices else lines[-1]
        assert troubleshooting_row(said), f"the README has no troubleshooting row for: {said}"
        return self.err

    def success(self) -> str:
        assert self.code == 0, (self.code, self.err)
        return self.out


def run_demo(*args: str, env: dict[str, str] | None = None) -> Outcome:
    """Run demo.py exactly as the README does, from the repository root."""
    done = subprocess.run(
        [*RUN.split(), *args],
        cwd=REPO,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=HUNG,
        stdin=subprocess.DEVNULL,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def start_demo(
    *args: str, new_session: bool = False, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """Start demo.py as run_demo does, without waiting, for tests that act mid-run."""
    return subprocess.Popen(
        [*RUN.split(), *args],
        cwd=REPO,
        env=clean_env(),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def readme_section(heading: str) -> str:
    return README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def troubleshooting_rows() -> list[str]:
    """The first cell of each row of the README's troubleshooting table, without its backticks."""
    cells = re.findall(r"^\| (`+) ?(.+?) ?\1 \|", readme_section("Troubleshooting"), re.MULTILINE)
    return [text for _, text in cells]


def troubleshooting_row(line: str) -> str | None:
    """The row whose first cell the line begins with: <url>, <model> and <n> stand for a URL,
    a model's name and a number, and … for any words."""
    holes = {"<url>": r"\S+", "<model>": r"\S+", "<n>": r"-?[\d.]+", "…": ".*"}
    for row in troubleshooting_rows():
        pattern = re.escape(row)
        for hole, fill in holes.items():
            pattern = pattern.replace(re.escape(hole), fill)
        if re.match(pattern, line):
            return row
    return None


def readme_sample_output() -> str:
    """The ```text block under the README's 'Sample output' heading."""
    match = re.search(r"```text\n(.*?)```", readme_section("Sample output"), re.DOTALL)
    assert match, "no ```text block under '## Sample output'"
    return match.group(1)

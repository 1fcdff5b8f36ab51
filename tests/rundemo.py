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
    """This process's environment without what would steer the demo or the SDK under it (the
    SDK's variables, proxies) or what a reader's shell would not set: this machine sets
    PYTHONDONTWRITEBYTECODE, which makes every run compile the SDK again (a second a run)."""
    proxies = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    steering = ("OPENAI_", *proxies, "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(steering)}
    return {**env, **(extra or {})}


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def assert_failed(self, code: int = 1) -> str:
        """Assert the run failed as a reader should see it fail: with that exit code, no
        traceback, and a first line on stderr (argparse's last) that the README's
        troubleshooting table has a row for. Returns stderr."""
        assert self.code == code, (self.code, self.out, self.err)
        assert "Traceback" not in self.err + self.out, self.err
        lines = [line for line in self.err.splitlines() if line.strip()]
        said = lines[-1] if code == 2 else lines[0]  # argparse ends with its error
        assert troubleshooting_row(said), f"the README has no troubleshooting row for: {said}"
        return self.err

    def assert_succeeded(self) -> str:
        """Assert the run ended well, with nothing on stderr. Returns stdout."""
        assert (self.code, self.err) == (0, ""), (self.code, self.err)
        return self.out


def start_demo(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: int = subprocess.DEVNULL,
    new_session: bool = False,
) -> subprocess.Popen[str]:
    """Start demo.py exactly as the README runs it, from the repository root."""
    return subprocess.Popen(
        [*RUN.split(), *args],
        cwd=REPO,
        env=clean_env(env),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def run_demo(*args: str, env: dict[str, str] | None = None, bound: float = HUNG) -> Outcome:
    """Run demo.py to its end (failing the test if it has not ended within bound seconds)."""
    with start_demo(*args, env=env) as demo:
        try:
            out, err = demo.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    return Outcome(demo.returncode, out, err)


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

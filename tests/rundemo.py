"""demo.py run in this process as `python demo.py` would run it (only the tests of the README's
command and of Ctrl-C start it through uv), what a test checks of a run, and the README."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import demo
from pytest_httpserver import HTTPServer

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
RUN = "uv run --project 1-local-first python 1-local-first/demo.py"


def section(heading: str) -> str:
    return README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def sample_output() -> str:
    """The ```text block under 'Sample output'."""
    match = re.search(r"```text\n(.*?)```", section("Sample output"), re.DOTALL)
    assert match, "no ```text block under '## Sample output'"
    return match.group(1)


def troubleshooting_rows() -> list[str]:
    """The first cell of each row of the troubleshooting table, without its backticks."""
    cells = re.findall(r"^\| (`+) ?(.+?) ?\1 \|", section("Troubleshooting"), re.MULTILINE)
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


# What would steer the SDK but a reader's shell does not set: its variables, and proxies.
STEERING = ("OPENAI_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def failed(self, code: int = 1) -> str:
        """Assert the run failed with that exit code and a first line on stderr (argparse's
        last) that the README's troubleshooting table has a row for, a row of its own if the
        message gives a fix (not one for words alone, ": …"); return stderr."""
        assert self.code == code, (self.code, self.out, self.err)
        lines = [line for line in self.err.splitlines() if line.strip()]
        said = lines[-1] if code == 2 else lines[0]
        row = troubleshooting_row(said)
        assert row, f"the README has no troubleshooting row for: {said}"
        assert code == 2 or len(lines) == 1 or not row.endswith(": …"), (said, row)
        return self.err

    def succeeded(self) -> str:
        """Assert the run ended well, with nothing on stderr; return stdout."""
        assert (self.code, self.err) == (0, ""), (self.code, self.err)
        return self.out

    def printed(self, label: str) -> str:
        """What follows `label: ` on the one line of stdout that starts with it."""
        lines = [line for line in self.out.splitlines() if line.startswith(f"{label}: ")]
        assert len(lines) == 1, f"no one '{label}:' line in:\n{self.out}"
        return lines[0].removeprefix(f"{label}: ")


@dataclass
class Chat:
    body: bytes  # the request's, as sent
    request: dict[str, Any]
    response: dict[str, Any]


def chats(server: HTTPServer) -> list[Chat]:
    """The chat calls a fake server or a recording proxy saw, in order."""
    return [
        Chat(request.get_data(), request.get_json(), json.loads(response.get_data()))
        for request, response in server.log
        if request.path.endswith("/chat/completions")
    ]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(STEERING)}


def run_demo(*flags: str) -> Outcome:
    """demo.main() with these flags, in a clean environment. An exception it lets out fails the
    test, as a traceback would fail a reader."""
    out, err, saved = io.StringIO(), io.StringIO(), (dict(os.environ), sys.argv)
    os.environ.clear()
    os.environ.update(clean_env())
    sys.argv = ["demo.py", *flags]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = demo.main()
    except SystemExit as exit:  # argparse's, for --help and for a flag it refuses
        code = int(exit.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        sys.argv = saved[1]
    return Outcome(code, out.getvalue(), err.getvalue())


def start_readme_command(*flags: str, **popen: Any) -> subprocess.Popen[str]:
    """The README's command, from the repository root, with these flags."""
    command = [*RUN.split(), *flags]
    return subprocess.Popen(command, cwd=REPO, env=clean_env(), text=True, **popen)

"""Ollama v0.24.0, built here from its Go module once, and cached in ~/.cache/portway.

v0.24.0 is the last release whose inference is compiled in by cgo: from v0.30 on, its build
clones llama.cpp's server from GitHub, which this machine cannot reach. Its module needs no
`replace` lines, so `go install github.com/ollama/ollama@v0.24.0` builds it, with one gap:
module zips leave out nested vendor/ folders, and its cgo files include four header-only
libraries from llama/llama.cpp/vendor. The same headers ship in the llama-cpp-python sdist
that uv.lock pins for the test group; they are taken from there, the download checked
against the lock's sha256, and handed to the compiler through CGO_CPPFLAGS.

The first build takes about seven minutes on two cores; the binary is about 85 MB.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
import urllib.request
from pathlib import Path

from cache import cached

VERSION = "0.24.0"
MODULE = "github.com/ollama/ollama"
REPO = Path(__file__).resolve().parent.parent
# What llama/llama.cpp/vendor holds at v0.24.0, as the sdist lays it out under vendor/.
HEADERS = ("nlohmann/json.hpp", "nlohmann/json_fwd.hpp", "stb/stb_image.h", "miniaudio/miniaudio.h")


def go(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the go command; a failure says what go said."""
    done = subprocess.run(["go", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def ollama_source() -> Path:
    """The module's folder in Go's module cache, downloaded if need be: its template/ folder
    holds the chat templates Ollama ships."""
    return Path(json.loads(go("mod", "download", "-json", f"{MODULE}@v{VERSION}"))["Dir"])


def ollama_binary() -> Path:
    """The ollama command, built on the first call (for this Go version)."""
    return cached(f"ollama-v{VERSION}-{go('env', 'GOVERSION').strip()}", _build)


def _build(dest: Path) -> None:
    headers = vendored_headers()
    with tempfile.TemporaryDirectory() as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "1", "CGO_CPPFLAGS": f"-I{headers}"}
        version = f"-ldflags=-X {MODULE}/version.Version={VERSION}"  # what `ollama -v` says
        go("install", version, f"{MODULE}@v{VERSION}", env=env)
        shutil.move(Path(gobin) / "ollama", dest)


def vendored_headers() -> Path:
    """A folder holding HEADERS, from the llama-cpp-python sdist that uv.lock pins."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    package = next(p for p in lock["package"] if p["name"] == "llama-cpp-python")
    sdist = package["sdist"]
    name = f"llama-cpp-python-{package['version']}-vendor"
    return cached(name, lambda dest: _extract_headers(sdist["url"], sdist["hash"], dest))


def _extract_headers(url: str, hash: str, dest: Path) -> None:
    algorithm, expected = hash.split(":", 1)
    with tempfile.TemporaryFile() as archive:
        with urllib.request.urlopen(url, timeout=120) as response:
            shutil.copyfileobj(response, archive)
        archive.seek(0)
        if hashlib.file_digest(archive, algorithm).hexdigest() != expected:
            raise RuntimeError(f"{url} does not match uv.lock's {hash}")
        archive.seek(0)
        with tarfile.open(fileobj=archive) as sdist:
            for member in sdist.getmembers():
                header = member.name.partition("/vendor/llama.cpp/vendor/")[2]
                source = sdist.extractfile(member) if header in HEADERS else None
                if source is not None:
                    (dest / header).parent.mkdir(parents=True, exist_ok=True)
                    (dest / header).write_bytes(source.read())
    missing = [h for h in HEADERS if not (dest / h).is_file()]
    if missing:
        raise RuntimeError(f"{url} holds no {', '.join(missing)}")

"""The engines and models the tests run, built or fetched once and cached in CACHE: Ollama
v0.34.4 from its Go module, with its patched llama-server in ../lib/ollama (since v0.30.0 every
GGUF model runs in one, #16031); llama.cpp's own llama-server, unpatched (the patch injects a
chat template into a GGUF that looks like Ollama's); the models, by tests/models.py.

Ollama pins llama.cpp b11081, which no registry serves; the llama-cpp-python 0.3.36 sdist
vendors b11312 (its CHANGELOG: "update llama.cpp to ggml-org/llama.cpp@0c1e57098"). Ollama's
build refuses GGML_NATIVE beside GGML_BACKEND_DL, so AVX2 and its companions are named.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "portway"
MODELS = Path(__file__).with_name("models.py")
LOCK = MODELS.with_suffix(".py.lock")  # models.py runs in its own environment, as this pins it
SCRIPT = ["uv", "run", "--locked", "--quiet", "--script", str(MODELS)]
OLLAMA_VERSION = "0.34.4"
OLLAMA_MODULE = "github.com/ollama/ollama"
LLAMA_CPP_BUILD = "b11312"


@dataclass(frozen=True)
class Pinned:
    """A file from a package registry, checked against the digest the registry lists for it
    ("sha256:<hex>" on PyPI; npm's integrity is sha512)."""

    url: str
    digest: str


LLAMA_CPP_PYTHON_SDIST = Pinned(
    "https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca"
    "773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz",
    "sha256:832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
)
CPU_FLAGS = [f"-DGGML_{flag}=ON" for flag in ("AVX", "AVX2", "FMA", "F16C", "BMI2")]
COMMON_FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", "-DGGML_OPENMP=OFF", *CPU_FLAGS]


def cached(name: str, make: Callable[[Path], object]) -> Path:
    """CACHE/name, made by make(path) the first time: under a temporary name in the same folder,
    then renamed into place, so that an interrupted run leaves no half-made file behind it."""
    target = CACHE / name
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".making-") as tmp:
        partial = Path(tmp) / name
        make(partial)
        partial.replace(target)
    return target


def run(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a build step; a failure says what the step printed last."""
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode != 0:
        said = (done.stdout + done.stderr)[-4000:]
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{said}")
    return done.stdout


def fetched(pinned: Pinned) -> Path:
    """The file, downloaded once and checked against its digest."""

    def download(dest: Path) -> None:
        with urllib.request.urlopen(pinned.url, timeout=300) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out)
        algorithm, expected = pinned.digest.split(":")
        with open(dest, "rb") as done:
            digest = hashlib.file_digest(done, algorithm).hexdigest()
        if digest != expected:
            raise RuntimeError(f"{pinned.url} has {algorithm} {digest}, not {expected}")

    return cached(pinned.url.rsplit("/", 1)[1], download)


def llama_cpp_source() -> Path:
    """llama.cpp b11312 as the sdist vendors it, without the sdist's gitlink file (`.git`, which
    points at a submodule folder that is not there, so that `git apply` refuses to work)."""

    def extract(dest: Path) -> None:
        with (
            tarfile.open(fetched(LLAMA_CPP_PYTHON_SDIST)) as sdist,
            tempfile.TemporaryDirectory(dir=dest.parent) as tmp,
        ):
            sdist.extractall(tmp, filter="data")
            vendored = Path(tmp) / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp"
            (vendored / ".git").unlink()
            vendored.rename(dest)

    return cached(f"llama.cpp-{LLAMA_CPP_BUILD}", extract)


def made(name: str) -> Path:
    """A GGUF file that tests/models.py makes in its own environment (uv, with the script's own
    lock), cached under a name that changes with the script or its lock."""
    key = hashlib.sha256(MODELS.read_bytes() + LOCK.read_bytes()).hexdigest()[:12]
    return cached(f"{name}-{key}.gguf", lambda dest: run([*SCRIPT, name, str(dest)]))


def ollama_source() -> Path:
    """Ollama's module in Go's module cache, downloaded if need be."""
    found = run(["go", "mod", "download", "-json", f"{OLLAMA_MODULE}@v{OLLAMA_VERSION}"])
    return Path(json.loads(found)["Dir"])


def ollama_binary() -> Path:
    """bin/ollama, with Ollama's patched llama-server in lib/ollama beside it."""
    go = run(["go", "env", "GOVERSION"]).strip()
    name = f"ollama-{OLLAMA_VERSION}-{go}-llama.cpp-{LLAMA_CPP_BUILD}-avx2"
    return cached(name, _build_ollama) / "bin" / "ollama"


def _build_ollama(dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        gobin, source, build = Path(tmp) / "bin", Path(tmp) / "llama.cpp", Path(tmp) / "build"
        env = {**os.environ, "GOBIN": str(gobin)}
        version = f"-ldflags=-X {OLLAMA_MODULE}/version.Version={OLLAMA_VERSION}"
        run(["go", "install", version, f"{OLLAMA_MODULE}@v{OLLAMA_VERSION}"], env=env)
        shutil.copytree(llama_cpp_source(), source)  # the patch is applied to it in place
        server = ollama_source() / "llama" / "server"
        flags = ["-DBUILD_SHARED_LIBS=ON", "-DGGML_BACKEND_DL=ON", "-DOLLAMA_RUNNER_DIR="]
        flags += [f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP={source}"]
        flags += ["-DFETCHCONTENT_FULLY_DISCONNECTED=ON"]
        run(["cmake", "-S", str(server), "-B", str(build), *COMMON_FLAGS, *flags])
        run(["cmake", "--build", str(build), "--target", "llama-server", f"-j{os.cpu_count()}"])
        install = ["cmake", "--install", str(build), "--component", "llama-server"]
        run([*install, "--prefix", str(dest)])  # lib/ollama: where Ollama looks for it
        (dest / "bin").mkdir()
        shutil.move(gobin / "ollama", dest / "bin" / "ollama")


def llama_server_binary() -> Path:
    """llama.cpp's own llama-server from the same source, unpatched, in one static binary."""
    return cached(f"llama-server-{LLAMA_CPP_BUILD}-avx2", _build_llama_server) / "llama-server"


def _build_llama_server(dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent) as build:
        flags = ["-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TESTS=OFF"]
        flags += ["-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_HTML=OFF"]
        flags += ["-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF"]
        run(["cmake", "-S", str(llama_cpp_source()), "-B", build, *COMMON_FLAGS, *flags])
        run(["cmake", "--build", build, "--target", "llama-server", f"-j{os.cpu_count()}"])
        dest.mkdir()
        shutil.move(Path(build) / "bin" / "llama-server", dest / "llama-server")

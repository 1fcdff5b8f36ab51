"""The real tokenizers of the models in the post's table, as GGUF metadata (tokenizer.ggml.*),
each from a file a package registry serves:

- Llama 3.x: ggml-vocab-llama-bpe.gguf, and Qwen2.5: ggml-vocab-qwen2.gguf, both in the
  models/ folder of the llama.cpp that the llama-cpp-python 0.3.36 sdist vendors;
- Mistral v0.3: mistral_instruct_tokenizer_240323.model.v3, the SentencePiece model in the
  mistral-common wheel (the sdist's llama-spm vocabulary is Llama 2's, not Mistral's);
- gpt-oss: o200k_harmony, which is o200k_base's ranks (shipped in the npm package js-tiktoken,
  and checked against the sha256 tiktoken expects of them) and harmony's special tokens.
"""

import hashlib
import itertools
import json
import os
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import gguf
import tiktoken
from builds import Pinned, fetched, llama_cpp_source
from cache import cached
from tiny import Field

Kind = gguf.GGUFValueType

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
# Where tiktoken_ext/openai_public.py, o200k_base, fetches its ranks from.
O200K_BASE_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def vocab_file(name: str) -> Path:
    return llama_cpp_source() / "models" / f"ggml-vocab-{name}.gguf"


# --- SentencePiece ----------------------------------------------------------------------------


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _protobuf(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message: ints, and bytes for the rest."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        wire = key & 7
        if wire == 0:
            number, at = _varint(data, at)
            yield key >> 3, number
            continue
        if wire == 2:
            size, at = _varint(data, at)
        else:
            size = {1: 8, 5: 4}[wire]
        yield key >> 3, data[at : at + size]
        at += size


def sentencepiece_fields(model: bytes) -> list[Field]:
    """A SentencePiece model as llama.cpp's converter writes it (convert_hf_to_gguf.py,
    _create_vocab_sentencepiece): each piece, its score, and its type, whose numbers GGUF's
    token types share (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte)."""
    tokens, scores, types = [], [], []
    for number, piece in _protobuf(model):
        if number != 1:  # 1: the pieces; 2, 3: the trainer's and normalizer's settings
            continue
        assert isinstance(piece, bytes)
        parts = dict(_protobuf(piece))
        text, score = parts[1], parts.get(2, b"\0\0\0\0")
        assert isinstance(text, bytes) and isinstance(score, bytes)
        tokens.append(text.decode())
        scores.append(struct.unpack("<f", score)[0])
        types.append(int(parts.get(3, 1)))
    return [
        ("tokenizer.ggml.model", "llama", Kind.STRING, None),
        ("tokenizer.ggml.tokens", tokens, Kind.ARRAY, Kind.STRING),
        ("tokenizer.ggml.scores", scores, Kind.ARRAY, Kind.FLOAT32),
        ("tokenizer.ggml.token_type", types, Kind.ARRAY, Kind.INT32),
    ]


def mistral_v3_fields() -> list[Field]:
    with zipfile.ZipFile(fetched(MISTRAL_COMMON_WHEEL)) as wheel:
        model = wheel.read("mistral_common/data/mistral_instruct_tokenizer_240323.model.v3")
    return sentencepiece_fields(model)


# --- o200k_harmony ------------------------------------------------------------------------------


def o200k_harmony() -> tiktoken.Encoding:
    """tiktoken's own o200k_harmony, offline: o200k_base's ranks, as js-tiktoken ships them
    (dist/ranks/o200k_base.js: lines of an offset and base64 tokens ranked from it on), are
    written where tiktoken caches its download (named by the sha1 of the URL), and tiktoken
    checks them against the sha256 it expects before it uses them."""
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
    """The two parts byte-pair encoding joins to make a token: its bytes merged lowest rank
    first, with only the merges ranked below the token's own (transformers,
    convert_slow_tokenizer.py, TikTokenConverter's bpe)."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        pairs = [(ranks.get(a + b), i) for i, (a, b) in enumerate(itertools.pairwise(parts))]
        _, at = min((rank, i) for rank, i in pairs if rank is not None)
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    assert len(parts) == 2 and ranks.get(parts[0] + parts[1]) == ranks[token], token
    return parts[0], parts[1]


def harmony_fields(harmony: tiktoken.Encoding) -> list[Field]:
    """o200k_harmony as GGUF metadata: o200k_base's tokens and merges in GPT-2's byte map, then
    the special tokens, as control tokens. Id 200018 has two names; it takes the first in
    order, o200k_base's own <|endofprompt|>."""
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
    ]

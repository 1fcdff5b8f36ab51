"""Tiny GGUF models that carry a real tokenizer: one layer of random weights, 64 wide, and the
vocabulary, merges and special tokens of the model they stand in for.

`prompt_tokens` depends on the chat template and the tokenizer, not on the weights, so such a
model served by Ollama counts a prompt exactly as the real one does. Its answers are noise; the
tests stop them after one token.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np

WIDTH, HEADS, FEED = 64, 2, 128
Tensors = dict[str, tuple[int, ...]]  # name: numpy shape (rows first)


def llama_tensors(vocab: int) -> Tensors:
    """llama.cpp's `llama` layout (src/models/llama.cpp), also Mistral's; the output layer is
    tied to the embeddings."""
    head = WIDTH // HEADS
    return {
        "token_embd.weight": (vocab, WIDTH),
        "output_norm.weight": (WIDTH,),
        "blk.0.attn_norm.weight": (WIDTH,),
        "blk.0.attn_q.weight": (WIDTH, WIDTH),
        "blk.0.attn_k.weight": (head, WIDTH),
        "blk.0.attn_v.weight": (head, WIDTH),
        "blk.0.attn_output.weight": (WIDTH, WIDTH),
        "blk.0.ffn_norm.weight": (WIDTH,),
        "blk.0.ffn_gate.weight": (FEED, WIDTH),
        "blk.0.ffn_up.weight": (FEED, WIDTH),
        "blk.0.ffn_down.weight": (WIDTH, FEED),
    }


def qwen2_tensors(vocab: int) -> Tensors:
    """`qwen2` (src/models/qwen2.cpp): llama's, with biases on the attention's inputs."""
    head = WIDTH // HEADS
    biases = {"blk.0.attn_q.bias": (WIDTH,), "blk.0.attn_k.bias": (head,)}
    return llama_tensors(vocab) | biases | {"blk.0.attn_v.bias": (head,)}


def gpt_oss_tensors(vocab: int) -> Tensors:
    """`gpt-oss` (src/models/openai-moe.cpp): attention sinks, and two experts of which one
    is used, with biases throughout."""
    head, experts = WIDTH // HEADS, 2
    attention = {
        f"blk.0.attn_{part}.{kind}": (size,) if kind == "bias" else (size, WIDTH)
        for part, size in (("q", WIDTH), ("k", head), ("v", head))
        for kind in ("weight", "bias")
    }
    return attention | {
        "token_embd.weight": (vocab, WIDTH),
        "output_norm.weight": (WIDTH,),
        "output.weight": (vocab, WIDTH),
        "blk.0.attn_norm.weight": (WIDTH,),
        "blk.0.post_attention_norm.weight": (WIDTH,),
        "blk.0.attn_output.weight": (WIDTH, WIDTH),
        "blk.0.attn_output.bias": (WIDTH,),
        "blk.0.attn_sinks.weight": (HEADS,),
        "blk.0.ffn_gate_inp.weight": (experts, WIDTH),
        "blk.0.ffn_gate_inp.bias": (experts,),
        "blk.0.ffn_gate_exps.weight": (experts, FEED, WIDTH),
        "blk.0.ffn_up_exps.weight": (experts, FEED, WIDTH),
        "blk.0.ffn_down_exps.weight": (experts, WIDTH, FEED),
        "blk.0.ffn_gate_exps.bias": (experts, FEED),
        "blk.0.ffn_up_exps.bias": (experts, FEED),
        "blk.0.ffn_down_exps.bias": (experts, WIDTH),
    }


ARCHITECTURES: dict[str, Callable[[int], Tensors]] = {
    "llama": llama_tensors,
    "qwen2": qwen2_tensors,
    "gpt-oss": gpt_oss_tensors,
}


# A metadata key, its value, and its GGUF type (and its items' type, for an array)
Field = tuple[str, Any, gguf.GGUFValueType, gguf.GGUFValueType | None]


def fields_of(vocab: Path) -> list[Field]:
    """The tokenizer.ggml.* keys of a GGUF file, with their types."""
    reader = gguf.GGUFReader(vocab)
    found = []
    for field in reader.fields.values():
        if field.name.startswith("tokenizer.ggml."):
            kind = field.types[0]
            items = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            found.append((field.name, field.contents(), kind, items))
    return found


def write_tiny(dest: Path, arch: str, tokenizer: list[Field]) -> None:
    """A one-layer model of the architecture with the tokenizer's keys."""
    vocab = len(next(value for key, value, *_ in tokenizer if key == "tokenizer.ggml.tokens"))
    writer = gguf.GGUFWriter(dest, arch=arch)
    writer.add_context_length(8192)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(1)
    writer.add_feed_forward_length(FEED)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(vocab)
    if arch == "gpt-oss":
        writer.add_expert_count(2)
        writer.add_expert_used_count(1)
        writer.add_expert_feed_forward_length(FEED)
        writer.add_sliding_window(128)
    for key, value, kind, items in tokenizer:
        writer.add_key_value(key, value, kind, sub_type=items)
    random = np.random.default_rng(0)
    for name, shape in ARCHITECTURES[arch](vocab).items():
        values = random.normal(0, 0.02, shape).astype(np.float32)
        matrix = len(shape) > 1 and name.endswith(".weight")  # biases and norms stay F32
        writer.add_tensor(name, values.astype(np.float16) if matrix else values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

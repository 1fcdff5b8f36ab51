"""Write a tiny llama-architecture GGUF for llama.cpp to serve in the tests.

No model can be downloaded here, and the lesson is about tokens counted, not answers.
What must be real is the part that counts: a byte-level BPE vocabulary with merges and
special tokens, and a chat template in the file, so that the server tokenizes and
templates a conversation the way it would for a real model.

The weights are random except for one wired-in path: the transformer blocks add nothing
to the residual stream, so each next token depends only on the last one, and the output
layer chains "assistant\n" to a fixed reply. Whatever it is asked, the model answers
ANSWER and stops, which keeps its output short and readable (and the README's sample
output honest about where it came from).
"""

import itertools
from pathlib import Path

import gguf
import numpy as np

N_EMBD, N_HEAD, N_FF, N_LAYER, N_CTX = 64, 4, 128, 2, 4096

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
ANSWER = "I am a tiny test model."
# ChatML, the template family Qwen and many others use: role markers around each message.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Words to build merges from, so common text takes fewer tokens than bytes, as in a real
# BPE vocabulary. Anything else still tokenizes, byte by byte.
WORDS = (  # noqa: SIM905 (a list literal would take a line per word)
    "the capital of Canada city which is what in a to and trip train plan next summer I you it "
    "with on way stop history lot Toronto Vancouver Winnipeg Quebec rivers name three reply "
    "names only comma separated user assistant am tiny test model"
).split()


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's map from bytes to printable characters, which byte-level BPE vocabularies use."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def vocabulary() -> tuple[list[str], list[str]]:
    """Byte tokens, then one token per merge, in merge order."""
    to_char = byte_to_unicode()
    tokens = [to_char[b] for b in range(256)]
    known, merges = set(tokens), []
    for word in WORDS:
        for form in (" " + word, word):
            pieces = [to_char[b] for b in form.encode()]
            merged = pieces[0]
            for piece in pieces[1:]:
                if merged + piece not in known:
                    merges.append(f"{merged} {piece}")
                    tokens.append(merged + piece)
                    known.add(merged + piece)
                merged += piece
    return tokens, merges


def write_tiny_model(path: Path, seed: int = 0) -> Path:
    tokens, merges = vocabulary()
    types = [gguf.TokenType.NORMAL] * len(tokens) + [gguf.TokenType.CONTROL] * 2
    tokens += [IM_START, IM_END]
    n_vocab = len(tokens)
    # The reply, as tokens: the template's last prompt token (the newline), then the
    # answer's tokens, then the end-of-turn marker, each leading to the next.
    to_char = byte_to_unicode()
    reply = [to_char[ord("\n")], "I", "Ġam", "Ġa", "Ġtiny", "Ġtest", "Ġmodel", ".", IM_END]
    chain = [tokens.index(token) for token in reply]

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("portway-test-tiny")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index(IM_START))
    writer.add_eos_token_id(tokens.index(IM_END))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    # Embeddings of unit length in random directions: nearly orthogonal to each other.
    embeddings = rng.standard_normal((n_vocab, N_EMBD)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    # subtle: the logit of token b is its output row dotted with the (normalized) last
    # token's embedding, so a row that is a scaled copy of a's embedding makes b follow a,
    # by a margin that sampling at any usual temperature will not overcome.
    output = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    for a, b in itertools.pairwise(chain):
        output[b] = 5.0 * embeddings[a]
    zeros = np.zeros((N_EMBD, N_EMBD), dtype=np.float32)

    # numpy shapes are ggml's dimensions reversed: (rows = outputs, columns = inputs).
    writer.add_tensor("token_embd.weight", embeddings)
    for i in range(N_LAYER):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weights(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_output.weight", zeros)  # attention adds nothing
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weights(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weights(N_FF, N_EMBD))
        # the feed-forward adds nothing either
        writer.add_tensor(f"blk.{i}.ffn_down.weight", np.zeros((N_EMBD, N_FF), np.float32))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path

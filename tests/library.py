"""Models as Ollama's library (ollama.com) ships them, for the tests to serve with a real
tokenizer: the chat template, system prompt and parameters each model's manifest names.

An ollama.com blob is named by the sha256 of its bytes, so each layer is kept byte for byte in
tests/library/ under that name, and test_library.py checks every file against its name. Where
the texts were found (stored copies of ollama.com pages and of repositories that dump Ollama's
Modelfiles and manifests) is said beside each model; the digests are those the library's
manifests listed between September and October 2026.
"""

import json
from dataclasses import dataclass
from pathlib import Path

LAYERS = Path(__file__).resolve().parent / "library"


@dataclass(frozen=True)
class LibraryModel:
    name: str  # as `ollama pull` names it
    template: str  # the sha256 of each layer's bytes, as the manifest lists it
    system: str | None = None
    params: str | None = None

    def layer(self, digest: str) -> str:
        return (LAYERS / f"sha256-{digest}").read_text()

    def parameters(self) -> dict[str, object]:
        return {} if self.params is None else dict(json.loads(self.layer(self.params)))

    def modelfile(self, gguf: Path, **extra: object) -> str:
        """A Modelfile that gives the GGUF this model's layers, and any extra parameters."""
        lines = [f"FROM {gguf}", f'TEMPLATE """{self.layer(self.template)}"""']
        if self.system is not None:
            lines.append(f'SYSTEM """{self.layer(self.system)}"""')
        for key, value in (self.parameters() | extra).items():
            values = value if isinstance(value, list) else [value]
            lines += [f"PARAMETER {key} {json.dumps(v)}" for v in values]
        return "\n".join(lines) + "\n"


# The manifest of library/smollm2:135m. Template: a stored Modelfile dump; system and params: the
# same dump's SYSTEM and PARAMETER lines, in Ollama's encoding.
SMOLLM2 = LibraryModel(
    "smollm2:135m",
    template="d502d55c1d609104ae6127aee92eb940e51e15c56dfb26dbd067e2771ee746f1",
    system="fbacade46b4da804e0398c339c64b944d4b954452adf77cf050b49420116129e",
    params="f02dd72bb2423204352eabc5637b44d79d17f109fdb510a7c51455892aa2d216",
)
# library/gemma3:270m. Template: unsloth's ollama_template_mappers.py, which cites
# ollama.com/library/gemma3/blobs/4b19ac7dd2fb; params: `ollama show` output.
GEMMA3_270M = LibraryModel(
    "gemma3:270m",
    template="4b19ac7dd2fb1ab2f2818b73454c5a9128ca39875a8fcf686a6b1c36100a0d68",
    params="339e884a40f6708bc761d367f0c08e448d5bb6f16b3961c340e44e0e4835a004",
)

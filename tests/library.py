"""Models as Ollama's library (ollama.com) ships them: the chat template, system prompt and
parameters each model's manifest names (between September and October 2026). An ollama.com blob
is named by the sha256 of its bytes, so each layer is kept in tests/library/ under that name;
where its text was found is said beside each model."""

import json
from dataclasses import dataclass
from pathlib import Path

LAYERS = Path(__file__).resolve().parent / "library"


@dataclass(frozen=True)
class LibraryModel:
    name: str  # as `ollama pull` names it
    gguf: str  # the file the tests serve it on, with its real tokenizer (models.py)
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
    "smollm2-135m-instruct-q4_1",
    template="d502d55c1d609104ae6127aee92eb940e51e15c56dfb26dbd067e2771ee746f1",
    system="fbacade46b4da804e0398c339c64b944d4b954452adf77cf050b49420116129e",
    params="f02dd72bb2423204352eabc5637b44d79d17f109fdb510a7c51455892aa2d216",
)
# library/gemma3:270m. Template: unsloth's ollama_template_mappers.py, which cites
# ollama.com/library/gemma3/blobs/4b19ac7dd2fb; params: `ollama show` output.
GEMMA3_270M = LibraryModel(
    "gemma3:270m",
    "gemma-3-270m-as-the-library-has-it",
    template="4b19ac7dd2fb1ab2f2818b73454c5a9128ca39875a8fcf686a6b1c36100a0d68",
    params="339e884a40f6708bc761d367f0c08e448d5bb6f16b3961c340e44e0e4835a004",
)
# library/gemma3:4b. Template: unsloth's mappers (citing ollama.com/library/gemma3/blobs/
# e0a42594d802); params: `ollama show`. The same tokenizer as the 270M, so served on it.
GEMMA3_4B = LibraryModel(
    "gemma3:4b",
    "gemma-3-270m-as-the-library-has-it",
    template="e0a42594d802e5d31cdc786deb4823edb8adff66094d49de8fffe976d753e348",
    params="3116c52250752e00dd06b16382e952bd33c34fd79fc4fe3a5d2c77cf7de1b14b",
)
# library/llama3.2:3b. Template: an `ollama show --template llama3.2` dump; params: /api/show.
LLAMA3_2 = LibraryModel(
    "llama3.2:3b",
    "tiny-llama3",
    template="966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396",
    params="56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb",
)
# library/llama3.1:8b. Template: an /api/show dump kept in a Go test; params: llama3.2's blob.
LLAMA3_1 = LibraryModel(
    "llama3.1:8b",
    "tiny-llama3",
    template="948af2743fc78a328dcb3b0f5a31b3d75f415840fdb699e8b1235978392ecf85",
    params="56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb",
)
# library/mistral:7b (v0.3). Template: unsloth's mappers (citing .../mistral:v0.3/blobs/
# 1ff5b64b61b9); params: `ollama show mistral:7b`.
MISTRAL = LibraryModel(
    "mistral:7b",
    "tiny-mistral-v3",
    template="1ff5b64b61b9a63146475a24f70d3ca2fd6fdeec44247987163479968896fc0b",
    params="ed11eda7790d05b49395598a42b155812b17e263214292f7b87d15e14003d337",
)
# library/qwen2.5:7b: a SYSTEM layer, and no params layer. Both texts: unsloth's mappers (citing
# .../qwen2.5/blobs/eb4402837c78).
QWEN2_5 = LibraryModel(
    "qwen2.5:7b",
    "tiny-qwen2",
    template="eb4402837c7829a690fa845de4d7f3fd842c2adee476d5341da8a46ea9255175",
    system="66b9ea09bd5b7099cbb4fc820f31b575c0366fa439b08245566692c6784e281e",
)
# library/gpt-oss:20b. No stored copy holds the template whole: it is the text of its previous
# blob (51468a0fd901, in unsloth's mappers) with the one line that changed taken from Ollama's
# x/create/client/create.go, and its sha256 is the blob's. Params: `ollama show`.
GPT_OSS = LibraryModel(
    "gpt-oss:20b",
    "tiny-o200k-harmony",
    template="fa6710a93d78da62641e192361344be7a8c0a1c3737f139cf89f20ce1626b99c",
    params="d8ba2f9a17b3bbdeb5690efaa409b3fcb0b56296a777c7a69c78aa33bbddf182",
)

# The README's table of numbers: every model of the post's table, then the two small ones.
TABLE = [LLAMA3_2, GEMMA3_4B, MISTRAL, LLAMA3_1, QWEN2_5, GPT_OSS, GEMMA3_270M, SMOLLM2]

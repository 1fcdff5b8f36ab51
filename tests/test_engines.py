"""The demo on the real engines: llama.cpp's own llama-server serving Gemma 3 270M, and Ollama
0.34.4 serving each model of the README's table with the library's layers on its real tokenizer.
Each count is held against the prompt the engine rendered and what its own tokenizer makes of
it; the README's table and sample output, against these runs."""

import ast
import hashlib
import json
import re
import subprocess

import pytest
from builds import OLLAMA_VERSION, SCRIPT
from conftest import ANSWER_CAP
from engines import Measure, Ollama, Run
from library import GPT_OSS, LAYERS, SMOLLM2, TABLE, LibraryModel
from rundemo import sample_output, section

ENGINES = ["llama.cpp", *(model.name for model in TABLE)]


def prompts(run: Run) -> list[tuple[str, int]]:
    """Each chat's prompt as the engine rendered it, and the prompt_tokens it served."""
    return [
        (run.engine.render(chat.request["messages"]), chat.response["usage"]["prompt_tokens"])
        for chat in run.chats
    ]


@pytest.mark.engine
@pytest.mark.parametrize("name", ENGINES)
def test_each_count_is_the_engines_own_count_of_the_prompt_it_rendered(
    measure: Measure, name: str
) -> None:
    run = measure(name)
    rendered = prompts(run)
    for prompt, served in rendered:
        assert run.engine.count(prompt) == served, prompt
    assert rendered[3][0] == rendered[1][0], "the replay is rendered as the 1-turn call was"
    assert run.number("replay prompt_tokens") == run.number("1-turn prompt_tokens")


@pytest.mark.engine
@pytest.mark.parametrize("name", ENGINES)
def test_the_delta_is_the_four_made_up_turns_in_their_turn_markers(
    measure: Measure, name: str
) -> None:
    """The 5-turn prompt is the 1-turn prompt with the four turns put in where its first turn
    begins (after whatever comes first, a system prompt say), and the delta is what those
    turns count, to the token."""
    run = measure(name)
    render, count = run.engine.render, run.engine.count
    _, one, five, _ = (chat.request["messages"] for chat in run.chats)
    alone, whole = render(one), render(five)
    start = next(i for i, (a, b) in enumerate(zip(alone, whole, strict=False)) if a != b)
    turns = whole[start : start + len(whole) - len(alone)]
    assert whole == alone[:start] + turns + alone[start:]
    in_order = ".*".join(re.escape(m["content"]) for m in five[:4])
    assert re.fullmatch(f".*{in_order}.*", turns, re.S) and one[0]["content"] not in turns
    begin = count("")  # what the engine adds to any prompt: its BOS, or nothing
    assert run.number("delta") == count(turns) - begin


# --- The README's table and sample ------------------------------------------------------------


TABLE_SECTION = "The prompt_tokens you will see"  # the README's heading above its table


def readme_table() -> dict[str, list[int]]:
    """Each row of the README's table: the model, and its five numbers."""
    rows = re.findall(r"^\| `(\S+)` \|((?: \d+ \|){5})$", section(TABLE_SECTION), re.M)
    return {model: [int(n) for n in numbers.split("|") if n.strip()] for model, numbers in rows}


def test_the_table_is_the_posts_models_then_two_small_ones_with_the_posts_figures() -> None:
    posts = ["llama3.2:3b", "gemma3:4b", "mistral:7b", "llama3.1:8b", "qwen2.5:7b", "gpt-oss:20b"]
    assert list(readme_table()) == [model.name for model in TABLE]
    assert [model.name for model in TABLE] == [*posts, "gemma3:270m", "smollm2:135m"]
    assert f"Ollama {OLLAMA_VERSION}" in section(TABLE_SECTION)
    # The post's sample output, on gpt-oss:20b: Block 1's prompt_tokens, then Block 2's three.
    assert readme_table()[GPT_OSS.name][:4] == [72, 75, 139, 64]


@pytest.mark.engine
@pytest.mark.parametrize("model", TABLE, ids=[model.name for model in TABLE])
def test_readme_row_is_what_the_demo_prints_on_ollama(
    measure: Measure, model: LibraryModel
) -> None:
    run = measure(model.name)
    block_1 = ast.literal_eval(run.outcome.printed("usage"))["prompt_tokens"]
    labels = ("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", "replay prompt_tokens")
    printed = [block_1, *(run.number(label) for label in labels)]
    assert printed == readme_table()[model.name]


def test_each_layer_kept_is_the_blob_its_name_says() -> None:
    kept = sorted(LAYERS.iterdir())
    assert kept
    for path in kept:
        assert path.name == "sha256-" + hashlib.sha256(path.read_bytes()).hexdigest(), path


@pytest.mark.engine
@pytest.mark.parametrize("model", TABLE, ids=[model.name for model in TABLE])
def test_each_model_served_carries_the_librarys_layers(
    measure: Measure, ollama: Ollama, model: LibraryModel
) -> None:
    layers = measure(model.name).engine.layers
    assert (layers["template"], layers.get("system")) == (model.template, model.system)
    made = json.loads(ollama.blob(layers["params"]).read_text())
    assert made == model.parameters() | {"num_predict": ANSWER_CAP}


@pytest.mark.engine
def test_gpt_oss_counts_are_tiktokens_own_o200k_harmony(measure: Measure) -> None:
    """An independent check of the vocabulary models.py makes for gpt-oss: tiktoken's own
    o200k_harmony counts each prompt Ollama rendered as Ollama did."""
    rendered = prompts(measure(GPT_OSS.name))
    texts = json.dumps([prompt for prompt, _ in rendered])
    count = [*SCRIPT, "harmony-count"]
    done = subprocess.run(count, input=texts, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [served for _, served in rendered]


def without_answers(text: str) -> str:
    """The output but for what changes from run to run: each answer (which may run over lines,
    up to the label that follows it), the tokens spent on it, and what the cache held."""
    answer = r"^(content|1-turn response|5-turn response): .*?\n(?=\n*(usage|5-turn|1-turn prompt))"
    text = re.sub(answer, r"\1: …\n", text, flags=re.M | re.S)
    text = re.sub(r"'(completion_tokens|total_tokens|cached_tokens)': \d+", r"'\1': …", text)
    text = re.sub(r"^The engine took \d+ of them", "The engine took … of them", text, flags=re.M)
    return re.sub(r"^cached_tokens: \d+$", "cached_tokens: …", text, flags=re.M)


@pytest.mark.engine
def test_readme_sample_output_is_what_the_demo_prints_today(measure: Measure) -> None:
    printed = measure(SMOLLM2.name).outcome.succeeded()
    assert without_answers(sample_output()) == without_answers(printed)


@pytest.mark.engine
def test_on_gpt_oss_block_3_says_its_cache_reused_nothing(measure: Measure) -> None:
    # gpt-oss's sliding-window attention: llama.cpp reads the whole prompt again once another
    # request came between ("forcing full prompt re-processing ... SWA" in Ollama's log).
    run = measure(GPT_OSS.name)
    assert run.outcome.printed("cached_tokens") == "0"
    assert "\nThe engine read the whole prompt again: models with sliding-window" in run.outcome.out

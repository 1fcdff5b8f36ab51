"""Portway, post 1: one local model, the OpenAI SDK, and the stateless contract, in three blocks
of chat calls; every number printed is the server's. Run after `uv sync`, from the repo root:
`uv run --project 1-local-first python 1-local-first/demo.py`. Left out on purpose: streaming,
a chat loop, retries, a token cap, and counting tokens on this side."""

import argparse
import difflib
import sys
from urllib.parse import urljoin, urlsplit

from openai import APIStatusError, OpenAI, OpenAIError
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

# gpt-oss:20b needs about 24 GB of RAM; with 8-9 GB, pass a smaller one: --model llama3.2:3b
MODEL = "gpt-oss:20b"
BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
API_KEY = "ollama"  # the SDK will not start without a key; Ollama never reads it
INSTRUCTION = "Name three Canadian rivers."
QUESTION = "Which city is the capital of Canada?"
ALONE: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
# Four turns that no server ever saw: a conversation is whatever the request carries.
HISTORY: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "I'm writing a school report on Canada's provinces."},
    {"role": "assistant", "content": "Happy to help. Which province are you starting with?"},
    {"role": "user", "content": "Ontario, since I was born and raised in Toronto."},
    {"role": "assistant", "content": "A good pick: Ontario has the most people of any province."},
]
RULE = "=" * 60


def read(reply: ChatCompletion) -> tuple[str, CompletionUsage]:
    # subtle: the SDK hands back whatever body came: a web page as a str, any JSON as it was.
    if not isinstance(reply, ChatCompletion) or not getattr(reply, "choices", None):
        raise ValueError(f"the reply is not a chat completion: {str(reply)[:80]!r}")
    if reply.usage is None:
        raise ValueError("the reply has no `usage`, so there are no counts to show")
    choice = reply.choices[0]
    # A thinking model may write only reasoning, which Ollama sends as message.reasoning.
    wrote = "only reasoning" if getattr(choice.message, "reasoning", None) else "no text"
    answer = choice.message.content or f"(it wrote {wrote}; finish_reason: {choice.finish_reason})"
    return answer, reply.usage


def round_trip(client: OpenAI, model: str) -> None:
    print(f"{RULE}\nBlock 1 — one chat call through the OpenAI SDK\n{RULE}")
    ask: ChatCompletionMessageParam = {"role": "user", "content": INSTRUCTION}
    text, usage = read(client.chat.completions.create(model=model, messages=[ask]))
    print(f"content: {text}\nusage: {usage!r}")


def stateless_proof(client: OpenAI, model: str) -> int:
    print(f"{RULE}\nBlock 2 — one question, alone and after four made-up turns\n{RULE}")
    one_text, one = read(client.chat.completions.create(model=model, messages=ALONE))
    five_text, five = read(client.chat.completions.create(model=model, messages=HISTORY + ALONE))
    delta = five.prompt_tokens - one.prompt_tokens
    print(f"1-turn response: {one_text}\n5-turn response: {five_text}\n")
    print(f"1-turn prompt_tokens: {one.prompt_tokens}\n5-turn prompt_tokens: {five.prompt_tokens}")
    print(f"delta: {delta}\n\nprompt_tokens counts the prompt the server built from a request;")
    print("completion_tokens counts the answer, and total_tokens the two together.")
    if delta > 0:
        print(f"The server keeps no conversation: the 5-turn request counted {delta} more only")
        print("because it carried the four made-up messages itself, each in the model's turn")
        print("markers. The client sends the whole conversation, every time.")
    else:
        print("The 5-turn request did not count more, so it cannot show what the server keeps.")
    return one.prompt_tokens


def replay(client: OpenAI, model: str, one_turn: int) -> None:
    print(f"{RULE}\nBlock 3 — beyond the post: the 1-turn request, sent again\n{RULE}")
    _, again = read(client.chat.completions.create(model=model, messages=ALONE))
    cached = getattr(again.prompt_tokens_details, "cached_tokens", None)  # Ollama: since 0.33.3
    print(f"replay prompt_tokens: {again.prompt_tokens}\ncached_tokens: {cached}\n")
    if again.prompt_tokens == one_turn:
        print(f"The same request counted the same, {one_turn}: nothing piled up on the server.")
    else:
        print(f"The same request counted {one_turn}, now {again.prompt_tokens}: it proves nothing.")
    print("cached_tokens is what the engine took from its prompt cache, which keeps the start of")
    print("prompts from earlier calls and runs (so Block 1 may show some too). Those tokens were")
    print("still sent and counted: the cache saves the engine work; it is not the conversation.")


def main() -> int:
    args = flags()
    # subtle: max_retries=0, as the SDK retries twice by default, silently tripling a wait
    client = OpenAI(base_url=args.base_url, api_key=API_KEY, timeout=args.timeout, max_retries=0)
    try:
        round_trip(client, args.model)
        one_turn = stateless_proof(client, args.model)
        replay(client, args.model, one_turn)
        return 0
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except (OpenAIError, ValueError) as err:
        print(explain(err, client, args), file=sys.stderr)
        return 1


# ---- Below: the flags, and what went wrong, in the server's or the system's words -------------
def flags() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Post 1: a local model through the OpenAI SDK.")
    parser.add_argument("--model", default=MODEL, help="the model to ask: %(default)s")
    parser.add_argument("--base-url", default=BASE_URL, help="the server's /v1 URL: %(default)s")
    parser.add_argument("--timeout", type=float, default=300.0, help="per answer: %(default)gs")
    args = parser.parse_args()
    if not args.timeout > 0:  # NaN too
        parser.error(f"argument --timeout: {args.timeout:g} is not a number of seconds above 0")
    return args


def explain(err: Exception, client: OpenAI, args: argparse.Namespace) -> str:
    url, model = args.base_url, args.model
    if type(err.__cause__).__name__ == "ReadTimeout":  # subtle: connected; ConnectTimeout is not
        said = f"No answer from {url} within {args.timeout:g} s: the model may still be loading,"
        return f"{said}\nor its answer still running. --timeout {2 * args.timeout:g} waits longer."
    cause: BaseException = err  # the SDK's error wraps its library's, which wraps the system's
    while cause.__context__ is not None:
        cause = cause.__context__
    said = f"The request to {url} failed: {cause}"
    if isinstance(cause, ConnectionRefusedError) and urlsplit(url).port == 11434:
        return f"{said}\nStart Ollama: `ollama serve`, or open the Ollama app."
    if isinstance(cause, ConnectionRefusedError):
        return f"{said}\nStart your server, or check the port in --base-url."
    if not isinstance(err, APIStatusError):  # read()'s ValueError among them
        return said
    message = err.body.get("message") if isinstance(err.body, dict) else err.body  # the SDK's
    words = " ".join(str(message or "").split())[:300] or "(an empty body)"
    said = f"HTTP {err.status_code} from {err.request.url}: {words}"
    if err.status_code == 404 and not url.rstrip("/").endswith("/v1"):
        return f"{said}\nThe base URL must end in /v1: --base-url {urljoin(url, '/v1')}"
    if "memory" in words.lower():
        return f"{said}\nA smaller model from the post's table needs 8 GB: --model llama3.2:3b"
    if f"model '{model}' not found" not in words and f'model "{model}" not found' not in words:
        return said  # Ollama's words for a model it lacks, since v0.12 and before it
    try:  # subtle: an Ollama with nothing pulled lists its models as "data": null
        names = [listed.id for listed in client.models.list().data or []]
    except (OpenAIError, AttributeError, ValueError):  # no list, or not one
        names = []
    for name in names:  # lama3.2:3b is llama3.2:3b misspelt; llama3.2:1b is another tag of it
        changed = "".join(step[2] for step in difflib.ndiff(model, name) if step[0] in "+-")
        if changed.isalpha() and len(changed) <= 2:
            return f"{said}\nIt has {name}, a letter or two off: --model {name}"
    have = f"It has {', '.join(names)}: --model one of those, or" if names else "Pull it:"
    return f"{said}\n{have} `ollama pull {model}`."


if __name__ == "__main__":
    sys.exit(main())

"""Portway, post 1: a local model, called through the OpenAI SDK, shows that chat is stateless.
Every count printed comes from the server; left out on purpose: streaming, a loop, a token cap."""

import argparse
import sys

from openai import APIStatusError, OpenAI, OpenAIError
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

MODEL = "gpt-oss:20b"  # needs about 24 GB of RAM; with 8-9 GB, edit it or pass --model llama3.2:3b
BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
API_KEY = "ollama"  # the SDK will not start without a key; Ollama never reads it
TIMEOUT = 300.0  # seconds for each answer; the first call also waits while the model loads
Messages = list[ChatCompletionMessageParam]
ROUND_TRIP: Messages = [{"role": "user", "content": "Three cities in Canada?"}]
ONE_TURN: Messages = [{"role": "user", "content": "Which city is the capital of Canada?"}]
FIVE_TURN: Messages = [  # four turns no server saw: a conversation is what the request carries
    {"role": "user", "content": "My friend and I are driving across Canada this summer."},
    {"role": "assistant", "content": "Fun! Where do you start and where do you finish?"},
    {"role": "user", "content": "Halifax to Vancouver, with a week in Ontario."},
    {"role": "assistant", "content": "Then allow about two weeks of driving in all."},
    *ONE_TURN,
]
RULE = "=" * 60


def read(reply: ChatCompletion) -> tuple[str, CompletionUsage]:
    # the SDK hands back whatever body came: a web page as a str, any JSON as it was.
    if not isinstance(reply, ChatCompletion) or not getattr(reply, "choices", None):
        raise ValueError(f"the reply is not a chat completion: {str(reply)[:80]!r}")
    if reply.usage is None:
        raise ValueError("the reply has no `usage`, so there are no counts to show")
    choice = reply.choices[0]
    answer = choice.message.content or f"(no text; finish_reason: {choice.finish_reason})"
    return answer, reply.usage


def round_trip(client: OpenAI, model: str) -> None:
    print(f"{RULE}\nBlock 1 — one chat call through the OpenAI SDK\n{RULE}")
    answer, usage = read(client.chat.completions.create(model=model, messages=ROUND_TRIP))
    print(f"content: {answer}\nusage: {usage.to_dict()}\n")  # the fields the server filled in
    print("prompt_tokens: the messages in the model's chat template, with its markers and any")
    print("system text. completion_tokens: all the model wrote, any reasoning included.")
    print("total_tokens: the two together. Block 3 explains cached_tokens, where reported.")


def stateless_proof(client: OpenAI, model: str) -> CompletionUsage:
    print(f"{RULE}\nBlock 2 — one question, alone and after four made-up turns\n{RULE}")
    answer, one_turn = read(client.chat.completions.create(model=model, messages=ONE_TURN))
    print(f"1-turn response: {answer}")
    answer, five_turn = read(client.chat.completions.create(model=model, messages=FIVE_TURN))
    print(f"5-turn response: {answer}\n")
    delta = five_turn.prompt_tokens - one_turn.prompt_tokens
    print(f"1-turn prompt_tokens: {one_turn.prompt_tokens}")
    print(f"5-turn prompt_tokens: {five_turn.prompt_tokens}\ndelta: {delta}\n")
    if delta > 0:
        print(f"Stateless: the 5-turn request adds {delta} tokens, the four made-up turns in the")
        print("template's markers, and nothing of the calls before it: the model reads only what")
        print("each request carries.")
    else:
        print("The 5-turn request did not count more, so it cannot show what the server keeps.")
    return one_turn


def prompt_cache(client: OpenAI, model: str, one_turn: CompletionUsage) -> None:
    print(f"{RULE}\nBlock 3 — beyond the post: the 1-turn request, sent again\n{RULE}")
    _, replay = read(client.chat.completions.create(model=model, messages=ONE_TURN))
    cached = getattr(replay.prompt_tokens_details, "cached_tokens", None)  # Ollama: since 0.33.3
    shown = "not reported by this server" if cached is None else cached
    print(f"replay prompt_tokens: {replay.prompt_tokens}\ncached_tokens: {shown}\n")
    if replay.prompt_tokens == one_turn.prompt_tokens:
        print(f"Stateless again: the same request counted {replay.prompt_tokens}, cached or not.")
    else:
        print(f"The same request counted {one_turn.prompt_tokens} in Block 2: this proves nothing.")
    if cached == 0:
        print("The engine read the whole prompt again: models with sliding-window attention")
        print("(gpt-oss, Gemma 3) reuse no prompt cache once another request came between.")
    elif cached:
        print(f"The engine took {cached} of them from its prompt cache of earlier calls and runs.")
        print("They were still sent and counted: the cache spared the engine work, nothing more.")


def main() -> int:
    args = flags()
    # subtle: max_retries=0, as the SDK retries twice by default, silently tripling a wait
    client = OpenAI(base_url=args.base_url, api_key=API_KEY, timeout=args.timeout, max_retries=0)
    try:
        round_trip(client, args.model)
        one_turn = stateless_proof(client, args.model)
        prompt_cache(client, args.model, one_turn)
        return 0
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except (OpenAIError, ValueError) as err:
        print(explain(err, client, args), file=sys.stderr)
        return 1


# ---- Below: the flags, and what went wrong, in the server's or the system's words -------------
POSTS_TABLE = ["llama3.2:3b", "gemma3:4b", "mistral:7b", "qwen2.5:7b", "llama3.1:8b", MODEL]


def flags() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Post 1: a local model through the OpenAI SDK.")
    parser.add_argument("--model", default=MODEL, help="the model to ask: %(default)s")
    parser.add_argument("--base-url", default=BASE_URL, help="the server's /v1 URL: %(default)s")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="per answer: %(default)gs")
    args = parser.parse_args()
    if not 0 < args.timeout <= 1e9:  # NaN and inf too; Python's timeouts overflow past 9.2e9 s
        parser.error(f"argument --timeout: {args.timeout:g} is not in seconds above 0, up to 1e9")
    return args


def explain(err: Exception, client: OpenAI, args: argparse.Namespace) -> str:
    url, model = args.base_url, args.model
    if type(err.__cause__).__name__ == "ReadTimeout":  # connected, then silence; not ConnectTimeout
        said = f"No answer from {url} within {args.timeout:g} s: the model may still be loading,"
        wait = max(2 * args.timeout, TIMEOUT)
        return f"{said}\nor its answer still running. --timeout {wait:g} waits longer."
    cause: BaseException = err  # the SDK's error wraps its library's, which wraps the system's
    while cause.__context__ is not None:
        cause = cause.__context__
    said = f"The request to {url} failed: {cause}"
    if isinstance(cause, ConnectionRefusedError):
        return f"{said}\nStart Ollama (`ollama serve`, or its app), or fix the port in --base-url."
    if getattr(cause, "reason", None) == "WRONG_VERSION_NUMBER":  # ssl's: the reply was not TLS
        return f"{said}\nFor plain HTTP: --base-url {url.replace('https:', 'http:', 1)}"
    if not isinstance(err, APIStatusError):  # read()'s ValueError among them
        return said
    message = err.body.get("message") if isinstance(err.body, dict) else err.body  # the SDK's
    words = " ".join(str(message or "").split())[:300] or "(an empty body)"
    said = f"HTTP {err.status_code} from {err.request.url}: {words}"
    if err.status_code == 404 and not url.rstrip("/").endswith("/v1"):
        return f"{said}\nThe base URL must end in /v1: --base-url {err.request.url.join('/v1')}"
    if "memory" in words.lower() and model in POSTS_TABLE[1:]:  # smallest first
        return f"{said}\nThe post's smallest model needs 8 GB: --model {POSTS_TABLE[0]}"
    if f"model '{model}' not found" not in words and f'model "{model}" not found' not in words:
        return said  # Ollama's words for a model it lacks, since v0.12 and before it
    try:  # an Ollama with nothing pulled lists its models as "data": null
        names = [listed.id for listed in client.models.list().data or []]
    except (OpenAIError, AttributeError, ValueError):  # no list, or not one
        names = []
    have = f"It has {', '.join(names)}: --model one of those, or" if names else "Pull it:"
    return f"{said}\n{have} `ollama pull {model}`, if that name is in Ollama's library."


if __name__ == "__main__":
    sys.exit(main())

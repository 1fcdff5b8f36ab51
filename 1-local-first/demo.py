"""Portway, post 1: one local model, the official OpenAI SDK, and the stateless contract.

Run from the repository root, after `uv sync`:
    uv run --project 1-local-first python 1-local-first/demo.py

Block 1 makes one chat call and prints its answer and `usage`. Block 2 makes three: a question
alone, as the 5th turn after four made-up messages, and alone again (the replay), then prints
the server's `prompt_tokens` for each, their difference, and what they show. Left out on
purpose: streaming, a chat loop, retries, a token cap, counting tokens on this side.
"""

import argparse
import sys

import httpx2
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

# The defaults you would edit (or pass --model, --base-url, --timeout). gpt-oss:20b needs about
# 24 GB of RAM; with 8-9 GB, take a smaller model from the post's table, such as llama3.2:3b.
MODEL = "gpt-oss:20b"
BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
API_KEY = "ollama"  # the SDK will not start without a key; Ollama never checks it
TIMEOUT = 300.0  # seconds to wait for each answer; a first call may spend them loading the model

ROUND_TRIP_QUESTION = "Name three cities in Canada. Reply with the names only, comma-separated."
QUESTION = "What is the capital of Canada?"
# Four made-up turns that no server ever saw: a conversation is whatever the request carries.
HISTORY: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "This summer I'm driving across Canada, Halifax to Victoria."},
    {"role": "assistant", "content": "A fine road trip: the Trans-Canada Highway runs all of it."},
    {"role": "user", "content": "I'd like to see Parliament Hill on the way."},
    {"role": "assistant", "content": "Then plan a day's detour in eastern Ontario for it."},
]
RULE = "=" * 60


def round_trip(client: openai.OpenAI, model: str) -> None:
    """Block 1: one chat call, written exactly as it would be for a hosted API."""
    print(f"{RULE}\nBlock 1 — one chat call through the OpenAI SDK, and its usage\n{RULE}")
    ask: ChatCompletionMessageParam = {"role": "user", "content": ROUND_TRIP_QUESTION}
    reply = client.chat.completions.create(model=model, messages=[ask])
    counts = usage_of(reply)  # reply.usage, once usage_of() (below) has checked it is there
    print(f"content: {answer(reply)}\nusage: {counts!r}")


def stateless_proof(client: openai.OpenAI, model: str) -> None:
    """Block 2: one question alone, as the 5th turn after four made-up ones, and alone again."""
    print(f"{RULE}\nBlock 2 — three calls: a question alone, after four turns, again\n{RULE}")
    alone: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    one_turn = client.chat.completions.create(model=model, messages=alone)
    # Nothing of that call stayed on the server: this request brings all five turns itself.
    five_turns = client.chat.completions.create(model=model, messages=HISTORY + alone)
    # The replay: the first request again, unchanged, after the server has seen five turns.
    replay = client.chat.completions.create(model=model, messages=alone)
    one, five, again = usage_of(one_turn), usage_of(five_turns), usage_of(replay)
    print(f"1-turn response: {answer(one_turn)}\n5-turn response: {answer(five_turns)}")
    delta = five.prompt_tokens - one.prompt_tokens
    print(f"1-turn prompt_tokens: {one.prompt_tokens}\n5-turn prompt_tokens: {five.prompt_tokens}")
    print(f"delta: {delta}\nreplay prompt_tokens: {again.prompt_tokens}\n")
    if delta <= 0 or again.prompt_tokens != one.prompt_tokens:
        print("These counts do not follow the prompts sent (the same request should count the")
        print("same, a longer one more), so they cannot show what the server kept.")
        return
    print("The chat completions API is stateless: the server keeps no conversation between")
    print("calls, so each request carries everything the model sees, and the client sends the")
    print(f"whole history every time. The delta, {delta}, is the four made-up messages, each")
    print(f"wrapped in the model's turn markers. The replay counted {again.prompt_tokens} again:")
    print("the five turns before it left no trace in its count.")
    cached = getattr(again.prompt_tokens_details, "cached_tokens", None)  # Ollama: since 0.33.3
    if cached is None:
        print("A server may cache the start of a prompt to read it faster; that is not memory.")
        return
    print(f"The server read {cached} of those from its prompt cache (cached_tokens), yet all were")
    print("still sent and counted: the cache makes reading faster; it is not the conversation.")


def answer(reply: ChatCompletion) -> str:
    # subtle: a thinking model may put all it says in its reasoning, and no text in content.
    return reply.choices[0].message.content or "(no answer text)"


def main() -> int:
    args = flags()  # the flags, and what the demo says when a call fails: below the divider
    client = openai.OpenAI(
        base_url=args.base_url,
        api_key=API_KEY,
        max_retries=0,  # subtle: the SDK retries twice by default, silently tripling a wait
        timeout=args.timeout,
    )
    try:
        round_trip(client, args.model)
        stateless_proof(client, args.model)
        return 0
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except (openai.OpenAIError, ValueError) as err:  # ValueError: see usage_of(), below
        print(explain(err, client, args), file=sys.stderr)
        return 1


# ---- Below: the flags, and for each fault what happened (and the fix, where it is known) ----


def flags() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Post 1: a local model through the OpenAI SDK.")
    parser.add_argument("--model", default=MODEL, help="the model to ask: %(default)s")
    parser.add_argument("--base-url", default=BASE_URL, help="the server's /v1 URL: %(default)s")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="per answer: %(default)gs")
    args = parser.parse_args()
    if not args.timeout > 0:  # NaN too
        parser.error(f"argument --timeout: {args.timeout:g} is not a number of seconds above 0")
    return args


def usage_of(reply: ChatCompletion) -> CompletionUsage:
    # subtle: the SDK hands back any body: a web page as a str, a JSON object as it came.
    if not isinstance(reply, ChatCompletion) or not getattr(reply, "choices", None):
        raise ValueError(f"it is not a chat completion: {str(reply)[:80]!r}")
    if reply.usage is None:
        raise ValueError("a chat completion without `usage`, so there are no counts to show")
    return reply.usage


def explain(err: Exception, client: openai.OpenAI, args: argparse.Namespace) -> str:
    url, model = args.base_url, args.model
    if not isinstance(err, openai.OpenAIError):  # usage_of()'s, or a body that is not JSON
        return f"{url} sent a reply the demo cannot use: {err}"
    if isinstance(err.__cause__, httpx2.ReadTimeout):  # connected and asked, but no answer
        return (
            f"No answer from {url} within {args.timeout:g} s.\n"
            f"A first call may be loading the model: --timeout {2 * args.timeout:g} waits longer."
        )
    if isinstance(err, openai.APIConnectionError):
        cause: BaseException = err  # the SDK's error wraps httpx2's, which wraps the system's
        while cause.__context__ is not None:
            cause = cause.__context__
        said = f"The request to {url} failed: {cause}"
        if isinstance(cause, ConnectionRefusedError) and httpx2.URL(url).port == 11434:
            return f"{said}\nStart Ollama: `ollama serve`, or open the Ollama app."
        if isinstance(cause, ConnectionRefusedError):
            return f"{said}\nStart your server, or check the port in --base-url."
        return said
    if not isinstance(err, openai.APIStatusError):
        return str(err)  # any other fault, in the SDK's words
    body = err.body  # the SDK's: a JSON body's `error` object, or the text of any other body
    if isinstance(body, dict):
        body = body.get("message", body)
    words = " ".join(str(body or "(an empty body)").split())[:300]
    said = f"HTTP {err.status_code} from {err.request.url}: {words}"
    if err.status_code == 404 and not url.rstrip("/").endswith("/v1"):
        return f"{said}\nThe base URL must end in /v1: --base-url {httpx2.URL(url).join('/v1')}"
    # Ollama's words for a model it does not have, since v0.12 and before it
    if f"model '{model}' not found" in words or f'model "{model}" not found' in words:
        try:  # subtle: an Ollama with nothing pulled lists its models as "data": null
            names = ", ".join(listed.id for listed in client.models.list().data or [])
        except (openai.OpenAIError, AttributeError, ValueError):  # no list, or not one
            names = ""
        if names:
            return f"{said}\nIt has {names}: pass one with --model, or `ollama pull {model}`."
        return f"{said}\nPull it: `ollama pull {model}`."
    if "memory" in words.lower():
        return f"{said}\nA smaller model from the post's table needs 8 GB: --model llama3.2:3b"
    return said


if __name__ == "__main__":
    sys.exit(main())

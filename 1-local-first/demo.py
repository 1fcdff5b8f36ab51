"""Portway, post 1: one local model, the official OpenAI SDK, and the stateless contract.

Run from the repository root, after `uv sync`:
    uv run --project 1-local-first python 1-local-first/demo.py

Block 1 makes one chat call and prints its answer and `usage`. Block 2 asks one question alone,
as the 5th turn after four made-up messages, and alone again (the replay), and prints the
`prompt_tokens` the server counted for each. Every number printed is the server's own. Left out
on purpose: streaming, a chat loop, retries, counting tokens here, any server you did not name.
"""

import argparse
import io
import json
import os
import signal
import socket
import ssl
import sys

import httpx2
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

# The defaults you would edit (or pass --model, --base-url). gpt-oss:20b needs about 24 GB of
# RAM; with 8-9 GB, take a smaller model from the post's table, such as llama3.2:3b.
MODEL = "gpt-oss:20b"
BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
API_KEY = "ollama"  # the SDK will not start without a key; Ollama never checks it

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


def connect(base_url: str, api_key: str) -> openai.OpenAI:
    """The official SDK's client, pointed at a local server instead of api.openai.com."""
    return openai.OpenAI(base_url=base_url, api_key=api_key)


def round_trip(client: openai.OpenAI, model: str, max_tokens: int | None) -> None:
    """Block 1: one chat call, written exactly as it would be for a hosted API."""
    print(f"{RULE}\nBlock 1 — one chat call through the OpenAI SDK, to a local model\n{RULE}")
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": ROUND_TRIP_QUESTION}],
        max_tokens=max_tokens,  # None: no cap, as in the post
    )
    print(f"content: {answer(reply)}\nusage: {usage(reply)!r}")


def stateless_proof(client: openai.OpenAI, model: str, max_tokens: int | None) -> None:
    """Block 2: one question alone, as the 5th turn after four made-up ones, and alone again."""
    print(f"{RULE}\nBlock 2 — one question alone, after four made-up turns, and again\n{RULE}")
    alone: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    one_turn = client.chat.completions.create(model=model, messages=alone, max_tokens=max_tokens)
    # Nothing of that call stayed on the server: this request brings all five turns itself.
    five_turns = client.chat.completions.create(
        model=model, messages=HISTORY + alone, max_tokens=max_tokens
    )
    # The replay: the first request again, unchanged, after the server has seen five turns.
    replay = client.chat.completions.create(model=model, messages=alone, max_tokens=max_tokens)
    print(f"1-turn response: {answer(one_turn)}\n5-turn response: {answer(five_turns)}")
    alone_tokens = usage(one_turn).prompt_tokens
    history_tokens = usage(five_turns).prompt_tokens
    replay_tokens = usage(replay).prompt_tokens
    delta = history_tokens - alone_tokens
    print(f"1-turn prompt_tokens: {alone_tokens}\n5-turn prompt_tokens: {history_tokens}")
    print(f"delta: {delta}\nreplay prompt_tokens: {replay_tokens}\n")
    if delta <= 0:
        print("The 5-turn call counted no more than the 1-turn call: these counts show nothing.")
        return
    print(
        "The chat completions API is stateless: the server keeps no conversation between\n"
        "calls, so each request carries everything the model sees, and the client sends the\n"
        f"whole history every time. The delta, {delta}, is the four made-up messages, each\n"
        "wrapped in the model's turn markers. A server may cache the start of a prompt to\n"
        "read it faster: a speed-up, never a memory of the conversation.\n"
    )
    if replay_tokens == alone_tokens:
        print(f"The replay counted {replay_tokens} again: the 5-turn call added nothing to it.")
    else:
        print(f"The replay counted {replay_tokens}, not {alone_tokens}: this server counts a")
        print("repeated request differently, so here the replay cannot show that nothing was kept.")


def answer(reply: ChatCompletion) -> str:
    """The answer's text as the model gave it, and what a token limit did to it."""
    # subtle: the SDK hands back a body that is not JSON as a str, not as a ChatCompletion.
    if not isinstance(reply, ChatCompletion) or not getattr(reply, "choices", None):
        raise NotAChatCompletion(" ".join(str(reply).split())[:80])
    text = (reply.choices[0].message.content or "").strip()
    if reply.choices[0].finish_reason != "length":
        return text or "(no answer text)"
    if text:
        return text + " [cut off: the token limit was reached]"
    return "(no answer text: the token limit ran out; a thinking model spends it reasoning first)"


def usage(reply: ChatCompletion) -> CompletionUsage:
    """The counts the server sent with its reply: every number printed comes from here."""
    counts = getattr(reply, "usage", None)
    if not isinstance(counts, CompletionUsage):
        raise NoUsage()
    return counts


class NotAChatCompletion(Exception):
    """The server answered, but not with a chat completion."""


class NoUsage(Exception):
    """The server answered without `usage`: there are no counts to show."""


# ---- The safety net: the flags (--help), and for each fault what happened and the fix ------

CONNECT_S = 3.0  # a server that is up accepts a connection at once; its answer takes longer


def flags() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Post 1: a local model through the OpenAI SDK.")
    parser.add_argument("--model", default=MODEL, help="a model the server has: %(default)s")
    parser.add_argument("--base-url", default=BASE_URL, help="the server's /v1 URL: %(default)s")
    parser.add_argument("--api-key", default=API_KEY, help="sent as the bearer token")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to answer: %(default)g")
    parser.add_argument("--max-tokens", type=int, help="a cap on each answer's tokens: none")
    args = parser.parse_args()
    if not args.timeout > 0:  # NaN too
        parser.error(f"argument --timeout: {args.timeout:g} is not a number of seconds above 0")
    if args.max_tokens is not None and args.max_tokens < 1:
        parser.error(f"argument --max-tokens: {args.max_tokens} is not a number above 0")
    if not args.api_key:
        parser.error("argument --api-key: empty, but the SDK needs one (Ollama accepts any)")
    if not args.base_url.startswith(("http://", "https://")):
        parser.error(f"argument --base-url: it needs http:// in front: http://{args.base_url}")
    args.base_url = args.base_url.rstrip("/")
    return args


def timed_out(err: openai.APITimeoutError, args: argparse.Namespace) -> str:
    if isinstance(err.__cause__, httpx2.ConnectTimeout):
        waited = min(CONNECT_S, args.timeout)
        return f"{args.base_url} accepted no connection in {waited:g} s: is its server up?"
    return (
        f"No answer from {args.base_url} within {args.timeout:g} s (model {args.model}).\n"
        "A first call may still be loading the model, and a long answer takes time: to wait\n"
        f"longer, --timeout {max(600, 2 * args.timeout):g}; to cap each answer, --max-tokens."
    )


def unreachable(err: openai.APIConnectionError, url: str) -> str:
    """A failed connection in the system's own words, and the fix that follows from them."""
    cause: BaseException = err  # the SDK's error wraps httpx2's, which wraps the system's
    below = err.__cause__ or err.__context__
    while below is not None:
        cause, below = below, below.__cause__ or below.__context__
    said = f"The connection to {url} failed: {cause}"
    if isinstance(cause, ConnectionRefusedError) and httpx2.URL(url).port == 11434:
        return f"{said}\nStart Ollama (`ollama serve`, or open the app), then run the demo again."
    if isinstance(cause, ConnectionRefusedError):
        return f"{said}\nStart your server, or check the port (Ollama's is 11434)."
    if isinstance(cause, socket.gaierror):
        return f"{said}\nCheck the spelling of the host in --base-url."
    if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":  # not TLS
        plain = "http://" + url.removeprefix("https://")
        return f"{said}\nLocal servers speak plain http: --base-url {plain}"
    return said


def server_said(err: openai.APIStatusError, args: argparse.Namespace) -> str:
    """The status and the server's words (its error's message, if it sent one), key masked."""
    body = err.body  # the SDK's: a JSON body's `error` object, or the text of any other body
    if isinstance(body, dict):
        body = body.get("message", body)
    words = " ".join(str(body or "").split())[:300] or "(an empty body)"
    if args.api_key != API_KEY:  # some gateways echo the key they were sent
        words = words.replace(args.api_key, "[your key]")
    said = f"HTTP {err.status_code} from {err.request.url}: {words}"
    if "memory" in words:
        return f"{said}\nA smaller model from the post's table needs 8 GB: --model llama3.2:3b"
    return said


def not_found(err: openai.NotFoundError, args: argparse.Namespace, client: openai.OpenAI) -> str:
    said, model = server_said(err, args), args.model
    if not args.base_url.endswith("/v1"):  # /v1 left off, or a whole endpoint given
        url = httpx2.URL(args.base_url)
        fixed = f"{url.scheme}://{url.netloc.decode()}/v1"
        return f"{said}\nThe base URL must end in /v1: --base-url {fixed}"
    if f"model '{model}' not found" not in said and f'model "{model}" not found' not in said:
        return said  # Ollama's words since v0.12, and before
    said += f"\nPull it: ollama pull {model}"
    listing = client.with_options(timeout=CONNECT_S)  # a list is not worth a long wait
    try:  # subtle: with nothing pulled, Ollama lists its models as "data": null
        names = [listed.id for listed in listing.models.list().data or []]
    except (openai.OpenAIError, AttributeError, ValueError):  # no answer, or no list
        names = []
    if names:
        said += f"\nOr use one it has ({', '.join(names)}): --model {names[0]}"
    return said


def main() -> int:
    args = flags()
    # subtle: each line reaches a pipe as it is printed; '?' for what a terminal cannot show.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True, errors="replace")
    print(f"... asking {args.model} at {args.base_url}; a first call may load it", file=sys.stderr)
    client = connect(args.base_url, args.api_key).with_options(
        max_retries=0,  # subtle: the SDK retries twice by default, silently tripling a wait
        timeout=openai.Timeout(args.timeout, connect=min(CONNECT_S, args.timeout)),
        # This URL and nothing else: no proxy from the environment, no redirects.
        http_client=openai.DefaultHttpx2Client(trust_env=False, follow_redirects=False),
    )
    try:
        round_trip(client, args.model, args.max_tokens)
        stateless_proof(client, args.model, args.max_tokens)
        return 0
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # subtle: uv may pass on a second Ctrl-C
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `| head` stopped reading: end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except openai.APITimeoutError as err:
        fail = timed_out(err, args)
    except openai.APIConnectionError as err:
        fail = unreachable(err, args.base_url)
    except openai.NotFoundError as err:
        fail = not_found(err, args, client)
    except openai.APIStatusError as err:
        fail = server_said(err, args)
    except (NotAChatCompletion, json.JSONDecodeError) as err:  # e.g. a web page at that port
        fail = f"What answered at {args.base_url} is not an OpenAI-compatible API: {err}\n"
        fail += f"Point --base-url at your model server's /v1 URL (Ollama's: {BASE_URL})."
    except NoUsage:
        fail = f"{args.base_url} answered without `usage`: it sent no token counts to show.\n"
        fail += "Point --base-url at a server that sends them: Ollama, llama-server, vLLM."
    except openai.OpenAIError as err:  # any other, in the SDK's words
        fail = str(err)
    print(fail, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

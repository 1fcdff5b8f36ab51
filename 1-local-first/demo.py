"""Portway, post 1: one local model, the official OpenAI SDK, and proof that the API is stateless.

Run it from the repository root, after `uv sync`:

    uv run --project 1-local-first python 1-local-first/demo.py

Block 1 makes one chat call to a model on this machine (Ollama by default) and prints the
answer and the `usage` object the server sent back.

Block 2 asks one question three times: alone, as the last turn of a made-up 5-message
conversation, and alone again (the replay). It prints the prompt_tokens the server counted
for each and explains the gap: the server keeps no conversation between calls, so the
client must send the whole history every time, and pays for it in prompt tokens.

What it deliberately does not do: stream, keep a chat loop, count or estimate tokens
itself, retry, or fall back to any server or model it was not given. Every number it
prints is one the server returned.

Settings: each flag has an environment variable; the flag wins, then the variable, then
the default. `--help` lists them.
"""

import argparse
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn


def _interrupted(signum: int, frame: FrameType | None) -> NoReturn:
    print("\nInterrupted.", file=sys.stderr)
    raise SystemExit(130)


# subtle: set before `import openai`, which takes a second or two, so that Ctrl-C at any
# moment ends with one line and exit code 130 rather than a traceback.
signal.signal(signal.SIGINT, _interrupted)

import openai  # noqa: E402
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam  # noqa: E402

# --- Settings ---------------------------------------------------------------------------

DEFAULT_MODEL = "gpt-oss:20b"  # the post's model (~14 GB); the README lists smaller ones
DEFAULT_BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
DEFAULT_API_KEY = "ollama"  # a placeholder: see make_client()
DEFAULT_TIMEOUT_S = 300.0  # generous: the first call may have to load the model from disk
# Thinking models (gpt-oss, qwen3, deepseek-r1) spend their reasoning out of the same
# budget as the answer; a one-line question takes them tens to a few hundred tokens.
# 1024 leaves them room to reach the answer and still ends a runaway reply in seconds.
DEFAULT_MAX_TOKENS = 1024
CONNECT_TIMEOUT_S = 3.0  # a server that is up accepts the connection at once
WAIT_NOTICE_S = 2.0  # after this long in flight, say on stderr what we are waiting for

RUN = "uv run --project 1-local-first python 1-local-first/demo.py"
DEFAULTS = {
    "model": DEFAULT_MODEL,
    "base_url": DEFAULT_BASE_URL,
    "timeout": DEFAULT_TIMEOUT_S,
    "max_tokens": DEFAULT_MAX_TOKENS,
}
SMALL_MODEL = "llama3.2:3b"  # the smallest model in the post's table

ROUND_TRIP_QUESTION = "Name three rivers in Canada. Reply with the names only, comma-separated."
QUESTION = "Which city is the capital of Canada?"
# A made-up earlier conversation. No server ever saw it: we send it as if it had happened.
HISTORY: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "I'm planning a train trip across Canada next summer."},
    {"role": "assistant", "content": "Lovely. The Canadian takes four days, Toronto to Vancouver."},
    {"role": "user", "content": "I'd like to stop somewhere with a lot of history on the way."},
    {"role": "assistant", "content": "Winnipeg is on the route; Quebec City is east of Toronto."},
]


# --- The lesson -------------------------------------------------------------------------


def make_client(settings: argparse.Namespace) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=settings.base_url,
        api_key=settings.api_key,  # Ollama ignores it; the SDK refuses to start without one
        # subtle: the SDK retries twice by default, which would silently triple every wait.
        max_retries=0,
        timeout=openai.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT_S, settings.timeout)),
        # Talk to this URL and nothing else: no proxy from the environment, no redirects.
        http_client=openai.DefaultHttpx2Client(trust_env=False, follow_redirects=False),
    )


def round_trip(client: openai.OpenAI, settings: argparse.Namespace) -> None:
    banner("Block 1 — one round trip through the OpenAI SDK, to a model on this machine")
    # One chat call, exactly as you would make it to a hosted API.
    completion = ask(client, settings, [{"role": "user", "content": ROUND_TRIP_QUESTION}])
    print(labelled("content", answer_of(completion, settings)))
    print(f"usage: {completion.usage!r}")


def stateless_proof(client: openai.OpenAI, settings: argparse.Namespace) -> None:
    banner("Block 2 — one question, asked alone and after a 5-turn history")
    alone: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    with_history: list[ChatCompletionMessageParam] = [
        *HISTORY,
        {"role": "user", "content": QUESTION},
    ]

    # The same final question, first on its own, then after four earlier turns.
    one = ask(client, settings, alone)
    five = ask(client, settings, with_history)
    # The replay: the 1-turn request again, unchanged, right after the 5-turn one.
    replay = ask(client, settings, alone)

    n, m, r = (prompt_tokens(c) for c in (one, five, replay))
    print(labelled("1-turn response", answer_of(one, settings)))
    print(labelled("5-turn response", answer_of(five, settings)))
    print(f"1-turn prompt_tokens: {n}")
    print(f"5-turn prompt_tokens: {m}")
    print(f"delta: {m - n}")
    print(f"1-turn replay prompt_tokens: {r}")
    print()
    print(explanation(n, m, r, cached_tokens(replay)))


def explanation(n: int, m: int, r: int, cached: int | None) -> str:
    if m > n:
        why = (
            f"Why the 5-turn call counts {m - n} more prompt tokens: the server keeps no\n"
            "conversation between calls. It read the 5-turn request from scratch, and the\n"
            "extra tokens are exactly the four earlier messages the client sent again, each\n"
            "wrapped in the chat template's role markers. The history lives in the client.\n"
        )
    else:
        why = (
            "The 5-turn call did not count more prompt tokens than the 1-turn call\n"
            f"({m} vs {n}), although it carried four more messages. This server's usage\n"
            "figures do not follow the prompt it was sent, so they cannot make the proof.\n"
        )
    if r == n:
        replayed = (
            f"The replay, sent after the 5-turn call, counted {r} again: nothing from the\n"
            "longer conversation stayed behind on the server to be carried into it.\n"
        )
    else:
        replayed = (
            f"Look closely: the replay counted {r} prompt tokens, not {n}. The same request\n"
            "was counted differently the second time, so the count depends on something\n"
            "this server kept between calls. If it counts only the tokens its prefix cache\n"
            "did not cover, that is a choice in how it counts, not a memory of the chat.\n"
        )
    if cached:
        cache = (
            f"The server says {cached} of the replay's {r} prompt tokens came from its prefix\n"
            "cache: they were processed faster, yet sent, read and counted all the same.\n"
            "A prefix cache is a speed-up, not memory."
        )
    else:
        cache = (
            "A prefix cache may make a repeated beginning faster to process, but it is a\n"
            "speed-up, not memory: it never changes what a call sees or how its tokens count."
        )
    return why + replayed + cache


def main() -> int:
    settings = parse_settings()
    # subtle: a model can answer with characters this terminal cannot show; print a
    # stand-in for them rather than stop with UnicodeEncodeError.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    client = make_client(settings)
    try:
        round_trip(client, settings)
        stateless_proof(client, settings)
        sys.stdout.flush()  # now, so that a reader who stopped reading is caught below
    except BrokenPipeError:  # e.g. `| head`: stdout was closed early, so stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Fault as fault:
        return fail(str(fault))
    except json.JSONDecodeError:  # a body labelled JSON that is not JSON
        return fail(not_an_api(settings))
    except openai.OpenAIError as err:
        return fail(explain(err, client, settings))
    return 0


# --- Helpers beside the lesson ----------------------------------------------------------


class Fault(Exception):
    """Something the person can fix. The text says what happened and the command that fixes it."""


def parse_settings(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        description="Portway post 1: call a local model through the OpenAI SDK and watch "
        "prompt_tokens prove that the API keeps no conversation state.",
        epilog=f"A flag beats its environment variable. Example: {RUN} --model {SMALL_MODEL}",
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        type=_text,
        default=env("PORTWAY_MODEL", DEFAULT_MODEL),
        help="model name as the server knows it (PORTWAY_MODEL; now: %(default)s)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        type=_http_url,
        default=env("PORTWAY_BASE_URL", DEFAULT_BASE_URL),
        help="OpenAI-compatible endpoint, ending in /v1 (PORTWAY_BASE_URL; now: %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        type=_text,
        default=env("PORTWAY_API_KEY", DEFAULT_API_KEY),
        help=f"API key sent to the server (PORTWAY_API_KEY; default: {DEFAULT_API_KEY!r}, "
        "a placeholder that Ollama ignores)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=env("PORTWAY_TIMEOUT", f"{DEFAULT_TIMEOUT_S:g}"),
        help="seconds to wait for the answer to one call; a first call may be loading the "
        "model (PORTWAY_TIMEOUT; now: %(default)s)",
    )
    parser.add_argument(
        "--max-tokens",
        metavar="N",
        type=_count,
        default=env("PORTWAY_MAX_TOKENS", str(DEFAULT_MAX_TOKENS)),
        help="cap on the tokens one answer may generate, reasoning included "
        "(PORTWAY_MAX_TOKENS; now: %(default)s)",
    )
    return parser.parse_args(argv)


def ask(
    client: openai.OpenAI, settings: argparse.Namespace, messages: list[ChatCompletionMessageParam]
) -> ChatCompletion:
    """One chat call, checked for what the lesson needs: a chat completion with usage."""
    with waiting_notice(settings):
        completion = client.chat.completions.create(
            model=settings.model, messages=messages, max_tokens=settings.max_tokens
        )
    # subtle: when the answer is not JSON the SDK returns the raw text instead of raising.
    if not isinstance(completion, ChatCompletion) or not getattr(completion, "choices", None):
        raise Fault(not_an_api(settings))
    if not isinstance(getattr(completion.usage, "prompt_tokens", None), int):
        raise Fault(
            f"The server at {settings.base_url} answered {settings.model} without token usage\n"
            "(no `usage` with prompt_tokens): there are no counts to compare, no proof to make.\n"
            "Ollama, llama.cpp's llama-server, vLLM and LM Studio all report usage on chat\n"
            f"calls; point the demo at one of them:\n  {rerun(settings, base_url=DEFAULT_BASE_URL)}"
        )
    return completion


def prompt_tokens(completion: ChatCompletion) -> int:
    assert completion.usage is not None  # ask() has checked
    return completion.usage.prompt_tokens


def cached_tokens(completion: ChatCompletion) -> int | None:
    """How many prompt tokens the prefix cache supplied, if the server says so (some do, in
    usage.prompt_tokens_details; recent Ollama versions among them)."""
    assert completion.usage is not None  # ask() has checked
    details = completion.usage.prompt_tokens_details
    return details.cached_tokens if details else None


def answer_of(completion: ChatCompletion, settings: argparse.Namespace) -> str:
    """The answer text, or what became of it when a thinking model used the turn to think."""
    choice = completion.choices[0]
    answer = (choice.message.content or "").strip()
    if not answer:
        # Ollama puts a thinking model's reasoning in `reasoning`; llama.cpp and vLLM
        # use `reasoning_content`. Neither is in the OpenAI schema, so read the extras.
        extra = choice.message.model_extra or {}
        thinking = str(extra.get("reasoning") or extra.get("reasoning_content") or "").strip()
        if thinking:
            words = " ".join(thinking.split())
            start = words if len(words) <= 160 else words[:160] + "…"
            answer = (
                f'(no answer text: the model answered only in its reasoning channel: "{start}")'
            )
        else:
            answer = "(no answer text)"
    if choice.finish_reason == "length":
        answer += (
            f"\nnote: the token cap ({settings.max_tokens}) cut this answer short; raise it:"
            f"\n  {rerun(settings, max_tokens=settings.max_tokens * 4)}"
        )
    return answer


def labelled(label: str, text: str) -> str:
    """`label: text`, with later lines indented so that every label starts its own line."""
    return f"{label}: " + text.replace("\n", "\n    ")


def banner(title: str) -> None:
    print("=" * 60)
    print(title)
    print("=" * 60)


@contextmanager
def waiting_notice(settings: argparse.Namespace) -> Iterator[None]:
    """Tell the person on stderr what a slow call is waiting for; stdout stays clean."""
    notice = (
        f"... waiting for {settings.model} at {settings.base_url} (up to {settings.timeout:g} s;"
        " a first call may be loading the model into memory)"
    )
    timer = threading.Timer(WAIT_NOTICE_S, print, args=(notice,), kwargs={"file": sys.stderr})
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def explain(err: openai.OpenAIError, client: openai.OpenAI, settings: argparse.Namespace) -> str:
    """Turn an SDK error into what happened and the command that fixes it."""
    url, model = settings.base_url, settings.model
    if isinstance(err, openai.APITimeoutError) and not _never_connected(err):
        return (
            f"No answer from {url} within {settings.timeout:g} s (model {model}).\n"
            "A first call may still be loading the model into memory. Give it longer:\n"
            f"  {rerun(settings, timeout=max(600.0, settings.timeout * 2))}"
        )
    if isinstance(err, openai.APIConnectionError):
        return (
            f"Cannot reach {url} to ask {model}: nothing is listening there.\n"
            "Start Ollama (`ollama serve`, or open the Ollama app) and run the demo again:\n"
            f"  {rerun(settings)}\n"
            "Or name the server you do run, e.g. llama.cpp's llama-server on port 8080:\n"
            f"  {rerun(settings, base_url='http://localhost:8080/v1')}"
        )
    if not isinstance(err, openai.APIStatusError):
        return f"The call to {url} failed: {err}"
    status, said = err.status_code, server_message(err)
    if status in (401, 403):
        # The key is never repeated, and neither is the server's message, which may echo it.
        return (
            f"{url} refused the API key (HTTP {status}) when asked for {model}.\n"
            "Pass the key this server expects, with --api-key or PORTWAY_API_KEY:\n"
            f"  PORTWAY_API_KEY=your-key {rerun(settings)}"
        )
    if status == 404 and not url.endswith("/v1"):
        # Cut a full endpoint back to its base (…/v1/chat/completions), or add the /v1.
        head, v1, _ = url.partition("/v1/")
        fixed = head + "/v1" if v1 else url + "/v1"
        return (
            f"Nothing at {url}/chat/completions (HTTP 404). OpenAI-compatible servers answer\n"
            f"under a base URL ending in /v1; try:\n  {rerun(settings, base_url=fixed)}"
        )
    if said.lstrip().startswith("<"):
        return not_an_api(settings)
    if status == 404:
        pulled = available_models(client)
        if pulled is not None and model not in pulled:
            return model_missing(settings, pulled, said)
    if status >= 500:
        return (
            f"The server at {url} failed on model {model} (HTTP {status}): {said}\n"
            "If the model does not fit in this machine's memory, pick a smaller one from the\n"
            f"README's table:\n  ollama pull {SMALL_MODEL}\n  {rerun(settings, model=SMALL_MODEL)}"
        )
    return f"{url} answered HTTP {status} for model {model}: {said}"


def model_missing(settings: argparse.Namespace, pulled: list[str], said: str) -> str:
    model = settings.model
    lines = [
        f'Model "{model}" is not available at {settings.base_url} (the server said: {said}).',
        f"Pull it:  ollama pull {model}",
    ]
    if pulled:
        lines.append(f"Or use one that is there ({', '.join(pulled)}):")
        lines.append(f"  {rerun(settings, model=pulled[0])}")
    else:
        lines.append(
            f"It has no models yet; the smallest in the post's table: ollama pull {SMALL_MODEL}"
        )
    return "\n".join(lines)


def not_an_api(settings: argparse.Namespace) -> str:
    return (
        f"What answered at {settings.base_url} is not an OpenAI-compatible API (its reply\n"
        "was not a JSON chat completion). Check the port: Ollama listens on 11434.\n"
        f"  {rerun(settings, base_url=DEFAULT_BASE_URL)}"
    )


def available_models(client: openai.OpenAI) -> list[str] | None:
    """The models the server lists at /v1/models, or None if it cannot say."""
    try:
        return [m.id for m in client.models.list().data]
    except (openai.OpenAIError, AttributeError, TypeError, ValueError):
        return None


def server_message(err: openai.APIStatusError) -> str:
    """The server's own words, short enough for one screen."""
    body = err.body
    message = body.get("message") if isinstance(body, dict) else body
    text = " ".join(str(message if message else err.message).split())
    return text if len(text) <= 300 else text[:300] + " …"


def rerun(settings: argparse.Namespace, **changes: str | float) -> str:
    """The run command again, with this run's own settings (never the key) and the changes."""
    words = [RUN]
    for name, default in DEFAULTS.items():
        value = changes.get(name, getattr(settings, name))
        if name in changes or value != default:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            words.append(f"--{name.replace('_', '-')} {shown}")
    return " ".join(words)


def _never_connected(err: openai.APIConnectionError) -> bool:
    # The SDK reports a connect timeout and a read timeout alike; only the cause tells.
    return type(err.__cause__).__name__ == "ConnectTimeout"


def _text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value.strip()


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an http:// or https:// URL (check --base-url and PORTWAY_BASE_URL)"
        )
    return value.rstrip("/")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of seconds above 0 (check --timeout and PORTWAY_TIMEOUT)"
        )
    return seconds


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a whole number above 0 (check --max-tokens and PORTWAY_MAX_TOKENS)"
        )
    return count


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

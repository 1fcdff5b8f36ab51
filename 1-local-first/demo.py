"""Portway, post 1: one local model, the official OpenAI SDK, and the stateless contract.

After `uv sync`, from the repo root: uv run --project 1-local-first python 1-local-first/demo.py
Block 1: one chat call; it prints the answer and its `usage`. Block 2: one question alone, as
the 5th turn after four made-up messages, and alone again (the replay); it prints the
prompt_tokens counted for each. Deliberately not here: streaming, a chat loop, counting tokens,
retries, any server or model you did not name. Below the divider: the settings (`--help`), and
for each fault one message with the command that fixes it.
"""

import argparse
import json
import math
import os
import shlex
import signal
import sys
import textwrap
from collections.abc import Callable
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat.chat_completion import Choice

ROUND_TRIP_QUESTION = "Name three rivers in Canada. Reply with the names only, comma-separated."
QUESTION = "Which city is the capital of Canada?"
# Four made-up messages. No server saw them happen; to a server, a conversation is what it is sent.
HISTORY: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "I'm planning a train trip across Canada next summer."},
    {"role": "assistant", "content": "Lovely. The Canadian takes four days, Toronto to Vancouver."},
    {"role": "user", "content": "I'd like to stop somewhere with a lot of history on the way."},
    {"role": "assistant", "content": "Winnipeg is on the route; Quebec City is east of Toronto."},
]


def connect(s: argparse.Namespace) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=s.base_url,  # Ollama's OpenAI-compatible endpoint, unless you name another
        api_key=s.api_key,  # a placeholder: Ollama ignores it, the SDK will not start without one
        max_retries=0,  # subtle: the SDK retries twice by default, silently tripling every wait
        timeout=openai.Timeout(s.timeout, connect=min(CONNECT_S, s.timeout)),
        # Talk to this URL and nothing else: no proxy from the environment, no redirects.
        http_client=openai.DefaultHttpx2Client(trust_env=False, follow_redirects=False),
    )


def lesson(s: argparse.Namespace) -> None:
    client = connect(s)
    print(f"{HR}\nBlock 1 — one round trip through the OpenAI SDK, to a local model\n{HR}")
    # One chat call, written exactly as it would be for a hosted API.
    reply = client.chat.completions.create(
        model=s.model,
        messages=[{"role": "user", "content": ROUND_TRIP_QUESTION}],
        max_tokens=s.max_tokens,  # thinking models spend this on reasoning first
    )
    usage = usage_of(reply)
    print(f"content: {shown(reply.choices[0], s)}\nusage: {usage!r}")

    print(f"{HR}\nBlock 2 — one question alone, as the 5th turn after four made-up messages\n{HR}")
    alone: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    one = client.chat.completions.create(model=s.model, messages=alone, max_tokens=s.max_tokens)
    # The same question after the history. The client sends all five: the server kept none.
    five = client.chat.completions.create(
        model=s.model, messages=HISTORY + alone, max_tokens=s.max_tokens
    )
    # The replay: the 1-turn request again, unchanged, after the 5-turn one.
    again = client.chat.completions.create(model=s.model, messages=alone, max_tokens=s.max_tokens)
    n, m, r = (usage_of(c).prompt_tokens for c in (one, five, again))  # 1-turn, 5-turn, replay
    print(f"1-turn response: {shown(one.choices[0], s)}")
    print(f"5-turn response: {shown(five.choices[0], s)}")
    print(f"1-turn prompt_tokens: {n}\n5-turn prompt_tokens: {m}\ndelta: {m - n}")
    print(f"replay prompt_tokens: {r}\n")
    if m <= n:  # what the numbers show, in words that stay true whatever they turn out to be
        said = (
            f"These counts cannot show the stateless contract: the 5-turn call counted {m}, no more "
            f"than the 1-turn call's {n}. Draw no conclusion from this server's counts."
        )
    else:
        said = (
            "The stateless contract: the server keeps no conversation state, so each call carries "
            "all the model sees, and the client sends the whole history every time. The delta, "
            f"{m - n}, counts those four messages, each wrapped in the template's role markers. "
        )
        if r != n:  # e.g. Ollama 0.30.0, which left out the prompt tokens its cache covered
            said += (
                f"The replay counted {r}, not {n}: this server counts one request differently "
                "the second time, so here the replay cannot show that nothing was kept. "
            )
        else:
            said += f"The replay counted {n} again: no conversation was kept. "
            if cached := getattr(usage_of(again).prompt_tokens_details, "cached_tokens", 0):
                said += f"The prefix cache supplied {cached}: read faster, counted all the same. "
        said += "A server may cache a prompt's start to read it faster: a speed-up, never memory."
    print(textwrap.fill(said, width=80))


# --- The safety net: the settings, and for each fault what happened and the fix -----------

DEFAULT_URL = "http://localhost:11434/v1"  # Ollama's port
RUN = "uv run --project 1-local-first python 1-local-first/demo.py"
CONNECT_S = 3.0  # a server that is up accepts a connection at once
HR = "=" * 60  # a horizontal rule


def http_url(value: str) -> str | None:
    return value.rstrip("/") if value.startswith(("http://", "https://")) else None


# flag: (default, its parser, what a value must be); an empty value or a number <= 0 is refused
SETTINGS: dict[str, tuple[object, Callable[[str], Any], str]] = {
    "--model": ("gpt-oss:20b", str.strip, "a model name, as the server knows it"),
    "--base-url": (DEFAULT_URL, http_url, "an http:// or https:// URL ending in /v1"),
    "--api-key": ("ollama", str.strip, "a key (the default is a placeholder Ollama ignores)"),
    "--timeout": (300, float, "a number of seconds above 0: the wait for one answer"),
    "--max-tokens": (1024, int, "a whole number above 0: one answer's token cap"),
}


def settings() -> argparse.Namespace:
    parser = argparse.ArgumentParser(epilog="Flags beat PORTWAY_ variables, which beat defaults.")
    for flag, (default, parse, what) in SETTINGS.items():
        env = "PORTWAY_" + flag[2:].upper().replace("-", "_")
        what = f"{what} ({env})"

        def check(value: str, parse: Callable[[str], Any] = parse, what: str = what) -> Any:
            with suppress(ValueError):
                if (parsed := parse(value)) and (isinstance(parsed, str) or 0 < parsed < math.inf):
                    return parsed
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}")

        now = "" if flag == "--api-key" else "; now: %(default)s"  # a key is never shown
        parser.add_argument(flag, type=check, default=os.environ.get(env, default), help=what + now)
    return parser.parse_args()


def rerun(s: argparse.Namespace, **changes: object) -> str:
    """The run command again, with this run's settings and the changes, quoted to paste."""
    words = [RUN]
    for flag, (default, *_) in SETTINGS.items():
        value = changes.get(name := flag[2:].replace("-", "_"), getattr(s, name))
        if name == "api_key":  # never printed: say where a key other than the placeholder goes
            if name in changes or value not in (default, os.environ.get("PORTWAY_API_KEY")):
                words.append(f"{flag} YOUR_KEY")
        elif name in changes or value != default:
            words += [flag, shlex.quote(f"{value:g}" if isinstance(value, float) else str(value))]
    return " ".join(words)


def usage_of(reply: ChatCompletion) -> openai.types.CompletionUsage:
    # subtle: given a body that is not JSON, the SDK hands back the text instead of raising.
    if not isinstance(reply, ChatCompletion) or not getattr(reply, "choices", None):
        raise openai.OpenAIError("not an API")  # the SDK's own base error: main() catches it
    if reply.usage is None or not isinstance(reply.usage.prompt_tokens, int):
        raise openai.OpenAIError("no usage")
    return reply.usage


def shown(choice: Choice, s: argparse.Namespace, most: int = 12) -> str:
    """The answer, cut to `most` lines lest a rambling model bury the counts; says if empty."""
    text, cut = (choice.message.content or "").strip(), choice.finish_reason == "length"
    lines = [part for line in text.splitlines() for part in textwrap.wrap(line, 100) or [""]]
    if len(lines) > most:
        lines[most:] = [f"[… {len(lines) - most} more lines]"]
    if cut and text:
        lines.append("[cut by the token cap]")
    elif cut:
        lines.append(f"(none: the cap of {s.max_tokens} tokens ran out before the answer began)")
        if "noted" not in vars(s):  # the note comes once a run; the settings keep track
            s.noted = True
            lines.append("note: thinking models reason first, from the same budget; double it:")
            lines.append(f"  {rerun(s, max_tokens=2 * s.max_tokens)}")
    return "\n    ".join(lines) or "(no answer text)"


def explain(err: Exception, s: argparse.Namespace) -> str:
    """What happened, in one true message, and the command that fixes it."""
    url, model, status, causes = s.base_url, s.model, getattr(err, "status_code", 0), [err]
    while cause := causes[-1].__cause__ or causes[-1].__context__:  # the SDK's, httpx2's, the OS's
        causes.append(cause)  # type: ignore[arg-type]
    names, body = {type(c).__name__ for c in causes}, getattr(err, "body", None)
    said = str((body.get("message") if isinstance(body, dict) else body) or causes[-1])
    said, host = " ".join(said.split())[:300], urlsplit(url).hostname or ""
    html, said = said.startswith("<"), f"HTTP {status}: {said}" if status else said
    if "ConnectionRefusedError" in names:
        return f"Nothing is listening at {url}.\n{'Start Ollama (`ollama serve`, or the app)' if urlsplit(url).port == 11434 else 'Start your server'}, then:\n  {rerun(s)}"
    if "gaierror" in names:
        return f"The host {host!r} could not be found; check its spelling. For this machine:\n  {rerun(s, base_url=url.replace(host, 'localhost', 1))}"
    if "SSLError" in names:
        return f"The TLS handshake with {url} failed; local servers speak plain http://:\n  {rerun(s, base_url='http://' + url.split('://', 1)[1])}"
    if "ConnectTimeout" in names:
        return f"{url} accepted no connection within {min(CONNECT_S, s.timeout):g} s.\nCheck that the server there is up and answering, then:\n  {rerun(s)}"
    if isinstance(err, openai.APITimeoutError):
        return f"No answer from {url} within {s.timeout:g} s (model {model}). A first call may be\nloading the model into memory. Give it longer:\n  {rerun(s, timeout=max(600.0, 2 * s.timeout))}"
    if status in (401, 403):  # the server's words are left out: they may echo the key
        return f"{url} refused the API key (HTTP {status}) when asked for {model}.\nPass the key it expects, or set it in PORTWAY_API_KEY:\n  {rerun(s, api_key='')}"
    if html or "not an API" in err.args or isinstance(err, json.JSONDecodeError):
        return f"What answered at {url} is not an OpenAI-compatible API.\nCheck the port: Ollama listens on 11434:\n  {rerun(s, base_url=DEFAULT_URL)}"
    if "no usage" in err.args:
        return f"{url} answered without token usage: no counts to compare. Ollama, llama.cpp's\nllama-server, vLLM and LM Studio report it; point the demo at one:\n  {rerun(s, base_url=DEFAULT_URL)}"
    if status == 404 and model in said:  # Ollama: model 'X' not found; vLLM: `X` does not exist
        said = f"The server has no model {model!r} ({said}). With Ollama, pull it and run again:\n  ollama pull {shlex.quote(model)}\n  {rerun(s)}"
        with suppress(openai.OpenAIError, IndexError):  # the models it has, if it will say
            there = [m.id for m in connect(s).with_options(timeout=CONNECT_S).models.list().data]
            said += f"\nOr use one it has ({', '.join(there)}):\n  {rerun(s, model=there[0])}"
        return said
    if status == 404 and not url.endswith("/v1"):  # the /v1 left off, or a full endpoint given
        head, v1, _ = url.partition("/v1/")
        return f"Nothing at {url}/chat/completions (HTTP 404). The base URL ends in /v1:\n  {rerun(s, base_url=head + '/v1' if v1 else url + '/v1')}"
    if status >= 500:
        return f"The server at {url} failed on {model} ({said}).\nIf the model does not fit in memory, the post's smallest needs 8 GB:\n  ollama pull llama3.2:3b\n  {rerun(s, model='llama3.2:3b')}"
    return f"The call to {url} for {model} failed: {said}"


def main() -> int:
    s = settings()
    # subtle: '?' for characters this terminal cannot encode; each line flushed, for `| tee`.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace", line_buffering=True)
    try:
        print(f"... asking {s.model} at {s.base_url}; a first call may load it", file=sys.stderr)
        lesson(s)
        return 0
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # subtle: uv may pass on a second Ctrl-C
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `| head` stopped reading: end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (json.JSONDecodeError, openai.OpenAIError) as err:
        print(explain(err, s), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

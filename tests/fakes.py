"""What a fake Ollama answers, for the quick tier: each body as the file and function of
ollama/ollama v0.34.4 named beside it writes it. test_ollama.py holds each against the real
Ollama's answer, where one can be had."""

import json
from collections.abc import Callable
from typing import Any

from werkzeug import Request, Response

Messages = list[dict[str, str]]
Counter = Callable[[Messages, list[Messages]], tuple[int, int | None]]  # prompt, cached tokens


def completion(prompt_tokens: int = 12, cached: int | None = 0, content: str = "Ottawa.") -> Any:
    """openai/openai.go, ToChatCompletion, with ToUsage: prompt_tokens_details since v0.33.3, and
    none before (cached None, as v0.33.2 sends it)."""
    message = {"role": "assistant", "content": content}
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens}
    if cached is not None:
        usage |= {"prompt_tokens_details": {"cached_tokens": cached}}
    usage |= {"completion_tokens": 5, "total_tokens": prompt_tokens + 5}
    head = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-model"}
    choices = [{"index": 0, "message": message, "finish_reason": "stop"}]
    return head | {"system_fingerprint": "fp_ollama", "choices": choices, "usage": usage}


def json_response(payload: object, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


def ollama_error(status: int, message: str) -> Response:
    """An error on Ollama's /v1 routes: middleware/openai.go, BaseWriter.writeError, with the
    body of openai/openai.go, NewError (its type named by the status)."""
    kinds = {400: "invalid_request_error", 404: "not_found_error"}
    error = {"message": message, "type": kinds.get(status, "api_error"), "param": None}
    return json_response({"error": {**error, "code": None}}, status)


def missing_model(model: str) -> Response:
    """server/routes.go, ChatHandler, since v0.12."""
    return ollama_error(404, f"model '{model}' not found")


def out_of_memory() -> Response:
    """A model too big for the machine: llama-server logs ggml/src/ggml-backend.cpp's `failed to
    allocate buffer of size N`, which llm/status.go keeps as the runner's last error and
    llm/llama_server.go, WaitUntilRunning, wraps; server/routes.go, handleScheduleError, sends
    it as a 500."""
    allocate = "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size"
    return ollama_error(500, f"llama-server reported out-of-memory during startup: {allocate} 9")


def words(messages: Messages, seen: list[Messages]) -> tuple[int, int]:
    """The recording fake's counts, as no tokenizer's, so that a number printed can only come
    from it: prompt_tokens, a token a word and four a message; cached_tokens, all but the last
    token of a prompt it has seen, as an engine's prompt cache gives."""
    count = sum(4 + len(m["content"].split()) for m in messages)
    return count, count - 1 if messages in seen else 0


def ollama_chat(count: Counter = words) -> Callable[[Request], Response]:
    """A chat endpoint that answers call N with `answer N` and the counts count() gives."""
    seen: list[Messages] = []

    def respond(request: Request) -> Response:
        messages = request.get_json()["messages"]
        prompt_tokens, cached_tokens = count(messages, seen)
        seen.append(messages)
        content = f"answer {len(seen)}"
        return json_response(completion(prompt_tokens, cached_tokens, content))

    return respond

"""What the demo prints, and what it sends, against a scripted local server: answers whole,
notes for thinking models, the replay called out when it differs, and traffic to the given
URL only."""

import json
import time

from conftest import (
    RUN,
    Reply,
    Request,
    Serve,
    answers,
    assert_clean_failure,
    completion,
    json_reply,
    run_demo,
)


def test_multi_line_answer_prints_whole_with_every_label_on_its_own_line(serve: Serve) -> None:
    server = serve(answers(completion("Ottawa.\nIt is in Ontario.\ndelta: not a label")))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "content: Ottawa.\n    It is in Ontario.\n    delta: not a label\n" in proc.stdout
    assert [line for line in proc.stdout.splitlines() if line.startswith("delta:")] == ["delta: 0"]


def test_reasoning_only_answer_is_a_note_not_a_failure(serve: Serve) -> None:
    thinking = "The user asks for the capital of Canada. That is Ottawa."
    server = serve(answers(completion("", reasoning=thinking)))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "answered only in its reasoning channel" in proc.stdout
    assert thinking[:40] in proc.stdout
    assert "1-turn prompt_tokens: 12" in proc.stdout
    assert len(server.chat_calls()) == 4


def test_llama_cpp_reasoning_content_is_read_too(serve: Serve) -> None:
    server = serve(answers(completion(None, reasoning_content="Thinking it over: Ottawa.")))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert '"Thinking it over: Ottawa.' in proc.stdout


def test_answer_cut_by_the_token_cap_says_how_to_raise_it(serve: Serve) -> None:
    cut = completion("", finish_reason="length", reasoning="Let me think about rivers")
    server = serve(answers(cut))
    proc = run_demo("--base-url", server.url + "/v1", "--max-tokens", "64")
    assert proc.returncode == 0, proc.stderr
    assert "token cap (64) cut this answer short" in proc.stdout
    assert f"{RUN} --base-url {server.url}/v1 --max-tokens 256" in proc.stdout
    assert all(r.body["max_tokens"] == 64 for r in server.chat_calls())


def test_slow_call_says_what_it_waits_for_on_stderr_only(serve: Serve) -> None:
    slow = {"first": True}

    def slow_first_answer(request: Request) -> Reply:
        if slow.pop("first", False):
            time.sleep(4)  # well past the moment the demo waits before it speaks up
        return json_reply(completion())

    server = serve(slow_first_answer)
    proc = run_demo("--base-url", server.url + "/v1", "--model", "llama3.2:3b")
    assert proc.returncode == 0, proc.stderr
    assert f"waiting for llama3.2:3b at {server.url}/v1" in proc.stderr
    assert "waiting" not in proc.stdout


def test_replay_counted_differently_is_called_out(serve: Serve) -> None:
    counts = iter([20, 20, 60, 27])  # block 1, 1-turn, 5-turn, replay

    server = serve(lambda request: json_reply(completion(prompt_tokens=next(counts))))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "1-turn replay prompt_tokens: 27" in proc.stdout
    assert "the replay counted 27 prompt tokens, not 20" in proc.stdout
    assert "counted 20 again" not in proc.stdout


def test_cached_tokens_the_server_reports_are_shown_as_a_speed_up(serve: Serve) -> None:
    replies = iter(
        [
            completion(),
            completion(prompt_tokens=20),
            completion(prompt_tokens=90),
            completion(prompt_tokens=20, cached=18),
        ]
    )
    server = serve(lambda request: json_reply(next(replies)))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "The server says 18 of the replay's 20 prompt tokens came from its prefix" in proc.stdout
    assert "counted 20 again" in proc.stdout


def test_redirect_is_not_followed_to_another_url(serve: Serve) -> None:
    elsewhere = serve(answers(completion()))
    target = elsewhere.url + "/v1/chat/completions"
    server = serve(lambda request: (307, {"Location": target}, b""))
    said = assert_clean_failure(run_demo("--base-url", server.url + "/v1"))
    assert "HTTP 307" in said
    assert elsewhere.requests == []


def test_proxy_settings_in_the_environment_are_ignored(serve: Serve) -> None:
    proxy = serve(answers(completion(prompt_tokens=999)))
    server = serve(answers(completion()))
    env = {name: proxy.url for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    proc = run_demo("--base-url", server.url + "/v1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proxy.requests == []
    assert len(server.chat_calls()) == 4


def test_requests_carry_the_conversation_the_post_describes(serve: Serve) -> None:
    server = serve(answers(completion()))
    assert run_demo("--base-url", server.url + "/v1").returncode == 0
    block1, one, five, replay = (c.body["messages"] for c in server.chat_calls())
    assert len(block1) == 1 and len(one) == 1
    assert [m["role"] for m in five] == ["user", "assistant", "user", "assistant", "user"]
    assert five[-1] == one[0]
    assert replay == one
    assert json.dumps(one) != json.dumps(block1)

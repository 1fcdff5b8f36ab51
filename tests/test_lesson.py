"""The lesson, proven against a recording fake of Ollama (fakes.py): what each of the demo's four
requests carries, that every number printed is the one served, and its output beside the
post's sample, line for line."""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fakes import Messages, completion, json_response, ollama_chat, words
from pytest_httpserver import HTTPServer
from rundemo import Chat, Outcome, chats, run_demo, start_readme_command
from werkzeug import Request, Response

RULE = "=" * 60


@dataclass
class Lesson(Outcome):
    chats: list[Chat]  # as the fake saw them

    def messages(self) -> list[Messages]:
        return [chat.request["messages"] for chat in self.chats]

    def paragraph(self, block: int) -> str:
        """The words after the block's last blank line, as one line."""
        return " ".join(self.out.split(RULE)[2 * block].rsplit("\n\n", 1)[1].split())


def learn(
    httpserver: HTTPServer, *flags: str, respond: Callable[[Request], Response] | None = None
) -> Lesson:
    """The demo run against the fake, which answers each chat call with respond (by default, as
    fakes.ollama_chat does)."""
    chat = httpserver.expect_request("/v1/chat/completions", method="POST")
    chat.respond_with_handler(respond or ollama_chat())
    outcome = run_demo("--base-url", httpserver.url_for("/v1"), *flags)
    outcome.succeeded()
    return Lesson(outcome.code, outcome.out, outcome.err, chats(httpserver))


@pytest.fixture
def lesson(httpserver: HTTPServer) -> Lesson:
    return learn(httpserver)


def test_the_demo_makes_four_calls_each_with_only_the_model_and_its_messages(
    lesson: Lesson,
) -> None:
    assert len(lesson.chats) == 4
    assert all(set(chat.request) == {"model", "messages"} for chat in lesson.chats)
    assert {chat.request["model"] for chat in lesson.chats} == {"gpt-oss:20b"}, "the post's"


def test_block_1_sends_one_user_message_that_is_not_the_question(lesson: Lesson) -> None:
    block1, one, _, _ = lesson.messages()
    assert [message["role"] for message in block1] == ["user"]
    assert block1 != one


def test_the_1_turn_request_is_the_question_alone(lesson: Lesson) -> None:
    _, one, _, _ = lesson.messages()
    assert [message["role"] for message in one] == ["user"]
    assert one[0]["content"].endswith("?")


def test_the_5_turn_request_is_four_made_up_turns_then_the_same_question(lesson: Lesson) -> None:
    _, one, five, _ = lesson.messages()
    assert [m["role"] for m in five] == ["user", "assistant", "user", "assistant", "user"]
    assert five[4] == one[0]
    assert all(m["content"] and m["content"] != one[0]["content"] for m in five[:4])


def test_the_replay_is_the_1_turn_request_byte_for_byte(lesson: Lesson) -> None:
    assert lesson.chats[3].body == lesson.chats[1].body


def test_each_count_printed_is_the_one_served_and_the_delta_their_difference(
    lesson: Lesson,
) -> None:
    block1, one, five, replay = (chat.response["usage"] for chat in lesson.chats)
    usage = lesson.printed("usage")
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert f"{key}={block1[key]}" in usage
    assert int(lesson.printed("1-turn prompt_tokens")) == one["prompt_tokens"]
    assert int(lesson.printed("5-turn prompt_tokens")) == five["prompt_tokens"]
    assert int(lesson.printed("delta")) == five["prompt_tokens"] - one["prompt_tokens"]
    assert int(lesson.printed("replay prompt_tokens")) == replay["prompt_tokens"]
    assert int(lesson.printed("cached_tokens")) == replay["prompt_tokens_details"]["cached_tokens"]


def test_each_answer_printed_is_its_own_calls(lesson: Lesson) -> None:
    # The fake answers call N with "answer N".
    assert lesson.printed("content") == "answer 1"
    assert lesson.printed("1-turn response") == "answer 2"
    assert lesson.printed("5-turn response") == "answer 3"


def test_the_output_lines_up_with_the_posts_sample_then_block_3(lesson: Lesson) -> None:
    lines = lesson.out.splitlines()
    titles = [line for line in lines if line.startswith("Block ")]
    shape = [line if line in titles else line.split(": ")[0] for line in lines]
    assert [title[:8] for title in titles] == ["Block 1 ", "Block 2 ", "Block 3 "]
    assert "beyond the post" in titles[2]
    two, three = shape.index(titles[1]), shape.index(titles[2])
    assert shape[:5] == [RULE, titles[0], RULE, "content", "usage"]
    assert lines[4].startswith("usage: CompletionUsage(completion_tokens=")
    assert shape[5:15] == [
        *(RULE, titles[1], RULE),
        *("1-turn response", "5-turn response", ""),
        *("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", ""),
    ]
    assert "" not in shape[15 : two - 1] and shape[two - 1] == RULE
    assert shape[three - 1 : three + 5] == [
        *(RULE, titles[2], RULE),
        *("replay prompt_tokens", "cached_tokens", ""),
    ]
    assert "" not in shape[three + 5 :]
    assert max(len(line) for line in lines if not line.startswith("usage: ")) <= 92


def test_block_2_says_the_server_keeps_nothing_and_what_the_delta_is(lesson: Lesson) -> None:
    said = lesson.paragraph(2)
    delta = lesson.printed("delta")
    assert "prompt_tokens" in said and "completion_tokens" in said and "total_tokens" in said
    assert "The server keeps no conversation" in said
    assert f"counted {delta} more only because it carried the four made-up messages" in said
    assert said.endswith("The client sends the whole conversation, every time.")


def test_block_3_says_the_replay_counted_the_same_and_what_the_cache_is(lesson: Lesson) -> None:
    said = lesson.paragraph(3)
    replay = lesson.printed("replay prompt_tokens")
    assert f"The same request counted the same, {replay}: nothing piled up" in said
    assert "cached_tokens is what the engine took from its prompt cache" in said
    assert "earlier calls and runs (so Block 1 may show some too)" in said
    assert "still sent and counted" in said and "it is not the conversation" in said


def counted_as_ollama_0_30_0(messages: Messages, seen: list[Messages]) -> tuple[int, int]:
    """Ollama 0.30.0 counted only what its prompt cache missed (fixed in 0.30.1)."""
    count, cached = words(messages, seen)
    return count - cached, cached


def test_a_replay_that_counts_differently_is_said_to_prove_nothing(httpserver: HTTPServer) -> None:
    lesson = learn(httpserver, respond=ollama_chat(counted_as_ollama_0_30_0))
    one, replay = lesson.printed("1-turn prompt_tokens"), lesson.printed("replay prompt_tokens")
    assert one != replay
    assert f"The same request counted {one}, now {replay}: it proves nothing." in lesson.out
    assert "piled up" not in lesson.out


def test_a_delta_that_is_not_positive_is_said_to_show_nothing(httpserver: HTTPServer) -> None:
    lesson = learn(httpserver, respond=ollama_chat(lambda messages, seen: (7, 0)))
    assert lesson.printed("delta") == "0"
    assert "did not count more, so it cannot show what the server keeps" in lesson.paragraph(2)
    assert "keeps no conversation" not in lesson.out


@pytest.mark.parametrize(
    ("extra", "wrote"), [({"reasoning": "The user asks"}, "only reasoning"), ({}, "no text")]
)
def test_an_answer_without_text_says_what_the_model_wrote(
    httpserver: HTTPServer, extra: dict[str, str], wrote: str
) -> None:
    # Ollama returns a thinking model's reasoning in message.reasoning, apart from its answer.
    reply = completion(12, 0, "", **extra)
    lesson = learn(httpserver, respond=lambda request: json_response(reply))
    assert lesson.printed("content") == f"(it wrote {wrote}; finish_reason: stop)"


# --- The flags, and the README's command --------------------------------------------------------


def test_the_model_flag_reaches_the_server(httpserver: HTTPServer) -> None:
    lesson = learn(httpserver, "--model", "llama3.2:3b")
    assert {chat.request["model"] for chat in lesson.chats} == {"llama3.2:3b"}


def test_help_names_every_flag_and_its_default() -> None:
    text = " ".join(run_demo("--help").succeeded().split())
    assert "--model MODEL the model to ask: gpt-oss:20b" in text
    assert "--base-url BASE_URL the server's /v1 URL: http://localhost:11434/v1" in text
    assert "--timeout TIMEOUT per answer: 300s" in text


@pytest.mark.parametrize(
    "flag", ["--timeout=-1", "--timeout=0", "--timeout=abc", "--timeout=nan", "--nope"]
)
def test_values_that_cannot_work_are_refused_before_any_call(
    httpserver: HTTPServer, flag: str
) -> None:
    outcome = run_demo("--base-url", httpserver.url_for("/v1"), flag)
    assert outcome.failed(code=2).startswith("usage: demo.py")
    assert httpserver.log == []


def test_the_readme_command_prints_what_this_process_prints(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_handler(ollama_chat())
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    command = start_readme_command("--base-url", httpserver.url_for("/v1"), **pipes)
    out, err = command.communicate(timeout=60)
    sent = [chat.body for chat in chats(httpserver)]
    httpserver.clear()
    lesson = learn(httpserver)
    assert (command.returncode, err) == (0, "")
    assert (out, sent) == (lesson.out, [chat.body for chat in lesson.chats])

"""The lesson, proven against a recording fake of Ollama (fakes.py): what each of the demo's four
requests carries, that every number printed is the one served, and its output beside the
post's sample, line for line."""

import ast
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fakes import Counter, Messages, completion, json_response, ollama_chat, words
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


def test_the_demo_makes_four_calls_each_with_only_the_model_and_messages(lesson: Lesson) -> None:
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


def test_each_count_printed_is_the_one_served_and_delta_their_difference(lesson: Lesson) -> None:
    block1, one, five, replay = (chat.response["usage"] for chat in lesson.chats)
    assert ast.literal_eval(lesson.printed("usage")) == block1, "what the server sent, no more"
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
    assert shape[:6] == [RULE, titles[0], RULE, "content", "usage", ""]
    assert lines[4].startswith("usage: {'completion_tokens': ")
    assert "" not in shape[6 : two - 1]
    assert shape[two - 1 : two + 9] == [
        *(RULE, titles[1], RULE),
        *("1-turn response", "5-turn response", ""),
        *("1-turn prompt_tokens", "5-turn prompt_tokens", "delta", ""),
    ]
    assert "" not in shape[two + 9 : three - 1]
    assert shape[three - 1 : three + 5] == [
        *(RULE, titles[2], RULE),
        *("replay prompt_tokens", "cached_tokens", ""),
    ]
    assert "" not in shape[three + 5 :]
    assert max(len(line) for line in lines if not line.startswith("usage: ")) <= 92


def test_block_1_says_what_each_count_of_usage_counts(lesson: Lesson) -> None:
    said = lesson.paragraph(1)
    assert "prompt_tokens: the messages in the model's chat template, with its markers" in said
    assert "completion_tokens: all the model wrote, any reasoning included" in said
    assert "total_tokens: the two together. Block 3 explains cached_tokens" in said


def test_block_2_says_the_api_is_stateless_and_what_the_delta_is(lesson: Lesson) -> None:
    said = lesson.paragraph(2)
    delta = lesson.printed("delta")
    assert said.startswith(f"Stateless: the 5-turn request adds {delta} tokens, the four made-up")
    assert "turns in the template's markers, and nothing of the calls before it" in said


@pytest.mark.parametrize(
    ("count", "cache_words"),
    [
        (words, "The engine took {} of them from its prompt cache of earlier calls and runs."),
        # as for a sliding-window model, whose cache llama.cpp cannot reuse; as Ollama < 0.33.3
        (lambda messages, seen: words(messages, []), "The engine read the whole prompt again: "),
        (lambda messages, seen: (words(messages, seen)[0], None), ""),
    ],
    ids=["some-cached", "none-cached", "not-reported"],
)
def test_block_3_says_the_replay_counted_the_same_and_what_its_cached_tokens_mean(
    httpserver: HTTPServer, count: Counter, cache_words: str
) -> None:
    lesson = learn(httpserver, respond=ollama_chat(count))
    replay, cached = lesson.printed("replay prompt_tokens"), lesson.printed("cached_tokens")
    same = f"Stateless again: the same request counted {replay}, cached or not."
    assert lesson.paragraph(3).startswith(f"{same} {cache_words.format(cached)}".rstrip())
    assert cache_words or (cached, lesson.paragraph(3)) == ("not reported by this server", same)
    assert "None" not in lesson.out


def counted_as_ollama_0_30_0(messages: Messages, seen: list[Messages]) -> tuple[int, int]:
    """Ollama 0.30.0 counted only what its prompt cache missed (fixed in 0.30.1)."""
    count, cached = words(messages, seen)
    return count - cached, cached


def test_a_replay_that_counts_differently_is_said_to_prove_nothing(httpserver: HTTPServer) -> None:
    lesson = learn(httpserver, respond=ollama_chat(counted_as_ollama_0_30_0))
    one, replay = lesson.printed("1-turn prompt_tokens"), lesson.printed("replay prompt_tokens")
    assert one != replay
    assert f"The same request counted {one} in Block 2: this proves nothing." in lesson.out
    assert "Stateless again" not in lesson.out


def test_a_delta_that_is_not_positive_is_said_to_show_nothing(httpserver: HTTPServer) -> None:
    lesson = learn(httpserver, respond=ollama_chat(lambda messages, seen: (7, 0)))
    assert lesson.printed("delta") == "0"
    assert "did not count more, so it cannot show what the server keeps" in lesson.paragraph(2)
    assert "Stateless:" not in lesson.out


def test_an_answer_with_only_reasoning_says_there_is_no_text(httpserver: HTTPServer) -> None:
    reply = completion(12, 0, "")
    reply["choices"][0]["message"]["reasoning"] = "The user asks"  # where Ollama puts it
    lesson = learn(httpserver, respond=lambda request: json_response(reply))
    assert lesson.printed("content") == "(no text; finish_reason: stop)"


# --- The flags, and the README's command --------------------------------------------------------


def test_help_names_every_flag_and_its_default() -> None:
    text = " ".join(run_demo("--help").succeeded().split())
    assert "--model MODEL the model to ask: gpt-oss:20b" in text
    assert "--base-url BASE_URL the server's /v1 URL: http://localhost:11434/v1" in text
    assert "--timeout TIMEOUT per answer: 300s" in text


@pytest.mark.parametrize(
    "flag",
    ["--timeout=-1", "--timeout=0", "--timeout=abc", "--timeout=nan", "--timeout=inf", "--nope"],
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

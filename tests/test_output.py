"""What the demo prints, against fakes shaped like Ollama that answer as each case needs: the
explanation in each of its cases, answers cut or empty, and output that reaches the reader
block by block."""

import threading

from conftest import Demo, Serve
from fakes import HUNG, Reply, Request, always, completion, counts, json_reply
from rundemo import start_demo


def explanation(stdout: str) -> str:
    """What follows the last count, as one line of words."""
    return " ".join(stdout.split("replay prompt_tokens:", 1)[1].split()[1:])


def test_history_that_costs_tokens_and_an_equal_replay_tell_the_stateless_contract(
    demo: Demo,
) -> None:
    outcome, _ = demo(counts(30, 16, 89, 16))  # Block 1, 1-turn, 5-turn, replay
    out = outcome.success()
    assert "1-turn prompt_tokens: 16\n5-turn prompt_tokens: 89\ndelta: 73\n" in out
    assert "replay prompt_tokens: 16\n" in out
    said = explanation(out)
    assert said.startswith(
        "The chat completions API is stateless: the server keeps no conversation"
    )
    assert "The delta, 73, is the four made-up messages" in said
    assert said.endswith("The replay counted 16 again: the 5-turn call added nothing to it.")
    assert max(len(line) for line in out.splitlines()[-8:]) <= 84


def test_replay_counted_differently_is_said_and_never_contradicted(demo: Demo) -> None:
    # Ollama 0.30.0 counted only the prompt tokens its cache did not cover.
    outcome, _ = demo(counts(30, 16, 89, 1))
    said = explanation(outcome.success())
    assert said.endswith(
        "The replay counted 1, not 16: this server counts a repeated request differently, "
        "so here the replay cannot show that nothing was kept."
    )
    assert "again" not in said and "added nothing" not in said


def test_counts_that_do_not_grow_with_the_history_prove_nothing(demo: Demo) -> None:
    outcome, _ = demo(counts(30, 16, 16, 16))
    said = explanation(outcome.success())
    assert (
        said == "The 5-turn call counted no more than the 1-turn call: these counts show nothing."
    )


def test_answer_is_shown_as_the_model_gave_it(demo: Demo) -> None:
    outcome, _ = demo(always(json_reply(completion("Ottawa.\nIt is in Ontario."))))
    assert "content: Ottawa.\nIt is in Ontario.\nusage: " in outcome.success()


def test_answer_cut_by_the_token_cap_is_marked_as_cut(demo: Demo) -> None:
    cut = completion("Toronto, Vancouver, Mont", finish_reason="length")
    outcome, _ = demo(always(json_reply(cut)), "--max-tokens", "8")
    out = outcome.success()
    assert "content: Toronto, Vancouver, Mont [cut off: the token limit was reached]\n" in out
    assert "thinking" not in out, "a long answer is cut, not a reason to speak of reasoning"


def test_thinking_model_that_spent_the_cap_reasoning_gets_a_line_that_says_so(
    demo: Demo,
) -> None:
    # Ollama returns a thinking model's reasoning in message.reasoning, apart from the answer.
    cut = completion("", finish_reason="length", reasoning="The user asks about cities. Let")
    outcome, server = demo(always(json_reply(cut)), "--max-tokens", "64")
    empty = "(no answer text: the token limit ran out; a thinking model spends it reasoning first)"
    assert outcome.success().count(empty) == 3
    assert all(r.body["max_tokens"] == 64 for r in server.chat_calls())


def test_empty_answer_that_was_not_cut_says_so(demo: Demo) -> None:
    outcome, _ = demo(always(json_reply(completion(None))))
    out = outcome.success()
    assert "content: (no answer text)\n" in out
    assert "thinking" not in out


def test_each_block_reaches_the_reader_before_the_next_one_is_asked_for(serve: Serve) -> None:
    first_block_read = threading.Event()

    def hold_block_2(request: Request) -> Reply:
        if len(server.chat_calls()) == 2:  # Block 2's first call waits for the reader
            first_block_read.wait(HUNG)
        return json_reply(completion())

    server = serve(hold_block_2)
    # Were Block 1 held back until the end, the reader would not see it while Block 2 waits,
    # and Block 2's call would time out: the run would fail instead of ending well.
    proc = start_demo("--base-url", server.url + "/v1", "--timeout", "20")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while not line.startswith("usage:"):
            assert line, "the demo ended before Block 1 reached its reader"
            line = proc.stdout.readline()
        first_block_read.set()
        out, err = proc.communicate(timeout=HUNG)
    finally:
        first_block_read.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "replay prompt_tokens: 12" in out


def test_the_notice_goes_to_stderr_once_and_stdout_keeps_the_lesson(demo: Demo) -> None:
    outcome, server = demo(always(json_reply(completion())), "--model", "llama3.2:3b")
    assert outcome.err == f"... asking llama3.2:3b at {server.url}/v1; a first call may load it\n"
    assert "asking" not in outcome.success()


def test_proxy_settings_in_the_environment_are_ignored(serve: Serve, demo: Demo) -> None:
    proxy = serve(always(json_reply(completion(prompt_tokens=999))))
    env = {name: proxy.url for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    outcome, server = demo(always(json_reply(completion())), env=env)
    outcome.success()
    assert proxy.requests == []
    assert len(server.chat_calls()) == 4


def test_characters_the_terminal_cannot_show_do_not_stop_the_demo(demo: Demo) -> None:
    answer = "Ottawa \u2713 \u2014 \u201cCanada\u2019s capital\u201d \U0001f341"
    outcome, _ = demo(always(json_reply(completion(answer))), env={"PYTHONIOENCODING": "ascii"})
    assert "content: Ottawa ? ? ?Canada?s capital? ?\n" in outcome.success()

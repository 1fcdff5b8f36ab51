"""What the demo prints, against servers shaped like Ollama that answer as each case needs:
the explanation in each of its cases, answers long, cut or empty, and output that reaches the
reader block by block."""

import threading

from helpers import (
    HUNG,
    Reply,
    Request,
    Serve,
    answers,
    completion,
    counts,
    json_reply,
    run_demo,
    start_demo,
)


def explanation(stdout: str) -> str:
    """The explanation: what follows the last count, as one line of words."""
    return " ".join(stdout.split("replay prompt_tokens:", 1)[1].split()[1:])


def test_history_that_costs_tokens_and_an_equal_replay_tell_the_stateless_contract(
    serve: Serve,
) -> None:
    server = serve(counts(30, 25, 181, 25))  # block 1, 1-turn, 5-turn, replay
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "1-turn prompt_tokens: 25\n5-turn prompt_tokens: 181\ndelta: 156\n" in proc.stdout
    assert "replay prompt_tokens: 25\n" in proc.stdout
    said = explanation(proc.stdout)
    assert said.startswith("The stateless contract: the server keeps no conversation state,")
    assert (
        "the client sends the whole history every time. The delta, 156, counts those four messages"
        in said
    )
    assert "The replay counted 25 again: no conversation was kept." in said
    assert said.endswith("to read it faster: a speed-up, never memory.")
    assert max(len(line) for line in proc.stdout.splitlines()[-6:]) <= 80


def test_replay_counted_differently_is_said_and_never_contradicted(serve: Serve) -> None:
    # Ollama 0.30.0 counted only the prompt tokens its cache did not cover.
    server = serve(counts(30, 25, 181, 1))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    said = explanation(proc.stdout)
    assert "The replay counted 1, not 25:" in said
    assert "the replay cannot show that nothing was kept" in said
    assert "again" not in said and "counted all the same" not in said
    assert "1 prompt tokens" not in proc.stdout


def test_counts_that_do_not_grow_with_the_history_prove_nothing(serve: Serve) -> None:
    server = serve(counts(30, 25, 25, 25))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    said = explanation(proc.stdout)
    assert said.startswith("These counts cannot show the stateless contract:")
    assert "Draw no conclusion" in said
    assert "again" not in said and "was kept" not in said


def test_cached_tokens_the_server_reports_are_a_speed_up_counted_all_the_same(
    serve: Serve,
) -> None:
    replies = iter([completion(), completion(prompt_tokens=20), completion(prompt_tokens=90)])
    last = completion(prompt_tokens=20, cached=18)
    server = serve(lambda request: json_reply(next(replies, last)))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    said = explanation(proc.stdout)
    assert (
        "counted 20 again: no conversation was kept. The prefix cache supplied 18: read faster"
        in said
    )


def test_multi_line_answer_keeps_every_label_at_the_start_of_its_own_line(serve: Serve) -> None:
    server = serve(answers(completion("Ottawa.\nIt is in Ontario.\ndelta: not a label")))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "content: Ottawa.\n    It is in Ontario.\n    delta: not a label\n" in proc.stdout
    assert [line for line in proc.stdout.splitlines() if line.startswith("delta:")] == ["delta: 0"]


def test_rambling_answer_shows_a_dozen_lines_and_how_many_more(serve: Serve) -> None:
    # 30 short lines, then 2,000 characters on one line, which wrap at 100 columns into 20.
    rambling = "\n".join(f"line {i}" for i in range(1, 31)) + "\n" + "word " * 400
    server = serve(answers(completion(rambling, finish_reason="length")))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    block1 = proc.stdout.split("usage:", 1)[0]
    assert "    line 12\n    [… 38 more lines]\n    [cut by the token cap]\n" in block1
    assert "line 13" not in block1
    assert "max-tokens" not in proc.stdout, "a long answer is cut, not a reason for a bigger cap"
    assert "5-turn prompt_tokens: 12" in proc.stdout


def test_thinking_model_that_spent_the_cap_reasoning_gets_one_note_with_twice_the_cap(
    serve: Serve,
) -> None:
    # Ollama returns a thinking model's reasoning in message.reasoning, apart from the answer.
    cut = completion("", finish_reason="length", reasoning="The user asks about rivers. Let")
    server = serve(answers(cut))
    proc = run_demo("--base-url", server.url + "/v1", "--max-tokens", "64", "--timeout", "30")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("(none: the cap of 64 tokens ran out before the answer began)") == 3
    assert proc.stdout.count("note:") == 1
    assert "--base-url" in proc.stdout and "--timeout 30 --max-tokens 128\n" in proc.stdout
    assert all(r.body["max_tokens"] == 64 for r in server.chat_calls())


def test_empty_answer_that_was_not_cut_says_so(serve: Serve) -> None:
    server = serve(answers(completion(None)))
    proc = run_demo("--base-url", server.url + "/v1")
    assert proc.returncode == 0, proc.stderr
    assert "content: (no answer text)\n" in proc.stdout
    assert "note:" not in proc.stdout


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
        while not (line := proc.stdout.readline()).startswith("usage:"):
            assert line, "the demo ended before Block 1 reached its reader"
        first_block_read.set()
        out, err = proc.communicate(timeout=HUNG)
    finally:
        first_block_read.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "replay prompt_tokens: 12" in out


def test_the_notice_goes_to_stderr_and_stdout_keeps_the_lesson(serve: Serve) -> None:
    server = serve(answers(completion()))
    proc = run_demo("--base-url", server.url + "/v1", "--model", "llama3.2:3b")
    assert proc.returncode == 0, proc.stderr
    assert f"... asking llama3.2:3b at {server.url}/v1" in proc.stderr
    assert proc.stderr.count("asking") == 1, "said once, not once a call"
    assert "asking" not in proc.stdout


def test_proxy_settings_in_the_environment_are_ignored(serve: Serve) -> None:
    proxy = serve(answers(completion(prompt_tokens=999)))
    server = serve(answers(completion()))
    env = {name: proxy.url for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    proc = run_demo("--base-url", server.url + "/v1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proxy.requests == []
    assert len(server.chat_calls()) == 4


def test_characters_the_terminal_cannot_show_do_not_stop_the_demo(serve: Serve) -> None:
    answer = "Ottawa \u2713 \u2014 \u201cCanada\u2019s capital\u201d \U0001f341"
    server = serve(answers(completion(answer)))
    proc = run_demo("--base-url", server.url + "/v1", env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    assert "content: Ottawa ? ? ?Canada?s capital? ?\n" in proc.stdout

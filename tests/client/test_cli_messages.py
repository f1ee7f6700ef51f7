"""The produce, consume and tail commands, run with click's runner."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from click.testing import CliRunner

from streamweaver.cli.messages import consume, produce, tail

from waiting import wait_for


@pytest.fixture
def run(redis_server, r):
    runner = CliRunner()

    def invoke(command, *args, input=None):
        return runner.invoke(
            command, ["--redis-url", redis_server.url, *args], input=input
        )

    return invoke


def test_produce_prints_the_id_and_stores_text_and_typed_values(run, client):
    result = run(produce, "orders", "kind=created", "qty:=3", 'tags:=["a"]')

    assert result.exit_code == 0, result.output
    (message,) = client.read("orders")
    assert result.output.strip() == message.id
    assert message.fields == {"kind": "created", "qty": 3, "tags": ["a"]}


def test_produce_takes_a_json_object(run, client):
    result = run(produce, "orders", "--json", '{"n": 1.5, "ok": true, "x": null}')

    assert result.exit_code == 0, result.output
    assert next(client.read("orders")).fields == {"n": 1.5, "ok": True, "x": None}


def test_produce_reads_json_lines_from_stdin(run, client):
    lines = "\n".join(json.dumps({"n": i}) for i in range(3)) + "\n\n"
    result = run(produce, "orders", "-", input=lines)

    assert result.exit_code == 0, result.output
    assert result.output.split() == [m.id for m in client.read("orders")]
    assert [m.fields["n"] for m in client.read("orders")] == [0, 1, 2]


@pytest.mark.parametrize(
    ("args", "stdin", "problem"),
    [
        (("noequals",), None, "is not FIELD=VALUE"),
        (("n:=nope",), None, "not valid JSON"),
        (("--json", "[1]"), None, "JSON object"),
        (("-",), '{"a": 1}\nnot json\n', "line 2 of standard input"),
        ((), None, "give FIELD=VALUE"),
    ],
)
def test_produce_explains_malformed_input(run, r, args, stdin, problem):
    result = run(produce, "orders", *args, input=stdin)

    assert result.exit_code == 2
    assert problem in result.output
    assert "Traceback" not in result.output
    assert r.xlen("orders") == 0


def test_errors_are_one_line_on_stderr_without_a_traceback(run):
    result = run(produce, "sw:control", "a=b")

    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: stream name 'sw:control'")
    assert len(result.output.strip().splitlines()) == 1


def test_consume_prints_and_acks_the_requested_number(run, client):
    client.produce_batch("orders", [{"n": i} for i in range(4)])

    result = run(consume, "orders", "-g", "g", "-c", "cli", "--from", "0", "-n", "3")

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["n=0", "n=1", "n=2"]
    assert client.pending("orders", "g") == []
    rest = run(consume, "orders", "-g", "g", "-c", "cli", "-n", "1", "--json")
    record = json.loads(rest.output)
    assert record["fields"] == {"n": 3}
    assert record["delivery_count"] == 1


def test_consume_refuses_a_bad_start_and_a_bad_duration(run):
    bad_start = run(consume, "orders", "-g", "g", "--from", "yesterday", "-n", "1")
    assert bad_start.exit_code == 1
    assert "neither a stream ID nor a time" in bad_start.output

    bad_idle = run(consume, "orders", "-g", "g", "--claim-idle", "soon", "-n", "1")
    assert bad_idle.exit_code == 2
    assert "ms, s, m, h, d, w" in bad_idle.output


def test_tail_from_a_position_prints_json_lines(run, client):
    client.produce("orders", {"n": 1})
    second = client.produce("orders", {"blob": b"\x00\x01", "n": 2})

    result = run(tail, "orders", "--from", second, "-n", "1", "--json")

    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["id"] == second
    assert record["fields"] == {"blob": {"base64": "AAE="}, "n": 2}


def test_ctrl_c_stops_a_consumer_gracefully_and_restores_the_handler(run, client, r):
    client.produce("orders", {"n": 1})
    default = signal.getsignal(signal.SIGINT)

    def read_and_acked():
        groups = r.xinfo_groups("orders") if r.exists("orders") else []
        return [(g["entries-read"], g["pending"]) for g in groups] == [(1, 0)]

    def interrupt_once_listening():
        wait_for(lambda: signal.getsignal(signal.SIGINT) is not default)
        try:
            wait_for(read_and_acked)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_listening)
    interrupter.start()
    result = run(consume, "orders", "-g", "g", "--from", "0")
    interrupter.join()

    assert result.exit_code == 0, result.output
    assert result.output.split(" ", 1)[1].strip() == "n=1"
    assert signal.getsignal(signal.SIGINT) is default

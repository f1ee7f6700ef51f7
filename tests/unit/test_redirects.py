"""Which replies are redirections, and how a redirected effect is sent again."""

import pytest
import redis.exceptions

from streamweaver.client import _redirects as rd
from streamweaver.client._protocol import Batch, Call, Packed
from streamweaver.client._resp import pack_command

ASK = redis.exceptions.AskError("3999 127.0.0.1:7001")
MOVED = redis.exceptions.MovedError("3999 127.0.0.1:7002")
TRYAGAIN = redis.exceptions.TryAgainError("TRYAGAIN keys are split")
REFUSED = redis.exceptions.ResponseError("WRONGTYPE not a stream")


def test_ask_moved_and_tryagain_are_redirections_other_errors_are_not():
    assert [rd.is_redirect(r) for r in (ASK, MOVED, TRYAGAIN, REFUSED, b"1-0")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_only_an_ask_names_a_node_to_send_asking_to():
    assert rd.ask_target(ASK) == "127.0.0.1:7001"
    assert rd.ask_target(MOVED) is None  # a MOVED is an AskError subclass
    assert rd.ask_target(TRYAGAIN) is None


def test_a_moved_refreshes_the_map_and_a_tryagain_pauses():
    assert rd.settle_action([ASK]) == (False, False)
    assert rd.settle_action([ASK, MOVED]) == (True, False)
    assert rd.settle_action([TRYAGAIN]) == (False, True)


def test_the_tryagain_pause_grows_and_is_capped():
    pauses = [rd.tryagain_pause_s(n) for n in range(8)]
    assert pauses == sorted(pauses)
    assert pauses[0] == rd.TRYAGAIN_PAUSE_S
    assert pauses[-1] == rd.TRYAGAIN_PAUSE_MAX_S


def test_redirected_commands_of_a_batch_are_grouped_by_where_they_go():
    replies = [b"1-0", ASK, MOVED, ASK, TRYAGAIN]
    again = rd.redirected_indices(replies)
    assert again == [1, 2, 3, 4]
    assert rd.by_target(again, replies) == {"127.0.0.1:7001": [1, 3], None: [2, 4]}


def test_a_call_is_sent_after_asking_and_its_error_is_raised():
    call = Call(("XADD", "s", "*", "a", "1"), "s")
    sent = rd.with_asking(call)
    assert sent == Batch((rd.ASKING, call))
    assert rd.from_asking(call, [b"OK", b"1-0"]) == b"1-0"
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        rd.from_asking(call, [b"OK", REFUSED])


def test_each_command_of_a_pipeline_gets_its_own_asking():
    first, second = Call(("XLEN", "s"), "s"), Call(("XLEN", "t"), "t")
    sent = rd.with_asking(Batch((first, second)))
    assert sent.calls == (rd.ASKING, first, rd.ASKING, second)
    assert rd.from_asking(Batch((first, second)), [b"OK", 1, b"OK", REFUSED]) == [
        1,
        REFUSED,
    ]


def test_a_transaction_is_asked_for_once_around_multi_and_exec():
    calls = (Call(("XADD", "s", "*", "a", "1"), "s"), Call(("XACK", "s", "g", "1-0")))
    sent = rd.with_asking(Batch(calls, transaction=True))
    assert [c.args[0] for c in sent.calls] == [
        "ASKING",
        "MULTI",
        "XADD",
        "XACK",
        "EXEC",
    ]
    assert not sent.transaction
    replies = [b"OK", b"OK", b"QUEUED", b"QUEUED", [b"2-0", 1]]
    assert rd.from_asking(Batch(calls, transaction=True), replies) == [b"2-0", 1]
    aborted = [b"OK", b"OK", b"QUEUED", REFUSED, redis.exceptions.ExecAbortError()]
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        rd.from_asking(Batch(calls, transaction=True), aborted)


def test_a_packed_request_is_wrapped_in_one_transaction_after_asking():
    payload = pack_command(("XACK", "s", "g", "1-0")) + pack_command(("XLEN", "s"))
    sent = rd.with_asking(Packed(payload, 2, "s"))
    assert sent.replies == 5
    assert sent.payload.startswith(pack_command(("ASKING",)) + pack_command(("MULTI",)))
    assert sent.payload.endswith(payload + pack_command(("EXEC",)))
    packed = Packed(payload, 2, "s")
    assert rd.from_asking(packed, [b"OK", b"OK", b"QUEUED", b"QUEUED", [1, 5]]) == [
        1,
        5,
    ]
    aborted = [b"OK", b"OK", b"QUEUED", REFUSED, redis.exceptions.ExecAbortError()]
    assert rd.from_asking(packed, aborted)[1] is REFUSED


def test_redirected_xadds_are_sent_again_as_calls_in_order():
    messages = [[b"n", b"0"], [b"n", b"1"], [b"n", b"2"]]
    op = rd.xadd_again("s", messages, [b"1-0", ASK, MOVED])
    batch = next(op)
    assert [c.args for c in batch.calls] == [
        ("XADD", "s", "*", b"n", b"1"),
        ("XADD", "s", "*", b"n", b"2"),
    ]
    with pytest.raises(StopIteration) as done:
        op.send([b"2-0", b"3-0"])
    assert done.value.value == [b"1-0", b"2-0", b"3-0"]


def test_xadds_without_a_redirection_are_not_sent_again():
    op = rd.xadd_again("s", [[b"n", b"0"]], [b"1-0"])
    with pytest.raises(StopIteration) as done:
        next(op)
    assert done.value.value == [b"1-0"]

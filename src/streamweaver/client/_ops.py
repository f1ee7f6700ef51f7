"""The client's operations, written once as sans-IO generators."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis.exceptions

from streamweaver.client._protocol import (
    Call,
    Channel,
    Entry,
    Op,
    PendingEntry,
    Receive,
    Release,
    Send,
    parse_entries,
    parse_pending,
    parse_stream_reply,
    translate_reply_error,
)
from streamweaver.client._redirects import xadd_again
from streamweaver.client._resp import pack_xadds
from streamweaver.client.codec import (
    EncodedMessage,
    Value,
    encode_flat,
    encode_message,
)
from streamweaver.client.ids import MAX_PART, next_id
from streamweaver.errors import GroupExistsError, MessageTooLargeError

PACKED_BATCH_MAX = 10_000
"""Messages whose replies are read together, so a huge batch stays bounded."""

SEND_SLICE = 250
"""Messages per write within a batch."""

MessageInput = Mapping[str, Value] | EncodedMessage


def prepare(
    stream: str,
    message: MessageInput,
    headers: Mapping[str, str] | None,
    max_bytes: int,
) -> EncodedMessage:
    """Encode a message (unless already encoded) and enforce the size limit."""
    if isinstance(message, EncodedMessage):
        encoded = message.with_headers(headers) if headers else message
    else:
        encoded = encode_message(message, headers)
    size = encoded.size_bytes
    if size > max_bytes:
        raise MessageTooLargeError(
            f"a message for {stream!r} is {size} bytes encoded, over the limit of "
            f"{max_bytes} bytes (max_message_bytes)",
            stream=stream,
        )
    return encoded


def ping() -> Op[None]:
    yield Call(("PING",))


def produce(stream: str, message: EncodedMessage) -> Op[str]:
    reply = yield Call(("XADD", stream, "*", *message.flat), stream=stream)
    return reply.decode()


def produce_batch(stream: str, messages: list[Sequence[bytes]]) -> Op[list[str]]:
    # Sent in slices on one connection and read back at the end: Redis adds one
    # slice while the next is packed.
    channel = Channel()
    ids: list[str] = []
    try:
        for first in range(0, len(messages), PACKED_BATCH_MAX):
            chunk = messages[first : first + PACKED_BATCH_MAX]
            for start in range(0, len(chunk), SEND_SLICE):
                payload = pack_xadds(stream, chunk[start : start + SEND_SLICE])
                yield Send(channel, payload, stream)
            replies = yield Receive(channel, len(chunk), stream)
            replies = yield from xadd_again(stream, chunk, replies)
            failed = [
                r for r in replies if isinstance(r, redis.exceptions.ResponseError)
            ]
            if failed:
                error = translate_reply_error(failed[0], stream, None, "XADD")
                added = len(ids) + len(chunk) - len(failed)
                error.args = (
                    f"{error} ({added} of {len(messages)} messages were added)",
                )
                raise error from failed[0]
            ids.extend(reply.decode() for reply in replies)
    finally:
        yield Release(channel)
    return ids


def create_group(
    stream: str, group: str, last_id: str, *, mkstream: bool, exist_ok: bool
) -> Op[bool]:
    args = ("XGROUP", "CREATE", stream, group, last_id, *(["MKSTREAM"] * mkstream))
    try:
        yield Call(args, stream, group)
    except GroupExistsError:
        if exist_ok:
            return False
        raise
    return True


def delete_group(stream: str, group: str) -> Op[bool]:
    reply = yield Call(("XGROUP", "DESTROY", stream, group), stream, group)
    return bool(reply)


def pending(
    stream: str, group: str, consumer: str | None, count: int
) -> Op[list[PendingEntry]]:
    args = ("XPENDING", stream, group, "-", "+", count, *([consumer] * bool(consumer)))
    reply = yield Call(args, stream, group)
    return parse_pending(reply)


def read_range(stream: str, start: str, end: str, count: int) -> Op[list[Entry]]:
    reply = yield Call(("XRANGE", stream, start, end, "COUNT", count), stream)
    return parse_entries(reply)


def last_entry_id(stream: str) -> Op[str]:
    reply = yield Call(("XREVRANGE", stream, "+", "-", "COUNT", 1), stream)
    entries = parse_entries(reply)
    return entries[0][0] if entries else "0-0"


def read_after(
    stream: str, after_id: str, count: int, block_ms: int | None
) -> Op[list[Entry]]:
    block = ("BLOCK", block_ms) if block_ms is not None else ()
    args = ("XREAD", "COUNT", count, *block, "STREAMS", stream, after_id)
    reply = yield Call(args, stream)
    return parse_stream_reply(reply)


@dataclass(slots=True)
class RangeCursor:
    """Pages through ``[start, end]`` of a stream, at most ``limit`` entries."""

    stream: str
    start: str
    end: str
    limit: int | None
    page_size: int
    done: bool = False

    def __post_init__(self) -> None:
        self.done = self.limit == 0

    def next_page(self) -> Op[list[Entry]]:
        """Read the next page; sets ``done`` when nothing follows."""
        want = self.page_size if self.limit is None else min(self.limit, self.page_size)
        entries = yield from read_range(self.stream, self.start, self.end, want)
        if self.limit is not None:
            self.limit -= len(entries)
        last = entries[-1][0] if entries else None
        self.done = (
            len(entries) < want or self.limit == 0 or last == f"{MAX_PART}-{MAX_PART}"
        )
        if last is not None and not self.done:
            self.start = next_id(last)
        return entries


def encode_all(
    stream: str, messages: Iterable[MessageInput], max_bytes: int
) -> list[Sequence[bytes]]:
    """Encode and check every message of a batch before anything is sent."""
    encoded: list[Sequence[bytes]] = []
    append = encoded.append
    for message in messages:
        # prepare() inlined: this loop runs for every message of every batch
        flat = (
            message.flat
            if isinstance(message, EncodedMessage)
            else encode_flat(message)
        )
        if sum(map(len, flat)) > max_bytes:
            prepare(stream, EncodedMessage(flat), None, max_bytes)  # raises
        append(flat)
    return encoded

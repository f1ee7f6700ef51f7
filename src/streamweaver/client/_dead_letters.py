"""Moving a message to its stream's dead letters, atomically, with the reason."""

from __future__ import annotations

import time
from collections.abc import Sequence

from streamweaver import keys
from streamweaver.client import headers as hdr
from streamweaver.client._protocol import Batch, Call
from streamweaver.client.codec import EncodedMessage


def dead_letter_move(
    stream: str,
    group: str,
    consumer: str,
    entry_id: str,
    flat: Sequence[bytes],
    *,
    reason: str,
    deliveries: int | None,
) -> Batch:
    """MULTI: XADD the entry with its ``sw:dlq-*`` headers to ``<stream>:dlq``, XACK."""
    target = keys.dead_letter_stream(stream)
    message = EncodedMessage(flat).with_headers({
        hdr.DLQ_REASON: reason,
        hdr.DLQ_STREAM: stream,
        hdr.DLQ_ID: entry_id,
        hdr.DLQ_GROUP: group,
        hdr.DLQ_CONSUMER: consumer,
        hdr.DLQ_DELIVERIES: str(deliveries or 0),
        hdr.DLQ_AT_MS: str(time.time_ns() // 1_000_000),
    })  # fmt: skip
    return Batch(
        (
            Call(("XADD", target, "*", *message.flat), target),
            Call(("XACK", stream, group, entry_id), stream),
        ),
        transaction=True,
    )

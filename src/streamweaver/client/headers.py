"""Names of the header fields StreamWeaver writes into stream entries.

Every field whose name starts with :data:`PREFIX` belongs to StreamWeaver; user
fields may not use it. Header values are always plain UTF-8 text. The meaning
of each header is specified in ``docs/protocol.md``.
"""

from __future__ import annotations

PREFIX = "sw:"

TYPES = "sw:types"
"""JSON object naming the encoding of every field that is not a plain string."""

ORIGIN_ID = "sw:origin-id"
"""The ID a message had before it was re-appended under a new ID (replays)."""

ORIGIN_STREAM = "sw:origin-stream"
"""The stream a re-appended message originally came from."""

KEY = "sw:key"
"""The message key a producer routed by (partitioned streams), as UTF-8 text."""

ORIGIN_PARTITION = "sw:origin-partition"
"""The partition number a message of a logical stream was replayed from (decimal)."""

DLQ_REASON = "sw:dlq-reason"
"""Why the message was dead-lettered, in words."""

DLQ_STREAM = "sw:dlq-stream"
"""The stream the dead-lettered message was read from."""

DLQ_ID = "sw:dlq-id"
"""The ID of the dead-lettered message in :data:`DLQ_STREAM`."""

DLQ_GROUP = "sw:dlq-group"
"""The consumer group that gave up on the message."""

DLQ_CONSUMER = "sw:dlq-consumer"
"""The consumer that moved the message to the dead-letter stream."""

DLQ_DELIVERIES = "sw:dlq-deliveries"
"""How many times the group delivered the message before giving up (decimal)."""

DLQ_AT_MS = "sw:dlq-at-ms"
"""When the message was dead-lettered, in Unix epoch milliseconds (decimal)."""

DEAD_LETTER_HEADERS = (
    DLQ_REASON,
    DLQ_STREAM,
    DLQ_ID,
    DLQ_GROUP,
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_AT_MS,
)
"""The headers every dead-lettered message carries, in the order written."""


def is_header(name: str | bytes) -> bool:
    """Tell whether a field name is a StreamWeaver header rather than user data."""
    if isinstance(name, bytes):
        return name.startswith(b"sw:")
    return name.startswith(PREFIX)

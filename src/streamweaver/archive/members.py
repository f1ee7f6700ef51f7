"""How a segment is written as a member of the segment index's sorted set.

A member is ``<ms>-<seq> <json>``: the first ID zero-padded to 20 digits per
part, so that segments starting in the same millisecond (equal scores) sort
in ID order, then the segment's meta as compact JSON.
"""

from __future__ import annotations

import json

from streamweaver import keys
from streamweaver.archive import layout
from streamweaver.archive.segment import SegmentMeta
from streamweaver.errors import ArchiveError, StreamWeaverError


def encode_member(meta: SegmentMeta) -> bytes:
    """The sorted-set member for a segment."""
    ms, seq = layout.parse_id(meta.first_id)
    body = {
        "name": meta.name,
        "first_id": meta.first_id,
        "last_id": meta.last_id,
        "count": meta.count,
        "size_bytes": meta.size_bytes,
        "sha256": meta.sha256,
        "created_ms": meta.created_ms,
    }
    return f"{ms:020d}-{seq:020d} {json.dumps(body, separators=(',', ':'))}".encode()


def decode_member(stream: str, member: bytes) -> SegmentMeta:
    """The segment a sorted-set member of ``stream``'s index describes."""
    try:
        body = json.loads(member.split(b" ", 1)[1])
        first, last = (
            layout.parse_id(body["first_id"]),
            layout.parse_id(body["last_id"]),
        )
        return SegmentMeta(
            stream=stream,
            name=body["name"],
            first_id=body["first_id"],
            last_id=body["last_id"],
            first_ms=first[0],
            last_ms=last[0],
            count=int(body["count"]),
            size_bytes=int(body["size_bytes"]),
            sha256=body["sha256"],
            created_ms=int(body["created_ms"]),
        )
    except (IndexError, KeyError, ValueError, StreamWeaverError) as exc:
        raise ArchiveError(
            f"the segment index of stream {stream!r} holds a member this version "
            f"cannot read: {member[:80]!r}",
            stream=stream,
        ) from exc


def stream_of_index_key(key: str) -> str | None:
    """The stream whose segment index ``key`` is, None if it is no such key."""
    head = f"{keys.PREFIX}{{"
    if not key.startswith(head):
        return None
    candidates = []
    if key.endswith("}:segments"):
        candidates.append(key[len(head) : -len("}:segments")])
    tagged = key.find("}:segments:")
    if tagged >= 0:
        candidates.append(key[tagged + len("}:segments:") :])
    for stream in candidates:
        if stream and keys.segment_index(stream) == key:
            return stream
    return None

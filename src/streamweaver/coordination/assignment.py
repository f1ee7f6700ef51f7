"""Which live instance should own which stream: bounded-load rendezvous hashing.

Every instance computes the same answer from the same inputs, with no
coordinator. Each stream prefers the instance that ranks highest for it
(rendezvous hashing, so a change of membership moves few streams), but no
instance takes more than ``ceil(streams / instances)``, which keeps the load
within one stream of even. Leases, not this function, guarantee that a stream
has at most one owner while views of the membership differ.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable


def assign(streams: Iterable[str], instances: Iterable[str]) -> dict[str, str]:
    """Map each stream to the instance that should own it."""
    members = sorted(set(instances))
    names = sorted(set(streams))
    if not members:
        return {}
    capacity = math.ceil(len(names) / len(members))
    load = dict.fromkeys(members, 0)
    owners = {}
    for stream in names:
        for instance in sorted(members, key=lambda i: _rank(stream, i), reverse=True):
            if load[instance] < capacity:
                owners[stream] = instance
                load[instance] += 1
                break
    return owners


def _rank(stream: str, instance: str) -> int:
    digest = hashlib.blake2b(
        f"{stream}\0{instance}".encode("utf-8", "surrogateescape"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")

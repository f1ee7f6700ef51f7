"""Encode and decode speed of archive segments.

Generates messages of 200 bytes (four fields, names and values counted) in the
shape redis-py/hiredis returns XRANGE replies, encodes them into segments of
``--segment`` messages as the archiver does, then decodes them back to Python
entries (what replay uses) and to Arrow tables. Prints messages/s and MB/s of
message bytes, and the size on disk.

    uv run python bench/bench_segment.py [--messages 1000000] [--segment 100000]
"""

from __future__ import annotations

import argparse
import random
import time

from streamweaver.archive.segment import decode_segment, encode_segment, iter_entries

MESSAGE_BYTES = 200
BASE_MS = 1_714_564_800_000


def make_entries(count: int, seed: int = 7) -> list[list]:
    """``count`` raw XRANGE entries of exactly MESSAGE_BYTES field bytes each."""
    rng = random.Random(seed)
    words = [rng.randbytes(6).hex().encode() for _ in range(5000)]
    entries = []
    for n in range(count):
        fields = [
            b"order_id",
            str(10_000_000 + n).encode(),
            b"customer",
            rng.choice(words),
            b"amount",
            f"{rng.randrange(100_000) / 100:.2f}".encode(),
            b"payload",
        ]
        used = sum(map(len, fields))
        payload = b" ".join(rng.choices(words, k=20))[: MESSAGE_BYTES - used]
        fields.append(payload.ljust(MESSAGE_BYTES - used, b"."))
        entries.append([f"{BASE_MS + n // 8}-{n % 8}".encode(), fields])
    return entries


def report(label: str, count: int, seconds: float) -> None:
    megabytes = count * MESSAGE_BYTES / 1e6
    print(
        f"{label:<26} {seconds:7.2f} s  {count / seconds:>11,.0f} msg/s  "
        f"{megabytes / seconds:8.1f} MB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--segment", type=int, default=100_000)
    args = parser.parse_args()

    entries = make_entries(args.messages)
    chunks = [
        entries[i : i + args.segment] for i in range(0, len(entries), args.segment)
    ]
    print(
        f"{args.messages:,} messages of {MESSAGE_BYTES} bytes in segments of "
        f"{args.segment:,}"
    )

    started = time.perf_counter()
    segments = [encode_segment("bench:orders", chunk)[0] for chunk in chunks]
    report("encode", args.messages, time.perf_counter() - started)

    started = time.perf_counter()
    decoded = sum(1 for data in segments for _entry in iter_entries(data))
    report("decode to Python entries", decoded, time.perf_counter() - started)

    started = time.perf_counter()
    rows = sum(decode_segment(data).num_rows for data in segments)
    report("decode to Arrow", rows, time.perf_counter() - started)

    stored, raw = sum(map(len, segments)), args.messages * MESSAGE_BYTES
    print(
        f"stored {stored / 1e6:.1f} MB for {raw / 1e6:.1f} MB of messages "
        f"({stored / raw:.0%})"
    )


if __name__ == "__main__":
    main()

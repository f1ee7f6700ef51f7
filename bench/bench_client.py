"""Client speed: produce_batch and group consume+ack against raw redis-py.

On one embedded Valkey, in one run, ``--reps`` repetitions of:

(a) producing ``--messages`` messages of 200 bytes (four text fields, names and
    values counted) in batches of ``--batch``: ``Client.produce_batch`` against a
    redis-py pipeline (transaction=False) of XADD;
(b) consuming them in a consumer group and acknowledging each: the client's
    consumer (``for msg in client.consume(...): msg.ack()``) against a raw loop
    of XREADGROUP COUNT ``--batch`` followed by one XACK of the batch.

The sides of a repetition run back to back, in alternating order, so they meet
the same load on a shared machine. Printed per side: the median rate, the
median CPU time per message of this process and of the server (from INFO cpu),
and the median ratio to raw redis-py of back-to-back runs (targets: produce >=
1.5x, consume >= 1.0x). Consuming is also timed with every message's fields
decoded. ``--alternatives`` also times a server-side Lua loop of XADDs, the
other way to batch that was measured.

    uv run python bench/bench_client.py [--messages 20000] [--reps 25]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable

import redis

from streamweaver.client import Client
from streamweaver.client._resp import pack_command
from streamweaver.embedded import EmbeddedServer

MESSAGE_BYTES = 200

LUA_XADDS = """
local ids = {}
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return ids
"""


def make_messages(count: int, seed: int = 7) -> list[dict[str, str]]:
    """``count`` messages of exactly MESSAGE_BYTES bytes of names and values."""
    rng = random.Random(seed)
    words = [rng.randbytes(5).hex() for _ in range(2000)]
    messages = []
    for n in range(count):
        fields = {
            "order_id": str(10_000_000 + n),
            "customer": rng.choice(words),
            "amount": f"{rng.randrange(100_000) / 100:.2f}",
        }
        used = sum(len(k) + len(v) for k, v in fields.items()) + len("payload")
        payload = " ".join(rng.choices(words, k=20))[: MESSAGE_BYTES - used]
        fields["payload"] = payload.ljust(MESSAGE_BYTES - used, ".")
        messages.append(fields)
    return messages


def batches(messages: list, size: int) -> list[list]:
    return [messages[i : i + size] for i in range(0, len(messages), size)]


# -- (a) producing ------------------------------------------------------------


def produce_raw(r: redis.Redis, stream: str, chunks: list[list]) -> None:
    for chunk in chunks:
        pipe = r.pipeline(transaction=False)
        for fields in chunk:
            pipe.xadd(stream, fields)
        pipe.execute()


def produce_client(client: Client, stream: str, chunks: list[list]) -> None:
    for chunk in chunks:
        client.produce_batch(stream, chunk)


def produce_lua(r: redis.Redis, sha: bytes, stream: str, chunks: list[list]) -> None:
    pool = r.connection_pool
    for chunk in chunks:
        args = [b"EVALSHA", sha, b"1", stream.encode()]
        for fields in chunk:
            args.append(b"%d" % (2 * len(fields)))
            for name, value in fields.items():
                args += (name.encode(), value.encode())
        conn = pool.get_connection()
        try:
            conn.send_packed_command([pack_command(args)])
            conn.read_response()
        finally:
            pool.release(conn)


# -- (b) consuming ------------------------------------------------------------


def consume_raw(r: redis.Redis, stream: str, group: str, count: int, batch: int) -> int:
    seen = 0
    while seen < count:
        reply = r.xreadgroup(group, "raw", {stream: ">"}, count=batch)
        if not reply:
            break
        ids = [entry_id for entry_id, _ in reply[0][1]]
        r.xack(stream, group, *ids)
        seen += len(ids)
    return seen


def consume_client(
    client: Client,
    stream: str,
    group: str,
    count: int,
    batch: int,
    *,
    read_fields: bool = False,
) -> int:
    seen = 0
    consumer = client.consume(stream, group, "client", create_group=False, count=batch)
    with consumer:
        for message in consumer:
            if read_fields:
                message.fields  # noqa: B018 - decoding is what is measured
            message.ack()
            seen += 1
            if seen == count:
                break
    return seen


# -- the run --------------------------------------------------------------------


def server_version(r: redis.Redis) -> str:
    info = r.info("server")
    name = "Valkey" if "valkey_version" in info else "Redis"
    return f"{name} {info.get('valkey_version') or info['redis_version']}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Side:
    """One way of doing the work, with what each repetition of it cost."""

    def __init__(self, label: str, run: Callable[[str], object]) -> None:
        self.label = label
        self.run = run
        self.wall_s: list[float] = []
        self.client_cpu_s: list[float] = []
        self.server_cpu_s: list[float] = []

    def measure(self, r: redis.Redis, key: str) -> None:
        server_before = server_cpu_s(r)
        cpu_before = time.process_time()
        started = time.perf_counter()
        self.run(key)
        self.wall_s.append(time.perf_counter() - started)
        self.client_cpu_s.append(time.process_time() - cpu_before)
        self.server_cpu_s.append(server_cpu_s(r) - server_before)

    def report(self, count: int, baseline: Side | None = None) -> str:
        rate = count / statistics.median(self.wall_s)
        client_us = statistics.median(self.client_cpu_s) / count * 1e6
        server_us = statistics.median(self.server_cpu_s) / count * 1e6
        line = (
            f"    {self.label:<34} {rate:>9,.0f} msg/s   CPU per message: "
            f"client {client_us:4.2f} us, server {server_us:4.2f} us"
        )
        if baseline is not None:
            line += f"   {paired_ratio(baseline, self):.2f}x"
        return line


def server_cpu_s(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def paired_ratio(baseline: Side, side: Side) -> float:
    """Median over repetitions of baseline time / side time (run back to back)."""
    return statistics.median(
        base / mine for base, mine in zip(baseline.wall_s, side.wall_s, strict=True)
    )


def compare(
    r: redis.Redis, sides: list[Side], reps: int, key: Callable[[int, Side], str]
) -> None:
    for rep in range(reps):
        order = sides if rep % 2 == 0 else sides[::-1]
        for side in order:
            side.measure(r, key(rep, side))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--alternatives", action="store_true")
    args = parser.parse_args()

    messages = make_messages(args.messages)
    chunks = batches(messages, args.batch)
    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedServer(data_dir, appendonly=False)
        with server, Client(server.url) as client:
            r = redis.Redis(host=server.host, port=server.port)
            print(
                f"machine: {os.cpu_count()} cores, {cpu_model()}; "
                f"Python {platform.python_version()}; {server_version(r)}; "
                f"redis-py {redis.__version__}"
            )
            print(
                f"{args.messages:,} messages of {MESSAGE_BYTES} bytes, batches of "
                f"{args.batch}, {args.reps} repetitions; medians, and the median "
                "ratio of back-to-back runs"
            )
            run_produce(r, client, chunks, args)
            run_consume(r, client, chunks, args)
            r.close()


def run_produce(r: redis.Redis, client: Client, chunks: list, args) -> None:
    def fresh(rep: int, side: Side) -> str:
        r.delete("bench:produce")
        return "bench:produce"

    raw = Side("raw redis-py pipeline of XADD", lambda s: produce_raw(r, s, chunks))
    mine = Side("Client.produce_batch", lambda s: produce_client(client, s, chunks))
    sides = [raw, mine]
    if args.alternatives:
        sha = r.script_load(LUA_XADDS).encode()
        sides.append(
            Side(
                "(alternative) Lua loop of XADD",
                lambda s: produce_lua(r, sha, s, chunks),
            )
        )
    compare(r, sides, args.reps, fresh)
    assert r.xlen("bench:produce") == args.messages
    print("(a) produce (target >= 1.5x)")
    print(raw.report(args.messages))
    for side in sides[1:]:
        print(side.report(args.messages, raw))


def run_consume(r: redis.Redis, client: Client, chunks: list, args) -> None:
    stream, n, batch = "bench:consume", args.messages, args.batch

    def new_group(rep: int, side: Side) -> str:
        group = f"{side.label}-{rep}"
        r.xgroup_create(stream, group, id="0")
        return group

    raw = Side(
        "raw XREADGROUP + XACK loop", lambda g: consume_raw(r, stream, g, n, batch)
    )
    mine = Side(
        "Client.consume, msg.ack()",
        lambda g: consume_client(client, stream, g, n, batch),
    )
    reading = Side(
        "the same, reading msg.fields too",
        lambda g: consume_client(client, stream, g, n, batch, read_fields=True),
    )
    r.delete(stream)
    produce_client(client, stream, chunks)
    compare(r, [raw, mine, reading], args.reps, new_group)
    for group in r.xinfo_groups(stream):
        assert group["pending"] == 0, group
        assert group["entries-read"] == n, group
    print("(b) consume + ack (target >= 1.0x)")
    print(raw.report(n))
    print(mine.report(n, raw))
    print(reading.report(n, raw))


if __name__ == "__main__":
    main()

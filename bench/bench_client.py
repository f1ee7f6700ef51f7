"""Client speed: produce_batch and group consume+ack against raw redis-py.

On one embedded Valkey, in one run, ``--reps`` repetitions of:

(a) producing ``--messages`` messages of 200 bytes (four text fields, names and
    values counted) in batches of ``--batch``: ``Client.produce_batch`` against a
    redis-py pipeline (transaction=False) of XADD;
(b) consuming them in a consumer group and acknowledging each: the client's
    consumer (``for msg in client.consume(...): msg.ack()``) against a raw loop
    of XREADGROUP COUNT ``--batch`` followed by one XACK of the batch.

The two sides of a repetition run back to back, in alternating order, so both
meet the same load on a shared machine; each side's median rate is printed,
with the median of the per-repetition ratios (targets: produce >= 1.5x,
consume >= 1.0x). ``--alternatives`` also times a server-side Lua loop of
XADDs, the other way to batch that was measured.

    uv run python bench/bench_client.py [--messages 20000] [--reps 15]
"""

from __future__ import annotations

import argparse
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


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


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
    client: Client, stream: str, group: str, count: int, batch: int
) -> int:
    seen = 0
    consumer = client.consume(stream, group, "client", create_group=False, count=batch)
    with consumer:
        for message in consumer:
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


def rate(count: int, seconds: list[float]) -> float:
    return count / statistics.median(seconds)


def paired_ratio(times: dict[str, list[float]]) -> float:
    """Median over repetitions of raw time / client time."""
    return statistics.median(
        raw / mine for raw, mine in zip(times["raw"], times["client"], strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--alternatives", action="store_true")
    args = parser.parse_args()

    messages = make_messages(args.messages)
    chunks = batches(messages, args.batch)
    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedServer(data_dir, appendonly=False)
        with server, Client(server.url) as client:
            r = redis.Redis(host=server.host, port=server.port)
            import os

            print(
                f"machine: {os.cpu_count()} cores, {cpu_model()}; "
                f"Python {platform.python_version()}; {server_version(r)}; "
                f"redis-py {redis.__version__}"
            )
            print(
                f"{args.messages:,} messages of {MESSAGE_BYTES} bytes, batches of "
                f"{args.batch}, {args.reps} repetitions (median)"
            )
            run_produce(r, client, chunks, args)
            run_consume(r, client, chunks, args)
            r.close()


def run_produce(r: redis.Redis, client: Client, chunks: list, args) -> None:
    times: dict[str, list[float]] = {"raw": [], "client": [], "lua": []}
    sha = r.script_load(LUA_XADDS).encode() if args.alternatives else b""
    sides = {
        "raw": lambda s: produce_raw(r, s, chunks),
        "client": lambda s: produce_client(client, s, chunks),
    }
    if args.alternatives:
        sides["lua"] = lambda s: produce_lua(r, sha, s, chunks)
    for rep in range(args.reps):
        order = list(sides) if rep % 2 == 0 else list(reversed(sides))
        for name in order:
            r.delete("bench:produce")
            times[name].append(timed(lambda name=name: sides[name]("bench:produce")))
            assert r.xlen("bench:produce") == args.messages
    raw = rate(args.messages, times["raw"])
    mine = rate(args.messages, times["client"])
    print("(a) produce")
    print(f"    raw redis-py pipeline XADD   {raw:>10,.0f} msg/s")
    print(f"    Client.produce_batch         {mine:>10,.0f} msg/s")
    if args.alternatives:
        lua = rate(args.messages, times["lua"])
        print(f"    (alternative) Lua XADD loop  {lua:>10,.0f} msg/s  {lua / raw:.2f}x")
    ratio = paired_ratio(times)
    print(f"    ratio client / raw           {ratio:10.2f}x  (target >= 1.5x)")


def run_consume(r: redis.Redis, client: Client, chunks: list, args) -> None:
    times: dict[str, list[float]] = {"raw": [], "client": []}
    sides = {
        "raw": lambda g: consume_raw(r, "bench:consume", g, args.messages, args.batch),
        "client": lambda g: consume_client(
            client, "bench:consume", g, args.messages, args.batch
        ),
    }
    r.delete("bench:consume")
    produce_client(client, "bench:consume", chunks)
    for rep in range(args.reps):
        order = list(sides) if rep % 2 == 0 else list(reversed(sides))
        for name in order:
            group = f"{name}-{rep}"
            r.xgroup_create("bench:consume", group, id="0")
            started = time.perf_counter()
            seen = sides[name](group)
            times[name].append(time.perf_counter() - started)
            assert seen == args.messages, seen
            assert r.xpending("bench:consume", group)["pending"] == 0
    raw = rate(args.messages, times["raw"])
    mine = rate(args.messages, times["client"])
    print("(b) consume + ack")
    print(f"    raw XREADGROUP + XACK loop   {raw:>10,.0f} msg/s")
    print(f"    Client.consume + msg.ack()   {mine:>10,.0f} msg/s")
    ratio = paired_ratio(times)
    print(f"    ratio client / raw           {ratio:10.2f}x  (target >= 1.0x)")


if __name__ == "__main__":
    main()

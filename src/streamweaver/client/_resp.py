"""Hand-encoded RESP for batches, where redis-py's per-command cost dominates.

Packing a thousand XADDs with redis-py's pipeline spends most of its time in
per-argument Python calls; building the request here with one ``%`` format per
message and one ``join`` is several times faster. Values are length-prefixed,
so binary data needs no escaping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def pack_command(args: Sequence[bytes | str | int]) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    for arg in args:
        if type(arg) is str:
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def pack_ids_command(head: Sequence[bytes | str | int], ids: Sequence[str]) -> bytes:
    """A command whose last arguments are stream IDs (ASCII), such as XACK."""
    packed_head = pack_command(head)
    count = b"*%d" % (len(head) + len(ids))
    body = "".join([f"${len(i)}\r\n{i}\r\n" for i in ids]).encode()
    return count + packed_head[packed_head.index(b"\r\n") :] + body


def pack_commands(commands: Iterable[Sequence[bytes | str | int]]) -> bytes:
    """Several commands as one pipelined request."""
    return b"".join(pack_command(args) for args in commands)


def pack_xadds(stream: str, messages: Sequence[Sequence[bytes]]) -> bytes:
    """``XADD stream * <names and values>`` for every message, as one request."""
    name = stream.encode()
    head = b"$%d\r\n%s\r\n$1\r\n*\r\n" % (len(name), name)
    # One format per message, cached by field count: a single C-level call.
    formats: dict[int, bytes] = {}
    parts: list[bytes] = []
    append = parts.append
    for flat in messages:
        size = len(flat)
        template = formats.get(size)
        if template is None:
            template = formats[size] = (
                b"*%d\r\n$4\r\nXADD\r\n" % (3 + size)
                + head.replace(b"%", b"%%")
                + _BULK * size
            )
        args: list[int | bytes] = []
        for item in flat:
            args.append(len(item))
            args.append(item)
        append(template % tuple(args))
    return b"".join(parts)


_BULK = b"$%d\r\n%s\r\n"

"""The IO half: carry out the effects of a sans-IO operation with redis-py.

Errors are translated here, at the boundary, and thrown into the operation so
it can handle the ones it expects (a group that already exists, say).
"""

from __future__ import annotations

from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.exceptions

from streamweaver.client._protocol import (
    Batch,
    Call,
    Channel,
    Effect,
    Op,
    Packed,
    Receive,
    Release,
    Send,
    translate_for,
)
from streamweaver.connection import translate
from streamweaver.errors import StreamWeaverError

T = TypeVar("T")

_CONNECTION_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.AuthenticationError,
)


def raw_replies(client: redis.Redis | redis.asyncio.Redis) -> None:
    """Drop redis-py's reply callbacks on our own client: parsers get raw RESP."""
    client.response_callbacks.clear()


def _translate(
    effect: Effect, exc: redis.exceptions.RedisError, address: str
) -> Exception:
    if isinstance(exc, redis.exceptions.ResponseError):
        error = translate_for(effect, exc)
    elif isinstance(exc, _CONNECTION_ERRORS):
        error = translate(exc, address)
    else:
        error = StreamWeaverError(f"the Redis client failed: {exc}")
    error.__cause__ = exc
    return error


def _advance(op: Op[T], reply: Any, error: Exception | None) -> tuple[bool, Any]:
    try:
        effect = op.throw(error) if error is not None else op.send(reply)
    except StopIteration as done:
        return True, done.value
    return False, effect


class SyncDriver:
    """Runs operations on a synchronous redis-py client."""

    def __init__(self, client: redis.Redis, address: str) -> None:
        self.client = client
        self.address = address

    def run(self, op: Op[T]) -> T:
        done, value = _advance(op, None, None)
        while not done:
            try:
                reply, error = self._execute(value), None
            except redis.exceptions.RedisError as exc:
                reply, error = None, _translate(value, exc, self.address)
            except BaseException:
                self._drop_channel(value)
                raise
            done, value = _advance(op, reply, error)
        return value

    def _execute(self, effect: Effect) -> Any:
        if isinstance(effect, Call):
            return self.client.execute_command(*effect.args)
        if isinstance(effect, Send | Receive | Release):
            return self._channel(effect)
        if isinstance(effect, Batch):
            pipe = self.client.pipeline(transaction=effect.transaction)
            for call in effect.calls:
                pipe.execute_command(*call.args)
            return pipe.execute(raise_on_error=effect.transaction)
        return self._packed(effect)

    def _channel(self, effect: Send | Receive | Release) -> Any:
        channel = effect.channel
        pool = self.client.connection_pool
        try:
            if isinstance(effect, Send):
                if channel.conn is None:
                    channel.conn = pool.get_connection()
                channel.conn.send_packed_command([effect.payload])
                return None
            if isinstance(effect, Receive):
                return _read_many(channel.conn, effect.replies)
        except BaseException:
            self._drop_channel(effect)
            raise
        if channel.conn is not None:
            conn, channel.conn = channel.conn, None
            pool.release(conn)
        return None

    def _drop_channel(self, effect: Effect) -> None:
        channel = getattr(effect, "channel", None)
        if isinstance(channel, Channel) and channel.conn is not None:
            conn, channel.conn = channel.conn, None
            conn.disconnect()  # replies may be left unread: the stream is unusable
            self.client.connection_pool.release(conn)

    def _packed(self, effect: Packed) -> list[Any]:
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([effect.payload])
            return _read_many(conn, effect.replies)
        except BaseException:
            conn.disconnect()  # replies may be left unread: the stream is unusable
            raise
        finally:
            pool.release(conn)


class AsyncDriver:
    """Runs operations on an asyncio redis-py client."""

    def __init__(self, client: redis.asyncio.Redis, address: str) -> None:
        self.client = client
        self.address = address

    async def run(self, op: Op[T]) -> T:
        done, value = _advance(op, None, None)
        while not done:
            try:
                reply, error = await self._execute(value), None
            except redis.exceptions.RedisError as exc:
                reply, error = None, _translate(value, exc, self.address)
            except BaseException:
                await self._drop_channel(value)
                raise
            done, value = _advance(op, reply, error)
        return value

    async def _execute(self, effect: Effect) -> Any:
        if isinstance(effect, Call):
            return await self.client.execute_command(*effect.args)
        if isinstance(effect, Send | Receive | Release):
            return await self._channel(effect)
        if isinstance(effect, Batch):
            pipe = self.client.pipeline(transaction=effect.transaction)
            for call in effect.calls:
                pipe.execute_command(*call.args)
            return await pipe.execute(raise_on_error=effect.transaction)
        return await self._packed(effect)

    async def _channel(self, effect: Send | Receive | Release) -> Any:
        channel = effect.channel
        pool = self.client.connection_pool
        try:
            if isinstance(effect, Send):
                if channel.conn is None:
                    channel.conn = await pool.get_connection()
                await channel.conn.send_packed_command(effect.payload)
                return None
            if isinstance(effect, Receive):
                return [await _aread(channel.conn) for _ in range(effect.replies)]
        except BaseException:
            await self._drop_channel(effect)
            raise
        if channel.conn is not None:
            conn, channel.conn = channel.conn, None
            await pool.release(conn)
        return None

    async def _drop_channel(self, effect: Effect) -> None:
        channel = getattr(effect, "channel", None)
        if isinstance(channel, Channel) and channel.conn is not None:
            conn, channel.conn = channel.conn, None
            await conn.disconnect()
            await self.client.connection_pool.release(conn)

    async def _packed(self, effect: Packed) -> list[Any]:
        pool = self.client.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(effect.payload)
            return [await _aread(conn) for _ in range(effect.replies)]
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)


def _read_many(conn: Any, count: int) -> list[Any]:
    """Read ``count`` replies; an error reply becomes an item, not an exception."""
    # Connection.read_response costs more per reply than the parser it wraps;
    # a thousand replies to a batch make that a tenth of the client's time. The
    # connection is disconnected by our callers on any exception, as it would
    # be by read_response.
    parser = getattr(conn, "_parser", None)
    read = getattr(parser, "read_response", None) or conn.read_response
    replies = []
    for _ in range(count):
        try:
            reply = read()
        except redis.exceptions.ResponseError as exc:
            reply = exc
        replies.append(reply)
    return replies


async def _aread(conn: Any) -> Any:
    try:
        return await conn.read_response()
    except redis.exceptions.ResponseError as exc:
        return exc

"""The control stream ``sw:control``: requests from any client, read by the brokers.

The brokers read it with one consumer group, so each request is handled by
exactly one broker. A request is an entry whose ``op`` field says what to do;
its effect is visible in Redis (for a replay, the job hash), never in a reply.
An entry is acknowledged once handled; an entry left pending by a broker that
died is claimed by another after :data:`CLAIM_IDLE_MS`. Handling is idempotent
(a job ID is created once), so a request handled twice has one effect.
Acknowledged entries older than a day are trimmed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import redis.asyncio
import redis.exceptions

from streamweaver import keys
from streamweaver.broker.supervisor import raise_if_cancelled
from streamweaver.client.ids import parse_id
from streamweaver.errors import StreamWeaverError
from streamweaver.replay.service import ReplayService

log = logging.getLogger(__name__)

CLAIM_IDLE_MS = 30_000
"""How long an entry stays pending before another broker takes it over."""

KEEP_S = 86_400.0
"""How long handled entries stay in the control stream, for inspection."""

Handler = Callable[[str, dict[str, str]], Awaitable[None]]


class ControlReader:
    """Reads ``sw:control`` as one consumer of the brokers' group."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        consumer: str,
        handlers: Mapping[str, Handler],
        *,
        block_ms: int = 1000,
        count: int = 100,
    ) -> None:
        self._client = client
        self._consumer = consumer
        self._handlers = dict(handlers)
        self._block_ms = block_ms
        self._count = count
        self._trimmed_at = 0.0

    async def run(self) -> None:
        """Handle requests forever."""
        await self._ensure_group()
        while True:
            await self._handle_all(await self._claim_abandoned())
            replies = await self._client.xreadgroup(
                keys.BROKER_GROUP,
                self._consumer,
                {keys.CONTROL_STREAM: ">"},
                count=self._count,
                block=self._block_ms,
            )
            raise_if_cancelled()
            for _stream, entries in replies or []:
                await self._handle_all(entries)
            await self._trim()

    async def _ensure_group(self) -> None:
        # From the beginning: requests sent before any broker ran are served.
        with contextlib.suppress(redis.exceptions.ResponseError):
            await self._client.xgroup_create(
                keys.CONTROL_STREAM, keys.BROKER_GROUP, id="0", mkstream=True
            )

    async def _claim_abandoned(self) -> list:
        try:
            reply = await self._client.xautoclaim(
                keys.CONTROL_STREAM,
                keys.BROKER_GROUP,
                self._consumer,
                min_idle_time=CLAIM_IDLE_MS,
                start_id="0-0",
                count=self._count,
            )
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" in str(exc):
                await self._ensure_group()
                return []
            raise
        return reply[1]

    async def _handle_all(self, entries: list) -> None:
        for entry_id, fields in entries:
            if fields is None:  # deleted while pending
                await self._ack(entry_id)
                continue
            await self._handle(_text(entry_id), _decode(fields))
            await self._ack(entry_id)

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> None:
        op = fields.get("op", "")
        handler = self._handlers.get(op)
        if handler is None:
            log.warning(
                "Ignoring control request %s: op %r is not one of %s.",
                entry_id,
                op,
                ", ".join(sorted(self._handlers)),
            )
            return
        try:
            await handler(entry_id, fields)
        except StreamWeaverError as exc:
            # The outcome is recorded where the client looks (the job hash).
            log.debug("Control request %s (%s) refused: %s", entry_id, op, exc)

    async def _ack(self, entry_id: bytes | str) -> None:
        await self._client.xack(keys.CONTROL_STREAM, keys.BROKER_GROUP, entry_id)

    async def _trim(self) -> None:
        now_s = time.time()
        if now_s - self._trimmed_at < 60:
            return
        self._trimmed_at = now_s
        oldest_ms = int((now_s - KEEP_S) * 1000)
        await self._client.xtrim(
            keys.CONTROL_STREAM, minid=f"{oldest_ms}-0", approximate=True
        )


def replay_handlers(service: ReplayService) -> dict[str, Handler]:
    """The control-stream operations of replay: ``replay`` and ``cancel``."""

    async def replay(entry_id: str, fields: dict[str, str]) -> None:
        request = {k: v for k, v in fields.items() if k != "op"}
        await service.submit(
            request,
            job_id=entry_id,
            now_ms=parse_id(entry_id).ms,
            source="control",
        )

    async def cancel(entry_id: str, fields: dict[str, str]) -> None:
        job_id = fields.get("id", "")
        if not job_id or await service.cancel(job_id) is None:
            log.warning(
                "Control request %s asks to cancel replay %r, which does not exist.",
                entry_id,
                job_id,
            )

    return {"replay": replay, "cancel": cancel}


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _decode(fields: Mapping) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in fields.items()}

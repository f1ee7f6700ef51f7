"""Live readiness checks: Redis answers PING and the archive store is writable."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio
import redis.exceptions

from streamweaver.connection import describe_reason
from streamweaver.errors import StorageError
from streamweaver.monitoring.api_models import Check, Readiness
from streamweaver.storage.base import Store

REDIS_TIMEOUT_S = 2.0
STORE_TIMEOUT_S = 5.0


class ReadinessProbe:
    """Checks the dependencies; results are reused for ``cache_s`` seconds."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        store: Store | None,
        redis_address: str,
        *,
        cache_s: float = 1.0,
    ) -> None:
        self._client = client
        self._store = store
        self._address = redis_address
        self._cache_s = cache_s
        self._last: tuple[float, Readiness] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> Readiness:
        """Check both dependencies, at most once per ``cache_s``."""
        async with self._lock:
            if self._last and time.monotonic() - self._last[0] < self._cache_s:
                return self._last[1]
            redis_check, store_check = await asyncio.gather(
                self._check_redis(), self._check_store()
            )
            result = Readiness(
                ready=redis_check.ok and store_check.ok,
                checks={"redis": redis_check, "store": store_check},
            )
            self._last = (time.monotonic(), result)
            return result

    async def _check_redis(self) -> Check:
        try:
            await asyncio.wait_for(self._client.ping(), REDIS_TIMEOUT_S)
        except TimeoutError:
            reason = f"cannot reach Redis at {self._address}: no answer in time"
            return Check(ok=False, reason=reason)
        except (redis.exceptions.RedisError, OSError) as exc:
            reason = f"cannot reach Redis at {self._address}: {describe_reason(exc)}"
            return Check(ok=False, reason=reason)
        return Check(ok=True)

    async def _check_store(self) -> Check:
        if self._store is None:
            return Check(ok=True, reason="no archive store is configured")
        try:
            await asyncio.wait_for(self._store.check(), STORE_TIMEOUT_S)
        except TimeoutError:
            return Check(
                ok=False,
                reason=f"the archive store at {self._store.location} did not answer",
            )
        except StorageError as exc:
            return Check(ok=False, reason=str(exc))
        return Check(ok=True)

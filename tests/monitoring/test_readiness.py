"""/readyz follows Redis and the store: not ready with the reason, then ready."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from monitoring.support import Running, eventually, monitoring_config, start_broker
from streamweaver.embedded import EmbeddedServer


async def readiness(running: Running) -> tuple[int, dict]:
    response = await running.http.get("/readyz")
    return response.status_code, response.json()


async def not_ready(running: Running) -> dict | None:
    status, body = await readiness(running)
    return body if status == 503 else None


async def ready(running: Running) -> bool:
    return (await readiness(running))[0] == 200


async def test_readyz_is_not_ready_while_redis_is_down_and_ready_after(
    make_config, tmp_path: Path
) -> None:
    server = EmbeddedServer(tmp_path / "valkey", appendonly=False).start()
    config = monitoring_config(
        make_config, redis={"host": server.host, "port": server.port}
    )
    try:
        async for running in start_broker(config):
            assert await readiness(running) == (
                200,
                {
                    "ready": True,
                    "checks": {
                        "redis": {"ok": True, "reason": None},
                        "store": {"ok": True, "reason": None},
                    },
                },
            )

            server.kill()

            body = await eventually(partial(not_ready, running))
            assert body["ready"] is False
            assert body["checks"]["store"]["ok"] is True
            reason = body["checks"]["redis"]["reason"]
            assert reason.startswith(
                f"cannot reach Redis at {server.host}:{server.port}"
            )
            assert "redis_up 0.0" in await eventually(running.metrics)

            server.start()

            await eventually(partial(ready, running))
    finally:
        server.stop()


async def test_readyz_is_not_ready_while_the_store_is_unwritable_and_ready_after(
    monitored: Running,
) -> None:
    root = monitored.config.storage.local.path
    moved = root.with_name("moved-away")

    assert await ready(monitored)
    root.rename(moved)
    root.write_text("not a directory")  # unwritable even for root

    body = await eventually(partial(not_ready, monitored))
    assert body["checks"]["redis"] == {"ok": True, "reason": None}
    assert body["checks"]["store"]["ok"] is False
    assert str(root) in body["checks"]["store"]["reason"]
    assert "not a directory" in body["checks"]["store"]["reason"]

    root.unlink()
    moved.rename(root)

    await eventually(partial(ready, monitored))

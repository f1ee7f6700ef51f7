"""The replay test vectors in spec/replay/: each request gives its job hash."""

import asyncio
import json
from pathlib import Path

import pytest

from replay.helpers import archive
from streamweaver.replay.archived import archive_for
from streamweaver.replay.control import ControlReader, replay_handlers
from streamweaver.replay.service import ReplayService
from streamweaver.storage import open_store

from waiting import eventually

VECTORS = json.loads(
    (Path(__file__).parents[2] / "spec" / "replay" / "requests.json").read_text()
)

CASES = VECTORS["valid"] + VECTORS["invalid"]

pytestmark = pytest.mark.redis_compat  # the Lua scripts on Redis 7 too


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
async def test_a_request_produces_the_job_hash_of_its_vector(ar, make_config, case):
    config = make_config(**case.get("config", {}))
    await build(ar, config, case["setup"])
    service = ReplayService(
        config,
        ar,
        archive=archive_for(ar, open_store(config.storage)),
        instance_id="vectors",
    )
    reader = asyncio.create_task(
        ControlReader(ar, "vectors", replay_handlers(service)).run()
    )
    try:
        await ar.xadd("sw:control", case["fields"], id=case["control_id"])
        key = f"sw:replay:job:{case['job']}"
        raw = await eventually(lambda: ar.hgetall(key))
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)

    job = {k.decode(): v.decode() for k, v in raw.items()}
    assert {name: job.get(name) for name in case["expect"]} == case["expect"]
    if "message_contains" in case:
        assert case["message_contains"] in job["message"]
    if job["state"] == "rejected":
        assert not await ar.exists(f"orders:replay:{case['job']}")


async def build(client, config, setup: dict) -> None:
    for entry_id in setup.get("archived", []):
        await client.xadd("orders", {"n": entry_id}, id=entry_id)
    if setup.get("archived"):
        await archive(config, "orders", trim_keep=0)
    for entry_id in setup.get("redis", []):
        await client.xadd("orders", {"n": entry_id}, id=entry_id)
    for key, value in setup.get("keys", {}).items():
        await client.set(key, value)

"""Each instance reports which streams it owns: metrics, the HTTP API and the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from broker.harness import fast_config, wait_until
from scale.support import broker_group, lease_owners, owned_counts, running
from streamweaver.coordination.leases import Leases
from streamweaver.coordination.ownership import Ownership
from streamweaver.coordination.report import read_ownership
from streamweaver.embedded.server import free_port
from streamweaver.monitoring.metrics import REGISTRY

STREAMS = [f"orders-{n}" for n in range(6)]
CLI = Path(sys.executable).with_name("streamweaver")


def owned_metric(instance_id: str) -> float | None:
    return REGISTRY.get_sample_value(
        "streamweaver_owned_streams", {"instance_id": instance_id}
    )


def owner_info(stream: str, instance_id: str) -> float | None:
    return REGISTRY.get_sample_value(
        "streamweaver_stream_owner_info", {"stream": stream, "instance_id": instance_id}
    )


async def settle(members: list[Ownership], streams: list[str]) -> None:
    for _ in range(2):  # the first round learns the membership, the second settles
        for member in members:
            await member.rebalance(streams)


async def test_an_instance_exports_its_share_and_drops_streams_it_hands_over(ar):
    first = Ownership(Leases(ar, "metrics-a", ttl_s=30), lease_ttl_s=30)
    await first.rebalance(STREAMS)
    assert owned_metric("metrics-a") == 6
    assert all(owner_info(s, "metrics-a") == 1 for s in STREAMS)

    second = Ownership(Leases(ar, "metrics-b", ttl_s=30), lease_ttl_s=30)
    await settle([first, second], STREAMS)

    assert owned_metric("metrics-a") == owned_metric("metrics-b") == 3
    for stream in STREAMS:
        owners = {i for i in ("metrics-a", "metrics-b") if owner_info(stream, i)}
        assert owners == {lease_owner(await ar.hget(f"sw:{{{stream}}}:lease", "owner"))}


def lease_owner(value: bytes) -> str:
    return value.decode()


async def test_the_report_lists_live_instances_their_streams_and_free_ones(ar):
    members = [
        Ownership(Leases(ar, name, ttl_s=30), lease_ttl_s=30) for name in ("x", "y")
    ]
    await settle(members, STREAMS[:4])

    report = await read_ownership(ar, STREAMS)

    assert [i.instance_id for i in report.instances] == ["x", "y"]
    assert all(
        i.live and i.heartbeat_expires_ms > report.now_ms for i in report.instances
    )
    assert sorted(s for i in report.instances for s in i.streams) == STREAMS[:4]
    assert [len(i.streams) for i in report.instances] == [2, 2]
    assert report.unowned == STREAMS[4:]


async def test_an_instance_whose_heartbeat_lapsed_is_listed_while_its_leases_hold(ar):
    leases = Leases(ar, "fading", ttl_s=30)
    await leases.acquire(STREAMS[:1])
    await leases.heartbeat(0.05)
    await asyncio.sleep(0.1)

    (fading,) = (await read_ownership(ar, STREAMS[:1])).instances

    assert (fading.instance_id, fading.live, fading.streams) == (
        "fading",
        False,
        STREAMS[:1],
    )


@pytest.mark.slow
def test_every_broker_serves_the_same_map_and_the_status_command_prints_it(
    r, redis_server, tmp_path
):
    for stream in STREAMS:
        r.xadd(stream, {"n": "0"})
    ports = [free_port(), free_port()]
    config = fast_config(redis_server.port, tmp_path / "archive")
    brokers = broker_group(config, tmp_path / "brokers", 2)
    for broker, port in zip(brokers, ports, strict=True):
        broker.config["monitoring"] = {
            "enabled": True,
            "host": "127.0.0.1",
            "port": port,
        }

    with running(brokers):
        wait_until(
            lambda: owned_counts(lease_owners(r, STREAMS)) == {"b0": 3, "b1": 3},
            30,
            what="three streams leased to each broker",
        )
        owners = lease_owners(r, STREAMS)
        answers = [_get(port, "/api/v1/instances") for port in ports]
        scrapes = [_get_text(port, "/metrics") for port in ports]
        status = subprocess.run(
            [str(CLI), "status", "--json", "--rate-window", "0",
             "--config", str(brokers[0].config_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    for n, answer in enumerate(answers):
        assert answer["instance_id"] == f"b{n}"
        assert answer["unowned_streams"] == []
        assert {
            i["instance_id"]: sorted(i["streams"]) for i in answer["instances"]
        } == {b: sorted(s for s, o in owners.items() if o == b) for b in ("b0", "b1")}
    for n, scrape in enumerate(scrapes):
        assert f'streamweaver_owned_streams{{instance_id="b{n}"}} 3.0' in scrape
        mine = [s for s, o in owners.items() if o == f"b{n}"]
        for stream in mine:
            labels = f'instance_id="b{n}",stream="{stream}"'
            assert f"streamweaver_stream_owner_info{{{labels}}} 1.0" in scrape
    assert status.returncode == 0, status.stderr
    printed = json.loads(status.stdout)
    assert {i["instance_id"]: i["owned_streams"] for i in printed["instances"]} == {
        "b0": 3,
        "b1": 3,
    }


def _get(port: int, path: str) -> dict:
    return _wait_for_http(port, path).json()


def _get_text(port: int, path: str) -> str:
    return _wait_for_http(port, path).text


def _wait_for_http(port: int, path: str) -> httpx.Response:
    def answer():
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        except httpx.TransportError:
            return None
        return response if response.status_code == 200 else None

    return wait_until(answer, 30, what=f"GET {path} on port {port}")

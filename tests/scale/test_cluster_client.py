"""The Python client and the CLI against a 3-primary Redis Cluster."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from scale.conftest import on_distinct_shards
from streamweaver import AsyncClient, Client
from streamweaver.cli.messages import consume, produce
from streamweaver.cli.streams import streams
from streamweaver.client import headers as hdr
from streamweaver.config import config_from_mapping
from streamweaver.keys import dead_letter_stream

FAST = {"block_ms": 50, "claim_idle_ms": 200, "count": 10}


def cluster_config(cluster):
    return config_from_mapping({"redis": {"nodes": cluster.startup_nodes}})


def test_the_client_produces_and_consumes_on_every_shard(cluster, rc):
    names = on_distinct_shards(cluster, [f"orders-{n}" for n in range(20)])
    assert len(names) == 3

    with Client.from_config(cluster_config(cluster), archive=None) as client:
        produced = {
            s: client.produce_batch(s, [{"n": i} for i in range(50)]) for s in names
        }
        produced[names[0]].append(client.produce(names[0], {"n": 50}))
        for stream in names:
            seen = []
            with client.consume(stream, "g", "c", start="0", **FAST) as consumer:
                for message in consumer:
                    seen.append(message.id)
                    message.ack()
                    if len(seen) == len(produced[stream]):
                        consumer.stop()
            assert seen == produced[stream]
            assert client.pending(stream, "g") == []

    assert {s: rc.xlen(s) for s in names} == {
        s: len(ids) for s, ids in produced.items()
    }


async def test_the_async_client_round_trips_on_a_cluster(cluster, rc):
    names = on_distinct_shards(cluster, [f"events-{n}" for n in range(20)])

    async with AsyncClient(cluster_config(cluster)) as client:
        for stream in names:
            ids = await client.produce_batch(stream, [{"n": i} for i in range(20)])
            async with client.consume(stream, "g", "c", start="0", **FAST) as consumer:
                seen = []
                async for message in consumer:
                    seen.append(message.id)
                    await message.ack()
                    if len(seen) == len(ids):
                        consumer.stop()
            assert seen == ids
            assert [m.id async for m in client.read(stream)] == ids


def test_a_dead_letter_lands_in_its_own_slot_and_the_entry_is_acknowledged(cluster, rc):
    stream = "payments"
    dlq = dead_letter_stream(stream)
    assert rc.keyslot(stream) != rc.keyslot(dlq)  # no MULTI can span the two

    with Client.from_config(cluster_config(cluster), archive=None) as client:
        first, _ = client.produce_batch(stream, [{"n": 1}, {"n": 2}])
        with client.consume(stream, "g", "c", start="0", **FAST) as consumer:
            for message in consumer:
                if message.id == first:
                    message.dead_letter("cannot be handled")
                else:
                    message.ack()
                    consumer.stop()
        (letter,) = list(client.read(dlq))
        assert client.pending(stream, "g") == []

    assert letter.fields == {"n": 1}
    assert letter.headers[hdr.DLQ_ID] == first
    assert letter.headers[hdr.DLQ_REASON] == "cannot be handled"


def test_the_cli_produces_consumes_and_lists_streams_on_a_cluster(
    cluster, rc, tmp_path
):
    config_path = tmp_path / "cluster.yml"
    config_path.write_text(yaml.safe_dump({"redis": {"nodes": cluster.startup_nodes}}))
    names = on_distinct_shards(cluster, [f"clicks-{n}" for n in range(20)])
    runner = CliRunner()

    def run(command, *args, input=None):
        result = runner.invoke(
            command, ["--config", str(config_path), *args], input=input
        )
        assert result.exit_code == 0, result.output
        return result.output

    for stream in names:
        lines = "".join(json.dumps({"n": i}) + "\n" for i in range(5))
        ids = run(produce, stream, "-", input=lines).split()
        assert len(ids) == 5
        consumed = run(consume, stream, "-g", "cli", "--from", "0", "-n", "5", "--json")
        assert [json.loads(line)["id"] for line in consumed.splitlines()] == ids
    listed = json.loads(run(streams, "--json"))

    assert sorted(row["name"] for row in listed) == sorted(names)
    assert all(row["length"] == 5 for row in listed)
    assert all(row["groups"][0]["pending"] == 0 for row in listed)
    assert rc.xlen(names[0]) == 5

"""The HTTP API conforms to its published OpenAPI description (schemathesis).

The broker runs as a real subprocess here: schemathesis drives synchronous
requests, which would block a broker running in the test's own event loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from broker.harness import BrokerProcess, fast_config, wait_until
from streamweaver.embedded import EmbeddedServer, free_port

TOKEN = "s3cret-test-token"
PUBLISHED = Path(__file__).parents[2] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def api_base(
    redis_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    client.flushall()
    for i in range(20):
        client.xadd("orders/eu:1", {"n": str(i)})
    client.xgroup_create("orders/eu:1", "billing", id="0")
    client.xreadgroup("billing", "w1", {"orders/eu:1": ">"}, count=5)
    client.close()

    port = free_port()
    workdir = tmp_path_factory.mktemp("openapi-broker")
    config = fast_config(
        redis_server.port,
        workdir / "archive",
        monitoring={
            "enabled": True,
            "host": "127.0.0.1",
            "port": port,
            "token": TOKEN,
            "collect_interval": "200ms",
        },
    )
    base = f"http://127.0.0.1:{port}"
    with BrokerProcess(config, workdir) as broker:
        wait_until(lambda: _serving(base), what=f"the broker on {base}\n{broker.log}")
        yield base


def _serving(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/streams").json()["collected_at_s"] is not None
    except (httpx.TransportError, ValueError):
        return False


SCHEMA = schemathesis.openapi.from_path(PUBLISHED)
OPERATIONS = {op.ok().label: op.ok() for op in SCHEMA.get_all_operations() if op.ok()}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_each_operation_conforms_to_the_published_description(
    label: str, api_base: str
) -> None:
    operation = OPERATIONS[label]

    # A replay request that fits the schema can still be refused (400): whether
    # the stream exists, the range holds entries or a time parses is not
    # something the schema can say. Every other check applies.
    excluded = [positive_data_acceptance] if label == "POST /api/v1/replays" else []

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case) -> None:
        case.call_and_validate(
            base_url=api_base,
            headers={"Authorization": f"Bearer {TOKEN}"},
            excluded_checks=excluded,
        )

    conforms()


def test_the_published_openapi_file_is_what_the_broker_serves(api_base: str) -> None:
    served = httpx.get(f"{api_base}/openapi.json").json()

    assert json.loads(PUBLISHED.read_text()) == served

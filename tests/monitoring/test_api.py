"""What each endpoint of the status API answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import pytest

from monitoring.support import Running, eventually, monitoring_config, start_broker
from streamweaver.config import Config

TOKEN = "api-test-token-7f3a"
SLASHED = "shop/orders:eu"
TRICKY = "shop/orders:eu/segments"  # must not reach the segments of SLASHED


def path(stream: str) -> str:
    return "/api/v1/streams/" + quote(stream, safe="")


@pytest.fixture
async def api(make_config: Callable[..., Config], ar) -> AsyncIterator[Running]:
    config = monitoring_config(
        make_config,
        monitoring={"token": TOKEN},
        redis={"password": ""},
    )
    async for running in start_broker(config):
        yield running


async def fill(ar, stream: str, count: int) -> None:
    pipe = ar.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(stream, {"n": str(i)})
    await pipe.execute()


async def collected(api: Running, *streams: str) -> dict:
    async def ready() -> dict | None:
        overview = await api.overview()
        names = {s["name"] for s in overview["streams"]}
        return overview if set(streams) <= names else None

    return await eventually(ready)


async def test_the_stream_list_summarises_every_stream(api: Running, ar) -> None:
    await fill(ar, SLASHED, 30)
    await ar.xgroup_create(SLASHED, "g1", id="0")
    await ar.xreadgroup("g1", "c1", {SLASHED: ">"}, count=10)

    overview = await collected(api, SLASHED)

    assert overview["redis_up"] is True
    assert overview["instance_id"] == api.broker.instance_id
    (summary,) = [s for s in overview["streams"] if s["name"] == SLASHED]
    assert summary["length"] == 30
    assert summary["entries_added"] == 30
    assert summary["groups"] == 1
    assert summary["max_lag"] == 20
    assert summary["pending"] == 10
    assert summary["memory_bytes"] > 0


async def test_stream_names_with_slashes_are_addressed_by_percent_encoding(
    api: Running, ar
) -> None:
    await fill(ar, SLASHED, 3)
    await fill(ar, TRICKY, 5)
    await ar.xgroup_create(SLASHED, "g1", id="0")

    slashed = (await api.http.get(path(SLASHED))).json()
    tricky = (await api.http.get(path(TRICKY))).json()

    assert (slashed["name"], slashed["length"]) == (SLASHED, 3)
    assert [g["name"] for g in slashed["group_details"]] == ["g1"]
    assert slashed["group_details"][0]["lag"] == 3
    assert slashed["retention"]["policy"] == "time"
    assert (tricky["name"], tricky["length"]) == (TRICKY, 5)


async def test_unknown_and_internal_streams_are_not_found(api: Running, ar) -> None:
    await ar.hset("sw:{x}:archive", "archived_until", "1-0")

    for name in ("nope", "sw:{x}:archive"):
        response = await api.http.get(path(name))
        assert response.status_code == 404
        assert name in response.json()["detail"]
        assert (await api.http.get(path(name) + "/segments")).status_code == 404


async def test_segments_list_what_the_archive_holds(api: Running, ar) -> None:
    await fill(ar, SLASHED, 120)  # segments of 50 entries in the test config

    async def segments() -> list | None:
        found = (await api.http.get(path(SLASHED) + "/segments")).json()["segments"]
        return found if sum(s["messages"] for s in found) == 120 else None

    found = await eventually(segments, timeout_s=30)
    assert found[0]["first_id"] == (await ar.xrange(SLASHED, count=1))[0][0].decode()
    assert all(s["bytes"] > 0 and s["path"].endswith(".parquet") for s in found)

    async def summarised() -> dict | None:
        overview = await collected(api, SLASHED)
        (summary,) = [s for s in overview["streams"] if s["name"] == SLASHED]
        return summary["archive"] if summary["archive"]["segments"] == 3 else None

    archive = await eventually(summarised)
    assert len(found) == 3
    assert archive["bytes"] == sum(s["bytes"] for s in found)
    assert archive["archived_until"] == found[-1]["last_id"]


async def test_starting_a_replay_needs_the_token(api: Running, ar) -> None:
    await fill(ar, SLASHED, 3)

    without = await api.http.post("/api/v1/replays", json={"stream": SLASHED})
    wrong = await api.http.post(
        "/api/v1/replays",
        json={"stream": SLASHED},
        headers={"Authorization": "Bearer wrong"},
    )

    assert (without.status_code, wrong.status_code) == (401, 401)
    assert (await api.http.get("/api/v1/replays")).json() == {"jobs": []}


async def test_a_replay_started_over_http_runs_and_is_listed(api: Running, ar) -> None:
    await fill(ar, SLASHED, 10)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    response = await api.http.post(
        "/api/v1/replays",
        json={"stream": SLASHED, "id": "job-1", "target": "replayed"},
        headers=auth,
    )

    assert response.status_code == 202
    assert response.json()["id"] == "job-1"

    async def done() -> dict | None:
        jobs = (await api.http.get("/api/v1/replays")).json()["jobs"]
        return jobs[0] if jobs and jobs[0]["state"] == "done" else None

    job = await eventually(done)
    assert (job["id"], job["stream"], job["fields"]["replayed"]) == (
        "job-1",
        SLASHED,
        "10",
    )
    assert await ar.xlen("replayed") == 10

    async def counted() -> bool:
        return 'streamweaver_replay_jobs{state="done"} 1.0' in await api.metrics()

    await eventually(counted)


async def test_a_refused_replay_answers_400_with_the_reason(api: Running) -> None:
    response = await api.http.post(
        "/api/v1/replays",
        json={"stream": "missing"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_stream"
    assert "missing" in response.json()["detail"]


async def test_cancelling_needs_an_existing_job(api: Running) -> None:
    response = await api.http.delete(
        "/api/v1/replays/nope", headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert response.status_code == 404


async def test_no_endpoint_shows_the_token(api: Running, ar) -> None:
    await fill(ar, SLASHED, 3)
    await collected(api, SLASHED)

    for url in ("/", "/openapi.json", "/metrics", "/api/v1/streams", path(SLASHED)):
        response = await api.http.get(url)
        assert response.status_code == 200, url
        assert TOKEN not in response.text, url


async def test_health_and_dashboard_are_served(api: Running) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    page = await api.http.get("/")
    assert "StreamWeaver" in page.text
    assert (await api.http.get("/static/dashboard.js")).status_code == 200


async def test_a_stream_name_that_is_not_utf8_breaks_neither_scrape_nor_api(
    api: Running, ar
) -> None:
    await ar.xadd(b"raw\xff/name", {"n": "1"})
    await ar.xgroup_create(b"raw\xff/name", b"g\xfe", id="0")
    await fill(ar, SLASHED, 2)

    overview = await collected(api, "raw\ufffd/name", SLASHED)
    text = await api.metrics()

    (summary,) = [s for s in overview["streams"] if s["name"] == "raw\ufffd/name"]
    assert (summary["length"], summary["max_lag"]) == (1, 1)
    assert (
        'streamweaver_group_lag_messages{group="g\ufffd",stream="raw\ufffd/name"} 1.0'
        in text
    )

"""``streamweaver archive``: ls, verify, export and rebuild through click."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis
import yaml
from click.testing import CliRunner, Result

from archive.samples import BASE_MS, entries_between
from streamweaver import keys
from streamweaver.archive.segment import SegmentMeta
from streamweaver.cli.archive import archive
from streamweaver.embedded import EmbeddedServer


@pytest.fixture
def config_file(
    redis_server: EmbeddedServer, archive_root: Path, tmp_path: Path
) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "redis": {"host": redis_server.host, "port": redis_server.port},
                "storage": {"type": "local", "local": {"path": str(archive_root)}},
            }
        )
    )
    return path


@pytest.fixture
async def chain(archive_segment: Callable) -> list[SegmentMeta]:
    odd = [
        (f"{BASE_MS + 31}-0".encode(), [b"bin", b"\xff\x00", b"text", b"caf\xc3\xa9"])
    ]
    return [
        await archive_segment("orders:eu", entries_between(1, 10)),
        await archive_segment("orders:eu", entries_between(11, 30)),
        await archive_segment("orders:eu", odd),
    ]


def invoke(config_file: Path, *args: str) -> Result:
    return CliRunner().invoke(
        archive, [*args[:1], "--config", str(config_file), *args[1:]]
    )


def test_ls_shows_each_segment_with_its_range_count_and_size(
    config_file: Path, chain: list[SegmentMeta]
) -> None:
    result = invoke(config_file, "ls", "orders:eu")
    assert result.exit_code == 0, result.output
    for meta in chain:
        assert meta.first_id in result.output
    assert "2024-05-01 12:00:00.011" in result.output
    assert "3 segment(s), 31 message(s)" in result.output


def test_ls_json_and_the_list_of_archived_streams(
    config_file: Path, chain: list[SegmentMeta]
) -> None:
    listed = json.loads(invoke(config_file, "ls", "orders:eu", "--json").stdout)
    assert [row["name"] for row in listed] == [meta.name for meta in chain]
    assert invoke(config_file, "ls").stdout.split() == ["orders:eu"]


def test_ls_points_to_rebuild_when_redis_lost_the_index(
    config_file: Path, r: redis.Redis, chain: list[SegmentMeta]
) -> None:
    r.flushall()
    result = invoke(config_file, "ls", "orders:eu")
    assert result.exit_code == 0
    assert "streamweaver archive rebuild orders:eu" in result.output

    rebuilt = invoke(config_file, "rebuild", "orders:eu")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Indexed 3 segment(s)" in rebuilt.output
    assert "31 message(s)" in invoke(config_file, "ls", "orders:eu").output


def test_verify_passes_a_consistent_archive(
    config_file: Path, chain: list[SegmentMeta]
) -> None:
    result = invoke(config_file, "verify", "orders:eu")
    assert result.exit_code == 0, result.output
    assert "is consistent: 3 segment(s), 31 message(s)" in result.stdout


def test_verify_reports_a_corrupted_object(
    config_file: Path, chain: list[SegmentMeta], archive_root: Path
) -> None:
    path = archive_root / chain[1].name
    data = bytearray(path.read_bytes())
    data[200] ^= 0x40
    path.write_bytes(bytes(data))
    result = invoke(config_file, "verify", "orders:eu")
    assert result.exit_code == 1
    assert f"problem: {chain[1].name}:" in result.stdout
    assert "damaged" in result.stdout
    assert "1 problem(s)" in result.stdout


def test_verify_reports_a_missing_object(
    config_file: Path, chain: list[SegmentMeta], archive_root: Path
) -> None:
    (archive_root / chain[0].name).unlink()
    result = invoke(config_file, "verify", "orders:eu")
    assert result.exit_code == 1
    assert f"{chain[0].name}: in the index but missing from the store" in result.stdout


def test_verify_reports_a_gap_after_the_last_segment(
    config_file: Path, r: redis.Redis, chain: list[SegmentMeta]
) -> None:
    r.hset(keys.archive_state("orders:eu"), "archived_until", f"{BASE_MS + 99}-0")
    result = invoke(config_file, "verify", "orders:eu")
    assert result.exit_code == 1
    assert "gap: the stream is marked archived until" in result.stdout


async def test_verify_lists_an_unindexed_object_as_a_warning(
    config_file: Path, chain: list[SegmentMeta], archive_segment: Callable
) -> None:
    orphan = await archive_segment("orders:eu", entries_between(40, 41), record=False)
    result = await _in_thread(invoke, config_file, "verify", "orders:eu")
    assert result.exit_code == 0, result.output
    assert f"warning: {orphan.name}: in the store but not in the index" in result.stderr


async def _in_thread(function: Callable, *args: object) -> Result:
    return await asyncio.to_thread(function, *args)


def test_export_jsonl_writes_one_lossless_line_per_message(
    config_file: Path, chain: list[SegmentMeta]
) -> None:
    result = invoke(config_file, "export", "orders:eu", "--from", f"{BASE_MS + 10}-0")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == [
        f"{BASE_MS + n}-0" for n in [*range(10, 31), 31]
    ]
    assert lines[0]["ts"] == "2024-05-01T12:00:00.010Z"
    assert lines[0]["fields"] == [["n", "10"], ["pad", "x" * 50]]
    assert lines[-1]["fields"] == [["bin", {"base64": "/wA="}], ["text", "café"]]
    assert "Exported 22 message(s)" in result.stderr


def test_export_parquet_to_a_file_within_a_time_range(
    config_file: Path, chain: list[SegmentMeta], tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"
    result = invoke(
        config_file,
        "export",
        "orders:eu",
        "--format",
        "parquet",
        "--from",
        "2024-05-01T12:00:00.005Z",
        "--to",
        "2024-05-01T12:00:00.012",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    table = pq.read_table(out)
    assert table["id"].to_pylist() == [f"{BASE_MS + n}-0" for n in range(5, 13)]
    assert table.schema.metadata[b"streamweaver.stream"] == b"orders%3Aeu"
    assert not (tmp_path / "out.parquet.partial").exists()


def test_export_refuses_parquet_to_stdout_and_bad_positions(
    config_file: Path, chain: list[SegmentMeta]
) -> None:
    result = invoke(config_file, "export", "orders:eu", "--format", "parquet")
    assert result.exit_code == 2
    assert "needs --output FILE" in result.output
    result = invoke(config_file, "export", "orders:eu", "--from", "yesterday")
    assert result.exit_code == 2
    assert "'yesterday' is neither a stream ID nor a time" in result.output


def test_an_unreachable_redis_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "redis": {"host": "127.0.0.1", "port": 1, "connect_timeout": "1s"},
                "storage": {"type": "local", "local": {"path": str(tmp_path / "a")}},
            }
        )
    )
    result = invoke(path, "ls", "orders")
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot reach Redis at 127.0.0.1:1")
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_export_takes_relative_times_like_every_other_command(
    config_file: Path, chain: list[SegmentMeta]
) -> None:
    result = invoke(config_file, "export", "orders:eu", "--from", "-15m")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the test's messages are older than 15 minutes

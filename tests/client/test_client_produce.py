"""Producing: single and batched, every value type, limits and bad input."""

from __future__ import annotations

import math

import pytest

from streamweaver import (
    Client,
    ConnectionFailedError,
    EncodingError,
    InvalidStreamNameError,
    MessageTooLargeError,
    StreamError,
)
from streamweaver.client import _ops
from streamweaver.client.codec import EncodedMessage
from streamweaver.client.headers import ORIGIN_ID
from streamweaver.errors import ConfigError

EVERY_TYPE = {
    "text": "héllo",
    "int": -12345678901234567890123,
    "float": 0.1,
    "nan": math.nan,
    "bool": False,
    "none": None,
    "bytes": bytes(range(256)),
    "dict": {"a": [1, 2.5, None, True, {"b": "ü"}]},
    "list": [],
}


@pytest.mark.redis_compat
def test_a_produced_message_reads_back_with_its_id_and_fields(client, r):
    message_id = client.produce("orders", {"kind": "created", "qty": 3})

    (message,) = client.read("orders")
    assert message.id == message_id
    assert message.fields == {"kind": "created", "qty": 3}
    assert r.xrange("orders")[0][1][b"kind"] == b"created"


def test_every_value_type_survives_the_round_trip(client):
    client.produce("types", EVERY_TYPE)

    (message,) = client.read("types")
    fields = dict(message.fields)
    assert math.isnan(fields.pop("nan"))
    assert fields == {k: v for k, v in EVERY_TYPE.items() if k != "nan"}
    assert type(fields["int"]) is int
    assert type(fields["float"]) is float


def test_plain_strings_stay_plain_for_other_redis_clients(client, r):
    client.produce("plain", {"greeting": "grüß dich", "n": 5})

    stored = r.xrange("plain")[0][1]
    assert stored[b"greeting"] == "grüß dich".encode()
    assert stored[b"n"] == b"5"
    assert stored[b"sw:types"] == b'{"n":"int"}'


@pytest.mark.redis_compat
def test_a_batch_is_added_in_order_and_returns_every_id(client, r):
    ids = client.produce_batch(
        "batch", [{"i": i, "raw": bytes([i])} for i in range(50)]
    )

    assert len(ids) == 50
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert [m.fields for m in client.read("batch")] == [
        {"i": i, "raw": bytes([i])} for i in range(50)
    ]
    assert [entry_id.decode() for entry_id, _ in r.xrange("batch")] == ids


def test_a_batch_larger_than_one_packed_write_is_split_and_complete(client, r):
    count = _ops.PACKED_BATCH_MAX + 7
    ids = client.produce_batch("big", ({"n": str(i)} for i in range(count)))

    assert len(ids) == count
    assert r.xlen("big") == count
    assert r.xrange("big", count=1, min=ids[-1])[0][1] == {
        b"n": str(count - 1).encode()
    }


def test_binary_values_with_protocol_characters_are_batched_intact(client):
    tricky = [b"\r\n*3\r\n$4\r\n", b"", b"\x00" * 3, "line\r\nbreak"]
    client.produce_batch("tricky", [{"v": value} for value in tricky])

    assert [m.fields["v"] for m in client.read("tricky")] == tricky


def test_an_empty_batch_adds_nothing(client, r):
    assert client.produce_batch("none", []) == []
    assert not r.exists("none")


def test_a_batch_with_one_bad_message_adds_none_of_them(client, r):
    with pytest.raises(EncodingError, match="'bad'"):
        client.produce_batch("mixed", [{"ok": 1}, {"bad": {1, 2}}])
    assert not r.exists("mixed")


def test_headers_and_pre_encoded_messages_can_be_produced(client):
    original = client.produce("src", {"n": 1})
    (message,) = client.read("src")

    client.produce("copy", message.raw, headers={ORIGIN_ID: original})
    client.produce_batch("copy", [EncodedMessage.from_pairs([("x", "y")])])

    first, second = client.read("copy")
    assert first.fields == {"n": 1}
    assert first.headers == {ORIGIN_ID: original}
    assert second.fields == {"x": "y"}


def test_a_value_that_cannot_be_encoded_names_the_field(client):
    with pytest.raises(EncodingError, match=r"'when'.*datetime") as caught:
        client.produce("s", {"when": __import__("datetime").datetime.now()})
    assert isinstance(caught.value, TypeError)


def test_a_user_field_may_not_use_the_header_prefix(client):
    with pytest.raises(EncodingError, match="reserved"):
        client.produce("s", {"sw:origin-id": "1-1"})


def test_messages_over_the_size_limit_are_refused(redis_config, r):
    with Client(redis_config, max_message_bytes=100) as small:
        small.produce("s", {"v": "x" * 99})
        with pytest.raises(MessageTooLargeError, match="101 bytes"):
            small.produce("s", {"v": "x" * 100})
        with pytest.raises(MessageTooLargeError):
            small.produce_batch("s", [{"v": "x"}, {"v": "x" * 200}])
    assert r.xlen("s") == 1


def test_the_default_size_limit_is_one_mebibyte(client):
    client.produce("s", {"v": "x" * (1024 * 1024 - 1)})
    with pytest.raises(MessageTooLargeError):
        client.produce("s", {"v": "x" * (1024 * 1024)})


@pytest.mark.parametrize("name", ["", "sw:control", "sw:{orders}:index"])
def test_empty_and_reserved_stream_names_are_refused(client, name):
    with pytest.raises(InvalidStreamNameError):
        client.produce(name, {"a": "b"})
    with pytest.raises(InvalidStreamNameError):
        client.produce_batch(name, [{"a": "b"}])
    with pytest.raises(InvalidStreamNameError):
        client.read(name)


def test_producing_to_a_key_of_another_type_says_so(client, r):
    r.set("taken", "x")
    with pytest.raises(StreamError, match="not a stream"):
        client.produce("taken", {"a": "b"})
    with pytest.raises(StreamError, match=r"not a stream.*0 of 2"):
        client.produce_batch("taken", [{"a": "b"}, {"a": "c"}])


def test_an_unreachable_server_is_reported_without_redis_py_errors(redis_server):
    from streamweaver.embedded import free_port

    with (
        Client(host="127.0.0.1", port=free_port()) as nowhere,
        pytest.raises(ConnectionFailedError, match="cannot reach Redis"),
    ):
        nowhere.produce_batch("s", [{"a": "b"}])


def test_clients_are_built_from_urls_hosts_and_configs(redis_server, make_config):
    for sw in (
        Client(redis_server.url),
        Client.from_url(redis_server.url),
        Client(host=redis_server.host, port=redis_server.port),
        Client.from_config(make_config()),
    ):
        with sw:
            sw.ping()


def test_a_bad_url_is_a_configuration_error():
    with pytest.raises(ConfigError, match="scheme 'http'"):
        Client("http://localhost:6379")
    with pytest.raises(ConfigError, match="not both"):
        Client("redis://localhost", port=1)

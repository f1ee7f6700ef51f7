import pytest
import redis.exceptions

from streamweaver.connection import describe_reason


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "Error 111 connecting to localhost:1. Connection refused.",
            "connection refused",
        ),
        (
            "Error 111 connecting to 127.0.0.1:1. Connect call failed ('127.0.0.1', 1)",
            "connection refused",
        ),
        (
            "Error -2 connecting to nohost.invalid:6379. Name or service not known.",
            "name or service not known",
        ),
        ("Timeout connecting to server", "timeout connecting to server"),
    ],
)
def test_connection_failures_are_described_in_a_few_plain_words(message, reason):
    assert describe_reason(redis.exceptions.ConnectionError(message)) == reason

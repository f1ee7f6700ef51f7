import pytest

from streamweaver.units import format_bytes, parse_duration_s, parse_size_bytes


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800), ("1.5h", 5400),
     ("250ms", 0.25), ("2w", 1209600), ("7D", 604800)],
)  # fmt: skip
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["7x", "7", "", "d", "-1d", 7, None, True])
def test_malformed_durations_are_rejected_with_the_allowed_units(text):
    with pytest.raises(ValueError, match=r"ms, s, m, h, d, w"):
        parse_duration_s(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512MB", 512 * 10**6), ("5GB", 5 * 10**9), ("1GiB", 2**30), ("1KiB", 1024),
     ("1kb", 1000), ("100", 100), (2048, 2048), ("1.5GB", 1_500_000_000)],
)  # fmt: skip
def test_sizes_use_powers_of_ten_for_si_and_powers_of_two_for_iec(text, size):
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("text", ["5XB", "GB", "-1", -5, True, "5 G"])
def test_malformed_sizes_are_rejected(text):
    with pytest.raises(ValueError, match="size"):
        parse_size_bytes(text)


def test_bytes_are_formatted_in_iec_units():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"

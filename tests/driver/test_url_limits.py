"""Connection URLs a person may paste that are not URLs the driver takes: each is refused
with what would be right (the cases ``test_guard_profile_url`` does not hold)."""

from __future__ import annotations

import pytest

from leviton_driver import ConfigurationError, parse_url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("tcp://" + "h" * 1000, "connection URL of 1006 characters"),
        ("tcp://meter\n.local", "contains a control character"),
        ("tcp://meter\x7f", "contains a control character"),
    ],
)
def test_urls_refused_with_what_is_right(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match="expected tcp://HOST:PORT") as caught:
        parse_url(url)
    assert words in str(caught.value)


def test_a_host_and_port_without_a_scheme_gets_both_schemes_offered() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url("192.0.2.10:502")
    assert "has no scheme: write tcp://192.0.2.10:502 for Modbus TCP, or " in str(caught.value)
    assert "rtu+tcp://192.0.2.10:502 for RTU frames over TCP" in str(caught.value)


def test_only_a_serial_port_has_a_baud_rate() -> None:
    assert parse_url("serial:///dev/ttyUSB0?baud=19200").baudrate == 19200
    assert parse_url("tcp://192.0.2.10").baudrate is None
    assert parse_url("rtu+tcp://192.0.2.10").baudrate is None  # the server's line, not ours

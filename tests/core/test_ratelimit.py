"""One warning per peer and kind per window; the next one says how many were left out; the
memory of peers is bounded."""

from __future__ import annotations

import logging

import pytest

from leviton_bridge.core.ratelimit import OTHER_PEERS, PeerWarnings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_warning_per_peer_and_kind_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    warnings = PeerWarnings(logging.getLogger("test.ratelimit"), "BACnet", window=60, clock=clock)
    with caplog.at_level(logging.WARNING, "test.ratelimit"):
        for _ in range(1000):
            warnings.warn("10.0.0.1:47808", "bvll", "bad %s", "header")
            warnings.warn("10.0.0.1:47808", "npdu", "bad npdu")
            warnings.warn("10.0.0.2:47808", "bvll", "bad header")
        assert len(caplog.records) == 3
        assert {(r.peer, r.kind) for r in caplog.records} == {  # type: ignore[attr-defined]
            ("10.0.0.1:47808", "bvll"),
            ("10.0.0.1:47808", "npdu"),
            ("10.0.0.2:47808", "bvll"),
        }
        assert "bad header" in caplog.records[0].getMessage()
        caplog.clear()
        clock.now = 59.0
        assert not warnings.warn("10.0.0.1:47808", "bvll", "bad header")
        clock.now = 60.0
        assert warnings.warn("10.0.0.1:47808", "bvll", "bad header")
        assert "(1000 more like it since the last report)" in caplog.records[-1].getMessage()
    assert warnings.counts == {"bvll": 2002, "npdu": 1000}


def test_the_peers_remembered_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    warnings = PeerWarnings(
        logging.getLogger("test.ratelimit"), "BACnet", max_keys=10, clock=Clock()
    )
    with caplog.at_level(logging.WARNING, "test.ratelimit"):
        for number in range(10_000):  # spoofed source addresses
            warnings.warn(f"10.0.{number // 256}.{number % 256}:47808", "garbage", "garbage")
    assert len(warnings._seen) <= 10
    assert len(caplog.records) == 11  # ten peers, then one line for all the others
    assert caplog.records[-1].peer == OTHER_PEERS  # type: ignore[attr-defined]

"""Fault injection: every injected fault becomes its typed error, and polling carries on."""

from __future__ import annotations

import pytest

from leviton_bridge.simulator import FaultSettings
from leviton_driver import (
    Bus,
    CrcError,
    ExceptionResponseError,
    GarbledResponseError,
    MeterError,
    MeterTimeoutError,
    ShortResponseError,
)
from tests.support.inprocess import StartSimulator


@pytest.mark.parametrize(
    ("framing", "kind", "error", "words"),
    [
        ("rtu", "timeout", MeterTimeoutError, "no answer"),
        ("rtu", "crc", CrcError, "failed its CRC check"),
        ("rtu", "short", ShortResponseError, "cut short"),
        ("rtu", "garbage", GarbledResponseError, ""),
        ("rtu", "exception", ExceptionResponseError, "exception 04 (server device failure)"),
        ("tcp", "timeout", MeterTimeoutError, "no answer"),
        ("tcp", "exception", ExceptionResponseError, "exception 04"),
        ("tcp", "garbage", MeterError, ""),
    ],
)
async def test_fault_gives_typed_error_then_polling_recovers(
    start_simulator: StartSimulator,
    framing: str,
    kind: str,
    error: type[MeterError],
    words: str,
) -> None:
    faults = FaultSettings(rates={}, seed=7)
    simulator, url = await start_simulator("1:2000:load=6", framing=framing, faults=faults)
    bus = Bus(f"{url}?timeout=0.3")
    try:
        meter = await bus.async_meter(1)
        good = await meter.async_read()
        faults.rates[kind] = 1.0
        with pytest.raises(error) as caught:
            await meter.async_read()
        message = str(caught.value)
        assert words in message
        assert "unit 1 on " + url in message  # names the connection and the unit
        assert "40001-40006" in message  # and what was being done
        assert simulator.faults_injected[kind] >= 1
        faults.rates[kind] = 0.0
        # The link recovers by itself: the next poll reads normally, nothing read is lost.
        again = await meter.async_read()
        assert again.readings["energy_delivered"] is not None
        assert again.readings["energy_delivered"] >= good.readings["energy_delivered"]
        assert meter.errors[error.kind] >= 1 or error is MeterError
    finally:
        await bus.async_close()


async def test_intermittent_faults_never_publish_garbage(start_simulator: StartSimulator) -> None:
    """At a 30% mixed fault rate, every successful read is plausible and errors are typed."""
    faults = FaultSettings(rates={"crc": 0.1, "garbage": 0.1, "exception": 0.1}, seed=3)
    _, url = await start_simulator("1:2000:load=6:energy=100", framing="rtu", faults=faults)
    bus = Bus(f"{url}?timeout=0.3")
    faults.rates = {}
    try:
        meter = await bus.async_meter(1)
        faults.rates = {"crc": 0.1, "garbage": 0.1, "exception": 0.1}
        values: list[float] = []
        failures = 0
        for _ in range(40):
            try:
                snapshot = await meter.async_read()
            except MeterError:
                failures += 1
                continue
            value = snapshot.readings["energy_delivered"]
            assert isinstance(value, float)
            values.append(value)
        assert failures > 0
        assert len(values) > 10
        assert values == sorted(values)  # energy never goes backwards
        assert all(100 <= v < 101 for v in values)
    finally:
        await bus.async_close()

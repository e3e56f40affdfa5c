"""Answers a meter or gateway should not give: each is a typed error for that one request, and
never a wrong value, a crash, or a poisoned next request.

* An answer with fewer registers than asked (a faulty gateway; an echoing one, which is what a
  "transparent" server with nothing behind it does) is a short answer, not an IndexError.
* A late answer on a link of RTU frames (which carry no transaction id) must not be taken for
  the answer to the next request, another meter's.
"""

from __future__ import annotations

import logging

import pytest

from leviton_driver import Bus, GarbledResponseError, MeterTimeoutError, ShortResponseError
from tests.support.echo import echo_gateway
from tests.support.simulator_process import SimulatorProcess

__all__ = ["echo_gateway"]  # a fixture


async def test_an_echoing_rtu_gateway_gives_short_answers(echo_gateway: int) -> None:
    """An RTU read request echoed back is a well-formed answer of no registers: short."""
    bus = Bus(f"rtu+tcp://127.0.0.1:{echo_gateway}?timeout=0.5")
    try:
        with pytest.raises(ShortResponseError, match="cut short"):
            await bus.async_meter(1, series="2000")
    finally:
        await bus.async_close()


async def test_an_echoing_tcp_gateway_is_no_answer_and_no_traceback(
    echo_gateway: int, caplog: pytest.LogCaptureFixture
) -> None:
    """An echoed Modbus TCP request is no answer at all (pymodbus cannot decode it): said so,
    with the bytes, and without a traceback in the log or the link dropped."""
    caplog.set_level(logging.WARNING)
    bus = Bus(f"tcp://127.0.0.1:{echo_gateway}?timeout=0.5")
    try:
        with pytest.raises(GarbledResponseError, match="not a Modbus TCP answer"):
            await bus.async_meter(1, series="2000")
    finally:
        await bus.async_close()
    assert not [r for r in caplog.records if r.exc_info or "Fatal error" in r.getMessage()]


async def test_an_answer_with_fewer_registers_is_short_and_only_that_read_fails() -> None:
    sim = await SimulatorProcess.start("1:2000", "2:2000", framing="rtu")
    bus = Bus(f"{sim.url}?timeout=1.0")
    try:
        first, second = await bus.async_meter(1), await bus.async_meter(2)
        await sim.fewer_registers(1)
        with pytest.raises(ShortResponseError, match="cut short"):
            await first.async_read(retry=False)
        assert (await second.async_read()).readings["energy_delivered"] is not None
        assert (await first.async_read()).readings["energy_delivered"] is not None
    finally:
        await bus.async_close()
        await sim.stop()


@pytest.mark.parametrize("framing", ["rtu", "tcp"])
async def test_a_late_answer_does_not_poison_the_next_meters_read(framing: str) -> None:
    """Meter 1 answers 0.6 s late, after the 0.3 s timeout; meter 2 is read next, on the
    same link, and gets its own answer."""
    sim = await SimulatorProcess.start("1:2000:energy=111", "2:2000:energy=222", framing=framing)
    bus = Bus(f"{sim.url}?timeout=0.3")
    try:
        first, second = await bus.async_meter(1), await bus.async_meter(2)
        for _ in range(3):
            await sim.late(1, 0.6)
            with pytest.raises(MeterTimeoutError, match="no answer"):
                await first.async_read(retry=False)
            # The line may still be busy with the late answer when meter 2 is asked (its
            # first try can time out too), but what it reads is its own.
            reading = await second.async_read()
            assert reading.readings["energy_delivered"] == pytest.approx(222, abs=0.2)
        # Failed tries of meter 2 (if any) are a busy line: no answer, or meter 1's late one
        # seen as foreign bytes; never a wrong value.
        assert set(second.errors) <= {"timeout", "garbled"}
    finally:
        await bus.async_close()
        await sim.stop()

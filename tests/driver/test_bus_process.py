"""``Bus`` (one link and its meters, as the bridge and the command line open it) against simulated
meters in a process of their own, over real Modbus on loopback: identify, probe, scan, change a
unit id, and the links that cannot be used. The simulator runs as a process, not in the test's
own, so that these tests run in every environment: the project's, and (through
``tests/driver_on_ha``) each Home Assistant release's, on its pymodbus 3.11."""

from __future__ import annotations

import pytest

from leviton_driver import (
    Bus,
    ConfigurationError,
    ConnectError,
    NoModbusMeterError,
    ScanResult,
    Series,
)
from tests.support import free_port
from tests.support.simulator_process import SimulatorProcess


async def test_identify_probe_and_scan() -> None:
    sim = await SimulatorProcess.start("1:2000:model=2N208-021", "3:1000", framing="rtu")
    bus = Bus(f"{sim.url}?timeout=0.5")
    try:
        meter = await bus.async_meter(1)
        assert meter.series is Series.S2000
        assert (await meter.async_read()).readings["energy_delivered"] is not None
        assert await bus.async_probe(2) is None  # nothing answers at 2
        probed = await bus.async_probe(3)
        assert probed is not None
        assert probed.series is Series.S1000
        seen: list[tuple[int, int]] = []

        def progress(done: int, total: int, result: ScanResult) -> None:
            seen.append((done, total))

        result = await bus.async_scan(range(1, 5), answer_timeout=0.3, progress=progress)
        assert sorted(result.found) == [1, 3]
        assert result.problems == {}
        assert seen[-1] == (4, 4)
    finally:
        await bus.async_close()
        await sim.stop()


async def test_change_a_unit_id_and_the_ids_it_refuses() -> None:
    sim = await SimulatorProcess.start("1:2000", "9:1000")
    bus = Bus(f"{sim.url}?timeout=0.5")
    try:
        meter = await bus.async_meter(1)
        with pytest.raises(ConfigurationError, match="already has unit id 1"):
            await bus.async_change_unit_id(meter, 1)
        with pytest.raises(ConfigurationError, match="a meter already answers at unit id 9"):
            await bus.async_change_unit_id(meter, 9)
        with pytest.raises(ConfigurationError, match="out of range"):
            await bus.async_change_unit_id(meter, 248)
        await bus.async_change_unit_id(meter, 7)
        assert (await sim.meter(7))["program_id"] == 40001
        assert await bus.async_probe(1) is None
        moved = await bus.async_meter(7)
        assert moved.identity is not None
        assert moved.identity.program_id == 40001
    finally:
        await bus.async_close()
        await sim.stop()


async def test_links_that_cannot_be_opened() -> None:
    bus = Bus(f"tcp://127.0.0.1:{free_port()}?timeout=0.5")
    try:
        with pytest.raises(ConnectError, match="cannot connect"):
            await bus.async_connect()
    finally:
        await bus.async_close()
    bus = Bus("serial:///dev/leviton-no-such-port?baud=9600")
    try:
        with pytest.raises(ConnectError, match="cannot open the serial port"):
            await bus.async_meter(1)
    finally:
        await bus.async_close()


async def test_a_modbus_tcp_link_to_an_rtu_server_says_what_to_try() -> None:
    """A server that passes RTU frames through, opened as Modbus TCP: nothing it can parse
    comes back, and the error says to connect with RTU over TCP instead."""
    sim = await SimulatorProcess.start("1:2000", framing="rtu")
    assert sim.address is not None
    bus = Bus(f"tcp://127.0.0.1:{sim.address[1]}?timeout=0.5")
    try:
        with pytest.raises(NoModbusMeterError, match="connect with RTU over TCP instead"):
            await bus.async_meter(1)
    finally:
        await bus.async_close()
        await sim.stop()


async def test_an_rtu_link_to_a_modbus_tcp_server_says_what_to_try() -> None:
    """A Modbus TCP server opened as RTU over TCP: the error says to use Modbus TCP."""
    sim = await SimulatorProcess.start("1:2000", framing="tcp")
    assert sim.address is not None
    bus = Bus(f"rtu+tcp://127.0.0.1:{sim.address[1]}?timeout=0.5")
    try:
        with pytest.raises(NoModbusMeterError, match="connect with Modbus TCP instead"):
            await bus.async_meter(1)
    finally:
        await bus.async_close()
        await sim.stop()

"""The simulator answers like a real meter, and the driver identifies and reads it correctly."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from modbus_connection import IllegalDataAddressError, IllegalDataValueError, IllegalFunctionError

from leviton_bridge.simulator import MeterSimulator, MeterSpec
from leviton_driver import (
    Bus,
    ConfigurationError,
    LevitonError,
    NoModbusMeterError,
    NotLevitonError,
)
from leviton_driver.series1000 import Series1000Meter
from leviton_driver.series8000 import Series8000Meter
from tests.support.inprocess import StartSimulator


@pytest.mark.parametrize(
    ("address", "count"),
    [
        (0x0006, 1),  # 40007: undocumented
        (0x0000, 7),  # 40001-40007 runs into the gap
        (0x0005, 0x3C - 5 + 2),  # bridging 40006..40062 across the gap
        (0x138C, 1),  # 45005: undocumented
        (0x1388, 8),  # 45001-45008 bridges 45005
        (0x01F4, 1),  # the reset register is write-only
    ],
)
async def test_undocumented_addresses_answer_exception_02(
    start_simulator: StartSimulator, address: int, count: int
) -> None:
    _, url = await start_simulator("1:2000")
    bus = Bus(url)
    try:
        with pytest.raises(IllegalDataAddressError):
            await bus.unit(1).read_holding_registers(address, count)
    finally:
        await bus.async_close()


async def test_only_documented_functions(start_simulator: StartSimulator) -> None:
    _, url = await start_simulator("1:2000")
    bus = Bus(url)
    try:
        unit = bus.unit(1)
        with pytest.raises(IllegalFunctionError):
            await unit.read_input_registers(0, 2)
        with pytest.raises(IllegalFunctionError):
            await unit.read_coils(0, 1)
        with pytest.raises(IllegalDataValueError):
            await unit.write_register(0x01F4, 0x0055)  # only 0x00AA resets
        with pytest.raises(IllegalDataAddressError):
            await unit.write_register(0x0000, 1)  # energy is not writable
    finally:
        await bus.async_close()


async def test_energy_grows_with_load_and_load_zero_keeps_still(
    start_simulator: StartSimulator,
) -> None:
    clock = [1000.0]
    simulator = MeterSimulator(
        [MeterSpec.parse("1:2000:load=36:energy=100"), MeterSpec.parse("2:1000:load=0:energy=50")],
        clock=lambda: clock[0],
    )
    host, port = await simulator.start_tcp()
    bus = Bus(f"tcp://{host}:{port}")
    try:
        busy, idle = await bus.async_meter(1), await bus.async_meter(2)
        busy.clock = idle.clock = lambda: clock[0]  # the glitch guard times the same clock
        assert (await busy.async_read()).readings["energy_delivered"] == 100.0
        clock[0] += 60  # one minute at 36 kW is 0.6 kWh
        assert (await busy.async_read()).readings["energy_delivered"] == 100.6
        assert (await idle.async_read()).readings["energy_delivered"] == 50.0
        clock[0] += 3600
        assert (await idle.async_read()).readings["energy_delivered"] == 50.0
    finally:
        await bus.async_close()
        await simulator.stop()


async def test_demand_reset_resets_peak_and_counts(start_simulator: StartSimulator) -> None:
    simulator, url = await start_simulator("4:2000:load=8:peak=11.25:resets=41")
    bus = Bus(url)
    try:
        meter = await bus.async_meter(4)
        before = await meter.async_read()
        assert before.readings["peak_demand"] == 11.25
        assert before.readings["demand_reset_count"] == 41
        result = await meter.async_reset_peak_demand()
        assert (result.count_before, result.count_after) == (41, 42)
        assert result.peak_demand_before == 11.25
        assert result.peak_demand_after == 0.0
        assert simulator.meters[4].reset_count == 42
        # The 0x11 answer carries the new counter too.
        reported = await meter.async_report_server_id()
        assert reported.demand_reset_count == 42
    finally:
        await bus.async_close()


async def test_unit_id_change_moves_the_meter(start_simulator: StartSimulator) -> None:
    simulator, url = await start_simulator("7:1000", "9:2000")
    bus = Bus(f"{url}?timeout=0.3")
    try:
        await bus.async_change_unit_id(await bus.async_meter(7), 12)
        assert sorted(simulator.meters) == [9, 12]
        moved = await bus.async_meter(12)
        assert moved.identity is not None
        assert moved.identity.program_id == 40007  # the same meter, now at 12
        assert await bus.async_probe(7) is None
        with pytest.raises(ConfigurationError, match="already answers at unit id 9"):
            await bus.async_change_unit_id(moved, 9)
        with pytest.raises(ConfigurationError, match="out of range"):
            await bus.async_change_unit_id(moved, 248)
    finally:
        await bus.async_close()


@pytest.mark.parametrize("style", ["ascii", "spaced", "binary"])
async def test_identification_styles(start_simulator: StartSimulator, style: str) -> None:
    _, url = await start_simulator(f"3:1000:model=1R277-04D:program=4321:resets=5:ident={style}")
    bus = Bus(url)
    try:
        meter = await bus.async_meter(3)
    finally:
        await bus.async_close()
    identity = meter.identity
    assert identity is not None
    assert identity.series == "1000"
    assert identity.model == "1R277-04D"
    assert identity.model_info is not None
    assert identity.model_info.demand is True
    assert identity.model_info.ct_rating_amps == 400
    assert identity.program_id == 4321


async def test_meter_without_0x11_is_still_identified(start_simulator: StartSimulator) -> None:
    _, url = await start_simulator("3:2000:ident=none")
    bus = Bus(url)
    try:
        meter = await bus.async_meter(3)
        snapshot = await meter.async_read()
    finally:
        await bus.async_close()
    assert isinstance(meter, Series1000Meter)
    assert meter.identity is not None
    assert meter.identity.series == "1000/2000"  # without a model number the series is unknown
    assert meter.identity.model is None
    assert snapshot.readings["energy_delivered"] == 1234.5


@pytest.mark.parametrize(("kind", "points"), [("8000-8", 8), ("8000-12", 12), ("8000-24", 24)])
async def test_series_8000_detection(
    start_simulator: StartSimulator, kind: str, points: int
) -> None:
    simulator, url = await start_simulator(f"5:{kind}:load=24:energy=2400")
    bus = Bus(url)
    try:
        meter = await bus.async_meter(5)
        snapshot = await meter.async_read()
    finally:
        await bus.async_close()
    assert isinstance(meter, Series8000Meter)
    assert meter.identity is not None
    assert meter.identity.points == points
    assert meter.identity.provisional_profile
    assert "PROVISIONAL" in (meter.identity.profile or "")
    assert sorted(snapshot.points) == list(range(1, points + 1))
    simulated = simulator.meters[5]
    for point, values in snapshot.points.items():
        assert values["power"] == round(simulated.point_load(point) * 1000)
    total = sum(v["energy_delivered"] or 0 for v in snapshot.points.values())
    assert total == pytest.approx(2400, abs=0.1 * points)
    assert snapshot.readings == {
        "voltage_a": 120.1,
        "voltage_b": 119.8,
        "voltage_c": 120.4,
        "program_id": 40005,  # the 0x11 answer gives it
    }


async def test_series_8000_without_0x11_uses_the_profile(start_simulator: StartSimulator) -> None:
    _, url = await start_simulator("6:8000-12:ident=none")
    bus = Bus(url)
    try:
        meter = await bus.async_meter(6)
    finally:
        await bus.async_close()
    assert isinstance(meter, Series8000Meter)
    assert meter.points == 12


async def test_series_8000_has_no_demand_reset(start_simulator: StartSimulator) -> None:
    _, url = await start_simulator("6:8000-8")
    bus = Bus(url)
    try:
        meter = await bus.async_meter(6)
        with pytest.raises(LevitonError, match="no documented peak-demand reset"):
            await meter.async_reset_peak_demand()
    finally:
        await bus.async_close()


async def test_nothing_at_unit_id_mentions_pre_2011_meters(start_simulator: StartSimulator) -> None:
    _, url = await start_simulator("1:2000")
    bus = Bus(f"{url}?timeout=0.2")
    try:
        with pytest.raises(NoModbusMeterError, match="before 2011-02-26") as caught:
            await bus.async_meter(2)
        assert "unit 2 on" in str(caught.value)
    finally:
        await bus.async_close()


async def test_not_a_leviton_meter() -> None:
    """A device answering 0x11 as someone else is refused by name."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from pymodbus.framer.rtu import FramerRTU

        while data := await reader.read(64):
            if data[1:2] == b"\x11":
                body = bytes([data[0], 0x11, 13]) + b"\x01\xffACME PM5560"
                writer.write(body + FramerRTU.compute_CRC(body).to_bytes(2, "big"))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bus = Bus(f"rtu+tcp://127.0.0.1:{port}?timeout=0.3")
    try:
        with pytest.raises(NotLevitonError, match="ACME"):
            await bus.async_meter(1)
    finally:
        await bus.async_close()
        server.close()
        await server.wait_closed()


async def test_peak_demand_block_disagreeing_with_40061() -> None:
    """If 40005 and 40061 disagree, peak demand comes from 40061 (the manual is ambiguous)."""
    simulator = MeterSimulator([MeterSpec.parse("1:2000:peak=7.5")])
    original = simulator.meters[1]._words

    def words() -> dict[int, int]:
        values = original()
        values[0x0004] = values[0x0005] = 0  # this firmware leaves 40005-40006 empty
        return values

    simulator.meters[1]._words = words  # type: ignore[method-assign]
    host, port = await simulator.start_tcp()
    bus = Bus(f"tcp://{host}:{port}")
    try:
        meter = await bus.async_meter(1)
        assert isinstance(meter, Series1000Meter)
        assert meter.poll_peak_register
        assert meter.identity is not None
        assert any("40061" in note for note in meter.identity.notes)
        before = simulator.requests[1]
        snapshot = await meter.async_read()
        assert snapshot.readings["peak_demand"] == 7.5
        assert simulator.requests[1] - before == 2
    finally:
        await bus.async_close()
        await simulator.stop()


async def test_one_transaction_per_poll(start_simulator: StartSimulator) -> None:
    simulator, url = await start_simulator("1:2000", "2:1000")
    bus = Bus(url)
    try:
        meters = [await bus.async_meter(1), await bus.async_meter(2)]
        before = dict(simulator.requests)
        for _ in range(5):
            for meter in meters:
                await meter.async_read()
        assert {u: simulator.requests[u] - before[u] for u in (1, 2)} == {1: 5, 2: 5}
    finally:
        await bus.async_close()


async def test_buses_poll_concurrently_and_each_bus_one_at_a_time() -> None:
    """On one bus a request starts only after the previous answer; two buses overlap.

    Checked by the order of events at the simulators, not by durations.
    """
    from leviton_bridge.simulator import LineSettings

    events: list[tuple[str, str, int]] = []

    def record(simulator: MeterSimulator, name: str) -> None:
        serve = simulator._serve

        async def traced(slot: int, *args: object) -> object:
            events.append(("start", name, slot))
            try:
                return await serve(slot, *args)  # type: ignore[arg-type]
            finally:
                events.append(("end", name, slot))

        simulator._serve = traced  # type: ignore[method-assign]

    line = LineSettings(baud=9600, turnaround=0.05)
    sim_a = MeterSimulator(
        [MeterSpec.parse("1:2000"), MeterSpec.parse("2:2000")], framing="rtu", line=line
    )
    sim_b = MeterSimulator([MeterSpec.parse("1:2000")], framing="rtu", line=line)
    record(sim_a, "A")  # before the servers start: they bind the handler then
    record(sim_b, "B")
    (host_a, port_a), (host_b, port_b) = await sim_a.start_tcp(), await sim_b.start_tcp()
    bus_a, bus_b = Bus(f"rtu+tcp://{host_a}:{port_a}"), Bus(f"rtu+tcp://{host_b}:{port_b}")
    try:
        a1, a2, b1 = (
            await bus_a.async_meter(1),
            await bus_a.async_meter(2),
            await bus_b.async_meter(1),
        )
        events.clear()
        await asyncio.gather(a1.async_read(), a2.async_read(), b1.async_read())
    finally:
        await bus_a.async_close()
        await bus_b.async_close()
        await sim_a.stop()
        await sim_b.stop()
    on_a = [event for event in events if event[1] == "A"]
    # Bus A: one exchange at a time (start, end, start, end), one per meter.
    assert [kind for kind, _, _ in on_a] == ["start", "end", "start", "end"]
    assert sorted(slot for kind, _, slot in on_a if kind == "start") == [1, 2]
    # Bus B ran alongside bus A's first exchange instead of waiting for bus A.
    first_a_end = events.index(on_a[1])
    assert events.index(("start", "B", 1)) < first_a_end


def test_meter_spec_errors() -> None:
    for text, words in [
        ("x:2000", "not a number"),
        ("1", "UNIT:SERIES"),
        ("0:2000", "not in 1..247"),
        ("1:3000", "series '3000'"),
        ("1:2000:load=-3", "load='-3' is not valid"),
        ("1:2000:volts=3", "option 'volts=3'"),
        ("1:2000:ident=fancy", "ident='fancy'"),
    ]:
        with pytest.raises(ConfigurationError, match=words):
            MeterSpec.parse(text)
    with pytest.raises(ConfigurationError, match="more than one meter"):
        MeterSimulator([MeterSpec.parse("1:2000"), MeterSpec.parse("1:1000")])
    from leviton_bridge.simulator import FaultSettings

    with pytest.raises(ConfigurationError, match="need RTU framing"):
        MeterSimulator([MeterSpec.parse("1:2000")], faults=FaultSettings(rates={"crc": 0.5}))
    with pytest.raises(ConfigurationError, match="KIND=RATE"):
        FaultSettings.parse(["noise=0.1"])
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        FaultSettings.parse(["crc=2"])


async def test_demand_reset_whose_answer_is_lost_is_confirmed_by_the_counter(
    start_simulator: StartSimulator,
) -> None:
    """The meter reset but its answer never arrived: the counter tells, and it is a success."""
    simulator, url = await start_simulator("4:2000:peak=6.5:resets=9", framing="rtu")
    bus = Bus(f"{url}?timeout=0.3")
    try:
        meter = await bus.async_meter(4)
        await meter.async_read()
        original = simulator._serve

        async def lose_the_reset_answer(slot: int, function: int, *args: Any) -> Any:
            result = await original(slot, function, *args)
            if function == 0x06:
                simulator._drop_next = True  # the meter acts, its answer is lost on the line
            return result

        simulator._serve = lose_the_reset_answer  # type: ignore[method-assign]
        simulator.server.context.devices[4].action = functools.partial(lose_the_reset_answer, 4)  # type: ignore[union-attr]
        result = await meter.async_reset_peak_demand()
        assert (result.count_before, result.count_after) == (9, 10)
        assert result.peak_demand_after == 0.0
        assert simulator.meters[4].reset_count == 10  # reset once, not twice
    finally:
        await bus.async_close()

"""``leviton-bridge`` end to end: every command against the simulator, on every transport.

The simulator serves Modbus TCP, RTU over TCP, or RTU on one end of a socat pty pair; the
command line runs in a worker thread (``main`` calls ``asyncio.run``) while the simulator
answers in the test's own loop, so each answer can be compared with what the simulator holds.
``simulate`` itself also runs as a real subprocess, on TCP and on a serial pty.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leviton_bridge.cli import demo, main
from leviton_bridge.simulator import FaultSettings, MeterSimulator, MeterSpec, SimulatedMeter
from leviton_driver import Bus
from leviton_driver.profile import DEFAULT_PROFILE_PATH
from tests.support import PATIENCE
from tests.support.echo import echo_gateway
from tests.support.inprocess import StartSimulator

BRIDGE = shutil.which("leviton-bridge") or str(Path(sys.executable).with_name("leviton-bridge"))
TRANSPORTS = ("tcp", "rtu+tcp", "serial")
PRE_2011_HINT = "built before 2011-02-26 have no Modbus at all"
PROVISIONAL_NOTE = "the Series 8000 register map is PROVISIONAL"
__all__ = ["echo_gateway"]  # a fixture
URL_HELP = "expected tcp://HOST:PORT, rtu+tcp://HOST:PORT or serial:///dev/PORT"


# -- running the command line --------------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(*argv: str) -> Result:
    """Run ``leviton-bridge ARGV`` in this thread; returns exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return Result(code, out.getvalue(), err.getvalue())


async def cli(*argv: str) -> Result:
    """Run the command line in a worker thread while simulators answer in this loop."""
    return await asyncio.to_thread(run, *argv)


def with_timeout(url: str, seconds: float) -> str:
    return f"{url}{'&' if '?' in url else '?'}timeout={seconds}"


# -- simulated meters on each transport ----------------------------------------------------

Start = Callable[..., Awaitable[tuple[MeterSimulator, str]]]


@dataclass
class Line:
    """A transport to run simulated meters on: ``start(*meters)`` -> (simulator, client URL)."""

    transport: str
    start: Start


@pytest.fixture(params=TRANSPORTS)
async def line(
    request: pytest.FixtureRequest, start_simulator: StartSimulator
) -> AsyncIterator[Line]:
    transport: str = request.param
    if transport != "serial":
        framing = "tcp" if transport == "tcp" else "rtu"

        async def start_socket(*meters: str) -> tuple[MeterSimulator, str]:
            return await start_simulator(*meters, framing=framing)

        yield Line(transport, start_socket)
        return

    meter_side, client_side = request.getfixturevalue("serial_pair")
    running: list[MeterSimulator] = []

    async def start_serial(*meters: str) -> tuple[MeterSimulator, str]:
        simulator = MeterSimulator([MeterSpec.parse(m) for m in meters], framing="rtu")
        await simulator.start_serial(meter_side)
        running.append(simulator)
        return simulator, f"serial://{client_side}?baud=9600"

    yield Line(transport, start_serial)
    for simulator in running:
        await simulator.stop()


# -- what the simulator holds --------------------------------------------------------------

SERIES_2000 = (
    "1:2000:load=12.5:energy=5000:export=321.4:peak=33.25:program=12345:resets=7:uptime=86400"
)
SERIES_1000 = "2:1000"
SERIES_8000_24 = "3:8000-24:load=24:energy=2400:export=48:program=777:resets=3"
SERIES_8000_8 = "4:8000-8"
SERIES_8000_12 = "5:8000-12:load=6"
ALL_METERS = (SERIES_2000, SERIES_1000, SERIES_8000_24, SERIES_8000_8, SERIES_8000_12)


def expected_point(meter: SimulatedMeter, point: int) -> dict[str, float]:
    """A Series 8000 point's values as the simulator derives them (before register scaling)."""
    load = meter.point_load(point)
    share = load / meter.spec.load
    delivered = meter.spec.energy * share + load * meter.hours()
    return {
        "energy_delivered": delivered,
        "energy_received": meter.spec.export * share,
        "power": load * 1000,
        "reactive_energy_delivered": delivered * 0.3,
        "reactive_energy_received": 0.0,
        "reactive_power": load * 300,
    }


def check_series_1000_2000_json(data: dict[str, Any], meter: SimulatedMeter) -> None:
    spec = meter.spec
    assert data["unit_id"] == meter.unit
    assert data["series"] == spec.series
    assert data["model"] == meter.model
    assert (data["hardware_version"], data["software_version"]) == ("3.2", "3.2")
    assert data["program_id"] == meter.program_id
    # No notes: the 0x11 program id agreed with register 45004 (the answer arrived whole).
    assert "notes" not in data
    assert "points" not in data
    assert "point_count" not in data
    readings = data["readings"]
    # Every reading of the meter, as in every JSON the bridge writes (core.codec); derived and
    # net power need several polls, so one read knows them as null.
    assert set(readings) == {
        "energy_delivered",
        "energy_received",
        "peak_demand",
        "derived_power",
        "net_power",
        "demand_reset_count",
        "uptime",
        "program_id",
    }
    assert readings["derived_power"] is None
    assert readings["net_power"] is None
    assert readings["program_id"] == meter.program_id
    assert readings["energy_delivered"] == pytest.approx(meter.energy_delivered(), abs=0.1)
    assert readings["energy_received"] == pytest.approx(spec.export, abs=0.05)
    assert readings["peak_demand"] == pytest.approx(meter.peak_demand(), abs=0.005)
    assert readings["demand_reset_count"] == meter.reset_count
    assert spec.uptime <= readings["uptime"] <= spec.uptime + 60


def check_series_8000_json(data: dict[str, Any], meter: SimulatedMeter) -> None:
    points = meter.spec.points
    assert data["unit_id"] == meter.unit
    assert data["series"] == "8000"
    assert data["model"] == meter.model
    assert (data["hardware_version"], data["software_version"]) == ("3.2", "3.2")
    assert data["program_id"] == meter.program_id  # from the 0x11 answer
    assert data["point_count"] == points
    assert data["profile"] == "Series 8000 provisional default (PROVISIONAL register map)"
    assert data["provisional_profile"] is True
    assert any(PROVISIONAL_NOTE in note for note in data["notes"])
    assert data["readings"] == {
        "voltage_a": 120.1,
        "voltage_b": 119.8,
        "voltage_c": 120.4,
        "program_id": meter.program_id,
    }
    assert list(data["points"]) == [str(p) for p in range(1, points + 1)]
    for point in range(1, points + 1):
        got = data["points"][str(point)]
        want = expected_point(meter, point)
        assert set(got) == set(want)
        for key in ("power", "reactive_power"):
            assert got[key] == round(want[key]), (point, key)
        for key in ("energy_delivered", "energy_received", "reactive_energy_delivered"):
            assert got[key] == pytest.approx(want[key], abs=0.1), (point, key)
        assert got["reactive_energy_received"] == 0.0


# -- read ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [1, 2])
async def test_read_json_series_1000_2000(line: Line, unit: int) -> None:
    sim, url = await line.start(*ALL_METERS)
    result = await cli("read", "--connect", url, "--unit", str(unit), "--json")
    assert (result.code, result.err) == (0, "")
    data = result.json()
    meter = sim.meters[unit]
    check_series_1000_2000_json(data, meter)
    if unit == 1:
        # The distinctive values of the spec, exactly.
        assert data["program_id"] == 12345
        assert data["model"] == "2N208-02D"
        assert data["readings"]["energy_delivered"] == 5000.0
        assert data["readings"]["energy_received"] == 321.4
        assert data["readings"]["peak_demand"] == 33.25
        assert data["readings"]["demand_reset_count"] == 7
    else:
        assert (data["series"], data["model"], data["program_id"]) == ("1000", "1N240-01D", 40002)
        assert data["readings"]["energy_delivered"] == 1234.5
        assert data["readings"]["peak_demand"] == 2.5


@pytest.mark.parametrize(
    ("unit", "points", "model"), [(3, 24, "S8UTS-241"), (4, 8, "S8UTS-083"), (5, 12, "S8UTS-122")]
)
async def test_read_json_series_8000(line: Line, unit: int, points: int, model: str) -> None:
    sim, url = await line.start(*ALL_METERS)
    result = await cli("read", "--connect", url, "--unit", str(unit), "--json")
    assert (result.code, result.err) == (0, "")
    data = result.json()
    check_series_8000_json(data, sim.meters[unit])
    assert (data["point_count"], data["model"], len(data["points"])) == (points, model, points)
    if unit == 3:
        assert data["program_id"] == 777
        # Points share the load unevenly: weights 2, 3, 4, 5, 1 ... over 74 in all.
        assert data["points"]["1"]["power"] == round(24 * 2 / 74 * 1000)  # 649 W
        assert data["points"]["4"]["power"] == round(24 * 5 / 74 * 1000)  # 1622 W
        assert data["points"]["1"]["energy_delivered"] == pytest.approx(2400 * 2 / 74, abs=0.1)
        assert data["points"]["1"]["energy_received"] == pytest.approx(48 * 2 / 74, abs=0.1)


async def test_0x11_reset_counter_arrives_whole(line: Line) -> None:
    """The last ASCII digit of the 0x11 answer (the reset counter) is not dropped."""
    _, url = await line.start(SERIES_2000)
    bus = Bus(url)
    try:
        meter = await bus.async_meter(1)
        reported = await meter.async_report_server_id()
    finally:
        await bus.async_close()
    assert reported.model == "2N208-02D"
    assert reported.program_id == 12345
    assert reported.demand_reset_count == 7
    assert reported.complete


async def test_read_text(line: Line) -> None:
    sim, url = await line.start(*ALL_METERS)
    result = await cli("read", "--connect", url, "--unit", "1")
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == f"Unit 1 on {url}: Leviton Series 2000"
    assert lines[1].startswith(
        "  Model            2N208-02D (new model-number format, 3 pole, 4 wire"
    )
    assert "  Versions         hardware V3.2, software V3.2" in lines
    assert (
        "  Program id       12345 (Leviton correlates it with the label's serial number)" in lines
    )
    assert "    Energy delivered             5000.0 kWh" in lines
    assert "    Energy received              321.4 kWh" in lines
    assert "    Peak demand                  33.25 kW" in lines
    assert "    Demand reset count           7" in lines
    assert any(re.fullmatch(r"    Uptime                       864\d\d s", text) for text in lines)

    result = await cli("read", "--connect", url, "--unit", "3")
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert (
        lines[0]
        == f"Unit 3 on {url}: Leviton Series 8000 (provisional register map), 24 metering points"
    )
    assert lines[1] == "  Model            S8UTS-241 (1 CT per point, 120 V, terminal strip)"
    assert "  Program id       777 (Leviton correlates it with the label's serial number)" in lines
    assert "  Register profile Series 8000 provisional default (PROVISIONAL register map)" in lines
    assert any(text.startswith(f"  Note: {PROVISIONAL_NOTE}") for text in lines)
    assert "    Voltage phase A              120.1 V" in lines
    header = lines.index(
        "  Point      Delivered      Received         Power  kvarh deliv.   kvarh recv.      Reactive"
    )
    rows = lines[header + 1 :]
    assert len(rows) == 24
    meter = sim.meters[3]
    for point, row in enumerate(rows, 1):
        want = expected_point(meter, point)
        cells = re.split(r"\s{2,}", row.strip())
        assert cells[0] == str(point)
        delivered = float(cells[1].removesuffix(" kWh"))
        assert delivered == pytest.approx(want["energy_delivered"], abs=0.1)
        assert cells[3] == f"{round(want['power'])} W"
        assert cells[6] == f"{round(want['reactive_power'])} var"


# -- scan ----------------------------------------------------------------------------------


async def test_scan_finds_exactly_the_simulated_units(line: Line) -> None:
    sim, url = await line.start("1:2000", "2:1000", "5:8000-8")
    url = with_timeout(url, 0.3)
    result = await cli("scan", "--connect", url, "--units", "1-6")
    assert result.code == 0
    assert result.out.splitlines() == [
        f"3 meter(s) on {url} at unit ids 1-6:",
        "  unit   1: Series 2000, model 2N208-02D, hardware V3.2 software V3.2, program id 40001",
        "  unit   2: Series 1000, model 1N240-01D, hardware V3.2 software V3.2, program id 40002",
        "  unit   5: Series 8000, model S8UTS-083, 8 points, hardware V3.2 software V3.2, program id 40005",
    ]
    # Progress goes to stderr: the first step and the summary (a terminal sees every step).
    assert result.err.splitlines() == [
        "scanned 1/6 unit ids, found 1",
        "scanned 6 unit ids, found 3",
    ]
    assert set(sim.requests) == {1, 2, 5}


async def test_scan_json(line: Line) -> None:
    sim, url = await line.start("1:2000", "2:1000", "5:8000-8")
    result = await cli("scan", "--connect", url, "--units", "1-2,5", "--json")
    assert result.code == 0
    found = result.json()
    assert [(m["unit_id"], m["series"], m["model"]) for m in found] == [
        (1, "2000", "2N208-02D"),
        (2, "1000", "1N240-01D"),
        (5, "8000", "S8UTS-083"),
    ]
    assert found[2]["point_count"] == 8
    assert [m["program_id"] for m in found] == [sim.meters[u].program_id for u in (1, 2, 5)]


async def test_scan_nothing_answers(line: Line) -> None:
    _, url = await line.start("1:2000")
    url = with_timeout(url, 0.3)
    result = await cli("scan", "--connect", url, "--units", "7,9")
    assert result.code == 1
    assert result.out.startswith(f"No Leviton meter answered on {url} at unit ids 7, 9. Check")
    assert "scanned 2 unit ids, found 0" in result.err


async def test_scan_lists_problems(start_simulator: StartSimulator) -> None:
    """A meter whose answers all fail their CRC is not found, and the scan says why."""
    _, url = await start_simulator("1:2000", framing="rtu", faults=FaultSettings(rates={"crc": 1}))
    url = with_timeout(url, 0.3)
    result = await cli("scan", "--connect", url, "--units", "1-2")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith(f"No Leviton meter could be identified on {url} at unit ids 1-2.")
    assert lines[1].startswith(
        f"  problem: unit 1 on {url}: a read of register 40001: the answer failed its CRC check"
    )
    assert len(lines) == 2


def test_scan_bad_units() -> None:
    result = run("scan", "--connect", "tcp://127.0.0.1:1", "--units", "5-2")
    assert result.code == 2
    assert "--units '5-2': range 5-2 runs backwards" in result.err
    result = run("scan", "--connect", "tcp://127.0.0.1:1", "--units", "1-300")
    assert result.code == 2
    assert "unit id 300 is out of range" in result.err


# -- reset-demand --------------------------------------------------------------------------


async def test_reset_demand(line: Line) -> None:
    sim, url = await line.start("1:2000:load=1:peak=33.25:resets=7", "3:8000-8:resets=4")
    result = await cli("reset-demand", "--connect", url, "--unit", "1")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "Peak demand reset on unit 1: reset counter 7 -> 8, peak demand 33.25 kW -> 0.00 kW\n"
    )
    meter = sim.meters[1]
    assert meter.reset_count == 8
    assert meter.peak == 0.0
    assert meter.peak_demand() < 0.005  # rebuilding from zero at 1 kW over 15 minutes

    after = await cli("read", "--connect", url, "--unit", "1", "--json")
    assert after.code == 0
    assert after.json()["readings"]["peak_demand"] == 0.0
    assert after.json()["readings"]["demand_reset_count"] == 8

    refused = await cli("reset-demand", "--connect", url, "--unit", "3")
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == (
        f"leviton-bridge reset-demand: unit 3 on {url} is a Series 8000 (provisional register "
        "map), which has no documented peak-demand reset\n"
    )
    assert sim.meters[3].reset_count == 4


# -- set-unit-id ---------------------------------------------------------------------------


async def test_set_unit_id(line: Line) -> None:
    sim, url = await line.start("1:2000:program=111", "2:1000:program=222")
    url = with_timeout(url, 0.3)  # the free new id is confirmed by a timeout
    result = await cli("set-unit-id", "--connect", url, "--unit", "1", "--new-id", "9", "--yes")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"Unit 1 on {url} now answers as unit 9 (confirmed by reading back 45001).\n"
    )
    assert set(sim.meters) == {2, 9}
    assert sim.meters[9].program_id == 111

    moved = await cli("read", "--connect", url, "--unit", "9", "--json")
    assert moved.code == 0
    assert (moved.json()["unit_id"], moved.json()["program_id"]) == (9, 111)

    gone = await cli("read", "--connect", url, "--unit", "1")
    assert gone.code == 1
    assert PRE_2011_HINT in gone.err

    taken = await cli("set-unit-id", "--connect", url, "--unit", "9", "--new-id", "2", "--yes")
    assert taken.code == 2
    assert taken.err == (
        f"leviton-bridge set-unit-id: a meter already answers at unit id 2 on {url}; "
        "two meters with one id would garble each other's answers\n"
    )
    assert set(sim.meters) == {2, 9}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_set_unit_id_confirmation(
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, url = await start_simulator("1:2000", "3:8000-8")
    url = with_timeout(url, 0.3)

    # No terminal to ask on, no --yes: refused before anything is sent.
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    refused = await cli("set-unit-id", "--connect", url, "--unit", "1", "--new-id", "7")
    assert (refused.code, refused.out) == (2, "")
    assert "refusing to change the unit id without confirmation: add --yes" in refused.err
    assert sum(sim.requests.values()) == 0

    # At a terminal: "n" changes nothing, "y" changes the id.
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    declined = await cli("set-unit-id", "--connect", url, "--unit", "1", "--new-id", "7")
    assert (declined.code, declined.out) == (1, "Nothing changed.\n")
    assert "Change unit 1 (Series 2000, model 2N208-02D" in capsys.readouterr().out
    assert set(sim.meters) == {1, 3}

    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    accepted = await cli("set-unit-id", "--connect", url, "--unit", "1", "--new-id", "7")
    assert accepted.code == 0
    assert set(sim.meters) == {3, 7}

    same = await cli("set-unit-id", "--connect", url, "--unit", "7", "--new-id", "7", "--yes")
    assert (same.code, same.err) == (
        2,
        "leviton-bridge set-unit-id: the meter already has unit id 7\n",
    )

    series_8000 = await cli(
        "set-unit-id", "--connect", url, "--unit", "3", "--new-id", "4", "--yes"
    )
    assert series_8000.code == 1
    assert "Leviton's configuration tool, not over Modbus" in series_8000.err
    assert set(sim.meters) == {3, 7}


@pytest.mark.parametrize("new_id", ["0", "248", "x"])
def test_set_unit_id_out_of_range(new_id: str) -> None:
    result = run(
        "set-unit-id", "--connect", "tcp://127.0.0.1:1", "--unit", "1", "--new-id", new_id, "--yes"
    )
    assert (result.code, result.out) == (2, "")
    assert "usage: leviton-bridge set-unit-id" in result.err
    assert "argument --new-id: unit id" in result.err
    assert ("is not a number" if new_id == "x" else "out of range") in result.err


# -- dump ----------------------------------------------------------------------------------


def table_rows(text: str) -> dict[int, str]:
    """Dump table rows by register number (the third column)."""
    rows: dict[int, str] = {}
    for row in text.splitlines()[1:]:
        rows[int(row.split()[2])] = row
    return rows


async def test_dump_documented_ranges(line: Line) -> None:
    sim, url = await line.start("1:2000:load=0:energy=5000:peak=2.5:program=4660:resets=7")
    result = await cli("dump", "--connect", url, "--unit", "1", "--start", "40001", "--count", "70")
    assert result.code == 0
    assert result.err.splitlines() == ["reading registers 40001-40070 (addresses 0x0000-0x0045)"]
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "address", "register", "value", "uint16", "int16", "uint32", "(hi,lo)", "int32",
        "float32", "uint32", "(lo,hi)",
    ]  # fmt: skip
    rows = table_rows(result.out)
    assert list(rows) == list(range(40001, 40071))
    # 40001-40002: 5000.0 kWh as kWh/10 = 50000 = 0x0000 0xC350
    assert rows[40001].split()[:7] == ["0", "0x0000", "40001", "0x0000", "0", "0", "50000"]
    assert rows[40002].split()[:6] == ["1", "0x0001", "40002", "0xc350", "50000", "-15536"]
    for register in range(40007, 40061):
        assert rows[register].endswith("refused (exception 02)"), register
    # 40061-40062: peak demand 2.5 kW as kW/100 = 250
    assert rows[40061].split()[:7] == ["60", "0x003c", "40061", "0x0000", "0", "0", "250"]
    assert rows[40062].split()[:5] == ["61", "0x003d", "40062", "0x00fa", "250"]
    for register in range(40063, 40071):
        assert rows[register].endswith("refused (exception 02)"), register

    identity = await cli(
        "dump", "--connect", url, "--unit", "1", "--start", "45001", "--count", "8", "--json"
    )
    assert identity.code == 0
    got = identity.json()
    assert [(r["address"], r["register"]) for r in got] == [
        (0x1388 + i, 45001 + i) for i in range(8)
    ]
    values = [r["value"] for r in got]
    assert values[:6] == [1, 0x0302, 0x0302, 4660, None, 7]  # 45005 is undocumented
    assert values[6] == 0
    assert 0 <= values[7] < 60
    assert sim.meters[1].reset_count == 7


async def test_dump_series_8000(line: Line) -> None:
    _, url = await line.start("3:8000-8")
    result = await cli(
        "dump", "--connect", url, "--unit", "3", "--start", "0x00fc", "--count", "4", "--json"
    )
    assert result.code == 0
    assert [(r["register"], r["value"]) for r in result.json()] == [
        (40253, 8),  # point count
        (40254, 1201),  # voltages, V/10
        (40255, 1198),
        (40256, 1204),
    ]


async def test_dump_start_forms(start_simulator: StartSimulator) -> None:
    _, url = await start_simulator("1:2000:energy=5000:load=0")
    base = ("dump", "--connect", url, "--unit", "1", "--count", "2", "--json")
    by_number = await cli(*base, "--start", "40001")
    by_hex = await cli(*base, "--start", "0x0000")
    by_decimal = await cli(*base, "--start", "0")
    assert by_number.code == by_hex.code == by_decimal.code == 0
    expected = [
        {"address": 0, "register": 40001, "value": 0},
        {"address": 1, "register": 40002, "value": 50000},
    ]
    assert by_number.json() == by_hex.json() == by_decimal.json() == expected

    # --wire reads 45001 as a wire address, far beyond the manual's numbering: all refused.
    wire = await cli(*base, "--start", "45001", "--wire")
    assert wire.code == 1
    assert wire.json() == [
        {"address": 45001, "register": None, "value": None},
        {"address": 45002, "register": None, "value": None},
    ]
    assert wire.err.splitlines()[-1] == (
        f"leviton-bridge dump: unit 1 on {url} refused every holding register "
        "from address 0xafc9 to address 0xafca"
    )
    # Without --wire, 45001 is register 45001.
    register = await cli(*base, "--start", "45001")
    assert [r["address"] for r in register.json()] == [0x1388, 0x1389]

    bad = [
        (("--start", "40001x"), "--start: '40001x' is not a number (decimal or 0x hex)"),
        (("--start", "30001"), "--start: 30001 is an input register number; add --space input"),
        (("--start", "70000"), "--start: 70000 is not a wire address 0..65535"),
    ]
    for args, message in bad:
        result = await cli(*base, *args)
        assert (result.code, result.out) == (2, ""), args
        assert message in result.err, args
    for count in ("0", "10001"):
        result = await cli(
            "dump", "--connect", url, "--unit", "1", "--start", "1", "--count", count
        )
        assert result.code == 2
        assert "--count must be 1..10000" in result.err
    end = await cli("dump", "--connect", url, "--unit", "1", "--start", "0xffff", "--count", "2")
    assert end.code == 2


# -- simulate as a real process ------------------------------------------------------------


def _first_line(process: subprocess.Popen[str], seconds: float = 15) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], seconds)
    assert ready, "the simulator printed nothing"
    return process.stdout.readline()


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*argv: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [BRIDGE, "simulate", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        process.communicate(timeout=10)


@pytest.mark.parametrize("framing", ["tcp", "rtu"])
def test_simulate_process_on_tcp(spawn: Callable[..., subprocess.Popen[str]], framing: str) -> None:
    process = spawn(
        "--listen", "127.0.0.1:0", "--framing", framing,
        "--meter", "1:2000:program=4242:resets=12", "--meter", "3:8000-12",
    )  # fmt: skip
    first = _first_line(process)
    scheme = "tcp" if framing == "tcp" else "rtu+tcp"
    match = re.fullmatch(
        rf"Simulating 2 meter\(s\) on ({re.escape(scheme)}://127\.0\.0\.1:\d+) \(Ctrl-C to stop\)\n",
        first,
    )
    assert match, first
    url = match[1]
    assert process.stdout is not None
    rest = [process.stdout.readline() for _ in range(4)]  # printed at once with the first
    assert rest == [
        "  unit   1: Series 2000, model 2N208-02D, program id 4242, load 2.5 kW, energy 1234.5 kWh\n",
        "  unit   3: Series 8000-12, model S8UTS-122, program id 40003, load 2.5 kW, energy 1234.5 kWh\n",
        "  Series 8000 registers follow Series 8000 provisional default (PROVISIONAL register map)\n",
        f"  Try: leviton-bridge read --connect {url} --unit 1\n",
    ]
    result = run("read", "--connect", url, "--unit", "1", "--json")
    assert result.code == 0
    data = result.json()
    assert (data["series"], data["program_id"]) == ("2000", 4242)
    assert data["readings"]["demand_reset_count"] == 12
    result = run("read", "--connect", url, "--unit", "3", "--json")
    assert result.code == 0
    assert (result.json()["point_count"], len(result.json()["points"])) == (12, 12)


def test_simulate_process_on_serial(
    spawn: Callable[..., subprocess.Popen[str]], serial_pair: tuple[str, str]
) -> None:
    meter_side, client_side = serial_pair
    process = spawn(
        "--serial", meter_side, "--meter", "1:2000:energy=777.7:resets=5", "--meter", "2:1000",
        "--meter", "4:8000-8",
    )  # fmt: skip
    assert _first_line(process) == (
        f"Simulating 3 meter(s) on serial port {meter_side}, Modbus RTU at 9600 baud (Ctrl-C to stop)\n"
    )
    assert process.stdout is not None
    banner = [process.stdout.readline() for _ in range(5)]
    # Clients open the other end of the line, not the simulator's device.
    assert banner[-1] == (
        "  Try, from the other end of the line (e.g. the other pty of a socat pair): "
        "leviton-bridge read --connect 'serial:///dev/OTHER-END?baud=9600' --unit 1\n"
    )
    url = f"serial://{client_side}?baud=9600&timeout=1"
    result = run("read", "--connect", url, "--unit", "1", "--json")
    assert (result.code, result.err) == (0, "")
    data = result.json()
    assert (data["unit_id"], data["series"], data["model"]) == (1, "2000", "2N208-02D")
    assert data["readings"]["energy_delivered"] == pytest.approx(777.7, abs=0.1)
    assert data["readings"]["demand_reset_count"] == 5
    result = run("read", "--connect", url, "--unit", "4", "--json")
    assert result.code == 0
    assert (result.json()["series"], result.json()["point_count"]) == ("8000", 8)
    scan = run("scan", "--connect", with_timeout(f"serial://{client_side}", 0.3), "--units", "1-4")
    assert scan.code == 0
    assert [line.split(":")[0] for line in scan.out.splitlines()[1:]] == [
        "  unit   1",
        "  unit   2",
        "  unit   4",
    ]
    reset = run("reset-demand", "--connect", url, "--unit", "1")
    assert reset.code == 0
    assert reset.out.startswith("Peak demand reset on unit 1: reset counter 5 -> 6,")


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--meter", "1:3000"), "meter '1:3000': series '3000' is not one of 1000, 2000, 8000"),
        (("--meter", "x:2000"), "meter 'x:2000': unit 'x' is not a number"),
        (("--meter", "300:2000"), "meter '300:2000': unit 300 is not in 1..247"),
        (("--meter", "1"), "meter '1': expected UNIT:SERIES[:key=value...]"),
        (("--meter", "1:2000:load=-1"), "meter '1:2000:load=-1': load='-1' is not valid"),
        (("--meter", "1:2000:colour=red"), "option 'colour=red' is not key=value with a key among"),
        (("--meter", "1:2000", "--meter", "1:1000"), "unit id 1 is given to more than one meter"),
        (("--meter", "1:2000", "--fault", "bogus=0.1"), "fault 'bogus=0.1': expected KIND=RATE"),
        (
            ("--meter", "1:2000", "--fault", "timeout=2"),
            "fault 'timeout=2': rate must be between 0 and 1",
        ),
        (("--meter", "1:2000", "--fault", "timeout"), "fault 'timeout': expected KIND=RATE"),
        (
            ("--meter", "1:2000", "--fault", "crc=0.1"),
            "CRC and short-frame faults need RTU framing",
        ),
    ],
)
def test_simulate_bad_options(argv: tuple[str, ...], message: str) -> None:
    result = run("simulate", "--listen", "127.0.0.1:0", *argv)
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("leviton-bridge simulate: ")
    assert message in result.err


@pytest.mark.timeout(20)
def test_simulate_bad_places(spawn: Callable[..., subprocess.Popen[str]]) -> None:
    result = run("simulate", "--listen", "localhost", "--meter", "1:2000")
    assert result.code == 2
    assert "--listen 'localhost': expected HOST:PORT" in result.err
    result = run("simulate", "--serial", "/nonexistent/tty", "--meter", "1:2000")
    assert result.code == 1
    assert "cannot serve on serial port /nonexistent/tty" in result.err
    # A port already taken (by another simulator process).
    process = spawn("--listen", "127.0.0.1:0", "--meter", "1:2000")
    port = re.search(r":(\d+) \(Ctrl-C", _first_line(process))
    assert port
    result = run("simulate", "--listen", f"127.0.0.1:{port[1]}", "--meter", "1:2000")
    assert result.code == 1
    assert f"cannot serve on 127.0.0.1:{port[1]}: is the port in use" in result.err


def test_simulate_process_rejects_bad_meter() -> None:
    """The real process: a message naming the problem, exit 2, and nothing served."""
    done = subprocess.run(
        [BRIDGE, "simulate", "--listen", "127.0.0.1:0", "--meter", "1:2000:energy=lots"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "leviton-bridge simulate: meter '1:2000:energy=lots': energy='lots' is not valid "
        "(kWh delivered at start)\n"
    )


# -- error paths ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("scheme", ["tcp", "rtu+tcp"])
def test_unreachable_port(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{_free_port()}?timeout=0.3"
    for command in (
        ("read", "--unit", "1"),
        ("scan", "--units", "1-3"),
        ("reset-demand", "--unit", "1"),
    ):
        result = run(command[0], "--connect", url, *command[1:])
        assert (result.code, result.out) == (1, ""), command
        assert result.err.startswith(f"leviton-bridge {command[0]}: {url}: cannot connect"), (
            result.err
        )


def test_missing_serial_device(tmp_path: Path) -> None:
    url = f"serial://{tmp_path}/no-such-tty?timeout=0.3"
    result = run("read", "--connect", url, "--unit", "1")
    assert result.code == 1
    assert result.err.startswith(
        f"leviton-bridge read: {url}: cannot open the serial port (missing, in use, or no permission)"
    )
    assert "no-such-tty" in result.err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://x", f"connection URL 'foo://x': unknown scheme 'foo'; {URL_HELP}"),
        (
            "serial://dev",
            "connection URL 'serial://dev': a serial port is written serial:///dev/ttyUSB0",
        ),
        ("tcp://h:99999", "connection URL 'tcp://h:99999' is not valid (Port out of range"),
        ("tcp://127.0.0.1:502?baud=9600", "unknown option baud"),
        ("serial:///dev/ttyS0?baud=1234", "baud=1234 is not a standard rate"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    for command in (
        ("read", "--unit", "1"),
        ("scan",),
        ("dump", "--unit", "1", "--start", "0", "--count", "1"),
    ):
        result = run(command[0], "--connect", url, *command[1:])
        assert (result.code, result.out) == (2, ""), command
        assert result.err.startswith(f"leviton-bridge {command[0]}: "), result.err
        assert message in result.err, result.err


async def test_read_wrong_series(start_simulator: StartSimulator) -> None:
    _, url = await start_simulator("1:2000", "3:8000-8")
    result = await cli("read", "--connect", url, "--unit", "1", "--series", "8000")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith(
        f"leviton-bridge read: unit 1 on {url}: answered exception 02 (illegal data address) "
        "to a read of the point count"
    )
    assert result.err.endswith(". Is it a Series 8000? --series auto asks the meter\n")
    result = await cli("read", "--connect", url, "--unit", "3", "--series", "2000")
    assert result.code == 1
    assert result.err.endswith(". Is it a Series 2000? --series auto asks the meter\n")
    # Forcing the right series works, and names it.
    result = await cli("read", "--connect", url, "--unit", "1", "--series", "2000", "--json")
    assert result.code == 0
    assert result.json()["series"] == "2000"


async def test_no_meter_at_unit(line: Line) -> None:
    _, url = await line.start("1:2000")
    url = with_timeout(url, 0.3)
    result = await cli("read", "--connect", url, "--unit", "4")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith(
        f"leviton-bridge read: unit 4 on {url}: nothing answers Modbus at this unit id."
    )
    assert PRE_2011_HINT in result.err
    assert "broadcast a one-way stream every 5 minutes" in result.err


_GOOD_PROFILE = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "messages"),
    [
        ("name: [unclosed\n", ["not valid YAML"]),
        ("- just\n- a list\n", ["expected a mapping of settings, got list"]),
        (
            _GOOD_PROFILE.replace("max_count: 24", "max_count: 9"),
            ["points.max_count: expected 8, 12 or 24"],
        ),
        (
            _GOOD_PROFILE.replace(
                "power: {offset: 4, type: int32", "power: {offset: 4, type: int64"
            ),
            ["points.registers.power.type: expected one of float32, int16, int32, uint16, uint32"],
        ),
        (
            _GOOD_PROFILE.replace("word_order: big", "word_order: middle"),
            ["word_order: expected big or little"],
        ),
        (_GOOD_PROFILE.replace("stride: 12", "stride: 6"), ["points.stride is 6"]),
    ],
)
async def test_bad_profile(
    start_simulator: StartSimulator, tmp_path: Path, text: str, messages: list[str]
) -> None:
    sim, url = await start_simulator("3:8000-8")
    path = tmp_path / "my-meter.yaml"
    path.write_text(text, encoding="utf-8")
    result = await cli(
        "read", "--connect", url, "--unit", "3", "--series", "8000", "--profile", str(path)
    )
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"leviton-bridge read: profile {path}: ")
    for message in messages:
        assert message in result.err
    assert sum(sim.requests.values()) == 0  # checked before anything is sent


async def test_missing_profile(start_simulator: StartSimulator, tmp_path: Path) -> None:
    _, url = await start_simulator("3:8000-8")
    path = tmp_path / "absent.yaml"
    result = await cli("read", "--connect", url, "--unit", "3", "--profile", str(path))
    assert result.code == 2
    assert result.err == f"leviton-bridge read: profile {path}: no such file\n"


async def test_own_profile(start_simulator: StartSimulator, tmp_path: Path) -> None:
    """A user's (non-provisional) profile is named in the output, without the warning."""
    sim, url = await start_simulator("3:8000-8:load=8")
    path = tmp_path / "site.yaml"
    path.write_text(
        _GOOD_PROFILE.replace(
            "name: Series 8000 provisional default", "name: Site survey 2024"
        ).replace("provisional: true", "provisional: false"),
        encoding="utf-8",
    )
    result = await cli(
        "read",
        "--connect",
        url,
        "--unit",
        "3",
        "--series",
        "8000",
        "--profile",
        str(path),
        "--json",
    )
    assert (result.code, result.err) == (0, "")
    data = result.json()
    assert (data["profile"], data["provisional_profile"]) == ("Site survey 2024", False)
    assert "notes" not in data
    check_points = sim.meters[3]
    assert data["points"]["2"]["power"] == round(check_points.point_load(2) * 1000)


# -- demo and help -------------------------------------------------------------------------


@pytest.mark.parametrize("broker", ["a local mosquitto", "an embedded amqtt broker"])
def test_demo(broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo: simulated meters, a broker it starts (mosquitto when the machine has one,
    else amqtt), and the bridge publishing to it."""
    if broker != "a local mosquitto":
        monkeypatch.setattr(demo, "_mosquitto", lambda: None)
    result = run("demo", "--cycles", "2", "--interval", "0.5")
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert re.fullmatch(
        r"Simulating 3 meter\(s\) on tcp://127\.0\.0\.1:\d+ \(Ctrl-C to stop\)", lines[0]
    )
    assert any(
        re.fullmatch(rf"Bridge publishing to {broker} at mqtt://127\.0\.0\.1:\d+", t) for t in lines
    )
    tables = [i for i, text in enumerate(lines) if "MQTT broker mqtt://127.0.0.1:" in text]
    assert len(tables) == 2
    last = lines[tables[-1] + 1 :]
    assert last[0].startswith("  Workshop (Series 2000): Series 2000, model 2N208-02D,")
    assert last[0].endswith("[online]")
    assert last[1].startswith("    Energy delivered 48210.")
    assert last[2].startswith("    -> leviton/demo_u1/state (")
    assert last[3].startswith("  Apartment 2B (Series 1000): Series 1000, model 1N240-01D,")
    assert last[6].startswith(
        "  Tenant panel (Series 8000-12): Series 8000, model S8UTS-122, 12 points,"
    )
    assert last[7] == "    Voltage phase A 120.1 V, 12 points drawing 19999 W"
    received = [int(m[1]) for t in last if (m := re.search(r"\((\d+) received by the broker\)", t))]
    assert len(received) == 3
    assert all(n >= 1 for n in received)  # the broker really got each meter's state
    assert (
        last[9]
        == "  Home Assistant discovery: 15 device config message(s) under homeassistant/device/"
    )


def test_demo_bad_cycles() -> None:
    bad = run("demo", "--cycles", "-1")
    assert bad.code == 2
    assert "argument --cycles: -1 must be 0 or more" in bad.err


def test_help_and_usage() -> None:
    result = run("--help")
    assert result.code == 0
    for command in ("read", "scan", "reset-demand", "set-unit-id", "dump", "simulate", "demo"):
        assert command in result.out
    result = run("read", "--unit", "1")
    assert (result.code, result.out) == (2, "")
    assert "the following arguments are required: --connect" in result.err
    result = run("read", "--connect", "tcp://127.0.0.1:1", "--unit", "0")
    assert result.code == 2
    assert "argument --unit: unit id 0 is out of range" in result.err


async def test_a_foreign_device_is_not_taken_for_a_leviton_meter(
    start_simulator: StartSimulator,
) -> None:
    """Another maker's Modbus device (pymodbus's own server answers 0x11 "Pymodbus") answers
    register reads like anything does: read and scan refuse it, with the not-Leviton error."""
    sim, url = await start_simulator("1:2000", "7:foreign", "8:foreign:ident=none")
    named = await cli("read", "--connect", url, "--unit", "7")
    assert (named.code, named.out) == (1, "")
    assert named.err == (
        f"leviton-bridge read: unit 7 on {url}: identifies as 'Pymodbus' (function 0x11), "
        "not as a Leviton meter\n"
    )
    silent = await cli("read", "--connect", url, "--unit", "8", "--json")
    assert (silent.code, silent.out) == (1, "")
    assert "answers Modbus but shows nothing of a Leviton meter" in silent.err
    assert "register 45001 (a Leviton meter's own Modbus id) holds 0, not 8" in silent.err

    scan = await cli("scan", "--connect", url, "--units", "1-8")
    assert scan.code == 0
    lines = scan.out.splitlines()
    assert lines[0] == f"1 meter(s) on {url} at unit ids 1-8:"
    assert lines[1].startswith("  unit   1: Series 2000")
    problems = [line for line in lines if line.startswith("  problem:")]
    assert len(problems) == 2
    assert "unit 7" in problems[0]
    assert "'Pymodbus'" in problems[0]
    assert "unit 8" in problems[1]
    assert "shows nothing of a Leviton meter" in problems[1]
    assert sim.meters[7].reset_count == 0  # nothing was written to it


def test_help_does_not_start_pymodbus() -> None:
    """``--help`` answers at once: the simulator's pymodbus server is imported only to serve."""
    code = (
        "import sys\n"
        "from leviton_bridge.cli.main import build_parser\n"
        "build_parser().format_help()\n"
        "assert 'pymodbus.server' not in sys.modules, sorted(m for m in sys.modules if 'pymodbus' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_verbose_goes_before_or_after_the_command() -> None:
    for argv in (["-v", "scan", "--help"], ["scan", "-v", "--help"], ["scan", "--help", "-vv"]):
        assert run(*argv).code == 0, argv
    assert run("check-config", "-v").code == 2  # still a usage error: the file is missing


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "61", "1e9", "abc"])
def test_timeouts_are_bounded(value: str) -> None:
    """A timeout of infinity (or nan, or a year) would hang against a silent device."""
    result = run("read", "--connect", "tcp://127.0.0.1:1", "--unit", "1", "--timeout", value)
    assert result.code == 2
    assert "--timeout" in result.err
    assert "between 0.05 and 60 seconds" in result.err or "is not a number" in result.err


async def test_read_json_into_a_closed_pipe_is_quiet(start_simulator: StartSimulator) -> None:
    """``read --json | head -1``: the reader goes away before the meter has answered; the
    command stops without a BrokenPipeError traceback."""
    _, url = await start_simulator("3:8000-24")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: like head after its first line
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "leviton_bridge",
            "read",
            "--connect",
            url,
            "--unit",
            "3",
            "--json",
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, err = await process.communicate()
    assert process.returncode == 1
    assert b"Traceback" not in err, err.decode()


@pytest.mark.parametrize(
    "argv",
    [
        ("read", "--unit", "1"),
        ("read", "--unit", "1", "--series", "2000", "--json"),
        ("scan", "--units", "1-3"),
        ("reset-demand", "--unit", "1"),
    ],
    ids=["read", "read-json", "scan", "reset-demand"],
)
def test_an_echoing_gateway_is_a_short_answer_not_a_traceback(
    echo_gateway: int, argv: tuple[str, ...]
) -> None:
    """``socat TCP-LISTEN:PORT,fork EXEC:cat`` in front of nothing: every read comes back as
    an answer of no registers. Each command says so in one line, as the real process does."""
    url = f"rtu+tcp://127.0.0.1:{echo_gateway}?timeout=0.3"
    done = subprocess.run(
        [BRIDGE, argv[0], "--connect", url, *argv[1:]],
        capture_output=True,
        text=True,
        check=False,
        timeout=PATIENCE,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "cut short" in done.stdout + done.stderr, (done.stdout, done.stderr)
    assert "echoed back" in done.stdout + done.stderr
    if argv[0] == "scan":
        assert done.returncode == 1
        assert done.stdout.startswith(
            f"No Leviton meter could be identified on {url} at unit ids 1-3"
        )
    else:
        assert done.returncode == 1
        assert done.stderr.startswith(f"leviton-bridge {argv[0]}: unit 1 on {url}: ")
        assert done.stderr.count("\n") == 1

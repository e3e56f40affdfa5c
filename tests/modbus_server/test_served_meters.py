"""A client that knows Leviton meters cannot tell the bridge's Modbus TCP server from the
meters: the same registers, the same exceptions, the same 0x11 answer, the same readings
through ``leviton-bridge read`` and ``scan``; and it is a gateway: a unit nobody configured
answers 0x0A, a meter the bridge lost (offline, or its last poll too old) 0x0B."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from leviton_bridge.cli import main
from leviton_driver import registers as reg
from leviton_driver.profile import load_profile
from tests.support import SteppedClock, until

from .conftest import StartSite, read

Connect = Callable[[str], Awaitable[AsyncModbusTcpClient]]
#: Addresses neither kind of meter has (between the documented blocks, after them).
UNDOCUMENTED = ((0x0006, 1), (0x0005, 2), (0x0040, 1), (0x138C, 1), (0x1390, 1), (0x9000, 4))


async def test_series_1000_2000_registers_are_the_meters(
    start_site: StartSite, client: Connect
) -> None:
    site = await start_site()
    meter, served = await client(site.meter_url), await client(site.served_url)
    for unit in (1, 2):
        for first, last in reg.DOCUMENTED_READ_RANGES:
            count = last - first + 1
            assert await read(served, unit, first, count) == await read(meter, unit, first, count)
            # And each register on its own, as a client reading one value asks.
            for address in range(first, last + 1):
                assert await read(served, unit, address, 1) == await read(meter, unit, address, 1)
        for address, count in UNDOCUMENTED:
            assert await read(meter, unit, address, count) == 0x02
            assert await read(served, unit, address, count) == 0x02
        # The manual lists 0x03 as the only read: 0x04 is refused by both.
        assert (
            await read(served, unit, 0, 6, function=4)
            == await read(meter, unit, 0, 6, function=4)
            == 0x01
        )
        # Function 0x11: the meter's own answer, byte for byte.
        theirs = await meter.report_device_id(device_id=unit)
        ours = await served.report_device_id(device_id=unit)
        assert not ours.isError()
        assert ours.encode() == theirs.encode()


async def test_series_8000_registers_are_its_profiles(
    start_site: StartSite, client: Connect
) -> None:
    site = await start_site()
    meter, served = await client(site.meter_url), await client(site.served_url)
    profile = load_profile()
    function = 4 if profile.register_space == "input" else 3
    blocks = [(spec.address, spec.width) for spec in profile.meter.values()]
    end = profile.first_address + 8 * profile.stride
    blocks += [
        (address, min(60, end - address)) for address in range(profile.first_address, end, 60)
    ]
    for address, count in blocks:
        assert await read(served, 3, address, count, function) == await read(
            meter, 3, address, count, function
        ), (address, count)
    assert await read(served, 3, end + 1000, 2, function) == 0x02
    assert await read(meter, 3, end + 1000, 2, function) == 0x02


async def _cli(*args: str) -> tuple[int, str]:
    """Run the command line in a thread (its own event loop): exit code, and what it printed
    (standard output, or standard error when it failed)."""
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(main, list(args), out, err)
    return code, out.getvalue() if code == 0 else err.getvalue()


async def test_read_and_scan_through_the_bridge(start_site: StartSite) -> None:
    """The project's own tools, pointed at the bridge, see the meters as they are."""
    site = await start_site()
    for unit in (1, 2, 3):
        code, direct = await _cli(
            "read", "--connect", site.meter_url, "--unit", str(unit), "--json"
        )
        assert code == 0, direct
        code, through = await _cli(
            "read", "--connect", site.served_url, "--unit", str(unit), "--json"
        )
        assert code == 0, through
        mine, theirs = json.loads(direct), json.loads(through)
        del mine["time"], theirs["time"]
        assert theirs == mine
    code, found = await _cli("scan", "--connect", site.served_url, "--units", "1-6", "--json")
    assert code == 0, found
    assert [meter["unit_id"] for meter in json.loads(found)] == [1, 2, 3]


async def test_gateway_answers(start_site: StartSite, client: Connect) -> None:
    site = await start_site()
    served = await client(site.served_url)
    assert await read(served, 9, 0, 6) == 0x0A  # nobody configured unit 9
    assert await read(served, 0, 0, 6) == 0x0A
    # A meter the bridge lost: offline after three failed polls, then 0x0B.
    undo = site.sim.silence(2)
    state = site.bridge.states[1]
    await until(lambda: not state.available, "unit 2 offline")
    assert await read(served, 2, 0, 6) == 0x0B
    assert (await served.report_device_id(device_id=2)).exception_code == 0x0B  # type: ignore[attr-defined]
    undo()
    await until(lambda: state.available, "unit 2 back")
    assert isinstance(await read(served, 2, 0, 6), list)
    # A last poll older than max_age (three poll intervals, at least 10 s): 0x0B too.
    clock = SteppedClock()
    site.face.clock = clock
    assert isinstance(await read(served, 1, 0, 6), list)
    clock.advance(11)
    assert await read(served, 1, 0, 6) == 0x0B
    clock.advance(-11)
    assert isinstance(await read(served, 1, 0, 6), list)


async def test_a_meter_served_at_another_unit_id(start_site: StartSite, client: Connect) -> None:
    """Two buses may both have a unit 1: ``units`` serves a meter at an id of its own, and its
    45001 (the meter's own id, which a client checks) says that id."""
    site = await start_site(units={"lab_u1": 41})
    served = await client(site.served_url)
    assert await read(served, 1, 0, 6) == 0x0A
    words = await read(served, 41, reg.MODBUS_ID_REGISTER, 4)
    assert isinstance(words, list)
    assert words[0] == 41
    code, through = await _cli("read", "--connect", site.served_url, "--unit", "41", "--json")
    assert code == 0, through
    assert json.loads(through)["readings"]["energy_delivered"] == 5000.0


async def test_the_status_shows_what_was_served(
    start_site: StartSite, client: Connect, http: Any
) -> None:
    site = await start_site()
    served = await client(site.served_url)
    for _ in range(5):
        await read(served, 1, 0, 6)
    await read(served, 9, 0, 1)
    status = site.face.status()
    assert status.up
    assert status.details["clients"] == 1
    assert status.details["meters"]["lab_u1"]["answers"] == 5
    assert status.details["meters"]["lab_u1"]["age_s"] is not None
    figures = {(f.name, tuple(sorted(f.labels.items()))): f.value for f in status.figures}
    assert (
        figures[("leviton_modbus_server_requests", (("function", "0x03"), ("outcome", "ok")))] == 5
    )
    assert (
        figures[
            ("leviton_modbus_server_requests", (("function", "0x03"), ("outcome", "exception_0a")))
        ]
        == 1
    )
    assert figures[("leviton_modbus_server_clients", ())] == 1

"""Writes through the Modbus TCP server: only the demand reset, only when allowed, through the
bridge's one reset path; and what hostile or careless clients may cost: nothing but their own
connection, a warning a minute, never a traceback, never the polling or the other clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest
from pymodbus.client import AsyncModbusTcpClient

from leviton_driver import registers as reg
from tests.support import until

from .conftest import StartSite, read

Connect = Callable[[str], Awaitable[AsyncModbusTcpClient]]
READ_BLOCK = struct.pack(">HHHBBHH", 7, 0, 6, 1, 3, 0, 6)  # unit 1: 40001-40006


async def _reset(
    modbus: AsyncModbusTcpClient, unit: int, value: int = reg.DEMAND_RESET_VALUE
) -> int | None:
    """A write of the demand-reset register: None when it was done, else the exception."""
    answer = await modbus.write_register(reg.DEMAND_RESET_ADDRESS, value, device_id=unit)
    return int(answer.exception_code) if answer.isError() else None


async def test_writes_are_refused_unless_allowed(start_site: StartSite, client: Connect) -> None:
    site = await start_site()
    served = await client(site.served_url)
    assert await _reset(served, 1) == 0x01
    answer = await served.write_registers(reg.MODBUS_ID_REGISTER, [9], device_id=1)
    assert answer.exception_code == 0x01  # type: ignore[attr-defined]
    assert site.sim.meters[1].reset_count == 3
    assert site.sim.meters[1].unit == 1


async def test_a_reset_through_a_write_is_the_bridges_reset(
    start_site: StartSite, client: Connect
) -> None:
    site = await start_site(writes=True)
    served = await client(site.served_url)
    meter = site.sim.meters[1]
    # Answered once the meter confirmed it; counted once on the meter, however many clients
    # and faces ask at once (the core folds a burst into one reset).
    others = [await client(site.served_url) for _ in range(3)]
    outcomes = await asyncio.gather(
        _reset(served, 1),
        *(_reset(other, 1) for other in others),
        site.bridge.core.reset_peak_demand("lab_u1", "http"),
    )
    assert outcomes[:4] == [None] * 4
    assert outcomes[4].ok  # type: ignore[union-attr]
    assert meter.reset_count == 4
    counter = await read(served, 1, 0x138D, 1)
    assert counter == [4]  # the served registers show it at once
    # Everything else is refused: the unit id (a client never renumbers a meter through the
    # bridge), another register, another value, a meter with no documented reset.
    answer = await served.write_registers(reg.MODBUS_ID_REGISTER, [9], device_id=1)
    assert answer.exception_code == 0x02  # type: ignore[attr-defined]
    answer = await served.write_register(reg.MODBUS_ID_REGISTER, 9, device_id=1)
    assert answer.exception_code == 0x02  # type: ignore[attr-defined]
    assert await _reset(served, 1, value=0x0001) == 0x03
    assert await _reset(served, 3) == 0x02
    assert meter.unit == 1
    assert meter.reset_count == 4


async def test_a_reset_that_fails_is_an_exception(start_site: StartSite, client: Connect) -> None:
    site = await start_site(writes=True)
    served = await client(site.served_url)
    state = site.bridge.states[0]
    undo = site.sim.silence(1)
    # The meter went silent after its last poll: the reset cannot be confirmed.
    assert await _reset(served, 1) == 0x04
    undo()
    await until(lambda: state.available, "unit 1 back")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("leviton_bridge.modbus_server") and r.levelno >= logging.WARNING
    ]


async def _raw(port: int, data: bytes, *, source: str = "127.0.0.1") -> bytes:
    """Send bytes as they are (from ``source``); what comes back before the server closes."""
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((source, 0))
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(data)
        return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_hostile_clients_cost_their_own_connection(
    start_site: StartSite, client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site = await start_site(max_clients=4, allow=["127.0.0.1/32", "::1/128"])
    good = await client(site.served_url)
    # A frame that is not Modbus TCP (another protocol id): that connection is closed...
    bad = struct.pack(">HHHBBHH", 1, 0x4242, 6, 1, 3, 0, 6)
    for _ in range(20):
        assert await _raw(site.port, bad) == b""
    # ... and one whose length no frame has, sent in pieces.
    assert await _raw(site.port, struct.pack(">HHH", 1, 0, 2000) + b"x" * 50) == b""
    # The others go on.
    assert isinstance(await read(good, 1, 0, 6), list)
    # Outside allow: closed at accept (127.0.0.2 is this host too, but not allowed).
    assert await _raw(site.port, READ_BLOCK, source="127.0.0.2") == b""
    # More than max_clients: refused.
    extra = [await client(site.served_url) for _ in range(3)]  # 4 connected now
    assert await _raw(site.port, READ_BLOCK) == b""
    assert site.face.server.counts["refused: too many clients"] == 1
    for modbus in extra:
        modbus.close()
    warnings = _warnings(caplog)
    assert all(r.exc_info is None for r in warnings)
    kinds = [r.kind for r in warnings]  # type: ignore[attr-defined]
    assert kinds.count("malformed") == 1  # 21 malformed frames: one line, the rest counted
    assert kinds.count("not allowed") == 1
    assert kinds.count("too many clients") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_idle_connections_are_closed(start_site: StartSite) -> None:
    site = await start_site(idle_timeout=0.3)
    silent = await asyncio.open_connection("127.0.0.1", site.port)
    half = await asyncio.open_connection("127.0.0.1", site.port)
    half[1].write(READ_BLOCK[:5])  # half a frame, then nothing
    for reader, writer in (silent, half):
        assert await reader.read() == b""  # closed by the bridge
        writer.close()
    assert site.face.server.counts["closed: idle"] == 2


async def test_a_flood_from_one_client_delays_neither_the_others_nor_polling(
    start_site: StartSite, client: Connect
) -> None:
    """One client pipelines requests without pause for as long as the test needs; meanwhile
    another is answered and the bus keeps polling; every flooded request is answered."""
    site = await start_site()
    poller = site.bridge.pollers[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
    stop = asyncio.Event()
    sent = received = 0
    answer_size = 9 + 12  # MBAP header, function, byte count, six registers

    async def flood() -> None:
        nonlocal sent, received
        while not stop.is_set():
            writer.write(READ_BLOCK * 500)
            sent += 500
            while received < (sent - 500) * answer_size:  # keep 500 to 1,000 in flight
                data = await reader.read(65536)
                assert data, "the flooding client was cut off"
                received += len(data)
        while received < sent * answer_size:
            data = await reader.read(65536)
            assert data
            received += len(data)

    flooding = asyncio.create_task(flood())
    other = await client(site.served_url)
    await until(lambda: sent >= 5_000, "the flood under way")
    cycles = poller.cycles
    for _ in range(20):
        assert isinstance(await read(other, 2, 0, 6), list)
    await poller.wait_for_cycle(cycles + 2)
    stop.set()
    await flooding
    assert received == sent * answer_size
    writer.close()

"""Trend logs, read by a real bacpypes3 client with ReadRange and compared with the history
store and with ``/api/meters/{id}/history``: the bridge polls simulated meters on a held
clock that the test moves from boundary to boundary (every total known exactly), one meter
goes silent for two intervals (failure records, never zeros)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from bacpypes3.apdu import ErrorRejectAbortNack, ReadRangeACK, ReadRangeRequest
from bacpypes3.app import Application
from bacpypes3.basetypes import (
    DateTime,
    LogRecord,
    Range,
    RangeByPosition,
    RangeBySequenceNumber,
    RangeByTime,
)
from bacpypes3.constructeddata import ListOf
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import Date, Double, ObjectIdentifier, Time

from leviton_bridge.bacnet import mapping
from leviton_bridge.bacnet.ede import ede_text
from leviton_bridge.daemon import Bridge, parse
from leviton_bridge.history.face import HistoryFace
from leviton_bridge.simulator import MeterSimulator
from tests.history.conftest import EPOCH, INTERVAL, move_clock, start_site
from tests.support import free_port, until
from tests.support.inprocess import StartSimulator
from tests.support.statuspage import HeldClock

DEVICE_INSTANCE = 59017


@dataclass
class Site:
    bridge: Bridge
    sim: MeterSimulator
    clock: HeldClock
    address: Address
    page: str

    @property
    def history(self) -> HistoryFace:
        face = self.bridge.face("history")
        assert isinstance(face, HistoryFace)
        return face

    async def at(self, wall: float) -> None:
        """Move the meters' clock to ``wall``; wait until they have been read there."""
        await move_clock(self.bridge, self.clock, wall)
        poller = self.bridge.pollers[0]
        await poller.wait_for_cycle(poller.cycles + 2)

    async def written(self, boundary: int) -> None:
        face = self.history
        await face.changes.wait_until(
            lambda: face.store.until is not None and face.store.until >= boundary
        )


async def _client(max_apdu: int) -> Any:
    port = free_port(socket.SOCK_DGRAM)
    device = DeviceObject(
        objectIdentifier=("device", 599900 + max_apdu),
        objectName=f"trend client {max_apdu}",
        vendorIdentifier=999,
        maxApduLengthAccepted=max_apdu,
    )
    network_port = NetworkPortObject(
        f"127.0.0.1/32:{port}", objectIdentifier=("network-port", 1), objectName="client port"
    )
    return Application.from_object_list([device, network_port])


@pytest.fixture
async def site(start_simulator: StartSimulator) -> AsyncIterator[Site]:
    clock = HeldClock()
    sim, url = await start_simulator(
        "1:2000:load=12:energy=20000000.5", "2:8000-8:load=8", clock=clock
    )
    port = free_port(socket.SOCK_DGRAM)
    page = f"127.0.0.1:{free_port()}"
    config = {
        "buses": [
            {
                "name": "basement",
                "connect": f"{url}?timeout=0.2",
                "poll_interval": 0.1,
                "offline_after": 1,
                "meters": [{"unit": 1, "name": "Unit 1A"}, {"unit": 2, "name": "Panel"}],
            }
        ],
        "bacnet": {
            "address": f"127.0.0.1/32:{port}",
            "device_instance": DEVICE_INSTANCE,
            "trend_log_buffer": 12,
        },
        "http": {"listen": page},
        "history": {"interval": INTERVAL // 60},
    }
    history_site = await start_site(config, sim, clock)
    try:
        yield Site(history_site.bridge, sim, clock, Address(f"127.0.0.1:{port}"), f"http://{page}")
    finally:
        with contextlib.suppress(Exception):
            await history_site.close()


async def read_range(
    app: Any, address: Address, oid: ObjectIdentifier, rng: Range | None, prop: str = "logBuffer"
) -> Any:
    request = ReadRangeRequest(objectIdentifier=oid, propertyIdentifier=prop)
    request.pduDestination = address
    if rng is not None:
        request.range = rng
    return await app.request(request)


async def refused(call: Any) -> str:
    """What the device answered to a request it must refuse (fails if it did not)."""
    try:
        answer = await call
    except ErrorRejectAbortNack as err:
        return str(err)
    raise AssertionError(f"not refused: {answer}")


def local(epoch: float) -> DateTime:
    when = datetime.fromtimestamp(epoch)
    return DateTime(
        date=Date((when.year - 1900, when.month, when.day, when.isoweekday())),
        time=Time((when.hour, when.minute, when.second, 0)),
    )


def value_of(record: LogRecord) -> Any:
    """A record as the test compares it: a total, "failure" or "interrupted"."""
    datum = record.logDatum
    if datum.anyValue is not None:
        return datum.anyValue.cast_out(Double)
    if datum.failure is not None:
        return ("failure", str(datum.failure.errorClass), str(datum.failure.errorCode))
    return ("status", list(datum.logStatus))


def records(ack: Any) -> list[Any]:
    assert isinstance(ack, ReadRangeACK), ack
    return [value_of(r) for r in ack.itemData.cast_out(ListOf(LogRecord))]


async def test_the_trend_log_reads_what_the_store_and_the_api_hold(site: Site) -> None:
    meter = site.sim.meters[1]
    first = (int(EPOCH + site.clock.now) // INTERVAL + 1) * INTERVAL
    boundaries = [first + k * INTERVAL for k in range(16)]
    expected: dict[int, Any] = {}  # record timestamp (boundary) -> what the log must say
    silence = None
    for number, boundary in enumerate(boundaries):
        if number == 8:
            silence = site.sim.silence(1)  # not read at the boundaries 8 and 9
            await until(lambda: not site.bridge.states[0].available, "unit 1 offline")
        if number == 10 and silence is not None:
            await move_clock(site.bridge, site.clock, boundary)
            silence()
            # Back at the boundary 10 (a meter that was offline is tried again after a few
            # polls, not at once).
            await until(lambda: site.bridge.states[0].available, "unit 1 answering again")
        await site.at(boundary)
        await site.written(boundary)
        expected[boundary] = int(meter.energy_delivered() * 10) / 10
    app = await _client(1476)
    try:
        oid = ObjectIdentifier(
            ("trendLog", mapping.trend_log_spec(site.bridge.states[0].config).instance)
        )
        # The device says it has trend logs and executes ReadRange.
        device = ObjectIdentifier(("device", DEVICE_INSTANCE))
        services = str(await app.read_property(site.address, device, "protocol-services-supported"))
        assert "read-range" in services.split(";")
        types = str(
            await app.read_property(site.address, device, "protocol-object-types-supported")
        )
        assert "trend-log" in types.split(";")
        # Properties a BMS reads first.
        read = lambda prop: app.read_property(site.address, oid, prop)  # noqa: E731
        assert await read("log-interval") == INTERVAL * 100
        assert await read("buffer-size") == 12
        assert await read("enable") == 1
        assert str(await read("logging-type")) == "polled"
        reference = await read("log-device-object-property")
        logged = mapping.trend_logged(site.bridge.states[0].config)
        assert (
            tuple(reference.objectIdentifier)
            == (
                getattr(type(reference.objectIdentifier[0]), logged.object_type),
                logged.instance,
            )
            or reference.objectIdentifier[1] == logged.instance
        )
        assert str(reference.propertyIdentifier) == "present-value"
        total = await read("total-record-count")
        count = await read("record-count")
        assert count == 12
        assert total >= 15  # the first interval and every boundary since
        assert list(await read("status-flags")) == [0, 0, 0, 0]
        assert "read-access-denied" in await refused(read("log-buffer"))
        # The whole buffer by position: the last 12 boundaries.
        ack = await read_range(
            app, site.address, oid, Range(byPosition=RangeByPosition(referenceIndex=1, count=12))
        )
        got = records(ack)
        assert list(ack.resultFlags) == [1, 1, 0]
        assert ack.itemCount == 12
        newest = boundaries[-12:]
        stamps = [r.timestamp for r in ack.itemData.cast_out(ListOf(LogRecord))]
        assert [str(s) for s in stamps] == [str(local(b)) for b in newest]
        # Read last at the boundary 7, silent until the boundary 10: the intervals ending at 9
        # and 10 are gaps; the total at 8 (read within its interval at 7) is interpolated
        # between the real readings at 7 and 10.
        b7, b8, b10 = boundaries[7], boundaries[8], boundaries[10]
        expected[b8] = expected[b7] + (expected[b10] - expected[b7]) * (b8 - b7) / (b10 - b7)
        for boundary, value in zip(newest, got, strict=True):
            if boundary in (boundaries[9], boundaries[10]):
                assert value == ("failure", "communication", "timeout"), (boundary, value)
            else:
                assert value == pytest.approx(expected[boundary], abs=1e-6), boundary
        # The same from the store and from the API.
        face = site.history
        _previous, rows = await face.intervals(
            "basement_u1", newest[0] - INTERVAL, newest[-1] - INTERVAL
        )
        for row, value in zip(rows, got, strict=True):
            if isinstance(value, float):
                assert row.series[0].delivered == value
            else:
                assert row.flags & 2  # a gap
        async with aiohttp.ClientSession() as http:
            answer = await http.get(
                f"{site.page}/api/meters/basement_u1/history",
                params={"from": str(newest[0] - INTERVAL), "to": str(newest[-1])},
            )
            assert answer.status == 400  # not ISO: refused in words
            start = datetime.fromtimestamp(newest[0] - INTERVAL).isoformat()
            end = datetime.fromtimestamp(newest[-1]).isoformat()
            api = await (
                await http.get(
                    f"{site.page}/api/meters/basement_u1/history", params={"from": start, "to": end}
                )
            ).json()
        closed = [row for row in api["rows"] if row["quality"] != "open"]
        assert len(closed) == 12
        for row, value in zip(closed, got, strict=True):
            if isinstance(value, float):
                assert row["delivered_total"] == pytest.approx(value, abs=1e-3)
            else:
                assert "gap" in row["quality"]
                assert row["energy_delivered"] is None
        # By sequence number: the three records from the fifth, with their first number.
        sequence = total - 12 + 5
        ack = await read_range(
            app,
            site.address,
            oid,
            Range(
                bySequenceNumber=RangeBySequenceNumber(referenceSequenceNumber=sequence, count=3)
            ),
        )
        assert records(ack) == got[4:7]
        assert ack.firstSequenceNumber == sequence
        assert list(ack.resultFlags) == [0, 0, 0]
        # Backwards from the newest.
        ack = await read_range(
            app,
            site.address,
            oid,
            Range(bySequenceNumber=RangeBySequenceNumber(referenceSequenceNumber=total, count=-2)),
        )
        assert records(ack) == got[-2:]
        assert ack.firstSequenceNumber == total - 1
        assert list(ack.resultFlags) == [0, 1, 0]
        # A sequence number the buffer no longer holds matches nothing.
        ack = await read_range(
            app,
            site.address,
            oid,
            Range(bySequenceNumber=RangeBySequenceNumber(referenceSequenceNumber=1, count=3)),
        )
        assert ack.itemCount == 0
        assert ack.firstSequenceNumber is None
        # By time: the records newer than a boundary, and those older.
        ack = await read_range(
            app,
            site.address,
            oid,
            Range(byTime=RangeByTime(referenceTime=local(newest[3]), count=2)),
        )
        assert records(ack) == got[4:6]
        assert ack.firstSequenceNumber == total - 12 + 5
        ack = await read_range(
            app,
            site.address,
            oid,
            Range(byTime=RangeByTime(referenceTime=local(newest[3]), count=-100)),
        )
        assert records(ack) == got[:3]
        assert list(ack.resultFlags) == [1, 0, 0]
        # A Series 8000 point's trend log: its own totals.
        point_oid = ObjectIdentifier(
            ("trendLog", mapping.trend_log_spec(site.bridge.states[1].config, 3).instance)
        )
        ack = await read_range(app, site.address, point_oid, None)
        assert ack.itemCount == 12
        _previous, rows = await face.intervals(
            "basement_u2", newest[0] - INTERVAL, newest[-1] - INTERVAL
        )
        assert records(ack) == [row.series[2].delivered for row in rows]
        # Not a list: the analog object's present value (bacpypes3 spells the code
        # "property-is-not-alist"); and it has no log buffer.
        for prop, error in (
            ("presentValue", "property-is-not-alist"),
            ("logBuffer", "unknown-property"),
        ):
            answer = await refused(
                read_range(app, site.address, ObjectIdentifier(logged.identifier), None, prop)
            )
            assert error in answer, (prop, answer)
    finally:
        app.close()


async def test_a_range_that_does_not_fit_one_apdu_says_more_items(site: Site) -> None:
    first = (int(EPOCH + site.clock.now) // INTERVAL + 1) * INTERVAL
    for number in range(12):
        boundary = first + number * INTERVAL
        await site.at(boundary)
        await site.written(boundary)
    small = await _client(206)  # about seven records a message
    big = await _client(1476)
    try:
        oid = ObjectIdentifier(
            ("trendLog", mapping.trend_log_spec(site.bridge.states[0].config).instance)
        )
        whole = records(await read_range(big, site.address, oid, None))
        assert len(whole) == 12
        ack = await read_range(small, site.address, oid, None)
        forward = records(ack)
        assert 0 < len(forward) < 12
        assert forward == whole[: len(forward)]
        assert list(ack.resultFlags) == [1, 0, 1]  # first item, more items
        assert len(ack.encode().pduData) <= 206
        # Backwards: the newest that fit (nearest the reference), still oldest first.
        total = await big.read_property(site.address, oid, "total-record-count")
        ack = await read_range(
            small,
            site.address,
            oid,
            Range(bySequenceNumber=RangeBySequenceNumber(referenceSequenceNumber=total, count=-12)),
        )
        backward = records(ack)
        assert backward == whole[-len(backward) :]
        assert ack.firstSequenceNumber == total - len(backward) + 1
        assert list(ack.resultFlags) == [0, 1, 1]
        # The rest, read on by position: nothing lost, nothing twice.
        rest = records(
            await read_range(
                small,
                site.address,
                oid,
                Range(byPosition=RangeByPosition(referenceIndex=len(forward) + 1, count=12)),
            )
        )
        assert (forward + rest)[:12] == whole[: len(forward + rest)]
        # Count zero is no range at all.
        answer = await refused(
            read_range(
                big, site.address, oid, Range(byPosition=RangeByPosition(referenceIndex=1, count=0))
            )
        )
        assert "parameter-out-of-range" in answer
    finally:
        small.close()
        big.close()


async def test_the_ede_file_lists_the_trend_logs(
    start_simulator: StartSimulator, site: Site
) -> None:
    """``bacnet-ede`` with a history lists a trend log per energy-delivered total: the ones the
    running device has, with their numbers, names and no COV."""
    _sim, url = await start_simulator("1:2000", "2:8000-8")
    config = parse(
        {
            "buses": [
                {
                    "name": "basement",
                    "connect": f"{url}?timeout=0.3",
                    "meters": [{"unit": 1, "name": "Unit 1A"}, {"unit": 2, "name": "Panel"}],
                }
            ],
            "bacnet": {"address": "127.0.0.1/32:47808", "device_instance": DEVICE_INSTANCE},
            "history": {},
        },
        "test",
    )
    text, _count = await ede_text(config)
    rows = [line.split(";") for line in text.splitlines() if line.startswith("basement_u")]
    logs = {(row[2], int(row[3]), int(row[4]), row[10]) for row in rows if row[0].endswith("_log")}
    assert (
        "Unit 1A Energy delivered log",
        20,
        mapping.trend_log_spec(config.meters[0]).instance,
        "N",
    ) in logs
    assert len(logs) == 1 + 8
    # The running device has the same trend logs.
    await until(lambda: len(site.bridge.bacnet.trend_logs) == 9, "every trend log")
    running = {
        (log._spec.name, int(log.objectIdentifier[1])) for log in site.bridge.bacnet.trend_logs
    }
    assert running == {(name, instance) for name, _type, instance, _cov in logs}


def test_each_kind_of_boundary_is_its_own_record() -> None:
    """A total; a meter that did not answer (a gap, or an end not known): a failure; the
    bridge not running (no row, or the interval it was down in): log-interrupted. Never 0."""
    from leviton_bridge.bacnet.trendlog import record_of
    from leviton_bridge.core.history import IntervalRow, Quality, SeriesEnd, missing_row

    end = SeriesEnd(1234.5, 0.0, 2.0)
    cases = [
        (IntervalRow(0, 0, -100, None, (end,)), 1234.5),
        (IntervalRow(0, Quality.END_ESTIMATED, -9000, 8000, (end,)), 1234.5),
        (IntervalRow(0, Quality.GAP | Quality.END_ESTIMATED, -9000, 8000, (end,)), "failure"),
        (
            IntervalRow(0, Quality.END_UNKNOWN, -9000, None, (SeriesEnd(None, None, 2.0),)),
            "failure",
        ),
        (IntervalRow(0, Quality.INTERRUPTED, -100, None, (end,)), 1234.5),
        (
            IntervalRow(
                0, Quality.GAP | Quality.INTERRUPTED | Quality.END_ESTIMATED, None, 60000, (end,)
            ),
            "status",
        ),
        (missing_row(0), "status"),
    ]
    for row, expected in cases:
        value = value_of(record_of(row, 0, INTERVAL))
        if isinstance(expected, float):
            assert value == expected, row
        else:
            assert isinstance(value, tuple), row
            assert value[0] == expected, row
            if expected == "status":
                assert value[1][2] == 1  # log-interrupted

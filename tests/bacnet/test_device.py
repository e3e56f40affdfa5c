"""The running bridge's BACnet/IP device, seen by a bacpypes3 client on loopback.

The bridge (``leviton_bridge.daemon.Bridge``) polls simulated meters every 0.2 s: a Series 2000
whose energy total (20,000,000.5 kWh) does not fit a REAL, a Series 8000-8, and a Series 1000
that can be silenced. Loopback has no broadcast, so Who-Is and Who-Has go directed to the device.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest
from bacpypes3.apdu import (
    ErrorRejectAbortNack,
)
from bacpypes3.basetypes import (
    BinaryPV,
    EngineeringUnits,
    Reliability,
)
from bacpypes3.primitivedata import ObjectIdentifier

from leviton_bridge.bacnet import mapping
from leviton_bridge.bacnet.face import BacnetFace
from leviton_bridge.config import BacnetConfig
from leviton_driver import ConfigurationError
from tests.support import PATIENCE, free_port, until
from tests.support.inprocess import StartSimulator

from .conftest import (
    DEVICE,
    DEVICE_INSTANCE,
    S2000_OBJECTS,
    S8000_8_OBJECTS,
    Client,
    Site,
    StartBridge,
    bus,
    object_list,
    unanswered,
)

# -- discovery ---------------------------------------------------------------------------------


async def test_who_is_and_who_has(site: Site) -> None:
    app, device = site.client.app, site.bridge.address
    (i_am,) = await app.who_is(address=device)
    assert i_am.iAmDeviceIdentifier == ObjectIdentifier(DEVICE)
    assert i_am.vendorID == 999
    assert i_am.maxAPDULengthAccepted == 1476
    (i_am,) = await app.who_is(DEVICE_INSTANCE, DEVICE_INSTANCE, address=device)
    assert i_am.pduSource == device
    await unanswered(
        app.who_is(1, 10, address=device, timeout=PATIENCE),
        app.who_is(DEVICE_INSTANCE, DEVICE_INSTANCE, address=device),
    )

    power = site.spec(2, "power", point=3)
    assert power.name == "Tenant panel point 3 Power"
    (i_have,) = await app.who_has(
        DEVICE_INSTANCE, DEVICE_INSTANCE, object_name=power.name, address=device
    )
    assert i_have.deviceIdentifier == ObjectIdentifier(DEVICE)
    assert i_have.objectIdentifier == ObjectIdentifier(power.identifier)
    assert i_have.objectName == power.name
    (i_have,) = await app.who_has(
        DEVICE_INSTANCE,
        DEVICE_INSTANCE,
        object_identifier=site.oid(1, "energy_delivered"),
        address=device,
    )
    assert i_have.objectName == "Unit 1A Energy delivered"
    await unanswered(
        app.who_has(
            DEVICE_INSTANCE,
            DEVICE_INSTANCE,
            object_name="No such object",
            address=device,
            timeout=PATIENCE,
        ),
        app.who_has(DEVICE_INSTANCE, DEVICE_INSTANCE, object_name=power.name, address=device),
    )


# -- reads -------------------------------------------------------------------------------------


async def test_device_object(site: Site) -> None:
    client = site.client
    assert await client.read(DEVICE, "object-name") == "Leviton test bridge"
    assert await client.read(DEVICE, "location") == "Basement"
    assert await client.read(DEVICE, "vendor-identifier") == 999
    assert await client.read(DEVICE, "model-name") == "leviton-bridge"
    services = await client.read(DEVICE, "protocol-services-supported")
    executed = {"read-property", "read-property-multiple", "write-property", "subscribe-cov"}
    assert executed | {"who-is", "who-has", "write-property-multiple"} == set(
        str(services).split(";")
    )
    types = str(await client.read(DEVICE, "protocol-object-types-supported")).split(";")
    assert {"analog-input", "large-analog-value", "binary-value", "device"} <= set(types)
    objects = await object_list(client)
    assert len(objects) == 2 + 2 * S2000_OBJECTS + S8000_8_OBJECTS
    assert {oid[0].attr for oid in objects} == {
        "device",
        "networkPort",
        "analogInput",
        "largeAnalogValue",
        "binaryValue",
    }


async def test_every_object_reads_and_matches_the_meter(site: Site) -> None:
    client = site.client
    for oid in await object_list(client):
        if oid[0].attr in ("device", "networkPort"):
            continue
        obj = site.bridge.publisher.app.get_object_id(oid)  # type: ignore[union-attr]
        spec = obj._spec
        assert await client.read(oid, "object-name") == spec.name
        assert await client.read(oid, "description") == spec.description
        flags = await client.read(oid, "status-flags")
        if spec.key in ("derived_power", "net_power") and obj._value is None:
            # too few 0.1 kWh steps yet to derive a power: known to be unknown
            assert await client.read(oid, "reliability") == Reliability.unreliableOther
            assert list(flags) == [0, 1, 0, 0]
            continue
        assert list(flags) == [0, 0, 0, 0], spec.name
        assert await client.read(oid, "reliability") == Reliability.noFaultDetected
        # Every value the object holds while the read is under way: polls go on meanwhile,
        # and on a busy machine more than one can land inside a read.
        held = [obj._value]
        if spec.key != mapping.RESET_KEY:
            set_value = obj.set_value

            def remember(new: float, set_value: Any = set_value, held: list[Any] = held) -> None:
                held.append(new)
                set_value(new)

            object.__setattr__(obj, "set_value", remember)  # past bacpypes3's property setter
        try:
            value = await client.read(oid, "present-value")
        finally:
            obj.__dict__.pop("set_value", None)
        if spec.key == mapping.RESET_KEY:
            assert value == BinaryPV.inactive
            continue
        assert any(value == pytest.approx(known, rel=1e-6, abs=1e-3) for known in held), (
            spec.name,
            value,
            held,
        )
        assert await client.read(oid, "units") == EngineeringUnits(spec.units)
        assert await client.read(oid, "cov-increment") == pytest.approx(spec.cov_increment)


async def test_energy_above_16_7_million_is_exact(site: Site) -> None:
    energy = await site.value(1, "energy_delivered")
    assert energy == 20_000_000.5  # a REAL would read 20000000.0
    assert site.oid(1, "energy_delivered")[0].attr == "largeAnalogValue"
    assert struct.unpack(">f", struct.pack(">f", 20_000_000.5))[0] == 20_000_000.0
    assert await site.value(2, "voltage_a") == pytest.approx(120.1, abs=1e-4)
    assert site.oid(2, "power", point=1)[0].attr == "analogInput"
    watts = await site.value(2, "power", point=1)
    assert watts == pytest.approx(site.sim.meters[2].point_load(1) * 1000, rel=1e-3)


async def test_read_property_multiple(site: Site) -> None:
    client = site.client
    objects = [oid for oid in await object_list(client) if oid[0].attr != "device"]
    # every present value and status flags in one request (a segmented answer)
    results = await client.rpm(*((oid, ["present-value", "status-flags"]) for oid in objects[1:]))
    assert len(results) == 2 * (len(objects) - 1)
    assert all(not isinstance(value, ErrorRejectAbortNack) for *_, value in results)
    values = {oid: value for oid, prop, _, value in results if str(prop) == "present-value"}
    assert values[site.oid(1, "energy_delivered")] == 20_000_000.5

    for oid in (
        site.oid(1, "peak_demand"),
        site.oid(1, "uptime"),
        site.oid(1, "reset_peak_demand"),
    ):
        everything = await client.rpm((oid, ["all"]))
        names = [str(prop) for _, prop, _, _ in everything]
        property_list = {str(prop) for prop in await client.read(oid, "property-list")}
        assert not property_list & {"object-identifier", "object-name", "object-type"}
        assert "property-list" not in property_list
        assert len(names) == len(set(names))
        assert set(names) == property_list | {
            "object-identifier",
            "object-name",
            "object-type",
            "property-list",
        }
        required = {str(prop) for _, prop, _, _ in await client.rpm((oid, ["required"]))}
        assert {"object-identifier", "object-name", "object-type", "present-value"} <= required
        assert required < set(names)
    required = {str(p) for _, p, _, _ in await client.rpm((site.oid(2, "power", 1), ["required"]))}
    assert required == {
        "property-list",
        "object-identifier",
        "object-name",
        "object-type",
        "present-value",
        "status-flags",
        "event-state",
        "out-of-service",
        "units",
    }
    device_all = await client.rpm(("device,4194303", ["all"]))  # the wildcard instance
    assert "database-revision" in {str(p) for _, p, _, _ in device_all}
    assert len(device_all) > 15
    mixed = await client.rpm(
        ("analog-input,4000000", ["present-value"]), (site.oid(1, "peak_demand"), ["present-value"])
    )
    assert str(mixed[0][3].errorCode) == "unknown-object"
    assert mixed[1][3] == pytest.approx(3.5)
    error = await client.error_of(client.rpm(("analog-input,4000000", ["present-value"])))
    assert error is not None
    assert "unknown-object" in str(error)


# -- COV ---------------------------------------------------------------------------------------


async def notification(scm: Any, within: float = PATIENCE) -> dict[str, Any]:
    """The next COV notification: its present value and status flags."""
    values: dict[str, Any] = {}
    while len(values) < 2:
        name, value = await asyncio.wait_for(scm.get_value(), within)
        values[str(name)] = value
    return values


async def next_value(scm: Any, prop: str, within: float = PATIENCE) -> Any:
    return (await notification(scm, within))[prop]


async def test_cov_notifications_after_a_change(site: Site) -> None:
    app, device = site.client.app, site.bridge.address
    power = site.oid(2, "power", point=4)
    energy = site.oid(2, "energy_delivered", point=4)
    async with (
        app.change_of_value(device, power, 11, True, 120) as confirmed,
        app.change_of_value(device, energy, 12, False, 120) as unconfirmed,
    ):
        # a notification when subscribing
        before = await next_value(confirmed, "present-value")
        assert before == pytest.approx(site.sim.meters[2].point_load(4) * 1000, rel=1e-3)
        first_energy = await next_value(unconfirmed, "present-value")
        # 2400 kW (500 kW on point 4) keeps its energy climbing past the 0.1 kWh increment
        assert await next_value(unconfirmed, "present-value") >= first_energy + 0.1
        site.sim.meters[2].spec.load = 1200.0
        after = await notification(confirmed)
        assert after["present-value"] == pytest.approx(before / 2, rel=1e-3)
        assert list(after["status-flags"]) == [0, 0, 0, 0]


async def test_cov_respects_the_increment(site: Site) -> None:
    """A change smaller than the COV increment (10 W) sends nothing."""
    app, device = site.client.app, site.bridge.address
    power = site.oid(2, "power", point=1)
    obj = site.bridge.publisher.app.get_object_id(power)  # type: ignore[union-attr]
    async with app.change_of_value(device, power, 13, False, 120) as scm:
        before = await next_value(scm, "present-value")
        site.sim.meters[2].spec.load = 2400.0 * (1 + 2 / before)  # point 1: + 2 W
        # A poll brings the change to the object (and would notify, if it were enough) ...
        await until(lambda: obj._value == pytest.approx(before + 2, abs=0.01), "the + 2 W")
        assert await site.value(2, "power", 1) == pytest.approx(before + 2, abs=0.01)
        site.sim.meters[2].spec.load = 2400.0 * (1 + 20 / before)  # point 1: + 20 W
        # ... so the next notification, in order, would be the + 2 W one: it is the + 20 W.
        assert await next_value(scm, "present-value") == pytest.approx(before + 20, abs=0.01)


# -- a meter that stops answering --------------------------------------------------------------


async def test_fault_flags_on_a_dead_meter_and_their_clearing(site: Site) -> None:
    client, app, device = site.client, site.client.app, site.bridge.address
    dead = [o for o in site.bridge.publisher.objects if o._spec.meter.unit == 3]
    alive = [o for o in site.bridge.publisher.objects if o._spec.meter.unit == 2]
    energy = site.oid(3, "energy_delivered")
    async with app.change_of_value(device, energy, 21, True, 120) as scm:
        first = await notification(scm)
        assert list(first["status-flags"]) == [0, 0, 0, 0]
        undo = site.sim.silence(3)
        fault = await notification(scm)
        assert list(fault["status-flags"]) == [0, 1, 0, 0]
        assert fault["present-value"] >= first["present-value"]  # the last value stays
        for obj in dead:
            oid = obj.objectIdentifier
            assert list(await client.read(oid, "status-flags")) == [0, 1, 0, 0]
            assert await client.read(oid, "reliability") == Reliability.communicationFailure
        for obj in alive:
            assert list(await client.read(obj.objectIdentifier, "status-flags")) == [0, 0, 0, 0]
        undo()
        assert list(await next_value(scm, "status-flags")) == [0, 0, 0, 0]
    for obj in dead:
        if obj._spec.key not in ("derived_power", "net_power"):
            assert await client.read(obj.objectIdentifier, "reliability") == (
                Reliability.noFaultDetected
            )


# -- the object list changes -------------------------------------------------------------------


async def test_database_revision_increments_when_objects_appear(
    start_simulator: StartSimulator, start_bridge: StartBridge, client: Client
) -> None:
    sim, url = await start_simulator("1:2000", "5:8000-12")
    undo = sim.silence(5)
    running = await start_bridge(
        [bus("east", url, {"unit": 1, "name": "East 1"}, {"unit": 5, "name": "East 5"})],
        wait_objects=S2000_OBJECTS,
    )
    client.device = running.address
    poller = running.poller
    # Unit 5 (series auto) is tried in cycles 1 and 2 and does not answer: no objects yet.
    await poller.wait_for_cycle(2)
    assert sum(running.bridge.states[1].failed_polls.values()) >= 2
    assert running.object_count() == S2000_OBJECTS
    before = await client.read(DEVICE, "database-revision")
    objects_before = await object_list(client)
    undo()
    unit_5 = 4 + 12 * 6  # 3 voltages and the program id; 6 readings on each of 12 points
    await until(lambda: running.object_count() == S2000_OBJECTS + unit_5, "unit 5's objects")
    after = await client.read(DEVICE, "database-revision")
    assert after == before + 1
    objects_after = await object_list(client)
    assert set(objects_before) < set(objects_after)
    assert len(objects_after) == len(objects_before) + unit_5
    (i_have,) = await client.app.who_has(
        DEVICE_INSTANCE, DEVICE_INSTANCE, object_name="East 5 point 12 Power", address=client.device
    )
    assert i_have.objectIdentifier in objects_after
    # Polls change nothing: two more cycles in which both meters answered.
    answered = poller.cycles + 1  # not begun yet
    for number in (answered, answered + 1):
        report = await poller.wait_for_cycle(number)
        assert all(attempt.answered for attempt in report.attempts), report
        assert len(report.attempts) == 2
    assert await client.read(DEVICE, "database-revision") == after


async def test_identifiers_stable_across_restart_and_reordering(
    start_simulator: StartSimulator, start_bridge: StartBridge, client: Client
) -> None:
    _sim_a, url_a = await start_simulator("1:2000", "2:1000")
    _sim_b, url_b = await start_simulator("7:8000-8")
    first = await start_bridge(
        [
            bus("north", url_a, {"unit": 1, "name": "N1"}, {"unit": 2, "name": "N2"}),
            bus("south", url_b, {"unit": 7, "name": "S7"}),
        ],
        wait_objects=2 * S2000_OBJECTS + S8000_8_OBJECTS,
    )
    client.device = first.address

    async def objects() -> dict[Any, str]:
        oids = [o for o in await object_list(client) if o[0].attr not in ("device", "networkPort")]
        return {oid: await client.read(oid, "object-name") for oid in oids}

    before = await objects()
    first.stop.set()
    await first.task
    second = await start_bridge(
        [
            bus("south", url_b, {"unit": 7, "name": "S7"}),
            bus("north", url_a, {"unit": 2, "name": "N2"}, {"unit": 1, "name": "N1"}),
        ],
        wait_objects=2 * S2000_OBJECTS + S8000_8_OBJECTS,
    )
    client.device = second.address
    assert await objects() == before


# -- foreign device and start-up problems ------------------------------------------------------


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.packets.put_nowait(data)


async def test_registers_as_a_foreign_device(
    start_simulator: StartSimulator, start_bridge: StartBridge
) -> None:
    loop = asyncio.get_running_loop()
    transport, bbmd = await loop.create_datagram_endpoint(_Collector, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        _sim, url = await start_simulator("1:2000")
        running = await start_bridge(
            [bus("b", url, {"unit": 1})], bbmd=f"127.0.0.1:{port}", ttl=600
        )
        packet = await asyncio.wait_for(bbmd.packets.get(), PATIENCE)
        # BVLC: type 0x81, Register-Foreign-Device (0x05), length 6, time-to-live 600 s
        assert packet == bytes([0x81, 0x05, 0x00, 0x06]) + (600).to_bytes(2, "big")
        # On stop, a registration with time-to-live 0 (deregistration) goes before the socket
        # closes (the BBMD may have seen registrations renewed meanwhile).
        running.stop.set()
        await running.task
        while packet != bytes([0x81, 0x05, 0x00, 0x06, 0x00, 0x00]):
            assert packet[:4] == bytes([0x81, 0x05, 0x00, 0x06]), packet.hex()
            packet = await asyncio.wait_for(bbmd.packets.get(), PATIENCE)
    finally:
        transport.close()


def _publisher(address: str, buses: list[tuple[str, list[int]]]) -> BacnetFace:
    """A BACnet face on a core of these buses (the core polls nothing until it runs)."""
    from leviton_bridge.config import BusConfig, MeterConfig
    from leviton_bridge.config.settings import BridgeConfig
    from leviton_bridge.core.bridge import BridgeCore

    configs = []
    for name, units in buses:
        meters = tuple(MeterConfig(unit=u, name=f"{name} {u}", bus=name) for u in units)
        configs.append(
            BusConfig(name=name, connect="tcp://127.0.0.1:1", poll_interval=1, meters=meters)
        )
    bacnet = BacnetConfig(address=address, device_instance=1)
    core = BridgeCore(BridgeConfig(buses=tuple(configs), mqtt=None, bacnet=bacnet))
    return BacnetFace(core, bacnet)


async def test_start_up_problems_are_clear() -> None:
    with pytest.raises(ConfigurationError, match=r"bacnet.address 'nowhere/99'.*192.168.1.10/24"):
        _publisher("nowhere/99", [("a", [1])])
    from .test_mapping import colliding_bus_names

    first, second = colliding_bus_names()
    with pytest.raises(ConfigurationError, match="rename one of them") as collision:
        _publisher("127.0.0.1/32", [(first, [1]), (second, [1])])
    assert repr(first) in str(collision.value)
    assert repr(second) in str(collision.value)

    with pytest.raises(ConfigurationError, match=r"cannot listen on UDP 192\.0\.2\.77"):
        await _publisher("192.0.2.77/24:47808", [("a", [1])]).start()
    port = free_port(socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", port)
    )
    try:
        with pytest.raises(ConfigurationError, match=rf"cannot listen on UDP 127\.0\.0\.1:{port}"):
            await _publisher(f"127.0.0.1/32:{port}", [("a", [1])]).start()
    finally:
        transport.close()


async def test_listener_before_start_and_unknown_meters_do_not_raise() -> None:
    publisher = _publisher("127.0.0.1/32", [("a", [1])])
    state = publisher.states[0]
    publisher.meter_identified(state)
    publisher.meter_updated(state)
    publisher.meter_unavailable(state)
    assert publisher.objects == []

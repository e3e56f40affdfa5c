"""Writes: only a reset object's present value is writable, with active or inactive, and a
request resets each meter once.

Issue 10, item 11: ENUMERATED 2 written to a reset object was acknowledged, and a
WritePropertyMultiple naming the same reset object three times gave three resets.
"""

from __future__ import annotations

from typing import Any

import pytest
from bacpypes3.apdu import (
    ErrorRejectAbortNack,
    WritePropertyMultipleError,
    WritePropertyMultipleRequest,
    WritePropertyRequest,
)
from bacpypes3.basetypes import (
    BinaryPV,
    PropertyIdentifier,
    PropertyValue,
    WriteAccessSpecification,
)
from bacpypes3.constructeddata import Any as AnyValue
from bacpypes3.constructeddata import SequenceOf
from bacpypes3.errors import ExecutionError
from bacpypes3.primitivedata import CharacterString, Enumerated, Null, ObjectIdentifier, Real

from leviton_bridge.core.faces import ResetOutcome
from leviton_bridge.core.poller import RESET_COALESCE_S
from leviton_bridge.simulator import MeterSimulator
from tests.support import SteppedClock, until
from tests.support.inprocess import StartSimulator

from .conftest import DEVICE, Client, RunningBridge, Site, StartBridge, bus, object_list

# -- writes ------------------------------------------------------------------------------------


async def test_reset_peak_demand_by_write(site: Site) -> None:
    clock = SteppedClock()
    site.bridge.poller.clock = clock
    client = site.client
    reset = site.oid(1, "reset_peak_demand")
    meter = site.sim.meters[1]
    assert meter.reset_count == 0
    assert await site.value(1, "peak_demand") == pytest.approx(3.5)
    assert await client.write(reset, "present-value", "inactive") is None  # resting: no reset
    assert meter.reset_count == 0
    assert await client.write(reset, "present-value", "active") is None
    # Resets of a meter run one after another, so a reset started by the write of inactive
    # would show in the count.
    await _after_reset(site, reset, 1)
    assert await client.read(reset, "present-value") == BinaryPV.inactive
    assert await site.value(1, "peak_demand") == 0
    assert await site.value(1, "demand_reset_count") == 1
    # A write right after is the same press: coalesced into the reset that just ran.
    assert await client.write(reset, "present-value", "active") is None
    await site.bridge.poller.wait_for_cycle(site.bridge.poller.cycles + 1)
    assert meter.reset_count == 1
    # A commandable-style write with a priority, some seconds later, is a second reset.
    clock.advance(RESET_COALESCE_S)
    assert await client.write(reset, "present-value", "active", priority=8) is None
    await _after_reset(site, reset, 2)


async def _after_reset(site: Site, reset: ObjectIdentifier, count: int) -> None:
    """Wait until unit 1 has counted ``count`` resets and its reset object reads inactive again
    (a write is acknowledged once its reset is done, or after ``RESET_ANSWER_S`` at most when
    the meter is slow; the object reads active until the reset ends)."""
    obj = site.bridge.publisher.app.get_object_id(reset)  # type: ignore[union-attr]
    meter = site.sim.meters[1]
    await until(
        lambda: meter.reset_count >= count and obj.presentValue == BinaryPV.inactive,
        f"reset number {count} to end",
    )
    assert meter.reset_count == count


async def test_failed_reset_is_an_error(site: Site) -> None:
    undo = site.sim.silence(3)
    try:
        error = await site.client.error_of(
            site.client.write(site.oid(3, "reset_peak_demand"), "present-value", "active")
        )
        assert error is not None
        assert str(error) == "device: operational-problem"
        assert await site.value(3, "reset_peak_demand") == BinaryPV.inactive
    finally:
        undo()


async def write_any(client: Client, oid: Any, prop: Any, value: Any, **kwargs: Any) -> Any:
    request = WritePropertyRequest(
        objectIdentifier=oid,
        propertyIdentifier=prop,
        propertyValue=AnyValue(value),
        destination=client.device,
        **kwargs,
    )
    try:
        return await client.app.request(request)
    except ErrorRejectAbortNack as err:
        return err


async def test_every_other_write_is_refused(site: Site) -> None:
    client = site.client
    reset_objects = {site.oid(unit, "reset_peak_demand") for unit in (1, 3)}
    attempts = 0
    for oid in await object_list(client):
        properties = {str(p) for p in await client.read(oid, "property-list")}
        properties |= {"object-identifier", "object-name", "object-type", "property-list"}
        for prop in sorted(properties):
            if oid in reset_objects and prop == "present-value":
                continue
            for value in (Real(1.0), CharacterString("x")):
                result = await write_any(client, oid, PropertyIdentifier(prop), value)
                assert str(result) == "property: write-access-denied", (oid, prop, value)
                attempts += 1
            result = await write_any(client, oid, PropertyIdentifier(prop), Real(1.0), priority=8)
            assert str(result) == "property: write-access-denied", (oid, prop)
    assert attempts > 500
    energy = site.oid(1, "energy_delivered")
    unknown = await write_any(client, energy, PropertyIdentifier("high-limit"), Real(1.0))
    assert str(unknown) == "property: unknown-property"
    wrong_type = await write_any(
        client, site.oid(1, "reset_peak_demand"), PropertyIdentifier("present-value"), Real(1.0)
    )
    assert str(wrong_type) == "property: invalid-data-type"
    assert await site.value(1, "energy_delivered") == 20_000_000.5
    assert site.sim.meters[1].reset_count == 0
    assert await client.read(DEVICE, "object-name") == "Leviton test bridge"


async def test_write_property_multiple(site: Site) -> None:
    client = site.client
    reset = site.oid(1, "reset_peak_demand")
    peak = site.oid(1, "peak_demand")

    def request(*writes: tuple[ObjectIdentifier, str, Any]) -> WritePropertyMultipleRequest:
        return WritePropertyMultipleRequest(
            listOfWriteAccessSpecs=SequenceOf(WriteAccessSpecification)(
                [
                    WriteAccessSpecification(
                        objectIdentifier=oid,
                        listOfProperties=[
                            PropertyValue(propertyIdentifier=prop, value=AnyValue(value))
                        ],
                    )
                    for oid, prop, value in writes
                ]
            ),
            destination=client.device,
        )

    with pytest.raises(WritePropertyMultipleError) as refused:
        await client.app.request(
            request((reset, "present-value", BinaryPV("active")), (peak, "present-value", Real(0)))
        )
    assert str(refused.value.errorType.errorCode) == "write-access-denied"
    assert refused.value.firstFailedWriteAttempt.objectIdentifier == peak
    assert site.sim.meters[1].reset_count == 0  # nothing of a refused request is done
    await client.app.request(request((reset, "present-value", BinaryPV("active"))))
    await _after_reset(site, reset, 1)


async def test_objects_refuse_writes_themselves(site: Site) -> None:
    """Defence in depth: the objects refuse a write even when called directly."""
    app = site.bridge.publisher.app
    assert app is not None
    targets = [
        app.device_object,
        app.get_object_id(ObjectIdentifier("network-port,1")),
        app.get_object_id(site.oid(1, "energy_delivered")),
        app.get_object_id(site.oid(2, "power", 1)),
        app.get_object_id(site.oid(1, "reset_peak_demand")),
    ]
    for obj in targets:
        for prop, value in (("objectName", CharacterString("x")), ("outOfService", True)):
            with pytest.raises(ExecutionError) as refused:
                await obj.write_property(prop, value)
            assert refused.value.errorCode == "writeAccessDenied"
    with pytest.raises(ExecutionError):
        await targets[2].write_property("presentValue", Real(1.0))
    await targets[4].write_property("presentValue", Null())  # a relinquish: nothing happens
    assert site.sim.meters[1].reset_count == 0


# -- reset semantics (issue 10, item 11) ------------------------------------------------------


class Resettable:
    def __init__(self, bridge: RunningBridge, client: Client, sim: MeterSimulator) -> None:
        self.bridge, self.client, self.sim = bridge, client, sim
        self.calls: list[str] = []
        core = bridge.bridge.core
        reset = core.reset_peak_demand

        async def counted(meter_id: str, origin: str) -> ResetOutcome:
            state = core.state(meter_id)
            assert state is not None
            assert origin == "bacnet"
            self.calls.append(state.config.name)
            return await reset(meter_id, origin)

        core.reset_peak_demand = counted  # type: ignore[method-assign]
        self.clock = SteppedClock()
        bridge.poller.clock = self.clock

    def reset_oid(self, unit: int) -> ObjectIdentifier:
        for obj in self.bridge.publisher.objects:
            if (obj._spec.meter.unit, obj._spec.key) == (unit, "reset_peak_demand"):
                return ObjectIdentifier(obj.objectIdentifier)
        raise KeyError(unit)

    async def write(self, unit: int, value: Any) -> str | None:
        request = WritePropertyRequest(
            objectIdentifier=self.reset_oid(unit),
            propertyIdentifier=PropertyIdentifier.presentValue,
            propertyValue=AnyValue(value),
            destination=self.bridge.address,
        )
        error = await self.client.error_of(self.client.app.request(request))
        return None if error is None else str(error)

    async def write_multiple(self, *writes: tuple[int, Any]) -> Any:
        request = WritePropertyMultipleRequest(
            listOfWriteAccessSpecs=SequenceOf(WriteAccessSpecification)(
                [
                    WriteAccessSpecification(
                        objectIdentifier=self.reset_oid(unit),
                        listOfProperties=[
                            PropertyValue(
                                propertyIdentifier=PropertyIdentifier.presentValue,
                                value=AnyValue(value),
                            )
                        ],
                    )
                    for unit, value in writes
                ]
            ),
            destination=self.bridge.address,
        )
        try:
            return await self.client.app.request(request)
        except WritePropertyMultipleError as err:
            return err

    async def resets_done(self, unit: int, count: int) -> None:
        """Wait until the meter has counted ``count`` resets and its object reads inactive."""
        obj = self.bridge.publisher.app.get_object_id(self.reset_oid(unit))  # type: ignore[union-attr]
        meter = self.sim.meters[unit]
        await until(
            lambda: meter.reset_count >= count and obj.presentValue == BinaryPV.inactive,
            f"{count} reset(s) of unit {unit}",
        )
        assert meter.reset_count == count


@pytest.fixture
async def resettable(
    start_simulator: StartSimulator, start_bridge: StartBridge, client: Client
) -> Resettable:
    sim, url = await start_simulator("1:2000:peak=3.5", "2:1000:peak=2.5")
    running = await start_bridge(
        [bus("b", url, {"unit": 1, "name": "One"}, {"unit": 2, "name": "Two"})],
        wait_objects=16,
    )
    client.device = running.address
    return Resettable(running, client, sim)


async def test_only_active_and_inactive_are_accepted(resettable: Resettable) -> None:
    assert await resettable.write(1, Enumerated(2)) == "property: value-out-of-range"
    assert await resettable.write(1, Enumerated(255)) == "property: value-out-of-range"
    assert await resettable.write(1, Enumerated(0)) is None  # inactive: the resting state
    refused = await resettable.write_multiple((1, Enumerated(2)))
    assert isinstance(refused, WritePropertyMultipleError)
    assert str(refused.errorType.errorCode) == "value-out-of-range"
    assert refused.firstFailedWriteAttempt.objectIdentifier == resettable.reset_oid(1)
    assert resettable.calls == []
    assert resettable.sim.meters[1].reset_count == 0
    assert await resettable.write(1, Enumerated(1)) is None  # active
    await resettable.resets_done(1, 1)
    assert resettable.calls == ["One"]


async def test_a_write_property_multiple_resets_each_meter_once(resettable: Resettable) -> None:
    active = BinaryPV("active")
    ack = await resettable.write_multiple((1, active), (1, active), (1, active))
    assert not isinstance(ack, WritePropertyMultipleError)
    await resettable.resets_done(1, 1)
    assert resettable.calls == ["One"]
    # two meters in one request: each once, both done when the request is answered
    resettable.calls.clear()
    resettable.clock.advance(RESET_COALESCE_S)  # past the window in which a press joins the last
    ack = await resettable.write_multiple(
        (2, active), (1, active), (2, active), (1, BinaryPV("inactive"))
    )
    assert not isinstance(ack, WritePropertyMultipleError)
    assert sorted(resettable.calls) == ["One", "Two"]
    await resettable.resets_done(2, 1)
    await resettable.resets_done(1, 2)

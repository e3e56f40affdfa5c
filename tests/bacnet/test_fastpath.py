"""The fast path answers ReadPropertyMultiple with the very octets bacpypes3 would send.

Every request is asked three times with the same invoke id: fast path, bacpypes3 (the ingress's
fast path switched off), fast path again. The meters are polled meanwhile, so a comparison
counts only when both fast answers agree (no value changed during the three), and is asked
again otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import pytest
from bacpypes3.apdu import ReadPropertyMultipleRequest, ReadPropertyRequest
from bacpypes3.basetypes import PropertyIdentifier, PropertyReference, ReadAccessSpecification
from bacpypes3.primitivedata import ObjectIdentifier

from leviton_bridge.bacnet.face import BacnetFace
from leviton_bridge.bacnet.fastpath import TEMPLATES
from leviton_bridge.bacnet.objects import MeterObject
from tests.support import until
from tests.support.inprocess import StartSimulator

from .conftest import RunningBridge, StartBridge, bus
from .rawpeer import RawPeer, apdu_of, request

S2000 = 8
S8000_8 = 4 + 8 * 6
PRESENT_VALUE = PropertyIdentifier.presentValue
STATUS_FLAGS = PropertyIdentifier.statusFlags


@dataclass
class Bench:
    bridge: RunningBridge
    peer: RawPeer

    @property
    def publisher(self) -> BacnetFace:
        return self.bridge.publisher

    async def ask(self, datagram: bytes, *, fast: bool) -> tuple[bytes, bool]:
        """The answer, and whether the fast path gave it."""
        ingress = self.publisher.ingress
        ingress.fast_path = fast
        before = ingress.verdicts["fast"]
        answer = await self.peer.ask(datagram, self.bridge.address)
        return answer, ingress.verdicts["fast"] > before

    async def compare(self, datagram: bytes) -> bytes:
        """Both paths' answer (asserted equal); the fast path must have answered."""
        agreed: list[bytes] = []

        async def bracket() -> bool:
            first, used = await self.ask(datagram, fast=True)
            assert used, f"the fast path did not answer {datagram.hex()}"
            slow, used = await self.ask(datagram, fast=False)
            assert not used
            second, _ = await self.ask(datagram, fast=True)
            if first != second:
                return False  # a poll changed a value meanwhile: ask again
            assert slow == first, f"\nfast {first.hex()}\nslow {slow.hex()}"
            agreed.append(first)
            return True

        await until(bracket, "three answers without a poll changing a value")
        return agreed[0]


@pytest.fixture
async def bench(start_simulator: StartSimulator, start_bridge: StartBridge) -> AsyncIterator[Bench]:
    _sim, url = await start_simulator("1:2000:load=1.5:peak=2.5", "2:8000-8:load=2400")
    running = await start_bridge(
        [bus("b", url, {"unit": 1, "name": "One"}, {"unit": 2, "name": "Two"})],
        wait_objects=S2000 + S8000_8,
    )
    await until(
        lambda: all(
            o._value is not None
            for o in running.publisher.objects
            if o._spec.key not in ("reset_peak_demand", "derived_power", "net_power")
        ),
        "every reading",
    )
    peer = await RawPeer.open()
    yield Bench(running, peer)
    peer.close()


def rpm(
    objects: Iterable[ObjectIdentifier | MeterObject],
    properties: Iterable[PropertyIdentifier | int],
    invoke_id: int = 7,
    *,
    max_apdu_code: int = 5,
) -> bytes:
    wanted = list(properties)
    specs = [
        ReadAccessSpecification(
            objectIdentifier=obj.objectIdentifier if isinstance(obj, MeterObject) else obj,
            listOfPropertyReferences=[
                PropertyReference(propertyIdentifier=PropertyIdentifier(int(p))) for p in wanted
            ],
        )
        for obj in objects
    ]
    return request(
        ReadPropertyMultipleRequest(listOfReadAccessSpecs=specs),
        invoke_id,
        max_apdu_code=max_apdu_code,
    )


def one_of_each_class(publisher: BacnetFace) -> list[MeterObject]:
    seen: dict[type, MeterObject] = {}
    for obj in publisher.objects:
        seen.setdefault(type(obj), obj)
    assert len(seen) == 3, seen  # analog input, large analog value, binary value
    return list(seen.values())


async def test_present_value_and_status_flags_of_every_object(bench: Bench) -> None:
    objects = bench.publisher.objects
    for obj in objects:
        for properties in ([PRESENT_VALUE], [STATUS_FLAGS], [PRESENT_VALUE, STATUS_FLAGS]):
            answer = await bench.compare(rpm([obj], properties))
            assert apdu_of(answer)[:3] == bytes([0x30, 7, 14])
    # many objects in one request, the way a BMS polls
    for first in range(0, len(objects), 20):
        await bench.compare(rpm(objects[first : first + 20], [PRESENT_VALUE, STATUS_FLAGS], 200))


async def test_every_property_of_every_object_class(bench: Bench) -> None:
    for obj in one_of_each_class(bench.publisher):
        names = [str(p) for p in obj.propertyList] + [
            "object-identifier",
            "object-name",
            "object-type",
            "property-list",
        ]
        present = [PropertyIdentifier(name) for name in names]
        for prop in present:
            await bench.compare(rpm([obj], [prop]))
        await bench.compare(rpm([obj], present))
        # declared by the class, with no value: an error element, the same on both paths
        await bench.compare(rpm([obj], [PropertyIdentifier.notificationClass, PRESENT_VALUE]))
        await bench.compare(rpm([obj], [STATUS_FLAGS, PRESENT_VALUE, PRESENT_VALUE]))
        assert set(TEMPLATES.properties(type(obj))) >= {int(p) for p in present}


def read_property(obj: MeterObject, prop: PropertyIdentifier, invoke_id: int = 9) -> bytes:
    return request(
        ReadPropertyRequest(objectIdentifier=obj.objectIdentifier, propertyIdentifier=prop),
        invoke_id,
    )


async def test_read_property_of_every_property(bench: Bench) -> None:
    for obj in one_of_each_class(bench.publisher):
        properties = [PropertyIdentifier(str(p)) for p in obj.propertyList]
        for prop in (*properties, PropertyIdentifier.objectName, PropertyIdentifier.objectType):
            answer = await bench.compare(read_property(obj, prop))
            assert apdu_of(answer)[:3] == bytes([0x30, 9, 12])
    for obj in bench.publisher.objects:
        await bench.compare(read_property(obj, PRESENT_VALUE))


async def test_network_priority_is_kept(bench: Bench) -> None:
    obj = bench.publisher.objects[0]
    datagram = rpm([obj], [PRESENT_VALUE])
    for priority in range(4):
        asked = datagram[:5] + bytes([0x04 | priority]) + datagram[6:]
        answer = await bench.compare(asked)
        assert answer[5] == priority


async def test_a_fault_is_the_same_on_both_paths(
    start_simulator: StartSimulator, start_bridge: StartBridge
) -> None:
    sim, url = await start_simulator("1:2000")
    running = await start_bridge([bus("b", url, {"unit": 1})], wait_objects=S2000)
    # The objects start in fault (communication-failure) until the meter's first read: wait for
    # that read, so that the fault below is the silence's and no read in flight clears it.
    state = running.bridge.states[0]
    await until(lambda: state.available, "the first read")
    sim.silence(1)
    await until(lambda: all(o.fault for o in running.publisher.objects), "the fault flags")
    bench = Bench(running, await RawPeer.open())
    try:
        for obj in running.publisher.objects:
            answer = await bench.compare(rpm([obj], [STATUS_FLAGS, PropertyIdentifier.reliability]))
            assert b"\x82\x04\x40" in answer  # status flags: fault
    finally:
        bench.peer.close()


async def test_what_the_fast_path_leaves_to_bacpypes3(bench: Bench) -> None:
    objects = bench.publisher.objects
    ingress = bench.publisher.ingress
    cases = {
        "an unknown object": rpm([ObjectIdentifier("analog-input,4000000")], [PRESENT_VALUE]),
        "the device": rpm([ObjectIdentifier("device,59001")], [PropertyIdentifier.objectName]),
        "ALL": rpm(objects[:1], [PropertyIdentifier.all]),
        "REQUIRED": rpm(objects[:1], [PropertyIdentifier.required]),
        "a property the class lacks": rpm(objects[:1], [PropertyIdentifier.highLimit]),
        "more than the client takes (50 octets)": rpm(
            objects[:10], [PRESENT_VALUE], max_apdu_code=0
        ),
    }
    indexed = bytearray(rpm(objects[:1], [PropertyIdentifier.propertyList]))
    indexed[-1:-1] = b"\x19\x01"  # property-list[1]
    indexed[2:4] = len(indexed).to_bytes(2, "big")
    cases["an array index"] = bytes(indexed)
    cases["ReadProperty of a property without a value (an Error)"] = read_property(
        objects[0], PropertyIdentifier.notificationClass
    )
    cases["ReadProperty of the device"] = request(
        ReadPropertyRequest(
            objectIdentifier=ObjectIdentifier("device,59001"),
            propertyIdentifier=PropertyIdentifier.objectName,
        )
    )
    for invoke_id, (what, datagram) in enumerate(cases.items(), 100):
        asked = datagram[:8] + bytes([invoke_id]) + datagram[9:]
        before = ingress.verdicts["fast"]
        answer = await bench.peer.ask_for(asked, bench.bridge.address, invoke_id)
        assert ingress.verdicts["fast"] == before, what
        assert answer[6] >> 4 in (3, 5, 7), (what, answer.hex())  # ack, error or abort

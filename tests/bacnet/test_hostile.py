"""Hostile and unwanted traffic on the BACnet port: nothing floods the log, every confirmed
request gets a proper answer, and the device keeps serving.

Issue 10, item 9: 5,000 malformed datagrams wrote 467-1,263 tracebacks; a ReadRange logged a
NotImplementedError traceback.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import pytest
from bacpypes3.apdu import ErrorRejectAbortNack, ReadPropertyMultipleRequest
from bacpypes3.basetypes import PropertyIdentifier, PropertyReference, ReadAccessSpecification
from bacpypes3.primitivedata import ObjectIdentifier

from tests.support import until
from tests.support.inprocess import StartSimulator

from .conftest import DEVICE_INSTANCE, Client, RunningBridge, StartBridge, bus
from .malformed import (
    READ_PROPERTY,
    READ_RANGE,
    UNSUPPORTED_CONFIRMED,
    confirmed,
    flood,
    unicast,
)
from .rawpeer import RawPeer, apdu_of, request

DEVICE = f"device,{DEVICE_INSTANCE}"
BATCH = 50
"""Datagrams sent before waiting for the device to have handled them (the socket's receive
buffer holds far more: nothing is dropped by the kernel)."""


@dataclass
class Port:
    bridge: RunningBridge
    client: Client

    async def send_all(self, peer: RawPeer, datagrams: list[bytes]) -> None:
        """Send in batches, each handled before the next goes."""
        ingress = self.bridge.publisher.ingress
        for first in range(0, len(datagrams), BATCH):
            batch = datagrams[first : first + BATCH]
            target = ingress.handled + len(batch)
            for datagram in batch:
                peer.send(datagram, self.bridge.address)

            def handled(target: int = target) -> bool:
                return ingress.handled >= target

            await until(handled, f"{target} datagrams handled")


@pytest.fixture
async def port(start_simulator: StartSimulator, start_bridge: StartBridge, client: Client) -> Port:
    _sim, url = await start_simulator("1:2000")
    running = await start_bridge([bus("b", url, {"unit": 1, "name": "One"})], wait_objects=8)
    client.device = running.address
    return Port(running, client)


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.exc_info or r.exc_text or "Traceback" in r.getMessage()
    ]


async def test_a_flood_of_malformed_datagrams(port: Port, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    peers = [await RawPeer.open(), await RawPeer.open()]
    try:
        datagrams = flood(5000)
        for number, peer in enumerate(peers):
            await port.send_all(peer, [data for _, data in datagrams[number::2]])
        assert port.bridge.publisher.ingress.handled >= 5000
        # the device still serves, and answers a request from a flooding peer
        assert await port.client.read(DEVICE, "object-name") == "Leviton test bridge"
        answer = await peers[0].ask_for(
            unicast(confirmed(12, READ_PROPERTY, 77)), port.bridge.address, 77
        )
        assert apdu_of(answer)[:3] == bytes([0x30, 77, 12])
    finally:
        for peer in peers:
            peer.close()
    assert tracebacks(caplog.records) == []
    warned = Counter(
        (getattr(r, "peer", r.name), getattr(r, "kind", r.getMessage()))
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and r.name.startswith(("leviton_bridge.bacnet", "bacpypes3"))
    )
    assert warned, "a malformed datagram is worth one warning"
    assert max(warned.values()) == 1, warned
    assert {peer for peer, _ in warned} == {f"127.0.0.1:{p.port}" for p in peers}
    kinds = {kind for _, kind in warned}
    assert {"not-bacnet-ip", "bvll", "npdu", "apdu", "service-parameters"} <= kinds, kinds
    assert kinds <= {"not-bacnet-ip", "bvll", "npdu", "apdu", "service-parameters", "stack"}
    assert all(r.levelno < logging.ERROR for r in caplog.records), [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
    ]


async def test_unsupported_services_are_rejected(
    port: Port, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, device = port.client, port.bridge.address
    # ReadRange, as a bacpypes3 client asks it
    answer = await client.error_of(
        client.app.read_range(
            device, ObjectIdentifier(DEVICE), "object-list", range_params=("p", 1, None, None, 10)
        )
    )
    assert isinstance(answer, ErrorRejectAbortNack)
    assert str(answer.apduAbortRejectReason) == "unrecognized-service"
    peer = await RawPeer.open()
    try:
        services = [*UNSUPPORTED_CONFIRMED, 30, 64, 255]  # and choices no standard defines
        for invoke_id, service in enumerate(services):
            data = READ_RANGE if service == 26 else b""
            answer = await peer.ask_for(
                unicast(confirmed(service, data, invoke_id)), device, invoke_id
            )
            assert apdu_of(answer) == bytes([0x60, invoke_id, 9]), (service, answer.hex())
    finally:
        peer.close()
    assert tracebacks(caplog.records) == []
    assert port.bridge.publisher.warnings.counts == {}  # a proper answer, nothing to warn of


async def test_a_routed_request_is_rejected_by_the_application(port: Port) -> None:
    """A request from another network (through a router) goes to bacpypes3's stack, whose
    application rejects what the device does not execute."""
    peer = await RawPeer.open()
    try:
        # NPDU: expecting reply, from network 5 station 0x21
        npdu = bytes([0x01, 0x0C, 0x00, 0x05, 0x01, 0x21])
        apdu = confirmed(26, READ_RANGE, 9)
        datagram = bytes([0x81, 0x0A, 0x00, 4 + len(npdu) + len(apdu)]) + npdu + apdu
        answer = await peer.ask_for(datagram, port.bridge.address, 9)
        assert answer.endswith(bytes([0x60, 9, 9])), answer.hex()
        assert answer[5] & 0x20  # back to network 5
    finally:
        peer.close()


async def test_segmented_and_undecodable_requests(
    port: Port, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    device = port.bridge.address
    peer = await RawPeer.open()
    try:
        segment = bytes([0x0E, 0x55, 3, 0, 4, 12]) + READ_PROPERTY
        answer = await peer.ask_for(unicast(segment), device, 3)
        assert apdu_of(answer) == bytes([0x71, 3, 4])  # abort (server): segmentation-not-supported
        answer = await peer.ask_for(unicast(confirmed(12, READ_PROPERTY[:3], 4)), device, 4)
        assert apdu_of(answer) == bytes([0x60, 4, 4])  # reject: invalid-tag
        answer = await peer.ask_for(unicast(confirmed(12, b"\x0c\x02", 5)), device, 5)
        assert apdu_of(answer)[:2] == bytes([0x60, 5])
    finally:
        peer.close()
    assert tracebacks(caplog.records) == []
    assert port.bridge.publisher.warnings.counts == {"service-parameters": 2}


async def test_a_segmented_answer_nobody_acknowledges(
    port: Port, caplog: pytest.LogCaptureFixture
) -> None:
    """The first segment is sent again a few times, then the transaction ends; bacpypes3
    itself raised on the first timeout and kept the transaction for ever."""
    caplog.set_level(logging.DEBUG)
    publisher = port.bridge.publisher
    assert publisher.device is not None
    publisher.device.apduSegmentTimeout = 20
    retries = publisher.device.numberOfApduRetries
    objects = publisher.objects
    specs = [
        ReadAccessSpecification(
            objectIdentifier=obj.objectIdentifier,
            listOfPropertyReferences=[PropertyReference(propertyIdentifier=PropertyIdentifier.all)],
        )
        for obj in objects
    ]
    peer = await RawPeer.open()
    try:
        peer.send(
            request(ReadPropertyMultipleRequest(listOfReadAccessSpecs=specs), 6),
            port.bridge.address,
        )
        first = await peer.receive()
        assert apdu_of(first)[0] & 0xFC == 0x3C  # a segment, more follow
        for _ in range(retries):
            assert await peer.receive() == first
        # The transaction ends a segment timeout after the last try; until then, a request
        # with its invoke id belongs to it (and is dropped): ask until one is answered.
        ingress = publisher.ingress

        async def answered() -> bool:
            failed = ingress.verdicts["failed"]
            peer.send(unicast(confirmed(12, READ_PROPERTY, 6)), port.bridge.address)
            await until(
                lambda: not peer.packets.empty() or ingress.verdicts["failed"] > failed,
                "an answer or a dropped request",
            )
            return not peer.packets.empty()

        await until(answered, "the transaction to end")
        assert apdu_of(await peer.receive())[:3] == bytes([0x30, 6, 12])
    finally:
        peer.close()
    assert tracebacks(caplog.records) == []

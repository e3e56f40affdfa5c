"""COV subscriptions are bounded, and a subscriber that stops acknowledging is dropped.

Issue 10, item 10: 6,000 subscriptions with lifetime 0 from one peer were all accepted, and
every notification to a confirmed subscriber that had gone away logged an AbortPDU traceback,
for ever when the lifetime was 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from bacpypes3.apdu import SubscribeCOVRequest
from bacpypes3.primitivedata import ObjectIdentifier

from leviton_bridge.bacnet.cov import CovService
from tests.support import until
from tests.support.inprocess import StartSimulator

from .conftest import Client, RunningBridge, StartBridge, bus
from .rawpeer import RawPeer, apdu_at, apdu_of, request
from .test_hostile import tracebacks

S2000 = 8


@dataclass
class Site:
    bridge: RunningBridge
    client: Client

    @property
    def cov(self) -> CovService:
        cov = self.bridge.publisher.cov
        assert cov is not None
        return cov

    def oid(self, key: str, unit: int = 1) -> ObjectIdentifier:
        for obj in self.bridge.publisher.objects:
            if (obj._spec.meter.unit, obj._spec.key) == (unit, key):
                return ObjectIdentifier(obj.objectIdentifier)
        raise KeyError(key)

    def objects(self) -> list[ObjectIdentifier]:
        return [ObjectIdentifier(o.objectIdentifier) for o in self.bridge.publisher.objects]

    async def subscribe(self, process: int, oid: ObjectIdentifier, **kwargs: object) -> str | None:
        """Subscribe the bacpypes3 client; its error as text (None: accepted)."""
        options = {"issueConfirmedNotifications": False, "lifetime": 0, **kwargs}
        error = await self.client.error_of(
            self.client.app.request(
                SubscribeCOVRequest(
                    subscriberProcessIdentifier=process,
                    monitoredObjectIdentifier=oid,
                    destination=self.bridge.address,
                    **options,
                )
            )
        )
        return None if error is None else str(error)


@pytest.fixture
async def site(start_simulator: StartSimulator, start_bridge: StartBridge, client: Client) -> Site:
    # 1,200 kW (about the most a Series 2000 is rated for): the energy total passes its
    # 0.1 kWh COV increment every poll or two
    _sim, url = await start_simulator("1:2000:load=1200")
    running = await start_bridge([bus("b", url, {"unit": 1, "name": "One"})], wait_objects=S2000)
    client.device = running.address
    return Site(running, client)


def subscribe_datagram(
    process: int, oid: ObjectIdentifier, invoke_id: int, *, confirmed: bool = True
) -> bytes:
    return request(
        SubscribeCOVRequest(
            subscriberProcessIdentifier=process,
            monitoredObjectIdentifier=oid,
            issueConfirmedNotifications=confirmed,
            lifetime=0,
        ),
        invoke_id,
    )


NO_SPACE = bytes([0x91, 0x03, 0x91, 0x13])
"""Error class resources (3), code no-space-to-add-list-element (19)."""


async def test_subscriptions_are_capped_per_peer_and_in_total(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site.cov.per_peer, site.cov.total = 3, 5
    objects = site.objects()
    for process in (1, 2, 3):
        assert await site.subscribe(process, objects[process]) is None
    refused = await site.subscribe(4, objects[4])
    assert refused == "resources: no-space-to-add-list-element"
    assert await site.subscribe(1, objects[1], lifetime=60) is None  # a renewal is no new one
    assert len(site.cov) == 3
    other = await RawPeer.open()
    try:
        for invoke_id, process in enumerate((11, 12), 100):
            answer = await other.ask_for(
                subscribe_datagram(process, objects[process - 10], invoke_id),
                site.bridge.address,
                invoke_id,
            )
            assert apdu_of(answer) == bytes([0x20, invoke_id, 5])
        answer = await other.ask_for(
            subscribe_datagram(13, objects[3], 102), site.bridge.address, 102
        )
        assert apdu_of(answer) == bytes([0x50, 102, 5]) + NO_SPACE  # the total is full
        assert len(site.cov) == 5
        # a cancellation frees a place
        assert (
            await site.subscribe(2, objects[2], issueConfirmedNotifications=None, lifetime=None)
            is None
        )
        answer = await other.ask_for(
            subscribe_datagram(13, objects[3], 103), site.bridge.address, 103
        )
        assert apdu_of(answer) == bytes([0x20, 103, 5])
    finally:
        other.close()
    assert tracebacks(caplog.records) == []
    limits = [r for r in caplog.records if getattr(r, "kind", None) == "cov-limit"]
    assert len(limits) == 2  # one per peer
    assert site.bridge.publisher.warnings.counts["cov-limit"] == 2


async def answer_notifications(peer: RawPeer, answers: list[bytes], seen: list[int]) -> None:
    """Answer every confirmed COV notification with the next of ``answers`` (for the invoke
    id, in place of the 0xFF)."""
    while True:
        packet = await peer.packets.get()
        at = apdu_at(packet)
        if packet[at] >> 4 == 0 and packet[at + 3] == 1:  # ConfirmedCOVNotification
            invoke_id = packet[at + 2]
            reply = answers[len(seen) % len(answers)]
            seen.append(invoke_id)
            apdu = reply.replace(b"\xff", bytes([invoke_id]), 1)
            assert peer.device is not None
            peer.send(bytes([0x81, 0x0A, 0, 6 + len(apdu), 0x01, 0x00]) + apdu, peer.device)


@pytest.fixture
async def peer(site: Site) -> AsyncIterator[RawPeer]:
    peer = await RawPeer.open()
    peer.device = site.bridge.address
    yield peer
    peer.close()


async def test_a_subscriber_that_refuses_notifications_is_dropped(
    site: Site, peer: RawPeer, caplog: pytest.LogCaptureFixture
) -> None:
    energy = site.oid("energy_delivered")
    answer = await peer.ask_for(subscribe_datagram(5, energy, 1), site.bridge.address, 1)
    assert apdu_of(answer) == bytes([0x20, 1, 5])
    refusals = [
        bytes([0x71, 0xFF, 0x05]),  # abort (server): out of resources
        bytes([0x60, 0xFF, 0x00]),  # reject: other
        bytes([0x50, 0xFF, 0x01, 0x91, 0x05, 0x91, 0x1F]),  # error: services, unknown subscription
    ]
    seen: list[int] = []
    answering = asyncio.create_task(answer_notifications(peer, refusals, seen))
    try:
        await until(lambda: site.cov.dropped == 1, "the subscription to be dropped")
    finally:
        answering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await answering
    assert len(seen) == site.cov.max_failures == 3
    assert len(site.cov) == 0
    assert tracebacks(caplog.records) == []
    dropped = [r for r in caplog.records if getattr(r, "kind", None) == "cov-subscriber"]
    assert len(dropped) == 1
    assert "after 3 failed confirmed notifications" in dropped[0].getMessage()


async def test_a_subscriber_that_acknowledges_stays(site: Site, peer: RawPeer) -> None:
    energy = site.oid("energy_delivered")
    answer = await peer.ask_for(subscribe_datagram(6, energy, 2), site.bridge.address, 2)
    assert apdu_of(answer) == bytes([0x20, 2, 5])
    seen: list[int] = []
    answering = asyncio.create_task(answer_notifications(peer, [bytes([0x20, 0xFF, 0x01])], seen))
    try:
        await until(lambda: len(seen) >= 5, "five notifications")
    finally:
        answering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await answering
    assert site.cov.dropped == 0
    assert len(site.cov) == 1


async def test_a_subscriber_that_has_gone_away_is_dropped(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    device = site.bridge.publisher.device
    assert device is not None
    device.apduTimeout = 30  # milliseconds: a notification times out at once
    device.numberOfApduRetries = 0
    gone = await RawPeer.open()
    answer = await gone.ask_for(
        subscribe_datagram(7, site.oid("energy_delivered"), 3), site.bridge.address, 3
    )
    assert apdu_of(answer) == bytes([0x20, 3, 5])
    gone.close()
    await until(lambda: site.cov.dropped == 1, "the subscription to be dropped")
    assert len(site.cov) == 0
    assert tracebacks(caplog.records) == []
    assert site.bridge.publisher.warnings.counts == {"cov-subscriber": 1}

"""Fixtures: the bridge with its BACnet/IP device on loopback, and a bacpypes3 client.

The device binds ``127.0.0.1/32`` on a free UDP port and the client another port of
127.0.0.1. Loopback has no broadcast, so Who-Is and Who-Has are sent directed to the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from bacpypes3.apdu import ErrorRejectAbortNack
from bacpypes3.app import Application
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import ObjectIdentifier

from leviton_bridge.bacnet import mapping
from leviton_bridge.bacnet.face import BacnetFace
from leviton_bridge.config import BridgeConfig
from leviton_bridge.core.poller import BusPoller
from leviton_bridge.daemon import Bridge, parse
from leviton_bridge.simulator import MeterSimulator
from tests.support import PATIENCE, free_port, until
from tests.support.inprocess import StartSimulator, start_simulator

__all__ = ["start_simulator"]  # a fixture from support, used here

CLIENT_INSTANCE = 599999
DEVICE_INSTANCE = 59001
POLL_INTERVAL = 0.2


def bridge_config(buses: list[dict[str, Any]], *, port: int, **bacnet: Any) -> BridgeConfig:
    data: dict[str, Any] = {
        "buses": buses,
        "bacnet": {
            "address": f"127.0.0.1/32:{port}",
            "device_instance": DEVICE_INSTANCE,
            "device_name": "Leviton test bridge",
            "location": "Basement",
            **bacnet,
        },
        "log_level": "debug",
    }
    return parse(data, "test")


def bus(name: str, url: str, *meters: dict[str, Any]) -> dict[str, Any]:
    """A bus with a short answer timeout, polled every ``POLL_INTERVAL``."""
    return {
        "name": name,
        "connect": f"{url}?timeout=0.3",
        "poll_interval": POLL_INTERVAL,
        "meters": list(meters),
    }


@dataclass
class RunningBridge:
    bridge: Bridge
    task: asyncio.Task[None]
    stop: asyncio.Event
    config: BridgeConfig
    address: Address

    @property
    def publisher(self) -> BacnetFace:
        assert self.bridge.bacnet is not None
        return self.bridge.bacnet

    @property
    def poller(self) -> BusPoller:
        """The poller of the first (usually the only) bus."""
        return self.bridge.pollers[0]

    def object_count(self) -> int:
        return len(self.publisher.objects)


StartBridge = Callable[..., Awaitable[RunningBridge]]


@pytest.fixture
async def start_bridge() -> AsyncIterator[StartBridge]:
    """Run ``Bridge`` (the daemon) with a bacnet: section until the test ends."""
    running: list[RunningBridge] = []

    async def start(
        buses: list[dict[str, Any]], *, wait_objects: int = 0, **bacnet: Any
    ) -> RunningBridge:
        port = free_port(socket.SOCK_DGRAM)
        config = bridge_config(buses, port=port, **bacnet)
        bridge = Bridge(config)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        handle = RunningBridge(bridge, task, stop, config, Address(f"127.0.0.1:{port}"))
        running.append(handle)
        started = asyncio.create_task(bridge.started.wait())
        await asyncio.wait([started, task], return_when=asyncio.FIRST_COMPLETED, timeout=PATIENCE)
        if task.done():
            started.cancel()
            task.result()  # raises what stopped the bridge
        assert bridge.started.is_set(), "the bridge did not start"
        if wait_objects:
            await until(
                lambda: handle.object_count() >= wait_objects, f"{wait_objects} BACnet objects"
            )
        return handle

    yield start
    for handle in running:
        handle.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handle.task, PATIENCE)


@dataclass
class Client:
    """A bacpypes3 client application on loopback, talking to one device."""

    app: Any
    device: Address = field(default_factory=lambda: Address("127.0.0.1:47808"))

    async def read(self, objid: str | ObjectIdentifier, prop: str, index: int | None = None) -> Any:
        return await self.app.read_property(self.device, _oid(objid), prop, index)

    async def rpm(self, *requests: tuple[str | ObjectIdentifier, list[str]]) -> list[Any]:
        params: list[Any] = []
        for objid, props in requests:
            params += [_oid(objid), props]
        return list(await self.app.read_property_multiple(self.device, params))

    async def write(
        self, objid: str | ObjectIdentifier, prop: str, value: Any, **kwargs: Any
    ) -> Any:
        return await self.app.write_property(self.device, _oid(objid), prop, value, **kwargs)

    async def error_of(self, call: Awaitable[Any]) -> ErrorRejectAbortNack | None:
        """The error a request got back (None: it succeeded)."""
        try:
            await call
        except ErrorRejectAbortNack as err:
            return err
        return None


async def unanswered(question: asyncio.Future[Any], barrier: Awaitable[Any]) -> None:
    """Check that nothing answered ``question`` (a Who-Is or Who-Has whose future resolves on
    its first answer, asked with a long timeout), without waiting for that timeout: the device
    answers requests in the order they come, so once ``barrier`` (a question it answers, asked
    after ``question``) has its answer, an answer to ``question`` would have come first."""
    await barrier
    assert not question.done(), f"answered: {question.result()}"
    question.cancel()


def _oid(objid: str | ObjectIdentifier) -> ObjectIdentifier:
    return objid if isinstance(objid, ObjectIdentifier) else ObjectIdentifier(objid)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    port = free_port(socket.SOCK_DGRAM)
    device = DeviceObject(
        objectIdentifier=("device", CLIENT_INSTANCE),
        objectName="test client",
        vendorIdentifier=999,
        maxApduLengthAccepted=1476,
    )
    network_port = NetworkPortObject(
        f"127.0.0.1/32:{port}", objectIdentifier=("network-port", 1), objectName="client port"
    )
    app = Application.from_object_list([device, network_port])
    try:
        yield Client(app)
    finally:
        app.close()


# -- a site of three meters, shared by test_device and test_writes ----------------------------

DEVICE = f"device,{DEVICE_INSTANCE}"
S2000_OBJECTS = 8 + 1  # 8 readings (with the program id and net power) and the reset
S8000_8_OBJECTS = 4 + 8 * 6  # 3 voltages and the program id; 6 readings per point


@dataclass
class Site:
    bridge: RunningBridge
    client: Client
    sim: MeterSimulator

    def spec(self, unit: int, key: str, point: int = 0) -> mapping.ObjectSpec:
        for obj in self.bridge.publisher.objects:
            spec = obj._spec
            if (spec.meter.unit, spec.point, spec.key) == (unit, point, key):
                return spec
        raise KeyError((unit, point, key))

    def oid(self, unit: int, key: str, point: int = 0) -> ObjectIdentifier:
        return ObjectIdentifier(self.spec(unit, key, point).identifier)

    async def value(self, unit: int, key: str, point: int = 0) -> Any:
        return await self.client.read(self.oid(unit, key, point), "present-value")


@pytest.fixture
async def site(start_simulator: StartSimulator, start_bridge: StartBridge, client: Client) -> Site:
    sim, url = await start_simulator(
        "1:2000:energy=20000000.5:load=0:peak=3.5",
        "2:8000-8:load=2400",
        "3:1000:load=1.5",
    )
    running = await start_bridge(
        [
            bus(
                "basement",
                url,
                {"unit": 1, "name": "Unit 1A"},
                {"unit": 2, "name": "Tenant panel"},
                {"unit": 3, "name": "Unit 3"},
            )
        ],
        wait_objects=2 * S2000_OBJECTS + S8000_8_OBJECTS,
    )
    client.device = running.address
    await until(
        lambda: all(
            o._value is not None
            for o in running.publisher.objects
            if o._spec.key not in ("reset_peak_demand", "derived_power", "net_power")
        ),
        "every reading",
    )
    return Site(running, client, sim)


async def object_list(client: Client) -> list[ObjectIdentifier]:
    return list(await client.read(DEVICE, "object-list"))

"""Canaries: every bacpypes3 internal that ``leviton_bridge.bacnet.compat`` uses, checked where
it lives. An upgrade that moves or changes one fails here, naming it, rather than somewhere deep
inside a request (bacpypes3 is pinned exactly; upgrade it together with these checks)."""

from __future__ import annotations

import asyncio
import inspect
import socket
from importlib import metadata
from typing import Any

import pytest
from bacpypes3 import appservice
from bacpypes3.app import Application
from bacpypes3.appservice import ServerSSM
from bacpypes3.basetypes import PropertyIdentifier
from bacpypes3.ipv4 import IPv4DatagramProtocol, IPv4DatagramServer
from bacpypes3.ipv4.link import ForeignLinkLayer, NormalLinkLayer
from bacpypes3.local.analog import AnalogInputObject
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import PDU, Address, IPv4Address
from bacpypes3.primitivedata import ObjectType, Real
from bacpypes3.vendor import get_vendor_info

from leviton_bridge.bacnet import compat, mapping
from leviton_bridge.bacnet.objects import (
    OBJECT_CLASSES,
    BridgeDevice,
    MeterAnalogInput,
    MeterLargeAnalogValue,
    MeterResetValue,
)
from leviton_bridge.config.settings import MeterConfig
from tests.support import PATIENCE, free_port

INTERNAL = "bacpypes3 {version}: the internal {name!r} that bridge/bacnet/compat.py uses {what}"


def moved(name: str, what: str = "has moved or changed") -> str:
    """The message a canary fails with."""
    return INTERNAL.format(version=metadata.version("bacpypes3"), name=name, what=what)


def spec(object_type: str = mapping.ANALOG_INPUT, instance: int = 1) -> mapping.ObjectSpec:
    return mapping.ObjectSpec(
        object_type=object_type,
        instance=instance,
        name=f"canary {object_type} {instance}",
        description="a canary",
        meter=MeterConfig(unit=1, name="canary", bus="canary"),
        key="power",
        units="kilowatts",
        cov_increment=0.1,
        resolution=0.01,
    )


def test_the_pinned_release() -> None:
    """Every check below was made on this release; a new one needs them run again."""
    assert metadata.version("bacpypes3") == compat.BACPYPES3_VERSION, moved(
        "the pinned release", f"was checked on {compat.BACPYPES3_VERSION}"
    )


def test_object_class_elements() -> None:
    elements = compat.element_types(MeterAnalogInput)
    assert isinstance(elements, dict), moved("Object._elements")
    assert elements.get("presentValue") is Real, moved("Object._elements")
    assert list(elements)[:3] == ["objectIdentifier", "objectName", "objectType"], moved(
        "Object._elements", "no longer lists the properties in order"
    )
    assert compat.element_types(MeterLargeAnalogValue)["presentValue"].__name__ == "Double"


def test_required_properties() -> None:
    required = compat.required_properties(MeterAnalogInput)
    assert {"objectIdentifier", "objectName", "objectType", "propertyList"} <= required, moved(
        "Object._required"
    )
    assert {"presentValue", "statusFlags", "units"} <= required
    assert "description" not in required
    assert "presentValue" in compat.required_properties(AnalogInputObject), moved("_required")


async def test_object_storage() -> None:
    obj = MeterAnalogInput(spec())
    assert compat.has_property(obj, "presentValue"), moved("inspect.getattr_static on objects")
    assert compat.has_property(obj, "units")
    assert not compat.has_property(obj, "notificationClass"), moved(
        "inspect.getattr_static on objects", "now sees a property that has no value"
    )
    obj.presentValue = 12.5  # bacpypes3's own assignment
    assert compat.stored_value(obj, "presentValue") == 12.5, moved("Object.__dict__ storage")
    compat.store_value(obj, "presentValue", Real(7.25))
    assert obj.presentValue == 7.25, moved(
        "Object.__dict__ storage", "no longer reads a stored property"
    )
    value = await obj.read_property(PropertyIdentifier.presentValue)
    assert value == 7.25, moved("Object.__dict__ storage", "no longer reads a stored property")


def test_our_classes_are_not_registered_as_a_vendors() -> None:
    standard = get_vendor_info(0)
    for object_type, ours in (
        (ObjectType.analogInput, MeterAnalogInput),
        (ObjectType.largeAnalogValue, MeterLargeAnalogValue),
        (ObjectType.binaryValue, MeterResetValue),
        (ObjectType.device, BridgeDevice),
    ):
        assert standard.get_object_class(object_type) is not ours, moved(
            "_vendor_id", "no longer keeps a class out of the vendor registry"
        )
    for klass in (*OBJECT_CLASSES.values(), BridgeDevice):
        assert klass.__dict__.get("_vendor_id", "absent") is compat.NOT_A_VENDOR_CLASS

    class Canary(AnalogInputObject):  # type: ignore[misc]
        _vendor_id = compat.NOT_A_VENDOR_CLASS

    assert standard.get_object_class(ObjectType.analogInput) is not Canary, moved("_vendor_id")
    assert set(OBJECT_CLASSES.values()) == {
        MeterAnalogInput,
        MeterLargeAnalogValue,
        MeterResetValue,
    }


def test_datagram_server_internals() -> None:
    source = inspect.getsource(IPv4DatagramProtocol.datagram_received)
    assert "self.server.confirmation(" in source, moved(
        "IPv4DatagramProtocol.datagram_received -> server.confirmation",
        "no longer hands datagrams to the server's confirmation",
    )
    annotations = inspect.get_annotations(IPv4DatagramServer)
    for name in ("_transport_tasks", "local_address", "local_transport"):
        assert name in annotations, moved(f"IPv4DatagramServer.{name}")
    for name in ("confirmation", "response"):
        assert callable(getattr(IPv4DatagramServer, name, None)), moved(
            f"IPv4DatagramServer.{name}"
        )
    for layer in (NormalLinkLayer, ForeignLinkLayer):
        annotations = inspect.get_annotations(layer, eval_str=True)
        assert annotations.get("server") is IPv4DatagramServer, moved(f"{layer.__name__}.server")
    for name in ("unregister", "register", "request"):
        assert callable(getattr(ForeignLinkLayer, name, None)), moved(f"ForeignLinkLayer.{name}")
    assert "bbmdAddress" in inspect.getsource(ForeignLinkLayer.unregister), moved(
        "ForeignLinkLayer.bbmdAddress"
    )


def test_the_segmented_response_timeout_still_needs_its_fix() -> None:
    """bacpypes3's ServerSSM.segmented_response_timeout asserts when the client has not
    acknowledged the first segment; compat replaces it. When this fails, check whether
    bacpypes3 has fixed it (then drop the replacement) or changed what the replacement uses."""
    original = inspect.getsource(compat.BACPYPES3_SEGMENTED_RESPONSE_TIMEOUT)
    assert "await self.fill_window(self.initialSequenceNumber)" in original, moved(
        "ServerSSM.segmented_response_timeout"
    )
    assert "assert self.actualWindowSize" in inspect.getsource(ServerSSM.fill_window), moved(
        "SSM.fill_window", "no longer asserts: is the replacement still needed?"
    )
    for name in ("get_segment", "fill_window", "start_timer", "set_state", "response"):
        assert callable(getattr(ServerSSM, name, None)), moved(f"ServerSSM.{name}")
    source = inspect.getsource(ServerSSM)
    for name in (
        "segmentRetryCount",
        "numberOfApduRetries",
        "segmentTimeout",
        "actualWindowSize",
        "initialSequenceNumber",
    ):
        assert f"self.{name}" in source, moved(f"ServerSSM.{name}")
    assert appservice.ABORTED == 7, moved("bacpypes3.appservice.ABORTED")
    compat.fix_segmented_response_timeout()
    assert ServerSSM.segmented_response_timeout is not compat.BACPYPES3_SEGMENTED_RESPONSE_TIMEOUT


def test_network_message_registry() -> None:
    known = compat.network_messages()
    assert set(range(0x00, 0x0A)) <= known, moved("bacpypes3.npdu.npdu_types")


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.packets.put_nowait((data, addr))


def _application(port: int, **port_settings: Any) -> Any:
    device = DeviceObject(
        objectIdentifier=("device", 599990),
        objectName="canary",
        vendorIdentifier=999,
    )
    network_port = NetworkPortObject(
        f"127.0.0.1/32:{port}", objectIdentifier=("network-port", 1), objectName="canary port"
    )
    for name, value in port_settings.items():
        setattr(network_port, name, value)
    return Application.from_object_list([device, network_port])


async def test_datagrams_are_taken_and_sent() -> None:
    """The link-layer hooks, end to end: bound, datagrams to the screen, one sent back, and
    one passed up to bacpypes3's stack (a Who-Is it answers)."""
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(_Collector, local_addr=("127.0.0.1", 0))
    port = free_port(socket.SOCK_DGRAM)
    app = _application(port)
    screened: asyncio.Queue[tuple[Any, PDU]] = asyncio.Queue()

    async def screen(server: Any, pdu: PDU) -> None:
        screened.put_nowait((server, pdu))

    try:
        compat.take_datagrams(app, screen)
        assert await compat.wait_bound(app, PATIENCE), moved("_transport_tasks")
        assert not compat.is_foreign(app)
        who_is = bytes.fromhex("810a000c0120ffff00ff1008")  # global Who-Is
        transport.sendto(who_is, ("127.0.0.1", port))
        server, pdu = await asyncio.wait_for(screened.get(), PATIENCE)
        assert bytes(pdu.pduData) == who_is, moved("IPv4DatagramServer.confirmation")
        assert not compat.is_own_datagram(server, pdu), moved("IPv4DatagramServer.local_address")
        assert compat.send_datagram(server, b"\x81\x0a\x00\x04", pdu.pduSource.addrTuple), moved(
            "IPv4DatagramServer.local_transport"
        )
        data, _ = await asyncio.wait_for(peer.packets.get(), PATIENCE)
        assert data == b"\x81\x0a\x00\x04"
        await compat.pass_up(server, pdu)
        i_am, _ = await asyncio.wait_for(peer.packets.get(), PATIENCE)
        assert i_am[4:].startswith(b"\x01\x00\x10\x00"), moved(
            "IPv4DatagramServer.response", f"did not take the Who-Is up the stack: {i_am.hex()}"
        )
    finally:
        app.close()
        transport.close()


async def test_foreign_device_deregisters_before_returning() -> None:
    loop = asyncio.get_running_loop()
    transport, bbmd = await loop.create_datagram_endpoint(_Collector, local_addr=("127.0.0.1", 0))
    bbmd_port = transport.get_extra_info("sockname")[1]
    from bacpypes3.basetypes import HostNPort, IPMode

    app = _application(
        free_port(socket.SOCK_DGRAM),
        bacnetIPMode=IPMode.foreign,
        fdBBMDAddress=HostNPort(f"127.0.0.1:{bbmd_port}"),
        fdSubscriptionLifetime=60,
    )
    try:
        assert compat.is_foreign(app)
        assert await compat.wait_bound(app, PATIENCE)
        registration, _ = await asyncio.wait_for(bbmd.packets.get(), PATIENCE)
        assert registration == bytes.fromhex("8105000600" + "3c")
        await compat.deregister_foreign(app)
        app.close()  # at once: the deregistration is already on its way
        data, _ = await asyncio.wait_for(bbmd.packets.get(), PATIENCE)
        assert data == bytes.fromhex("810500060000"), moved(
            "ForeignLinkLayer.request / bbmdAddress", f"sent {data.hex()}"
        )
    finally:
        app.close()
        transport.close()


def test_addresses_compare_as_the_screen_expects() -> None:
    assert IPv4Address("127.0.0.1:47808").addrTuple == ("127.0.0.1", 47808)
    assert Address("127.0.0.1:47808") == IPv4Address("127.0.0.1:47808")


@pytest.mark.parametrize("name", compat.__all__)
def test_every_compat_name_is_checked_here(name: str) -> None:
    """A new use of an internal gets its canary here."""
    source = inspect.getsource(inspect.getmodule(test_the_pinned_release))  # type: ignore[arg-type]
    assert f"compat.{name}" in source, f"compat.{name} has no canary in {__name__}"

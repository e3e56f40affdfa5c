"""Every use of a bacpypes3 internal, in one place.

The device needs a few things bacpypes3 0.0.110 offers no public way to do: store a property
without its per-assignment class introspection (the bridge updates 15,000 objects a poll), know
an object class's properties, take the datagrams before its stack does (to screen them and to
answer the common reads from bytes), know which network messages its stack decodes, wait for
its sockets to be bound, deregister a foreign device before the socket closes, and not crash
when a client never acknowledges the first segment of an answer. bacpypes3 is pinned exactly
in pyproject.toml; ``tests/bacnet/test_compat.py`` checks each internal named here where it
lives, so that an upgrade that moves one fails there, naming it, rather than deep inside a
request. Outside this module no bacpypes3 name that starts with ``_`` is touched, except the two
class attributes an object class declares: ``_vendor_id`` (``NOT_A_VENDOR_CLASS``) and
``_required`` (read back by ``required_properties``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

from bacpypes3.appservice import ABORTED, ServerSSM
from bacpypes3.ipv4.bvll import RegisterForeignDevice
from bacpypes3.npdu import npdu_types
from bacpypes3.pdu import PDU

BACPYPES3_VERSION: Final = "0.0.110"
"""The release these internals were checked on (pinned in pyproject.toml)."""

NOT_A_VENDOR_CLASS: Final = None
"""Value for ``_vendor_id`` in an object class's own body: bacpypes3's object metaclass then
does not register the class as a vendor's class for its object type (ours would otherwise
replace the standard classes that every bacpypes3 client in the process decodes with)."""

# -- objects -------------------------------------------------------------------------------------


def element_types(object_class: type) -> Mapping[str, Any]:
    """The class's properties and their bacpypes3 types, in the class's property order
    (``_elements``, built by bacpypes3's object metaclass)."""
    elements: Mapping[str, Any] = object_class._elements  # type: ignore[attr-defined]
    return elements


def required_properties(object_class: type) -> frozenset[str]:
    """The properties the standard requires of the class (the ``_required`` tuples of the class
    and its bases)."""
    names: set[str] = set()
    for klass in object_class.__mro__:
        names.update(klass.__dict__.get("_required", ()))
    return frozenset(names)


def has_property(obj: object, name: str) -> bool:
    """Whether the object has a value for the property: bacpypes3 keeps a value in the instance
    (or as a class default, or a computed property) and treats None as absent."""
    return inspect.getattr_static(obj, name, None) is not None


def stored_value(obj: object, name: str) -> Any:
    """A property's value as stored in the instance, past bacpypes3's ``__getattribute__``
    (which inspects the class on every read)."""
    return obj.__dict__.get(name)


def store_value(obj: object, name: str, value: Any) -> None:
    """Store a property's value (already of its bacpypes3 type) where bacpypes3 keeps it, past
    its ``__setattr__``; the caller does what a change implies (COV, cached encodings)."""
    obj.__dict__[name] = value


# -- segmentation ----------------------------------------------------------------------------


async def _segmented_response_timeout(self: Any) -> None:
    """``ServerSSM.segmented_response_timeout`` as it should be: when the client has not yet
    acknowledged the first segment, send that segment again (bacpypes3 asserts on the window
    size it does not know yet: a traceback, and a transaction that never ends)."""
    if self.segmentRetryCount < self.numberOfApduRetries:
        self.segmentRetryCount += 1
        self.start_timer(self.segmentTimeout)
        if self.actualWindowSize is None:
            await self.response(self.get_segment(0))
        else:
            await self.fill_window(self.initialSequenceNumber)
    else:
        self.set_state(ABORTED)


BACPYPES3_SEGMENTED_RESPONSE_TIMEOUT: Final = ServerSSM.segmented_response_timeout
"""bacpypes3's own (for the canary that tells when it no longer needs replacing)."""


def fix_segmented_response_timeout() -> None:
    """Replace ``ServerSSM.segmented_response_timeout`` (once; every bacpypes3 application of
    the process gets the fix, which only changes what used to raise)."""
    ServerSSM.segmented_response_timeout = _segmented_response_timeout


# -- the link layer ------------------------------------------------------------------------------


def _datagram_servers(app: Any) -> Iterator[Any]:
    """The ``IPv4DatagramServer`` at the bottom of each BACnet/IP link layer (``server``)."""
    for layer in app.link_layers.values():
        server = getattr(layer, "server", None)
        if server is not None:
            yield server


async def wait_bound(app: Any, within: float) -> bool:
    """Wait until every link layer's sockets are bound (bacpypes3 binds in background tasks,
    ``_transport_tasks``, and retries a failed bind forever). False when that took longer
    than ``within`` seconds."""
    tasks = [task for server in _datagram_servers(app) for task in server._transport_tasks]
    if not tasks:
        return True
    _done, pending = await asyncio.wait(tasks, timeout=within)
    return not pending


Screen = Callable[[Any, PDU], Awaitable[None]]


def take_datagrams(app: Any, screen: Screen) -> None:
    """Route every datagram the link layers receive to ``screen(server, pdu)`` instead of
    bacpypes3's ``IPv4DatagramServer.confirmation`` (which logs a traceback for every datagram
    its stack cannot decode). ``screen`` passes the ones it wants up with ``pass_up``."""
    for server in _datagram_servers(app):

        async def confirmation(pdu: PDU, server: Any = server) -> None:
            await screen(server, pdu)

        server.confirmation = confirmation


def is_own_datagram(server: Any, pdu: PDU) -> bool:
    """Whether the datagram comes from the server's own address (a broadcast of its own, heard
    back): bacpypes3's datagram server drops these (``local_address``), and so must its
    replacement."""
    return bool(pdu.pduSource.addrTuple == server.local_address)


async def pass_up(server: Any, pdu: PDU) -> None:
    """Give a datagram to bacpypes3's stack, as its datagram server would (without the
    catch-all that logs a traceback: the caller decides what a failure costs)."""
    await server.response(pdu)


def send_datagram(server: Any, data: bytes, address: tuple[str, int]) -> bool:
    """Send a datagram from the server's own socket (``local_transport``); False when the socket
    is not open."""
    transport = server.local_transport
    if transport is None or transport.is_closing():
        return False
    transport.sendto(data, address)
    return True


def network_messages() -> frozenset[int]:
    """The network-layer message types bacpypes3 decodes (its ``npdu_types`` registry); it
    raises on the others, which a device that is not a router has no use for."""
    return frozenset(npdu_types)


def is_foreign(app: Any) -> bool:
    """Whether the device is a foreign device of a BBMD (its link layer registers)."""
    return any(hasattr(layer, "unregister") for layer in app.link_layers.values())


async def deregister_foreign(app: Any) -> None:
    """Stop foreign-device registration and tell the BBMD now: bacpypes3's ``unregister()``
    sends its deregistration from a task of its own, which a socket closed right after would
    drop; this sends it before returning (the task's copy then goes nowhere)."""
    for layer in app.link_layers.values():
        if not hasattr(layer, "unregister"):
            continue
        bbmd = layer.bbmdAddress
        layer.unregister()
        if bbmd is not None:
            await layer.request(RegisterForeignDevice(0, destination=bbmd))


__all__ = [
    "BACPYPES3_SEGMENTED_RESPONSE_TIMEOUT",
    "BACPYPES3_VERSION",
    "NOT_A_VENDOR_CLASS",
    "deregister_foreign",
    "element_types",
    "fix_segmented_response_timeout",
    "has_property",
    "is_foreign",
    "is_own_datagram",
    "network_messages",
    "pass_up",
    "required_properties",
    "send_datagram",
    "store_value",
    "stored_value",
    "take_datagrams",
    "wait_bound",
]

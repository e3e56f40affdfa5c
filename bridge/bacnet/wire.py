"""The headers of a BACnet/IP datagram, read from its bytes (no bacpypes3).

The device looks at every datagram before bacpypes3 does (``ingress``): to drop what is
malformed with one warning instead of a traceback, to refuse what it does not execute, and to
answer the common ReadPropertyMultiple from bytes (``fastpath``). This module reads the three
headers (ASHRAE 135 Annex J BVLL, clause 6 NPDU, clause 20 APDU) strictly and raises
``Malformed`` naming the layer; it also frames an answer to a local peer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

BVLL_TYPE: Final = 0x81
RESULT: Final = 0x00
WRITE_BDT: Final = 0x01
READ_BDT: Final = 0x02
READ_BDT_ACK: Final = 0x03
FORWARDED_NPDU: Final = 0x04
REGISTER_FD: Final = 0x05
READ_FDT: Final = 0x06
READ_FDT_ACK: Final = 0x07
DELETE_FDT_ENTRY: Final = 0x08
DISTRIBUTE_BROADCAST: Final = 0x09
ORIGINAL_UNICAST: Final = 0x0A
ORIGINAL_BROADCAST: Final = 0x0B

CARRIES_NPDU: Final = frozenset(
    (FORWARDED_NPDU, DISTRIBUTE_BROADCAST, ORIGINAL_UNICAST, ORIGINAL_BROADCAST)
)
"""BVLL functions whose payload is an NPDU."""
_FIXED_LENGTH: Final = {
    RESULT: 6,
    READ_BDT: 4,
    REGISTER_FD: 6,
    READ_FDT: 4,
    DELETE_FDT_ENTRY: 10,
}
_TABLES: Final = frozenset((WRITE_BDT, READ_BDT_ACK, READ_FDT_ACK))
"""Functions whose payload is a table of 10-octet entries."""

# NPDU control octet
NETWORK_MESSAGE: Final = 0x80
DNET_PRESENT: Final = 0x20
SNET_PRESENT: Final = 0x08
EXPECTING_REPLY: Final = 0x04
PRIORITY: Final = 0x03
LAST_DEFINED_NETWORK_MESSAGE: Final = 0x13
"""Network-layer message types 0x14..0x7F are reserved by ASHRAE; 0x80.. are proprietary."""

# APDU types (the high nibble of the first octet)
CONFIRMED_REQUEST: Final = 0
UNCONFIRMED_REQUEST: Final = 1
SIMPLE_ACK: Final = 2
COMPLEX_ACK: Final = 3
SEGMENT_ACK: Final = 4
ERROR: Final = 5
REJECT: Final = 6
ABORT: Final = 7
_SHORTEST_APDU: Final = {
    CONFIRMED_REQUEST: 4,
    UNCONFIRMED_REQUEST: 2,
    SIMPLE_ACK: 3,
    COMPLEX_ACK: 3,
    SEGMENT_ACK: 4,
    ERROR: 3,
    REJECT: 3,
    ABORT: 3,
}
SEGMENTED: Final = 0x08
"""Segmented-message flag of a confirmed request or complex ack."""

MAX_APDU_BY_CODE: Final = (50, 128, 206, 480, 1024, 1476)
"""Max-APDU-length-accepted by its 4-bit code (clause 20.1.2.5); 6..15 are reserved."""


class Malformed(ValueError):
    """A datagram that no layer of BACnet/IP would accept; ``kind`` names the layer."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Frame:
    """What the headers of a datagram say."""

    function: int
    """The BVLL function."""
    npdu_at: int = -1
    """Where the NPDU starts (-1: the BVLL function carries none)."""
    control: int = 0
    """The NPDU control octet."""
    routed: bool = False
    """The NPDU names a source or destination network (the device answers through bacpypes3)."""
    network_message: int = -1
    """The network-layer message type, or -1 for an APDU."""
    apdu_at: int = -1
    """Where the APDU starts (-1: none)."""
    apdu_type: int = -1
    service: int = -1
    """The service choice of a request (-1 for other APDUs)."""
    invoke_id: int = -1
    first_octet: int = 0
    """The APDU's first octet (its type and flags)."""
    max_apdu_code: int = 0
    """The low nibble of a confirmed request's second octet."""

    @property
    def segmented(self) -> bool:
        """A segment of a confirmed request."""
        return self.apdu_type == CONFIRMED_REQUEST and self.first_octet & SEGMENTED != 0


def read_frame(data: bytes) -> Frame:
    """The headers of a BACnet/IP datagram; raises ``Malformed``."""
    size = len(data)
    if size == 0 or data[0] != BVLL_TYPE:
        raise Malformed("not-bacnet-ip", "not BACnet/IP (the first octet is not 0x81)")
    if size < 4:
        raise Malformed("bvll", f"a BVLL header cut short ({size} octets)")
    function = data[1]
    length = data[2] << 8 | data[3]
    if length != size:
        raise Malformed("bvll", f"BVLL length {length} in a datagram of {size} octets")
    if function in _FIXED_LENGTH:
        if size != _FIXED_LENGTH[function]:
            raise Malformed("bvll", f"BVLL function 0x{function:02X} with {size} octets")
        return Frame(function)
    if function in _TABLES:
        if (size - 4) % 10:
            raise Malformed("bvll", f"BVLL function 0x{function:02X} with {size} octets")
        return Frame(function)
    if function not in CARRIES_NPDU:
        raise Malformed("bvll", f"unknown BVLL function 0x{function:02X}")
    at = 10 if function == FORWARDED_NPDU else 4
    return _read_npdu(data, function, at)


def _read_npdu(data: bytes, function: int, at: int) -> Frame:
    size = len(data)
    if size < at + 2:
        raise Malformed("npdu", "an NPDU cut short")
    if data[at] != 0x01:
        raise Malformed("npdu", f"NPDU version {data[at]} (only 1 exists)")
    control = data[at + 1]
    index = at + 2
    routed = False
    if control & DNET_PRESENT:
        if index + 3 > size:
            raise Malformed("npdu", "an NPDU destination cut short")
        index += 3 + data[index + 2]
        routed = True
    if control & SNET_PRESENT:
        if index + 3 > size:
            raise Malformed("npdu", "an NPDU source cut short")
        snet = data[index] << 8 | data[index + 1]
        slen = data[index + 2]
        if slen == 0 or snet == 0xFFFF:
            raise Malformed("npdu", "an NPDU source that is a broadcast")
        index += 3 + slen
        routed = True
    if control & DNET_PRESENT:
        index += 1  # hop count
    if index > size:
        raise Malformed("npdu", "an NPDU address cut short")
    if control & NETWORK_MESSAGE:
        if index >= size:
            raise Malformed("npdu", "a network-layer message without its type")
        message = data[index]
        if LAST_DEFINED_NETWORK_MESSAGE < message < 0x80:
            raise Malformed("npdu", f"reserved network-layer message type 0x{message:02X}")
        if message >= 0x80 and index + 3 > size:
            raise Malformed("npdu", "a proprietary network-layer message without its vendor")
        return Frame(function, at, control, routed, message)
    return _read_apdu(data, Frame(function, at, control, routed), index)


def _read_apdu(data: bytes, frame: Frame, at: int) -> Frame:
    size = len(data) - at
    if size < 1:
        raise Malformed("apdu", "an NPDU without an APDU")
    first = data[at]
    kind = first >> 4
    shortest = _SHORTEST_APDU.get(kind)
    if shortest is None:
        raise Malformed("apdu", f"APDU type {kind} (0..7 exist)")
    if kind == CONFIRMED_REQUEST and first & SEGMENTED:
        shortest = 6
    elif kind == COMPLEX_ACK and first & SEGMENTED:
        shortest = 5
    if size < shortest:
        raise Malformed("apdu", f"an APDU of type {kind} cut short ({size} octets)")
    if kind == CONFIRMED_REQUEST:
        service = data[at + 5] if first & SEGMENTED else data[at + 3]
        return _with(frame, at, first, service, data[at + 2], data[at + 1] & 0x0F)
    if kind == UNCONFIRMED_REQUEST:
        return _with(frame, at, first, data[at + 1], -1, 0)
    return _with(frame, at, first, -1, data[at + 1], 0)


def _with(frame: Frame, at: int, first: int, service: int, invoke: int, code: int) -> Frame:
    return Frame(
        frame.function,
        frame.npdu_at,
        frame.control,
        frame.routed,
        -1,
        at,
        first >> 4,
        service,
        invoke,
        first,
        code,
    )


def answer_datagram(request: Frame, apdu: bytes) -> bytes:
    """An Original-Unicast-NPDU carrying ``apdu`` to the (local) peer of ``request``: the NPDU
    keeps the request's network priority and expects no reply, as bacpypes3 frames one."""
    length = 6 + len(apdu)
    return (
        bytes((BVLL_TYPE, ORIGINAL_UNICAST, length >> 8, length & 0xFF, 0x01))
        + bytes((request.control & PRIORITY,))
        + apdu
    )


__all__ = ["Frame", "Malformed", "answer_datagram", "read_frame"]

"""Malformed and unwanted BACnet/IP datagrams, by kind, for the flood tests.

Each kind is a generator of datagrams from a seeded ``random.Random``, so that a failure
replays. The kinds cover every layer a datagram passes: the BVLL header, the NPDU, the APDU
header, the service parameters' tags, services this device does not execute and APDUs that
answer nothing it asked. Built by hand on purpose: bacpypes3 cannot encode most of them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

#: A ReadProperty of the device's object name (device 59001), as a valid template.
READ_PROPERTY: Final = bytes.fromhex("0c02 00e6 7919 4d".replace(" ", ""))
#: ReadRange of the device's object list, by position, first 10 items.
READ_RANGE: Final = bytes.fromhex("0c02 00e6 7919 4c3e 2101 310a 3f".replace(" ", ""))

#: Confirmed services bacpypes3 knows that this device does not execute.
UNSUPPORTED_CONFIRMED: Final = (0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 17, 18, 19, 20, 26, 27, 28, 29)
#: Confirmed services the device executes (RP, RPM, WP, WPM, SubscribeCOV).
SUPPORTED_CONFIRMED: Final = (12, 14, 15, 16, 5)


def bvll(function: int, payload: bytes) -> bytes:
    return bytes([0x81, function]) + (len(payload) + 4).to_bytes(2, "big") + payload


def unicast(apdu: bytes, *, expecting_reply: bool = True) -> bytes:
    """An Original-Unicast-NPDU with a local NPDU (version 1, no addresses)."""
    return bvll(0x0A, bytes([0x01, 0x04 if expecting_reply else 0x00]) + apdu)


def confirmed(service: int, data: bytes, invoke: int = 1, *, flags: int = 0x02) -> bytes:
    """A confirmed-request APDU: type 0, segmented-response-accepted by default, up to 50
    segments of 1476 bytes."""
    return bytes([0x00 | flags, 0x55, invoke & 0xFF, service]) + data


def _random_bytes(rng: random.Random, low: int, high: int) -> bytes:
    return rng.randbytes(rng.randint(low, high))


def garbage(rng: random.Random) -> bytes:
    """Not BACnet/IP at all: the first octet is not 0x81."""
    data = bytearray(_random_bytes(rng, 1, 80))
    while data[0] == 0x81:
        data[0] = rng.randrange(256)
    return bytes(data)


def bvll_truncated(rng: random.Random) -> bytes:
    return rng.choice((b"\x81", b"\x81\x0a", b"\x81\x0a\x00", b"\x81\x0b\x00\x04"[:3]))


def bvll_length(rng: random.Random) -> bytes:
    """A BVLL whose length field disagrees with the datagram."""
    good = unicast(confirmed(12, READ_PROPERTY, rng.randrange(256)))
    declared = len(good)
    while declared == len(good):
        declared = rng.randrange(65536)
    return good[:2] + declared.to_bytes(2, "big") + good[4:]


def bvll_function(rng: random.Random) -> bytes:
    """Functions that are not BACnet/IP's, or that a non-BBMD node gets with junk in them."""
    function = rng.choice((*range(0x0C, 0x100), 0x01, 0x02, 0x03, 0x05, 0x06, 0x08, 0x09))
    return bvll(function, _random_bytes(rng, 0, 40))


def npdu_truncated(rng: random.Random) -> bytes:
    return rng.choice(
        (
            bvll(0x0A, b""),
            bvll(0x0A, b"\x01"),
            bvll(0x0A, b"\x01\x20"),  # DNET follows, but nothing does
            bvll(0x0A, b"\x01\x20\x00\x05\x06\x01"),  # DADR shorter than its length
            bvll(0x0A, b"\x01\x08\x00"),  # SNET cut short
            bvll(0x0B, b"\x01"),
        )
    )


def npdu_version(rng: random.Random) -> bytes:
    version = rng.choice([v for v in range(256) if v != 1])
    return bvll(0x0A, bytes([version, 0x04]) + confirmed(12, READ_PROPERTY))


def network_message(rng: random.Random) -> bytes:
    """Network-layer messages of reserved or junk types, or real ones with junk in them."""
    kind = rng.choice((*range(0x0A, 0x12), *range(0x14, 0x80), 0x01, 0x02, 0x03, 0x06, 0x09))
    return bvll(0x0A, bytes([0x01, 0x80, kind]) + _random_bytes(rng, 0, 20))


def apdu_truncated(rng: random.Random) -> bytes:
    return unicast(
        rng.choice(
            (
                b"",
                b"\x00",
                b"\x00\x05",
                b"\x00\x05\x01",
                b"\x08\x05\x01\x00",  # segmented, no sequence number or window
                b"\x10",  # unconfirmed, no service choice
                b"\x30\x01",  # complex ack, no service choice
                b"\x50\x01",  # error without service and codes
                b"\x50\x01\x0c\x91",
            )
        )
    )


def apdu_type(rng: random.Random) -> bytes:
    return unicast(bytes([rng.randrange(8, 16) << 4]) + _random_bytes(rng, 0, 10))


def bad_tags(rng: random.Random) -> bytes:
    """A service the device executes, with its parameters' tags broken."""
    service = rng.choice(SUPPORTED_CONFIRMED)
    data = bytearray(READ_PROPERTY)
    how = rng.randrange(5)
    if how == 0:
        data = data[: rng.randrange(len(data))]  # cut short
    elif how == 1:
        data[rng.randrange(len(data))] = rng.randrange(256)  # a byte changed
    elif how == 2:
        data += bytes([0x1E])  # an opening tag never closed
    elif how == 3:
        data = bytearray(b"\x0d\xff\xff") + data  # a length beyond the end
    else:
        data = bytearray(_random_bytes(rng, 1, 30))
    return unicast(confirmed(service, bytes(data), rng.randrange(256)))


def unknown_service(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return unicast(confirmed(rng.randrange(30, 256), _random_bytes(rng, 0, 20)))
    return unicast(
        bytes([0x10, rng.randrange(11, 256)]) + _random_bytes(rng, 0, 20), expecting_reply=False
    )


def unsupported_service(rng: random.Random) -> bytes:
    """Confirmed services bacpypes3 knows and this device does not execute (ReadRange, file
    access, DeviceCommunicationControl, ReinitializeDevice, object creation, ...)."""
    service = rng.choice(UNSUPPORTED_CONFIRMED)
    data = READ_RANGE if service == 26 else _random_bytes(rng, 0, 20)
    return unicast(confirmed(service, data, rng.randrange(256)))


def stray_answer(rng: random.Random) -> bytes:
    """Acks, errors, rejects, aborts and segment acks for requests nobody made."""
    invoke = rng.randrange(256)
    return unicast(
        rng.choice(
            (
                bytes([0x20, invoke, 12]),
                bytes([0x30, invoke, 12]) + _random_bytes(rng, 0, 20),
                bytes([0x50, invoke, 12, 0x91, 0x02, 0x91, 0x1F]),
                bytes([0x60, invoke, rng.randrange(256)]),
                bytes([0x70 | rng.choice((0, 1)), invoke, rng.randrange(256)]),
                bytes([0x40 | rng.choice((0, 1, 2, 3)), invoke, rng.randrange(256), 4]),
            )
        ),
        expecting_reply=False,
    )


def segmented(rng: random.Random) -> bytes:
    """Segments of a confirmed request that never completes, or starts in the middle."""
    sequence = rng.randrange(256)
    flags = 0x08 | rng.choice((0x00, 0x04)) | 0x02
    header = bytes([flags, 0x55, rng.randrange(256), sequence, rng.randrange(1, 128)])
    return unicast(header + bytes([rng.choice(SUPPORTED_CONFIRMED)]) + _random_bytes(rng, 0, 30))


KINDS: Final[dict[str, Callable[[random.Random], bytes]]] = {
    "garbage": garbage,
    "bvll-truncated": bvll_truncated,
    "bvll-length": bvll_length,
    "bvll-function": bvll_function,
    "npdu-truncated": npdu_truncated,
    "npdu-version": npdu_version,
    "network-message": network_message,
    "apdu-truncated": apdu_truncated,
    "apdu-type": apdu_type,
    "bad-tags": bad_tags,
    "unknown-service": unknown_service,
    "unsupported-service": unsupported_service,
    "stray-answer": stray_answer,
    "segmented": segmented,
}


def flood(count: int, seed: int = 9) -> list[tuple[str, bytes]]:
    """``count`` datagrams, the kinds taking turns."""
    rng = random.Random(seed)
    names = list(KINDS)
    return [(names[n % len(names)], KINDS[names[n % len(names)]](rng)) for n in range(count)]

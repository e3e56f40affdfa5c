"""A BACnet/IP peer made of one UDP socket: it sends bytes and keeps what comes back.

For the tests that need the exact octets of an answer (the fast path's), or that send what no
BACnet stack would (malformed datagrams, a subscriber that never acknowledges).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bacpypes3.pdu import Address

from tests.support import PATIENCE

from .malformed import confirmed, unicast

ANSWERS = (2, 3, 5, 6, 7)
"""APDU types that answer a confirmed request: simple ack, complex ack, error, reject, abort."""


class RawPeer(asyncio.DatagramProtocol):
    """One UDP socket on loopback; ``packets`` holds what it received, in order."""

    def __init__(self) -> None:
        self.packets: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.device: Address | None = None
        """The device it talks to, for tests that answer it."""

    @classmethod
    async def open(cls) -> RawPeer:
        loop = asyncio.get_running_loop()
        _transport, peer = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        return peer

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.packets.put_nowait(data)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    @property
    def address(self) -> Address:
        return Address(f"127.0.0.1:{self.port}")

    def send(self, data: bytes, to: Address) -> None:
        assert self.transport is not None
        host, port = to.addrTuple
        self.transport.sendto(data, (host, port))

    async def receive(self, within: float = PATIENCE) -> bytes:
        return await asyncio.wait_for(self.packets.get(), within)

    async def ask(self, data: bytes, to: Address) -> bytes:
        """Send a request and return the next datagram that comes back."""
        self.send(data, to)
        return await self.receive()

    async def ask_for(self, data: bytes, to: Address, invoke_id: int) -> bytes:
        """Send a request and return the answer with its invoke id (skipping others, such as
        an earlier answer's segments sent again)."""
        self.send(data, to)
        while True:
            answer = await self.receive()
            at = apdu_at(answer)
            is_answer = len(answer) > at + 1 and answer[at] >> 4 in ANSWERS
            if is_answer and answer[at + 1] == invoke_id:
                return answer

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def request(service_data: Any, invoke_id: int = 1, *, max_apdu_code: int = 5) -> bytes:
    """A confirmed request datagram from a bacpypes3 request (its service's parameters encoded
    by bacpypes3; the headers here)."""
    encoded = service_data.encode()
    apdu = confirmed(encoded.apduService, bytes(encoded.pduData), invoke_id)
    apdu = apdu[:1] + bytes([0x50 | max_apdu_code]) + apdu[2:]
    return unicast(apdu)


def apdu_at(datagram: bytes) -> int:
    """Where the APDU of an Original-Unicast-NPDU starts (past any NPDU addresses)."""
    control = datagram[5]
    at = 6
    if control & 0x20:
        at += 3 + datagram[at + 2]
    if control & 0x08:
        at += 3 + datagram[at + 2]
    if control & 0x20:
        at += 1
    return at


def apdu_of(datagram: bytes) -> bytes:
    """The APDU of an Original-Unicast-NPDU from a local peer (no NPDU addresses)."""
    assert datagram[:2] == b"\x81\x0a", datagram.hex()
    assert datagram[4] == 0x01, datagram.hex()
    assert datagram[5] & 0x28 == 0, datagram.hex()
    return datagram[6:]


__all__ = ["RawPeer", "apdu_of", "request"]

"""The Modbus TCP connections of the server face: frames in, answers out, and what any client
may cost.

Frames are cut by their MBAP header and decoded and encoded with pymodbus's framer and PDU
classes. A connection is refused at accept when its address is outside ``allow`` or when
``max_clients`` are connected; a connection sending nothing for ``idle_timeout`` seconds is
closed; a frame that is not Modbus TCP (another protocol id, a length no frame has) closes
its connection only. Each turn of the event loop answers at most ``BURST`` frames of one
connection before the others get theirs: a client that pipelines thousands of requests is
answered as fast as the others, not before them. Every problem is one warning per client and
kind a minute, never a traceback.

Requests are answered in order per connection. Reads come from the meters' images (no
request reaches the RS485 line); a demand-reset write waits for the core's reset (confirmed
by reading the meter back), so the requests after it on that connection wait too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, cast

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU

from ..core.idle import IdleReaper
from ..core.ratelimit import PeerWarnings

_LOGGER = logging.getLogger(__name__)

BURST: Final = 8
"""Frames of one connection answered before the other connections get a turn."""
MAX_PENDING: Final = 16 * 1024
"""Bytes waiting to be answered on one connection before reading from it pauses."""
_MBAP: Final = struct.Struct(">HHH")
#: A Modbus TCP frame's length field counts the unit id and the PDU: 2 (a function code
#: alone) to 254 (the largest PDU, 253 bytes, and the unit id).
MIN_LENGTH: Final = 2
MAX_LENGTH: Final = 254

Answer = ModbusPDU | Awaitable[ModbusPDU]
Handler = Callable[[int, ModbusPDU | int], Answer]
"""What the face answers a request (the unit, then the decoded PDU or, for a function it does
not decode, its code): a PDU, or an awaitable one (a write that waits for the meter)."""

#: Functions decoded with pymodbus's classes (reads, writes, report server id); any other
#: function code reaches the handler as a bare number (it answers exception 01).
DECODED: Final = frozenset({0x03, 0x04, 0x06, 0x10, 0x11})


@dataclass(eq=False, slots=True)
class Client:
    transport: asyncio.Transport
    peer: str
    last: float
    busy: bool = False
    """Waiting for an answer that takes time (a demand reset): not idle."""


class ModbusServer:
    """Accepts Modbus TCP connections and answers them through ``handler``."""

    def __init__(
        self,
        handler: Handler,
        *,
        allow: Sequence[str],
        max_clients: int,
        idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.handler = handler
        self.allow = [ipaddress.ip_network(network, strict=False) for network in allow]
        self.max_clients = max_clients
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.clients: dict[asyncio.Transport, Client] = {}
        self.counts: Counter[str] = Counter()
        """Connections refused, closed idle, closed for a malformed frame."""
        self.requests: Counter[tuple[int, str]] = Counter()
        """Requests answered, by function code and outcome (``ok``, ``exception_0b``, ...)."""
        self.warnings = PeerWarnings(_LOGGER, "Modbus server", window=60.0)
        self.decoder = DecodePDU(is_server=True)
        self.framer = FramerSocket(self.decoder)
        self._server: asyncio.Server | None = None
        self.reaper = IdleReaper(
            self.clients,
            idle_timeout=idle_timeout,
            counts=self.counts,
            counted_as="closed: idle",
            name="modbus server reaper",
            clock=clock,
        )

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True
        )
        self.reaper.start()

    @property
    def port(self) -> int | None:
        """The port listened on (the one the system chose for port 0)."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        await self.reaper.stop()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for client in list(self.clients.values()):
                client.transport.close()
            await server.wait_closed()

    # -- connections ----------------------------------------------------------------------

    def admit(self, transport: asyncio.Transport) -> Client | None:
        """A new connection: allowed, and room for it? (None: it is closed.)"""
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        try:
            address = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            address = None
        if address is None or not any(address in network for network in self.allow):
            self.counts["refused: not allowed"] += 1
            self.warnings.warn(host, "not allowed", "refused a connection from outside allow")
            return None
        if len(self.clients) >= self.max_clients:
            self.counts["refused: too many clients"] += 1
            self.warnings.warn(
                host,
                "too many clients",
                "refused a connection: %d clients are connected (modbus_server.max_clients)",
                len(self.clients),
            )
            return None
        client = Client(transport, host, self.clock())
        self.clients[transport] = client
        return client

    def malformed(self, client: Client, why: str) -> None:
        self.counts["closed: malformed frame"] += 1
        self.warnings.warn(client.peer, "malformed", "closed a connection: %s", why)
        client.transport.close()

    def close_idle(self) -> int:
        """Close the connections idle for longer than ``idle_timeout``; how many."""
        return self.reaper.close_idle()

    # -- one request ----------------------------------------------------------------------

    def decode(self, frame: bytes) -> tuple[int, int, ModbusPDU | int]:
        """(transaction id, unit, the request): a PDU, or the function code of one not
        decoded here. ``ModbusException``/``ValueError`` for a PDU that cannot be decoded."""
        _used, unit, tid, data = self.framer.decode(frame)
        function = data[0]
        if function not in DECODED:
            return tid, unit, function
        pdu = self.decoder.decode(data)
        if pdu is None:
            raise ValueError(f"function {function:#04x} cannot be decoded")
        return tid, unit, pdu

    def encode(self, answer: ModbusPDU, unit: int, tid: int) -> bytes:
        answer.dev_id, answer.transaction_id = unit, tid
        outcome = (
            f"exception_{answer.exception_code:02x}"
            if isinstance(answer, ExceptionResponse)
            else "ok"
        )
        self.requests[(answer.function_code & 0x7F, outcome)] += 1
        return self.framer.buildFrame(answer)


class _Connection(asyncio.Protocol):
    """One client: its bytes, cut into frames and answered in order, ``BURST`` a turn."""

    def __init__(self, server: ModbusServer) -> None:
        self.server = server
        self.client: Client | None = None
        self.pending = bytearray()
        self.scheduled = False
        self.paused = False
        self.waiting: asyncio.Future[None] | None = None
        """The answer that takes time (a demand reset), while it is awaited."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, but is one).
        self.client = self.server.admit(cast(asyncio.Transport, transport))
        if self.client is None:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            self.server.clients.pop(self.client.transport, None)
            self.client = None

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:
            return
        client.last = self.server.clock()
        self.pending += data
        if len(self.pending) > MAX_PENDING and not self.paused:
            self.paused = True
            client.transport.pause_reading()
        self._schedule()

    def _schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._answer)

    def _answer(self) -> None:
        """Answer up to ``BURST`` frames; the rest after the other connections' turn."""
        self.scheduled = False
        client, server = self.client, self.server
        if client is None or client.busy:
            return
        for _ in range(BURST):
            frame = self._next_frame(client)
            if frame is None:
                break
            try:
                tid, unit, request = server.decode(frame)
            except (ModbusException, ValueError, IndexError, struct.error) as err:
                server.malformed(client, f"a frame that does not decode ({err})")
                return
            answer = server.handler(unit, request)
            if isinstance(answer, ModbusPDU):
                client.transport.write(server.encode(answer, unit, tid))
                continue
            client.busy = True
            self.waiting = asyncio.ensure_future(self._later(client, answer, unit, tid))
            return
        if self.paused and len(self.pending) <= MAX_PENDING // 2:
            self.paused = False
            client.transport.resume_reading()
        if self._complete():
            self._schedule()

    async def _later(
        self, client: Client, answer: Awaitable[ModbusPDU], unit: int, tid: int
    ) -> None:
        try:
            pdu = await answer
        finally:
            client.busy = False
            client.last = self.server.clock()
        if self.client is client:
            client.transport.write(self.server.encode(pdu, unit, tid))
            self._schedule()

    def _complete(self) -> bool:
        """Whether a whole frame waits."""
        if len(self.pending) < 7:
            return False
        _tid, _pid, length = _MBAP.unpack_from(self.pending)
        return len(self.pending) >= 6 + int(length)

    def _next_frame(self, client: Client) -> bytes | None:
        """The next whole frame (None: none yet, or a malformed one closed the connection)."""
        pending = self.pending
        if len(pending) < 7:
            return None
        _tid, protocol, length = _MBAP.unpack_from(pending)
        if protocol != 0 or not MIN_LENGTH <= length <= MAX_LENGTH:
            self.server.malformed(
                client, f"not Modbus TCP (protocol id {protocol}, length {length})"
            )
            pending.clear()
            return None
        end = 6 + length
        if len(pending) < end:
            return None
        frame = bytes(pending[:end])
        del pending[:end]
        return frame

"""The simulator's Modbus server: simulated meters on one line, over TCP, RTU over TCP or a
serial port, built on pymodbus's server API (``SimDevice``/``SimData`` with an action hook)."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.framer.rtu import FramerRTU
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from leviton_driver.errors import ConfigurationError
from leviton_driver.modbus_compat import ReportServerIdAnswer
from leviton_driver.profile import Profile, load_profile

from .line import FAULT_KINDS, FaultSettings, LineSettings
from .meters import READ_FUNCTIONS, MeterSpec, SimulatedMeter, simulated_meter

_MEMORY: Final = 0x1400  # registers each simulated meter keeps (covers 45008 = 0x138F)
_GHOST: Final = 0  # SimDevice for unit ids nobody has: its answers are never sent
_SERVED_KEPT: Final = 10_000  # requests remembered in ``served`` (tests read the order)


@dataclass(eq=False)
class _Exchange:
    """One request on the line, until its answer has gone out."""

    transaction_id: int
    slot: int
    served: bool = False
    fault: str | None = None
    fewer: bool = False
    id_change: tuple[int, int] | None = None
    arrived: float = 0.0
    """Event-loop time the request arrived (its first bit went on the emulated line then, or
    when the line was next free)."""


def _one_register_fewer(frame: bytes, framing: str) -> bytes:
    """A read answer holding one register fewer, still a well-formed frame."""
    if framing == "rtu":
        body = bytes([frame[0], frame[1], frame[2] - 2]) + frame[3:-4]
        return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")
    length = int.from_bytes(frame[4:6], "big") - 2
    return frame[:4] + length.to_bytes(2, "big") + frame[6:8] + bytes([frame[8] - 2]) + frame[9:-2]


class _ReportServerIdRequest(ModbusPDU):
    """Function 0x11 as the simulator serves it (subclassed per simulator)."""

    function_code = 0x11
    rtu_frame_size = 4
    simulator: ClassVar[MeterSimulator]

    def encode(self) -> bytes:
        return b""

    def decode(self, data: bytes) -> None:
        return None

    async def datastore_update(self, context: Any, device_id: int) -> ModbusPDU:
        return await self.simulator.answer_report_server_id(device_id)


class MeterSimulator:
    """Simulated meters on one line, served over TCP, RTU over TCP, or a serial port."""

    def __init__(
        self,
        meters: list[MeterSpec],
        *,
        framing: str = "tcp",
        line: LineSettings | None = None,
        faults: FaultSettings | None = None,
        profile: Profile | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not meters:
            raise ConfigurationError("the simulator needs at least one --meter")
        units = [m.unit for m in meters]
        duplicates = sorted({u for u in units if units.count(u) > 1})
        if duplicates:
            raise ConfigurationError(f"unit id {duplicates[0]} is given to more than one meter")
        if framing not in ("tcp", "rtu"):
            raise ConfigurationError(f"framing {framing!r}: expected tcp or rtu")
        self.faults = faults or FaultSettings()
        if framing == "tcp" and {"crc", "short"} & {k for k, v in self.faults.rates.items() if v}:
            raise ConfigurationError("CRC and short-frame faults need RTU framing (--framing rtu)")
        self.framing = framing
        self.line = line
        self.profile = profile or load_profile()
        self._clock = clock
        self.meters = {m.unit: simulated_meter(m, self.profile, clock) for m in meters}
        # Slots are the SimDevice ids (the units' first ids); wire ids can change.
        self.slots: dict[int, SimulatedMeter] = dict(self.meters)
        self._slot_of: dict[int, int] = {unit: unit for unit in self.meters}
        self.requests: Counter[int] = Counter()
        """Requests received per unit id that a meter answers."""
        self.unanswered: Counter[int] = Counter()
        """Requests received per unit id nobody answers (no meter there, or one silenced)."""
        self.faults_injected: Counter[str] = Counter()
        self.served: deque[tuple[int, int, int, int]] = deque(maxlen=_SERVED_KEPT)
        """(unit id, function, wire address, register count) of the latest requests meters
        served, in order (a 0x11 request: address and count 0)."""
        self._random = random.Random(self.faults.seed)
        self._line_lock = asyncio.Lock()
        self._exchanges: deque[_Exchange] = deque()
        """Requests received and not yet answered, in order (see ``_Exchange``)."""
        self._sending: _Exchange | None = None
        self._line_free_at = 0.0
        """Event-loop time the emulated line is free for the next request."""
        self.server: ModbusTcpServer | ModbusSerialServer | None = None
        self.address: tuple[str, int] | None = None

    # -- serving ---------------------------------------------------------------------------

    def _devices(self) -> list[SimDevice]:
        devices = [
            SimDevice(
                id=slot,
                simdata=[SimData(address=0, count=_MEMORY, values=0, datatype=DataType.REGISTERS)],
                action=functools.partial(self._serve, slot),
            )
            for slot in self.slots
        ]
        ghost = SimData(address=0, count=1, datatype=DataType.INVALID)
        devices.append(SimDevice(id=_GHOST, simdata=[ghost]))
        return devices

    def _custom_pdu(self) -> type[ModbusPDU]:
        return type("LevitonReportServerIdRequest", (_ReportServerIdRequest,), {"simulator": self})

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on TCP (MBAP or RTU framing); returns the bound address."""
        self.server = ModbusTcpServer(
            self._devices(),
            address=(host, port),
            framer=FramerType.SOCKET if self.framing == "tcp" else FramerType.RTU,
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
            custom_pdu=[self._custom_pdu()],
        )
        try:
            await self.server.serve_forever(background=True)
        except RuntimeError:  # pymodbus's way of saying the listen failed
            raise OSError(
                f"cannot listen on {host}:{port} (in use, or not an address here)"
            ) from None
        sockets = getattr(self.server.transport, "sockets", None)
        if not sockets:
            raise OSError(f"could not listen on {host}:{port}")
        bound = sockets[0].getsockname()
        self.address = (bound[0], bound[1])
        return self.address

    async def start_serial(self, device: str, baudrate: int = 9600) -> None:
        """Serve RTU on a serial device (for tests: one end of a socat pty pair)."""
        self.framing = "rtu"
        self.server = ModbusSerialServer(
            self._devices(),
            port=device,
            baudrate=baudrate,
            framer=FramerType.RTU,
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
            custom_pdu=[self._custom_pdu()],
        )
        try:
            await self.server.serve_forever(background=True)
        except RuntimeError:
            raise OSError(f"cannot open serial device {device}") from None

    def silence(self, unit: int) -> Callable[[], None]:
        """Make one meter stop answering, as if unplugged (the others go on); returns the undo."""
        slot = self._slot_of.pop(unit)

        def undo() -> None:
            self._slot_of[unit] = slot

        return undo

    def replace(self, spec: MeterSpec) -> SimulatedMeter:
        """Swap the meter at ``spec.unit`` for another (as an electrician would, the bus and
        its other meters untouched); returns the new one."""
        if spec.unit not in self.meters:
            raise ConfigurationError(f"no simulated meter with unit id {spec.unit}")
        meter = simulated_meter(spec, self.profile, self._clock)
        slot = next(s for s, m in self.slots.items() if m is self.meters[spec.unit])
        self.meters[spec.unit] = meter
        self.slots[slot] = meter
        return meter

    def meter_state(self, unit: int) -> dict[str, Any]:
        """What a simulated meter holds now (for tests and the remote control)."""
        meter = self.meters[unit]
        spec = meter.spec
        return {
            "unit": meter.unit,
            "series": spec.series,
            "points": spec.points,
            "model": meter.model,
            "program_id": meter.program_id,
            "reset_count": meter.reset_count,
            "peak_demand": meter.peak_demand(),
            "energy_delivered": meter.energy_delivered(),
            "load": spec.load,
            "point_loads": {
                str(point): meter.point_load(point) for point in range(1, spec.points + 1)
            },
            "requests": self.requests[meter.unit],
            "glitches": meter.glitches_served,
        }

    def connection_count(self) -> int:
        """Clients connected now (0 on a serial port)."""
        connections = getattr(self.server, "active_connections", None)
        return len(connections) if connections is not None else 0

    def describe(self, url: str, *, serial: tuple[str, int] | None = None) -> str:
        """What the simulator serves on ``url``, for people; ``serial`` (device, baud) when it
        serves a serial port, which clients do not open themselves: they open the other end."""
        simulator = self
        where = (
            url if serial is None else f"serial port {serial[0]}, Modbus RTU at {serial[1]} baud"
        )
        lines = [f"Simulating {len(simulator.meters)} meter(s) on {where} (Ctrl-C to stop)"]
        for unit, meter in simulator.meters.items():
            spec = meter.spec
            what = meter.kind_label.format(series=spec.series, points=spec.points)
            lines.append(
                f"  unit {unit:>3}: {what}, model {meter.model}, program id {meter.program_id}, "
                f"load {spec.load:g} kW, energy {spec.energy:g} kWh"
            )
        if any(m.spec.points for m in simulator.meters.values()):
            lines.append(f"  Series 8000 registers follow {simulator.profile.label()}")
        if simulator.line is not None:
            lines.append(
                f"  RS485 line emulated at {simulator.line.baud} baud, turnaround {simulator.line.turnaround * 1000:.1f} ms"
            )
        if simulator.faults.rates:
            lines.append(
                "  Faults: "
                + ", ".join(f"{k} {v * 100:g}%" for k, v in simulator.faults.rates.items())
                + ("" if simulator.faults.seed is None else f" (seed {simulator.faults.seed})")
            )
        first = next(iter(simulator.meters))
        if serial is None:
            shown = f"'{url}'" if any(c in url for c in "?&") else url  # quoted for the shell
            lines.append(f"  Try: leviton-bridge read --connect {shown} --unit {first}")
        else:
            lines.append(
                "  Try, from the other end of the line (e.g. the other pty of a socat pair): "
                f"leviton-bridge read --connect 'serial:///dev/OTHER-END?baud={serial[1]}' --unit {first}"
            )
        return "\n".join(lines) + "\n"

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()  # type: ignore[no-untyped-call]
            self.server = None

    # -- the line --------------------------------------------------------------------------

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            wire = pdu.dev_id
            slot = self._slot_of.get(wire, _GHOST)
            if slot != _GHOST:
                self.requests[wire] += 1
            else:
                self.unanswered[wire] += 1
            self._exchanges.append(
                _Exchange(
                    transaction_id=pdu.transaction_id,
                    slot=slot,
                    arrived=asyncio.get_running_loop().time(),
                )
            )
            pdu.dev_id = slot
            return pdu
        # Answers go out in the order of the requests (the line lock orders the meters' work),
        # each with its own request's header: pymodbus's server would take the header of
        # whichever request came last, which a late answer makes a different one.
        exchange = self._exchanges.popleft() if self._exchanges else _Exchange(0, pdu.dev_id)
        self._sending = exchange
        pdu.transaction_id = exchange.transaction_id
        if exchange.slot == _GHOST:
            return pdu  # nobody on the line has that id: dropped in _trace_packet
        meter = self.slots[exchange.slot]
        pdu.dev_id = meter.unit
        if exchange.id_change is not None:
            # The meter answers the id change under its old id, then takes the new one.
            old, new = exchange.id_change
            moved = self.meters.pop(old)
            moved.unit = new
            self.meters[new] = moved
            self._slot_of[new] = self._slot_of.pop(old)
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        exchange, self._sending = self._sending, None
        if exchange is None:
            return data
        if exchange.slot == _GHOST:
            return b""  # silence
        if exchange.fewer:
            data = _one_register_fewer(data, self.framing)
        fault = exchange.fault
        if fault is None:
            return data
        self.faults_injected[fault] += 1
        if fault == "timeout":
            return b""
        if fault == "crc":
            return data[:-1] + bytes([data[-1] ^ 0x5A])
        if fault == "short":
            return data[: max(3, len(data) // 2)]
        return bytes(self._random.randrange(256) for _ in range(max(4, len(data))))

    def _serving(self) -> _Exchange:
        """The request whose meter is at work now (the oldest one not yet served)."""
        for exchange in self._exchanges:
            if not exchange.served:
                exchange.served = True
                return exchange
        return _Exchange(0, _GHOST)  # not from a client's request (pymodbus's own echo)

    def _draw_fault(self) -> str | None:
        for kind in FAULT_KINDS:
            rate = self.faults.rates.get(kind, 0.0)
            if rate and self._random.random() < rate:
                return kind
        return None

    async def _on_line(self, exchange: _Exchange, request_bytes: int, answer_bytes: int) -> None:
        """Hold the answer until the emulated line would have carried the request and the
        answer, counted from when the request arrived or the line was next free, whichever is
        later. The time the simulator spends working counts as part of that, as a meter's does;
        the next request cannot start before the silence after this answer."""
        line = self.line
        if line is None:
            return
        loop = asyncio.get_running_loop()
        start = max(exchange.arrived, self._line_free_at)
        done = start + line.answer_time(request_bytes, answer_bytes)
        self._line_free_at = done + line.gap
        delay = done - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _serve(
        self,
        slot: int,
        function: int,
        start: int,
        address: int,
        count: int,
        memory: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if function in (0x06, 0x10) and values is None:
            return None  # pymodbus reading back what it just wrote, to echo it: same exchange
        async with self._line_lock:
            exchange = self._serving()
            meter = self.slots[slot]
            self.served.append((meter.unit, function, address, count))
            fault = self._lost(meter) or self._draw_fault()
            result: ExcCodes | None
            if fault == "exception":
                self.faults_injected[fault] += 1
                result = ExcCodes.DEVICE_FAILURE
            elif function in READ_FUNCTIONS:
                words = meter.read(function, address, count)
                if isinstance(words, list):
                    memory[address - start : address - start + count] = words
                    result = None
                else:
                    result = words
            elif function in (0x06, 0x10) and values is not None:
                result = meter.write(function, address, [int(v) for v in values])
                if result is None and function == 0x10:
                    exchange.id_change = (meter.unit, int(values[0]))
            else:
                result = ExcCodes.ILLEGAL_FUNCTION
            exchange.fault = fault if fault not in ("exception", "late") else None
            if result is None and function in READ_FUNCTIONS and meter.fewer_registers > 0:
                meter.fewer_registers -= 1
                exchange.fewer = True
            request_bytes = 9 + 2 * count if function == 0x10 else 8
            if result is not None:
                answer_bytes = 5
            elif function in READ_FUNCTIONS:
                answer_bytes = 5 + 2 * count
            else:
                answer_bytes = 8
            await self._on_line(exchange, request_bytes, answer_bytes)
            await self._late(meter, fault)
            return result

    @staticmethod
    def _lost(meter: SimulatedMeter) -> str | None:
        """A ``timeout`` fault for an answer the meter was told to lose (``lose``)."""
        if meter.lost_answers <= 0:
            return None
        meter.lost_answers -= 1
        return "timeout"

    async def _late(self, meter: SimulatedMeter, fault: str | None) -> None:
        """Hold the answer back (the line stays busy): a "late" fault, or one asked of the
        meter."""
        delay = meter.late_answers.pop(0) if meter.late_answers else 0.0
        if fault == "late":
            self.faults_injected[fault] += 1
            delay = max(delay, self.faults.late_by)
        if delay:
            await asyncio.sleep(delay)
            if self.line is not None:  # the line was busy with the late answer meanwhile
                now = asyncio.get_running_loop().time()
                self._line_free_at = max(self._line_free_at, now + self.line.gap)

    async def answer_report_server_id(self, slot: int) -> ModbusPDU:
        async with self._line_lock:
            exchange = self._serving()
            meter = self.slots.get(slot)
            if meter is not None:
                self.served.append((meter.unit, 0x11, 0, 0))
            data = meter.report_server_id() if meter is not None else None
            fault = (self._lost(meter) if meter is not None else None) or self._draw_fault()
            if fault == "exception":
                self.faults_injected[fault] += 1
                data = None
                answer: ModbusPDU = ExceptionResponse(0x11, ExcCodes.DEVICE_FAILURE)
            elif data is None:
                answer = ExceptionResponse(0x11, ExcCodes.ILLEGAL_FUNCTION)
            else:
                answer = ReportServerIdAnswer(data)
            exchange.fault = fault if fault not in ("exception", "late") else None
            await self._on_line(exchange, 4, 5 + len(data) if data else 5)
            if meter is not None:
                await self._late(meter, fault)
            return answer

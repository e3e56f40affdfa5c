"""The simulator's Modbus server: simulated meters on one line, over TCP, RTU over TCP or a
serial port, built on pymodbus's server API (``SimDevice``/``SimData`` with an action hook)."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, Final

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from leviton_driver.errors import ConfigurationError
from leviton_driver.profile import Profile, load_profile

from .line import FAULT_KINDS, FaultSettings, LineSettings
from .meters import READ_FUNCTIONS, MeterSpec, SimulatedMeter

_MEMORY: Final = 0x1400  # registers each simulated meter keeps (covers 45008 = 0x138F)
_GHOST: Final = 0  # SimDevice for unit ids nobody has: its answers are never sent


class _AnswerPDU(ModbusPDU):
    """A 0x11 answer laid out as Leviton sends it: byte count, then the data as given."""

    function_code = 0x11

    def __init__(self, data: bytes = b"", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data = data

    def encode(self) -> bytes:
        return bytes([len(self.data)]) + self.data


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
        self.meters = {m.unit: SimulatedMeter(m, self.profile, clock) for m in meters}
        # Slots are the SimDevice ids (the units' first ids); wire ids can change.
        self.slots: dict[int, SimulatedMeter] = dict(self.meters)
        self._slot_of: dict[int, int] = {unit: unit for unit in self.meters}
        self.requests: Counter[int] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self._random = random.Random(self.faults.seed)
        self._line_lock = asyncio.Lock()
        self._pending_fault: str | None = None
        self._drop_next = False
        self._pending_id_change: tuple[int, int] | None = None
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
        }

    def connection_count(self) -> int:
        """Clients connected now (0 on a serial port)."""
        connections = getattr(self.server, "active_connections", None)
        return len(connections) if connections is not None else 0

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
            pdu.dev_id = slot
            return pdu
        if pdu.dev_id == _GHOST:
            self._drop_next = True  # nobody on the line has that id: silence
            return pdu
        meter = self.slots[pdu.dev_id]
        pdu.dev_id = meter.unit
        if self._pending_id_change is not None:
            # The meter answers the id change under its old id, then takes the new one.
            old, new = self._pending_id_change
            self._pending_id_change = None
            moved = self.meters.pop(old)
            moved.unit = new
            self.meters[new] = moved
            self._slot_of[new] = self._slot_of.pop(old)
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        if self._drop_next:
            self._drop_next = False
            return b""
        fault, self._pending_fault = self._pending_fault, None
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

    def _draw_fault(self) -> str | None:
        for kind in FAULT_KINDS:
            rate = self.faults.rates.get(kind, 0.0)
            if rate and self._random.random() < rate:
                return kind
        return None

    async def _on_line(self, request_bytes: int, answer_bytes: int) -> None:
        if self.line is not None:
            await asyncio.sleep(
                self.line.wire_time(request_bytes, answer_bytes) + self.line.turnaround
            )

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
            meter = self.slots[slot]
            fault = self._draw_fault()
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
                    self._pending_id_change = (meter.unit, int(values[0]))
            else:
                result = ExcCodes.ILLEGAL_FUNCTION
            self._pending_fault = fault if fault != "exception" else None
            request_bytes = 9 + 2 * count if function == 0x10 else 8
            if result is not None:
                answer_bytes = 5
            elif function in READ_FUNCTIONS:
                answer_bytes = 5 + 2 * count
            else:
                answer_bytes = 8
            await self._on_line(request_bytes, answer_bytes)
            return result

    async def answer_report_server_id(self, slot: int) -> ModbusPDU:
        async with self._line_lock:
            meter = self.slots.get(slot)
            data = meter.report_server_id() if meter is not None else None
            fault = self._draw_fault()
            if fault == "exception":
                self.faults_injected[fault] += 1
                data = None
                answer: ModbusPDU = ExceptionResponse(0x11, ExcCodes.DEVICE_FAILURE)
            elif data is None:
                answer = ExceptionResponse(0x11, ExcCodes.ILLEGAL_FUNCTION)
            else:
                answer = _AnswerPDU(data)
            self._pending_fault = fault if fault != "exception" else None
            await self._on_line(4, 5 + len(data) if data else 5)
            return answer

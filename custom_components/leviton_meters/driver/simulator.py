"""A simulator of Leviton meters on one Modbus line, faithful to the manuals.

It answers like the real meters: every documented Series 1000/2000 register, function 0x11
in the manual's layout, the peak-demand reset with its counter, the unit-id change, exception
02 for any undocumented address, energy that grows with the load. Series 8000 meters follow a
register profile (the provisional default unless told otherwise).

Built on pymodbus's current server API (``SimDevice``/``SimData`` with an action hook), with:

* an emulated RS485 line: each answer waits the time its request and answer take on the wire
  at the given baud rate (10 bits a byte) plus the meter's turnaround, one exchange at a time;
* fault injection at given rates: no answer, garbage bytes, a bad CRC, a cut-short answer, or
  an exception 04 (server device failure).
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from . import registers as reg
from .errors import ConfigurationError
from .identity import encode_report_server_id
from .profile import Profile, load_profile

FAULT_KINDS: Final = ("timeout", "garbage", "crc", "short", "exception")
SERIES_KINDS: Final = ("1000", "2000", "8000", "8000-8", "8000-12", "8000-24")
_MEMORY: Final = 0x1400  # registers each simulated meter keeps (covers 45008 = 0x138F)
_GHOST: Final = 0  # SimDevice for unit ids nobody has: its answers are never sent
_READ_FUNCTIONS: Final = (0x03, 0x04)
# Demand models (option D): the simulated meters keep a peak demand.
_DEFAULT_MODELS: Final = {"1000": "1N240-01D", "2000": "2N208-02D"}
_S8000_MODELS: Final = {8: "S8UTS-083", 12: "S8UTS-122", 24: "S8UTS-241"}
_METER_KEYS: Final = {
    "load": "kW drawn (Series 8000: total over all points); 0 keeps values still",
    "energy": "kWh delivered at start",
    "export": "kWh received at start",
    "peak": "kW of peak demand at start (default: the load)",
    "model": "model number reported by function 0x11",
    "program": "program id (45004, and 'fn' in 0x11)",
    "resets": "demand reset counter at start",
    "uptime": "seconds of uptime at start",
    "ident": "0x11 answer style: ascii (as in the manual), spaced, binary, or none (refuse 0x11)",
}


@dataclass(kw_only=True)
class MeterSpec:
    """One simulated meter, as given on the command line (UNIT:SERIES[:key=value...])."""

    unit: int
    series: str
    points: int = 0
    load: float = 2.5
    energy: float = 1234.5
    export: float = 0.0
    peak: float | None = None
    model: str | None = None
    program: int | None = None
    resets: int = 0
    uptime: int = 0
    ident: str = "ascii"

    @classmethod
    def parse(cls, text: str) -> MeterSpec:
        """Parse ``UNIT:SERIES[:key=value...]``, e.g. ``1:2000:load=12.5``."""
        parts = text.split(":")
        if len(parts) < 2:
            raise ConfigurationError(
                f"meter {text!r}: expected UNIT:SERIES[:key=value...], e.g. 1:2000:load=12.5"
            )
        try:
            unit = int(parts[0])
        except ValueError:
            raise ConfigurationError(f"meter {text!r}: unit {parts[0]!r} is not a number") from None
        if not reg.UNIT_ID_MIN <= unit <= reg.UNIT_ID_MAX:
            raise ConfigurationError(f"meter {text!r}: unit {unit} is not in 1..247")
        series = parts[1]
        if series not in SERIES_KINDS:
            raise ConfigurationError(
                f"meter {text!r}: series {series!r} is not one of {', '.join(SERIES_KINDS)}"
            )
        points = 0
        if series.startswith("8000"):
            points = int(series.split("-")[1]) if "-" in series else 24
            series = "8000"
        spec = cls(unit=unit, series=series, points=points)
        for option in parts[2:]:
            key, sep, value = option.partition("=")
            if not sep or key not in _METER_KEYS:
                raise ConfigurationError(
                    f"meter {text!r}: option {option!r} is not key=value with a key among "
                    + ", ".join(_METER_KEYS)
                )
            spec._set(key, value, text)
        return spec

    def _set(self, key: str, value: str, text: str) -> None:
        try:
            if key in ("load", "energy", "export", "peak"):
                number = float(value)
                if not math.isfinite(number) or number < 0:
                    raise ValueError
                setattr(self, key, number)
            elif key in ("program", "resets", "uptime"):
                whole = int(value)
                if whole < 0:
                    raise ValueError
                setattr(self, key, whole)
            elif key == "ident":
                if value not in ("ascii", "spaced", "binary", "none"):
                    raise ValueError
                self.ident = value
            else:
                self.model = value
        except ValueError:
            raise ConfigurationError(
                f"meter {text!r}: {key}={value!r} is not valid ({_METER_KEYS[key]})"
            ) from None


class SimulatedMeter:
    """The state and register contents of one simulated meter."""

    def __init__(self, spec: MeterSpec, profile: Profile, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.clock = clock
        self.unit = spec.unit
        self.started = clock()
        self.profile = profile
        self.program_id = spec.program if spec.program is not None else 40000 + spec.unit
        self.reset_count = spec.resets
        self.peak = spec.load if spec.peak is None else spec.peak
        self.peak_reset_at: float | None = None
        if spec.series == "8000":
            self.model = spec.model or _S8000_MODELS.get(spec.points, "S8UTS-241")
            if spec.points > profile.max_points:
                raise ConfigurationError(
                    f"meter {spec.unit}: {spec.points} points, but profile {profile.label()} "
                    f"describes at most {profile.max_points}"
                )
        else:
            self.model = spec.model or _DEFAULT_MODELS[spec.series]

    # -- the physics -----------------------------------------------------------------------

    def hours(self) -> float:
        return (self.clock() - self.started) / 3600

    def energy_delivered(self) -> float:
        return self.spec.energy + self.spec.load * self.hours()

    def peak_demand(self) -> float:
        if self.peak_reset_at is None:
            return self.peak
        # 15-minute rolling demand rebuilds from zero after a reset.
        elapsed = self.clock() - self.peak_reset_at
        return self.spec.load * min(1.0, elapsed / 900)

    def point_load(self, point: int) -> float:
        """kW of one Series 8000 point: the load shared unevenly, so points differ."""
        weights = [1 + (p % 5) for p in range(1, self.spec.points + 1)]
        return self.spec.load * weights[point - 1] / sum(weights)

    # -- registers -------------------------------------------------------------------------

    def read(self, function: int, address: int, count: int) -> list[int] | ExcCodes:
        if self.spec.series == "8000":
            return self._read_8000(function, address, count)
        if function != 0x03:
            return ExcCodes.ILLEGAL_FUNCTION  # the manual lists 0x03 as the only read
        wanted = range(address, address + count)
        if not all(any(lo <= a <= hi for lo, hi in reg.DOCUMENTED_READ_RANGES) for a in wanted):
            return ExcCodes.ILLEGAL_ADDRESS
        words = self._words_1000()
        return [words[a] for a in wanted]

    def _words_1000(self) -> dict[int, int]:
        words: dict[int, int] = {}

        def put32(address: int, value: int) -> None:
            value &= 0xFFFFFFFF
            words[address], words[address + 1] = value >> 16, value & 0xFFFF

        put32(0x0000, int(self.energy_delivered() * 10))
        put32(0x0002, int(self.spec.export * 10))
        peak = round(self.peak_demand() * 100)
        put32(0x0004, peak)
        put32(0x003C, peak)
        words[0x1388] = self.unit
        words[0x1389] = 0x0302
        words[0x138A] = 0x0302
        words[0x138B] = self.program_id & 0xFFFF
        words[0x138D] = self.reset_count & 0xFFFF
        put32(0x138E, self.spec.uptime + int(self.clock() - self.started))
        return words

    def _read_8000(self, function: int, address: int, count: int) -> list[int] | ExcCodes:
        expected = 0x04 if self.profile.register_space == "input" else 0x03
        if function != expected:
            return ExcCodes.ILLEGAL_FUNCTION
        words = self._words_8000()
        wanted = range(address, address + count)
        if any(a not in words for a in wanted):
            return ExcCodes.ILLEGAL_ADDRESS
        return [words[a] for a in wanted]

    def _words_8000(self) -> dict[int, int]:
        profile = self.profile
        words: dict[int, int] = {}
        if profile.readable_ranges:
            # Registers inside a readable range but holding nothing read as zero.
            end = profile.first_address + self.spec.points * profile.stride
            for first, last in profile.readable_ranges:
                for address in range(first, min(last, end - 1) + 1):
                    words[address] = 0
        values: dict[str, float] = {"point_count": self.spec.points}
        values |= {"voltage_a": 120.1, "voltage_b": 119.8, "voltage_c": 120.4}
        for key, spec in profile.meter.items():
            _encode(words, spec.address, spec.type, values[key] / spec.scale, profile.word_order)
        hours = self.hours()
        for point in range(1, self.spec.points + 1):
            load = self.point_load(point)
            share = load / self.spec.load if self.spec.load else 1 / self.spec.points
            start = self.spec.energy * share
            point_values = {
                "energy_delivered": start + load * hours,
                "energy_received": self.spec.export * share,
                "power": load * 1000,
                "reactive_energy_delivered": (start + load * hours) * 0.3,
                "reactive_energy_received": 0.0,
                "reactive_power": load * 300,
            }
            for key, spec in profile.point_registers.items():
                raw = point_values[key] / spec.scale
                _encode(
                    words, profile.point_address(point, key), spec.type, raw, profile.word_order
                )
        return words

    def write(self, function: int, address: int, values: list[int]) -> ExcCodes | None:
        if self.spec.series == "8000":
            return ExcCodes.ILLEGAL_ADDRESS  # no documented writes
        if function == 0x06 and address == reg.DEMAND_RESET_ADDRESS:
            if values != [reg.DEMAND_RESET_VALUE]:
                return ExcCodes.ILLEGAL_VALUE
            self.peak = 0.0
            self.peak_reset_at = self.clock()
            self.reset_count += 1
            return None
        if function == 0x10 and address == reg.MODBUS_ID_REGISTER:
            if len(values) != 1 or not reg.UNIT_ID_MIN <= values[0] <= reg.UNIT_ID_MAX:
                return ExcCodes.ILLEGAL_VALUE
            return None
        return ExcCodes.ILLEGAL_ADDRESS

    def report_server_id(self) -> bytes | None:
        if self.spec.ident == "none":
            return None
        return encode_report_server_id(
            model=self.model,
            hardware_version="3.2",
            software_version="3.2",
            program_id=self.program_id,
            # The ASCII field has three digits (001 in the manual); register 45006 holds the
            # full count.
            demand_reset_count=self.reset_count % 1000
            if self.spec.ident != "binary"
            else self.reset_count,
            style=self.spec.ident,
        )


def _encode(words: dict[int, int], address: int, kind: str, value: float, order: str) -> None:
    if kind == "float32":
        high, low = struct.unpack(">HH", struct.pack(">f", value))
    else:
        number = round(value)
        if kind in ("uint16", "int16"):
            words[address] = number & 0xFFFF
            return
        number &= 0xFFFFFFFF
        high, low = number >> 16, number & 0xFFFF
    if order == "little":
        high, low = low, high
    words[address], words[address + 1] = high, low


@dataclass(kw_only=True)
class LineSettings:
    """An emulated RS485 line: answers wait their wire time plus the meter's turnaround."""

    baud: int = 9600
    turnaround: float = 0.005

    def wire_time(self, request_bytes: int, answer_bytes: int) -> float:
        return (request_bytes + answer_bytes) * 10 / self.baud


@dataclass(kw_only=True)
class FaultSettings:
    """Fault rates (0..1 per answer) and the random seed that makes them repeatable."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int | None = None

    @classmethod
    def parse(cls, items: list[str], seed: int | None = None) -> FaultSettings:
        rates: dict[str, float] = {}
        for item in items:
            kind, sep, value = item.partition("=")
            if not sep or kind not in FAULT_KINDS:
                raise ConfigurationError(
                    f"fault {item!r}: expected KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}"
                )
            try:
                rate = float(value)
            except ValueError:
                rate = -1.0
            if not 0 <= rate <= 1:
                raise ConfigurationError(f"fault {item!r}: rate must be between 0 and 1")
            rates[kind] = rate
        return cls(rates=rates, seed=seed)


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
            elif function in _READ_FUNCTIONS:
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
            elif function in _READ_FUNCTIONS:
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

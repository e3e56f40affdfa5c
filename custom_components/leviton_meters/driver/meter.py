"""Leviton meters on a Modbus link: identify, read, reset peak demand, change the unit id.

Everything here is typed against modbus-connection's ``ModbusUnit``, so the unit can come
from this package's own link (``Bus``) or from a connection someone else owns (Home
Assistant's core modbus integration shares one per port from 2026.9).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from modbus_connection import (
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionError,
    ModbusProtocolError,
    ModbusTimeoutError,
    ModbusUnit,
)
from modbus_connection.model import Component

from . import registers as reg
from .catalogue import (
    DEMAND_RESET_COUNT,
    DERIVED_POWER,
    ENERGY_DELIVERED,
    ENERGY_RECEIVED,
    PEAK_DEMAND,
    UPTIME,
)
from .connection import LevitonConnection, LinkSettings, PacketTrace, open_connection, parse_url
from .errors import (
    ConfigurationError,
    ConnectError,
    CrcError,
    ExceptionResponseError,
    GarbledResponseError,
    LevitonError,
    MeterError,
    MeterTimeoutError,
    NoModbusMeterError,
    NotLevitonError,
    ShortResponseError,
    VerificationError,
)
from .guard import DEFAULT_MAX_KW, DerivedPower, TotalGuard
from .identity import ModelInfo, ReportedIdentity, decode_model, parse_report_server_id
from .profile import Profile, load_profile, point_field_name, register_model

_LOGGER = logging.getLogger(__name__)

SERIES_CHOICES: Final = ("auto", "1000", "2000", "8000")
#: Series of a Series 1000/2000 meter whose model number is not known.
SERIES_1000_2000: Final = "1000/2000"
#: How often the demand-reset counter and uptime are read back (they change rarely; uptime
#: is extrapolated in between).
STATUS_INTERVAL_S: Final = 600.0

_EXCEPTION_NAMES: Final = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
_PRE_2011_HINT: Final = (
    "nothing answers Modbus at this unit id. Check the unit id, wiring (A to A, B to B; some "
    "adapters swap them), line settings (9600 8N1 for Series 1000/2000) and termination. "
    "Series 1000/2000 meters built before 2011-02-26 have no Modbus at all: they only "
    "broadcast a one-way stream every 5 minutes, which this software cannot read"
)


def check_unit_id(unit_id: Any, what: str = "unit id") -> int:
    """Return a valid Modbus unit id, or raise ``ConfigurationError`` saying what is right."""
    if isinstance(unit_id, bool) or not isinstance(unit_id, int):
        try:
            unit_id = int(str(unit_id), 0)
        except ValueError:
            raise ConfigurationError(
                f"{what} {unit_id!r} is not a number; expected {reg.UNIT_ID_MIN}..{reg.UNIT_ID_MAX}"
            ) from None
    if not reg.UNIT_ID_MIN <= unit_id <= reg.UNIT_ID_MAX:
        raise ConfigurationError(
            f"{what} {unit_id} is out of range; Modbus RTU meters take "
            f"{reg.UNIT_ID_MIN}..{reg.UNIT_ID_MAX} (0 is broadcast, 248-255 are reserved)"
        )
    return int(unit_id)


@dataclass(kw_only=True)
class Identity:
    """What a meter says about itself."""

    unit_id: int
    series: str
    """"1000", "2000", "8000", or "1000/2000" when the model number is not known."""
    manufacturer: str = "Leviton"
    model: str | None = None
    model_info: ModelInfo | None = None
    hardware_version: str | None = None
    software_version: str | None = None
    program_id: int | None = None
    points: int | None = None
    """Series 8000: number of metering points."""
    profile: str | None = None
    """Series 8000: the register profile in use, labelled provisional where it is."""
    provisional_profile: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def serial_number(self) -> str | None:
        """The program id: Leviton correlates it with the serial number on the label."""
        return None if self.program_id is None else str(self.program_id)

    @property
    def fingerprint(self) -> str | None:
        """A stable identity for "is this the same meter": model and program id."""
        if self.program_id is None:
            return None
        return f"{self.model or self.series}-{self.program_id}"


@dataclass(kw_only=True)
class Snapshot:
    """One poll's readings. Values are in the catalogue's units; None where unknown."""

    time: float
    """Wall-clock time of the read (seconds since the epoch)."""
    readings: dict[str, float | int | None]
    points: dict[int, dict[str, float | int | None]] = field(default_factory=dict)


@dataclass(kw_only=True)
class DemandResetResult:
    """What a peak-demand reset did, read back from the meter."""

    count_before: int | None
    count_after: int | None
    peak_demand_before: float | None
    peak_demand_after: float | None


def _exception_words(code: int | None) -> str:
    if code is None:
        return "an exception"
    return f"exception {code:02d} ({_EXCEPTION_NAMES.get(code, 'unknown code')})"


def translate_error(
    err: ModbusError, what: str, *, where: str, unit_id: int | None, trace: PacketTrace | None
) -> MeterError:
    """Turn a modbus-connection error into this driver's typed error, naming link and unit."""
    if isinstance(err, ModbusTimeoutError):
        diagnosis = trace.diagnose() if trace is not None else None
        if diagnosis is None:
            return MeterTimeoutError(where, unit_id, f"no answer to {what} ({_reason(err)})")
        kind, words = diagnosis
        error_class = {"crc": CrcError, "short": ShortResponseError}.get(kind, GarbledResponseError)
        return error_class(where, unit_id, f"{what}: {words}")
    if isinstance(err, ModbusExceptionError):
        code = int(err.exception_code) if err.exception_code is not None else None
        return ExceptionResponseError(
            where, unit_id, f"answered {_exception_words(code)} to {what}", code
        )
    if isinstance(err, ModbusConnectionError):
        return ConnectError(where, unit_id, f"{what} failed: {_reason(err)}")
    if isinstance(err, ModbusProtocolError):
        return GarbledResponseError(
            where, unit_id, f"the answer to {what} was not usable ({_reason(err)})"
        )
    return GarbledResponseError(where, unit_id, f"{what} failed: {_reason(err)}")


class LevitonMeter(ABC):
    """A Leviton meter at one unit id. Subclasses know the register layout."""

    def __init__(
        self,
        unit: ModbusUnit,
        *,
        unit_id: int,
        where: str,
        trace: PacketTrace | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unit = unit
        self.unit_id = check_unit_id(unit_id)
        self.where = where
        self.trace = trace
        self.clock = clock
        self.identity: Identity | None = None
        self.errors: Counter[str] = Counter()
        self.last: Snapshot | None = None
        # The 0x11 answer from series detection, so identification does not ask twice.
        self._primed: tuple[ReportedIdentity | None] | None = None

    def prime_report(self, reported: ReportedIdentity | None) -> None:
        """Hand over a 0x11 answer already received (None: the meter refused 0x11)."""
        self._primed = (reported,)

    async def _reported_identity(self, *, tolerate_timeout: bool) -> ReportedIdentity | None:
        """The 0x11 answer, None where the meter refuses it."""
        if self._primed is not None:
            reported = self._primed[0]
            self._primed = None
            return reported
        try:
            return await self.report_server_id()
        except ExceptionResponseError:
            return None  # some firmware and gateways refuse 0x11; the registers still tell
        except MeterTimeoutError:
            if tolerate_timeout:
                return None
            raise

    # -- I/O with errors that name the link, the unit and what happened --------------------

    async def _io[T](self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except ModbusError as err:
            error = translate_error(
                err, what, where=self.where, unit_id=self.unit_id, trace=self.trace
            )
            self.errors[error.kind] += 1
            raise error from None

    async def _update(self, component: Component, what: str) -> None:
        await self._io(what, component.async_update)

    async def report_server_id(self) -> ReportedIdentity:
        """Function 0x11, parsed tolerantly."""
        raw = await self._io("report slave id (function 0x11)", self.unit.report_server_id)
        return parse_report_server_id(raw)

    # -- what every meter offers -----------------------------------------------------------

    @abstractmethod
    async def identify(self) -> Identity:
        """Ask the meter who it is; sets ``identity``."""

    @abstractmethod
    async def read(self) -> Snapshot:
        """Read every value once; sets ``last``."""

    async def reset_peak_demand(self) -> DemandResetResult:
        raise LevitonError(
            f"unit {self.unit_id} on {self.where}: this meter has no documented peak-demand reset"
        )

    @property
    def transactions(self) -> int | None:
        """Requests sent on this meter's link so far (None when the link is not ours)."""
        return self.trace.requests if self.trace is not None else None


def _reason(err: Exception) -> str:
    text = str(err).strip()
    return text or type(err).__name__


def _word(value: int | None) -> int:
    """A register value that was just read (the model gives None only before a read)."""
    return 0 if value is None else int(value)


def _max_kw(info: ModelInfo | None) -> float:
    """Most power the meter's CTs and voltage allow, for the glitch guard."""
    if (
        info is None
        or info.ct_rating_amps is None
        or not info.voltage
        or not info.voltage[:3].isdigit()
    ):
        return DEFAULT_MAX_KW
    volts = int(info.voltage[:3])
    phases = 3 if info.series == "2000" else 2
    return volts * info.ct_rating_amps * phases / 1000


class Series1000Meter(LevitonMeter):
    """Series 1000 (one or two phase) and Series 2000 (three phase): one register map."""

    def __init__(self, unit: ModbusUnit, *, series: str | None = None, **kwargs: Any) -> None:
        super().__init__(unit, **kwargs)
        self.series = series
        self.block = reg.ReadingBlock(unit)
        self.peak_register = reg.PeakDemandRegister(unit)
        self.identity_registers = reg.IdentityRegisters(unit)
        self.status = reg.StatusRegisters(unit)
        self.poll_peak_register = False
        """Set when 40005 and 40061 disagree: peak demand is then read from 40061 too."""
        self.guards = {
            ENERGY_DELIVERED.key: TotalGuard(f"unit {self.unit_id} {ENERGY_DELIVERED.name}"),
            ENERGY_RECEIVED.key: TotalGuard(f"unit {self.unit_id} {ENERGY_RECEIVED.name}"),
        }
        self.derived_power = DerivedPower()
        self._status_read_at: float | None = None
        self._uptime: int | None = None
        self._count: int | None = None

    async def identify(self) -> Identity:
        reported = await self._reported_identity(tolerate_timeout=False)
        if reported is not None and reported.manufacturer is not None and not reported.is_leviton:
            raise NotLevitonError(
                self.where,
                self.unit_id,
                f"identifies as {reported.manufacturer!r}, not as a Leviton meter",
            )
        await self._update(self.identity_registers, "a read of registers 45001-45004")
        await self._read_status()
        await self._update(self.block, "a read of registers 40001-40006")
        await self._update(self.peak_register, "a read of registers 40061-40062")
        block_peak, peak = self.block.peak_demand, self.peak_register.peak_demand
        notes: list[str] = []
        if block_peak != peak:
            self.poll_peak_register = True
            notes.append(
                f"registers 40005-40006 read {block_peak} kW but 40061-40062 read {peak} kW: "
                "peak demand is read from 40061 (one more transaction per poll)"
            )
            _LOGGER.info("unit %s on %s: %s", self.unit_id, self.where, notes[-1])
        model = reported.model if reported is not None else None
        info: ModelInfo | None = None
        if model:
            try:
                info = decode_model(model)
            except ConfigurationError:
                notes.append(f"model number {model!r} is not in a format the manual describes")
        series = self.series or (
            info.series if info is not None and info.series else SERIES_1000_2000
        )
        words = self.identity_registers
        self.identity = Identity(
            unit_id=self.unit_id,
            series=series,
            model=model,
            model_info=info,
            hardware_version=reg.decode_version(_word(words.hardware_version)),
            software_version=reg.decode_version(_word(words.software_version)),
            program_id=_word(words.program_id),
            notes=notes,
        )
        if reported is not None and reported.program_id not in (None, words.program_id):
            notes.append(
                f"0x11 reports program {reported.program_id} but register 45004 holds "
                f"{words.program_id}; using the register"
            )
        for guard in self.guards.values():
            guard.max_kw = _max_kw(info)
        return self.identity

    async def _read_status(self) -> None:
        await self._update(self.status, "a read of registers 45006-45008")
        self._status_read_at = self.clock()
        self._count = _word(self.status.demand_reset_count)
        self._uptime = _word(self.status.uptime)

    def _extrapolated_uptime(self, now: float) -> int | None:
        if self._uptime is None or self._status_read_at is None:
            return None
        return self._uptime + int(now - self._status_read_at)

    async def read(self) -> Snapshot:
        if self.identity is None:
            await self.identify()
        await self._update(self.block, "a read of registers 40001-40006")
        peak = self.block.peak_demand
        if self.poll_peak_register:
            await self._update(self.peak_register, "a read of registers 40061-40062")
            peak = self.peak_register.peak_demand
        now = self.clock()
        if self._status_read_at is None or now - self._status_read_at >= STATUS_INTERVAL_S:
            await self._read_status()
        delivered = self.guards[ENERGY_DELIVERED.key].check(self.block.energy_delivered, now)
        received = self.guards[ENERGY_RECEIVED.key].check(self.block.energy_received, now)
        readings: dict[str, float | int | None] = {
            ENERGY_DELIVERED.key: delivered,
            ENERGY_RECEIVED.key: received,
            PEAK_DEMAND.key: peak,
            DERIVED_POWER.key: self.derived_power.update(delivered, now),
            DEMAND_RESET_COUNT.key: self._count,
            UPTIME.key: self._extrapolated_uptime(now),
        }
        self.last = Snapshot(time=time.time(), readings=readings)
        return self.last

    @property
    def suppressed(self) -> int:
        """Implausible energy readings ignored so far."""
        return sum(guard.suppressed for guard in self.guards.values())

    async def reset_peak_demand(self) -> DemandResetResult:
        """Reset peak demand (0x06 of 0x00AA to 0x01F4), confirmed by reading back."""
        if self.identity is None:
            await self.identify()
        await self._read_status()  # a fresh count, to tell whether this reset happened
        count_before = self._count
        peak_before = self.last.readings.get(PEAK_DEMAND.key) if self.last else None
        try:
            await self._io(
                "the peak-demand reset (write 0x00AA to register 0x01F4)",
                lambda: self.unit.write_register(reg.DEMAND_RESET_ADDRESS, reg.DEMAND_RESET_VALUE),
            )
        except (MeterTimeoutError, CrcError, ShortResponseError, GarbledResponseError):
            # The answer was lost, not necessarily the request: if the counter moved, the
            # meter did reset, and saying it failed would invite a second reset.
            await self._read_status()
            if self._count == count_before:
                raise
            _LOGGER.info(
                "unit %s on %s: the reset's answer was lost, but the counter shows it happened",
                self.unit_id,
                self.where,
            )
        await self._read_status()
        snapshot = await self.read()
        peak_after = snapshot.readings.get(PEAK_DEMAND.key)
        counted = count_before is not None and self._count != count_before
        if not counted and not (isinstance(peak_after, (int, float)) and peak_after == 0):
            raise VerificationError(
                self.where,
                self.unit_id,
                f"the meter accepted the peak-demand reset but did not act on it: the reset "
                f"counter stayed at {self._count} and peak demand reads {peak_after} kW",
            )
        return DemandResetResult(
            count_before=count_before,
            count_after=self._count,
            peak_demand_before=peak_before if isinstance(peak_before, (int, float)) else None,
            peak_demand_after=peak_after if isinstance(peak_after, (int, float)) else None,
        )


class Series8000Meter(LevitonMeter):
    """Series 8000: 8, 12 or 24 metering points, registers per a profile."""

    def __init__(
        self,
        unit: ModbusUnit,
        *,
        profile: Profile | None = None,
        points: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(unit, **kwargs)
        self.profile = profile or load_profile()
        self.points = points
        self.registers: Component | None = None
        self.guards: dict[tuple[int, str], TotalGuard] = {}

    async def _read_point_count(self) -> int | None:
        spec = self.profile.meter.get("point_count")
        if spec is None:
            return None
        words = await self._io(
            f"a read of the point count at address {spec.address} ({self.profile.label()})",
            lambda: self._read_words(spec.address, spec.width),
        )
        return words[0]

    async def _read_words(self, address: int, count: int) -> list[int]:
        if self.profile.register_space == "input":
            return await self.unit.read_input_registers(address, count)
        return await self.unit.read_holding_registers(address, count)

    async def identify(self) -> Identity:
        # The Series 8000's answer to 0x11 is not documented: silence is no failure.
        reported = await self._reported_identity(tolerate_timeout=True)
        if reported is not None and reported.manufacturer is not None and not reported.is_leviton:
            raise NotLevitonError(
                self.where,
                self.unit_id,
                f"identifies as {reported.manufacturer!r}, not as a Leviton meter",
            )
        info: ModelInfo | None = None
        if reported is not None and reported.model:
            try:
                info = decode_model(reported.model)
            except ConfigurationError:
                info = None
        notes: list[str] = []
        points = self.points
        if points is None:
            points = await self._read_point_count()
        if points is None and info is not None and info.points:
            points = info.points
        if points is None:
            points = self.profile.max_points
            notes.append(f"point count unknown; assuming {points} from the profile")
        if not 1 <= points <= self.profile.max_points:
            raise VerificationError(
                self.where,
                self.unit_id,
                f"reports {points} metering points but the profile {self.profile.label()} "
                f"describes at most {self.profile.max_points}",
            )
        self.points = points
        self.registers = register_model(self.profile, points)(self.unit)
        if self.profile.provisional:
            notes.append(
                "the Series 8000 register map is PROVISIONAL (Leviton has not published it); "
                "readings from a real meter are wrong until you supply its profile"
            )
        self.identity = Identity(
            unit_id=self.unit_id,
            series="8000",
            model=reported.model if reported is not None else None,
            model_info=info,
            hardware_version=reported.hardware_version if reported is not None else None,
            software_version=reported.software_version if reported is not None else None,
            program_id=reported.program_id if reported is not None else None,
            points=points,
            profile=self.profile.label(),
            provisional_profile=self.profile.provisional,
            notes=notes,
        )
        return self.identity

    async def read(self) -> Snapshot:
        if self.registers is None or self.points is None:
            await self.identify()
        if self.registers is None or self.points is None:
            raise LevitonError(f"unit {self.unit_id} on {self.where}: not identified")
        await self._update(self.registers, f"a read of the {self.points}-point register set")
        now = self.clock()
        readings: dict[str, float | int | None] = {}
        for key, spec in self.profile.meter.items():
            if key != "point_count":
                readings[key] = spec.convert(getattr(self.registers, key))
        points: dict[int, dict[str, float | int | None]] = {}
        for point in range(1, self.points + 1):
            values: dict[str, float | int | None] = {}
            for key, spec in self.profile.point_registers.items():
                value = spec.convert(getattr(self.registers, point_field_name(point, key)))
                if key in (ENERGY_DELIVERED.key, ENERGY_RECEIVED.key) or key.startswith(
                    "reactive_energy"
                ):
                    guard = self.guards.setdefault(
                        (point, key), TotalGuard(f"unit {self.unit_id} point {point} {key}")
                    )
                    value = guard.check(value, now)
                values[key] = value
            points[point] = values
        self.last = Snapshot(time=time.time(), readings=readings, points=points)
        return self.last

    @property
    def suppressed(self) -> int:
        return sum(guard.suppressed for guard in self.guards.values())


async def detect_meter(
    unit: ModbusUnit,
    *,
    unit_id: int,
    where: str,
    series: str = "auto",
    profile: Profile | None = None,
    trace: PacketTrace | None = None,
) -> LevitonMeter:
    """Identify the meter at a unit id and return the right meter class, identified."""
    if series not in SERIES_CHOICES:
        raise ConfigurationError(
            f"series {series!r} is not known; expected one of {', '.join(SERIES_CHOICES)}"
        )
    common: dict[str, Any] = {"unit_id": unit_id, "where": where, "trace": trace}
    meter: LevitonMeter
    if series in ("1000", "2000"):
        meter = Series1000Meter(unit, series=series, **common)
    elif series == "8000":
        meter = Series8000Meter(unit, profile=profile, **common)
    else:
        meter = await _detect_series(unit, profile=profile, common=common)
    try:
        await meter.identify()
    except MeterTimeoutError as err:
        if isinstance(err, NoModbusMeterError):
            raise
        raise NoModbusMeterError(where, unit_id, _PRE_2011_HINT) from None
    return meter


async def _detect_series(
    unit: ModbusUnit, *, profile: Profile | None, common: dict[str, Any]
) -> LevitonMeter:
    probe = Series1000Meter(unit, **common)
    # Some gateways drop 0x11 instead of refusing it; then the registers decide.
    reported = await probe._reported_identity(tolerate_timeout=True)
    meter: LevitonMeter
    if reported is not None and reported.model:
        if not reported.is_leviton:
            raise NotLevitonError(
                common["where"],
                common["unit_id"],
                f"identifies as {reported.manufacturer!r}, not as a Leviton meter",
            )
        try:
            info: ModelInfo | None = decode_model(reported.model)
        except ConfigurationError:
            info = None
        if info is not None and info.series == "8000":
            meter = Series8000Meter(unit, profile=profile, points=info.points, **common)
        else:
            series = info.series if info is not None else None
            meter = Series1000Meter(unit, series=series, **common)
        meter.prime_report(reported)
        return meter
    try:
        await probe._update(probe.block, "a read of registers 40001-40006")
        meter = Series1000Meter(unit, **common)
        meter.prime_report(reported)
        return meter
    except ExceptionResponseError:
        pass  # not a Series 1000/2000 register map; try the Series 8000 profile
    except MeterTimeoutError:
        raise NoModbusMeterError(common["where"], common["unit_id"], _PRE_2011_HINT) from None
    candidate = Series8000Meter(unit, profile=profile, **common)
    try:
        await candidate._read_point_count()
    except ExceptionResponseError:
        raise NotLevitonError(
            common["where"],
            common["unit_id"],
            "answers Modbus but neither like a Series 1000/2000 (registers 40001-40006) nor like "
            f"a Series 8000 per {candidate.profile.label()}",
        ) from None
    candidate.prime_report(reported)
    return candidate


class Bus:
    """One physical link (a TCP socket, an RTU gateway or a serial port) and its meters.

    Requests on a bus go strictly one at a time (modbus-connection serialises them); several
    buses run concurrently.
    """

    def __init__(self, url: str | LinkSettings) -> None:
        self.settings = url if isinstance(url, LinkSettings) else parse_url(url)
        self.connection: LevitonConnection = open_connection(self.settings)

    @property
    def url(self) -> str:
        return self.settings.url

    def unit(self, unit_id: int) -> ModbusUnit:
        return self.connection.for_unit(check_unit_id(unit_id))

    async def connect(self) -> None:
        """Open the link now (it also opens on the first request)."""
        try:
            await self.connection.connect()
        except ModbusError:
            what = (
                "cannot open the serial port (missing, in use, or no permission)"
                if self.settings.kind == "serial"
                else "cannot connect (nothing accepts connections there, or it is unreachable)"
            )
            raise ConnectError(self.url, None, what) from None

    async def meter(
        self, unit_id: int, *, series: str = "auto", profile: Profile | None = None
    ) -> LevitonMeter:
        """Identify the meter at ``unit_id``."""
        unit_id = check_unit_id(unit_id)
        await self.connect()
        return await detect_meter(
            self.unit(unit_id),
            unit_id=unit_id,
            where=self.url,
            series=series,
            profile=profile,
            trace=self.connection.trace,
        )

    async def probe(
        self, unit_id: int, *, series: str = "auto", profile: Profile | None = None
    ) -> LevitonMeter | None:
        """Like ``meter`` but None when nothing answers at the id (for scans)."""
        try:
            return await self.meter(unit_id, series=series, profile=profile)
        except MeterTimeoutError:
            return None

    async def change_unit_id(self, old: int, new: int) -> None:
        """Give the meter at ``old`` the id ``new`` (0x10 at 45001), confirmed by read-back."""
        old = check_unit_id(old, "current unit id")
        new = check_unit_id(new, "new unit id")
        if old == new:
            raise ConfigurationError(f"the meter already has unit id {old}")
        await self.connect()
        target = Series1000Meter(
            self.unit(new), unit_id=new, where=self.url, trace=self.connection.trace
        )
        try:
            await target._update(target.identity_registers, "a read of registers 45001-45004")
        except MeterTimeoutError:
            pass  # nothing at the new id: good
        except MeterError:
            raise ConfigurationError(
                f"something already answers at unit id {new} on {self.url}; "
                "two meters with one id would garble each other's answers"
            ) from None
        else:
            raise ConfigurationError(
                f"a meter already answers at unit id {new} on {self.url}; "
                "two meters with one id would garble each other's answers"
            )
        source = Series1000Meter(
            self.unit(old), unit_id=old, where=self.url, trace=self.connection.trace
        )
        # The manual's example frame says quantity 2 with byte count 2, which no Modbus stack
        # can send; the valid form is quantity 1, byte count 2, the id in the one register.
        await source._io(
            f"the unit-id change to {new} (function 0x10 at register 45001)",
            lambda: source.unit.write_registers(reg.MODBUS_ID_REGISTER, [new]),
        )
        try:
            await target._update(
                target.identity_registers, f"a read-back of register 45001 at unit id {new}"
            )
        except MeterTimeoutError:
            raise VerificationError(
                self.url,
                old,
                f"the meter accepted the change to unit id {new} but does not answer there; "
                f"it probably kept id {old}",
            ) from None
        if target.identity_registers.modbus_id != new:
            raise VerificationError(
                self.url,
                new,
                f"register 45001 reads {target.identity_registers.modbus_id}, not {new}",
            )

    async def close(self) -> None:
        await self.connection.close()

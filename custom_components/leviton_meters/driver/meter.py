"""A Leviton meter on a Modbus link: what every series offers, and one description of it.

Everything here is typed against modbus-connection's ``ModbusUnit``, so the unit can come
from this package's own link (``Bus``) or from a connection someone else owns (Home
Assistant's core modbus integration shares one per port from 2026.9).

A meter describes itself once, for every face (Home Assistant, MQTT, BACnet, the command line):
its ``series``, the ``readings()`` of the meter and the ``point_readings()`` of each of its
``points`` (already filtered by the register profile and the derived-power option), whether it
``can_reset_demand``, and its ``model_label``. Nothing outside the driver branches on the series.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
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
from .catalogue import Reading
from .connection import PacketTrace
from .errors import (
    ConfigurationError,
    ConnectError,
    CrcError,
    ExceptionResponseError,
    GarbledResponseError,
    GatewayNoAnswerError,
    LevitonError,
    MeterError,
    MeterTimeoutError,
    ShortResponseError,
)
from .model_numbers import ModelInfo
from .report_id import ReportedIdentity, parse_report_server_id

_LOGGER = logging.getLogger(__name__)


#: Failures worth one more try within a poll: something may have come back, damaged. (A Modbus
#: exception is an answer, and would be the same again.)
RETRYABLE: Final = (MeterTimeoutError, CrcError, ShortResponseError, GarbledResponseError)


class Series(StrEnum):
    """What a meter is, as far as reading it goes."""

    S1000 = "1000"
    S2000 = "2000"
    S1000_2000 = "1000/2000"
    """A Series 1000 or 2000 whose model number is not known (one register map serves both)."""
    S8000 = "8000"

    @property
    def family(self) -> str:
        """``s1000`` for every Series 1000/2000, ``s8000``: the prefix of unique ids."""
        return "s8000" if self is Series.S8000 else "s1000"

    @property
    def setting(self) -> str:
        """The series to store in a configuration: this one, or ``auto`` when the meter did
        not say which of 1000 and 2000 it is."""
        return "auto" if self is Series.S1000_2000 else self.value


#: Options that mean something for a meter of each configured series (``OPTION_*``).
OPTION_DERIVED_POWER: Final = "derived_power"
OPTION_PROFILE: Final = "profile"
SERIES_OPTIONS: Final[dict[str, frozenset[str]]] = {
    "auto": frozenset({OPTION_DERIVED_POWER, OPTION_PROFILE}),
    "1000": frozenset({OPTION_DERIVED_POWER}),
    "2000": frozenset({OPTION_DERIVED_POWER}),
    "8000": frozenset({OPTION_PROFILE}),
}


#: What a configuration may say about a meter's series; ``auto`` asks the meter.
SERIES_CHOICES: Final = ("auto", "1000", "2000", "8000")

PROVISIONAL_LABEL: Final = " (provisional register map)"
"""Added to the model label of a Series 8000 read through the provisional register profile."""

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


@dataclass(frozen=True, slots=True)
class Clocks:
    """The clocks a meter reads time from (tests give their own)."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


@dataclass(kw_only=True)
class Identity:
    """What a meter says about itself."""

    unit_id: int
    series: Series
    manufacturer: str = "Leviton"
    model: str | None = None
    model_info: ModelInfo | None = None
    hardware_version: str | None = None
    software_version: str | None = None
    program_id: int | None = None
    """Register 45004 (or "fn" in the 0x11 answer): Leviton correlates it with the serial
    number on the label, but it is not that number."""
    points: int | None = None
    """Series 8000: number of metering points."""
    profile: str | None = None
    """Series 8000: the register profile in use, labelled provisional where it is."""
    provisional_profile: bool = False
    notes: list[str] = field(default_factory=list)
    report_id: bytes | None = None
    """The meter's answer to function 0x11 as it gave it (None: it refused 0x11)."""

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


@dataclass(frozen=True, kw_only=True)
class IdentityCheck:
    """Whether the meter at a unit id is still the one identified there."""

    same: bool
    program_id: int | None
    """What the meter answering now reports (None where it reports none)."""
    change: str | None = None
    """What differs, in words, when it is not the same meter."""


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
        if code in GATEWAY_CODES:
            # A gateway says the device behind it is not there: no answer, as far as the
            # meter goes (a scan passes over it; a poll counts it as a silent one).
            return GatewayNoAnswerError(
                where, unit_id, f"the gateway answered {_exception_words(code)} to {what}"
            )
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


#: Connection URLs of links that carry RTU frames (see ``LevitonMeter._settle_link``).
_RTU_LINKS: Final = ("rtu+tcp:", "serial:")

#: What decoding a well-framed answer with too few registers raises inside modbus-connection's
#: register model: the answer was short, whatever the frame said.
_SHORT_ANSWER_ERRORS: Final = (IndexError, struct.error)


#: Exception codes a Modbus gateway answers for a device behind it that is not there: path
#: unavailable (no such device) and target device failed to respond.
GATEWAY_CODES: Final = frozenset({10, 11})


def _reason(err: Exception) -> str:
    text = str(err).strip()
    return text or type(err).__name__


def word(value: int | None) -> int:
    """A register value that was just read (the model gives None only before a read)."""
    return 0 if value is None else int(value)


class LevitonMeter(ABC):
    """A Leviton meter at one unit id. Subclasses know the register layout."""

    def __init__(
        self,
        unit: ModbusUnit,
        *,
        unit_id: int,
        where: str,
        trace: PacketTrace | None = None,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.unit = unit
        self.unit_id = check_unit_id(unit_id)
        self.where = where
        self.trace = trace
        self.clock = clock or time.monotonic
        """Monotonic seconds: the glitch guard's rates, derived power, status intervals."""
        self.wall_clock = wall_clock or time.time
        """Seconds since the epoch: when a poll was read (``Snapshot.time``)."""
        self._label = f"unit {self.unit_id} on {where}"
        self.identity: Identity | None = None
        self.errors: Counter[str] = Counter()
        self.last: Snapshot | None = None
        # The 0x11 answer from series detection, so identification does not ask twice.
        self._primed: tuple[ReportedIdentity | None] | None = None

    # -- the description every face uses ---------------------------------------------------

    @property
    def label(self) -> str:
        """How log lines name the meter: ``unit 1 on tcp://...`` until whoever watches it gives
        its own name (the bridge: its name, bus and unit id; two buses may both have a unit 1)."""
        return self._label

    @label.setter
    def label(self, text: str) -> None:
        self._label = text
        self._relabel()

    def _relabel(self) -> None:
        """Name the meter's glitch guards after ``label`` (subclasses that have guards)."""
        return None

    @property
    @abstractmethod
    def series(self) -> Series:
        """What the meter is (before identification: what it was configured or detected as)."""

    @property
    def points(self) -> int:
        """Metering points (0: the meter is one point, its readings are the meter's)."""
        return 0

    @property
    def max_points(self) -> int:
        """The most metering points a meter of this kind can have (its register profile's)."""
        return 0

    @abstractmethod
    def readings(self) -> tuple[Reading, ...]:
        """The meter's own readings, in display order: exactly what ``async_read`` fills."""

    def point_readings(self) -> tuple[Reading, ...]:
        """The readings of each metering point (none when ``points`` is 0)."""
        return ()

    @property
    def can_reset_demand(self) -> bool:
        """Whether the meter has a documented peak-demand reset."""
        return False

    @property
    @abstractmethod
    def options(self) -> frozenset[str]:
        """The options that mean something for this meter (``OPTION_*``)."""

    @property
    def model_label(self) -> str:
        """How to name the model to a person: "Series 2000", "Series 8000 (provisional ...)"."""
        return f"Series {self.series}"

    @property
    def point_model_label(self) -> str:
        """How to name a metering point's model: "Series 8000 metering point"."""
        return f"Series {self.series} metering point"

    @property
    def suppressed(self) -> int:
        """Implausible energy readings ignored so far."""
        return 0

    @property
    def transactions(self) -> int | None:
        """Requests sent on this meter's link so far (None when the link is not ours)."""
        return self.trace.requests if self.trace is not None else None

    def seed_total(
        self, point: int | None, key: str, value: float, when: float | None = None
    ) -> None:
        """Start a total's glitch guard from a value shown before a restart (a higher one wins:
        totals never go backwards); ``when``: the monotonic time it stood for, if known."""
        return None

    def differs_from(self, other: LevitonMeter) -> str | None:
        """What tells this meter from ``other`` (identified at the same unit id), in words;
        None when they are the same meter: same series, points, model and program id."""
        mine, theirs = self.identity, other.identity
        if self.series != other.series:
            return f"Series {other.series} became Series {self.series}"
        if self.points != other.points:
            return f"{other.points} metering points became {self.points}"
        if mine is None or theirs is None:
            return None
        if mine.model != theirs.model:
            return f"model {theirs.model or 'unknown'} became {mine.model or 'unknown'}"
        if mine.program_id != theirs.program_id:
            return f"program id {theirs.program_id} became {mine.program_id}"
        return None

    # -- what every meter does -------------------------------------------------------------

    @abstractmethod
    async def async_identify(self) -> Identity:
        """Ask the meter who it is; sets ``identity``."""

    @abstractmethod
    async def async_read(self, *, retry: bool = True) -> Snapshot:
        """Read every value once; sets ``last``. ``retry``: try once more after a failure
        that may be a lost or damaged frame."""

    @abstractmethod
    async def async_check_identity(self) -> IdentityCheck:
        """Read, cheaply, what tells this meter from another at the same unit id (a meter
        swapped while nobody looked). Raises ``MeterError`` when that read fails."""

    async def async_reset_peak_demand(self) -> DemandResetResult:
        """Reset the meter's peak demand, confirmed by reading back (where it can)."""
        raise LevitonError(
            f"unit {self.unit_id} on {self.where} is a {self.model_label}, which has no "
            "documented peak-demand reset"
        )

    async def async_write_unit_id(self, new: int) -> None:
        """Give the meter another Modbus unit id (where it can; see ``Bus``)."""
        raise LevitonError(
            f"unit {self.unit_id} on {self.where} is a {self.model_label}, whose unit id is "
            "set with Leviton's configuration tool, not over Modbus"
        )

    async def async_ping(self) -> None:
        """One small request: returns if anything answered (even with a Modbus exception),
        raises ``MeterTimeoutError`` if nothing did, or another ``MeterError``."""
        try:
            await self._io(
                "a read of register 40001", lambda: self.unit.read_holding_registers(0, 1)
            )
        except ExceptionResponseError:
            return  # an answer: something is there

    async def async_report_server_id(self) -> ReportedIdentity:
        """Function 0x11, parsed tolerantly."""
        raw = await self._io("report slave id (function 0x11)", self.unit.report_server_id)
        return parse_report_server_id(raw)

    # -- for subclasses and detection ------------------------------------------------------

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
            return await self.async_report_server_id()
        except ExceptionResponseError:
            return None  # some firmware and gateways refuse 0x11; the registers still tell
        except MeterTimeoutError:
            if tolerate_timeout:
                return None
            raise

    async def _io[T](self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one request; every failure becomes a typed error naming link, unit and what."""
        try:
            return await call()
        except ModbusError as err:
            error: MeterError = translate_error(
                err, what, where=self.where, unit_id=self.unit_id, trace=self.trace
            )
            self.errors[error.kind] += 1
            if not isinstance(error, (ExceptionResponseError, ConnectError)):
                await self._settle_link()
            raise error from err
        except _SHORT_ANSWER_ERRORS as err:
            error = ShortResponseError(
                self.where, self.unit_id, f"the answer to {what} was cut short ({_reason(err)})"
            )
            self.errors[error.kind] += 1
            await self._settle_link()
            raise error from err

    async def _settle_link(self) -> None:
        """After a request got no usable answer on a link of RTU frames (a serial port, RTU over
        TCP): that answer may still be on its way, and RTU frames carry no transaction id, so it
        would be read as the answer to the next request (another meter's, perhaps). Dropping the
        link drops it; the next request opens a fresh one. Modbus TCP frames carry an id: no
        need there."""
        if self.where.startswith(_RTU_LINKS):
            with contextlib.suppress(ModbusError):
                await self.unit.disconnect()

    async def _update(self, component: Component, what: str) -> None:
        await self._io(what, component.async_update)

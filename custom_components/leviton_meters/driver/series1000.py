"""Series 1000 (one or two phase) and Series 2000 (three phase) meters: one register map.

See ``registers.py`` for the map and what the manual leaves open. A poll is one transaction
(the six registers from 40001); the status registers (reset counter, uptime) are read at
identification, after a reset, after the meter failed to answer (it may have restarted), when
its peak demand drops without our reset, and every ``STATUS_INTERVAL_S`` (uptime is counted
forward in between).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from modbus_connection import ModbusUnit

from . import registers as reg
from .catalogue import (
    DEMAND_RESET_COUNT,
    DERIVED_POWER,
    ENERGY_DELIVERED,
    ENERGY_RECEIVED,
    NET_POWER,
    PEAK_DEMAND,
    PROGRAM_ID,
    READINGS,
    SERIES_1000_READINGS,
    UPTIME,
    Reading,
)
from .errors import (
    ConfigurationError,
    MeterError,
    NotLevitonError,
    VerificationError,
)
from .guard import DEFAULT_MAX_KW, DerivedPower, TotalGuard
from .meter import (
    OPTION_DERIVED_POWER,
    RETRYABLE,
    DemandResetResult,
    Identity,
    IdentityCheck,
    LevitonMeter,
    Series,
    Snapshot,
    word,
)
from .model_numbers import ModelInfo, decode_model
from .report_id import ReportedIdentity

_LOGGER = logging.getLogger(__name__)

#: How often the demand-reset counter and uptime are read back when nothing else asks for it.
STATUS_INTERVAL_S: Final = 600.0


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


def refuse_other_maker(meter: LevitonMeter, reported: ReportedIdentity | None) -> None:
    """Raise ``NotLevitonError`` when a 0x11 answer names another manufacturer."""
    if reported is not None and reported.manufacturer is not None and not reported.is_leviton:
        raise NotLevitonError(
            meter.where,
            meter.unit_id,
            f"identifies as {reported.manufacturer!r} (function 0x11), not as a Leviton meter",
        )


class Series1000Meter(LevitonMeter):
    """A Series 1000 or 2000 meter."""

    def __init__(
        self,
        unit: ModbusUnit,
        *,
        series: Series | None = None,
        derived_power: bool = True,
        configured: bool = False,
        **kwargs: Any,
    ) -> None:
        """``series`` as configured or detected (None: learn it from the model number);
        ``configured``: the series was given by a person, which counts as evidence that this
        is a Leviton meter when it gives no 0x11 answer."""
        super().__init__(unit, **kwargs)
        self._series = series
        self._configured = configured
        self.block = reg.ReadingBlock(unit)
        self.peak_register = reg.PeakDemandRegister(unit)
        self.identity_registers = reg.IdentityRegisters(unit)
        self.status = reg.StatusRegisters(unit)
        self.poll_peak_register = False
        """Set when 40005 and 40061 disagree: peak demand is then read from 40061 too."""
        self.guards = {
            ENERGY_DELIVERED.key: TotalGuard(f"{self.label} {ENERGY_DELIVERED.name}"),
            ENERGY_RECEIVED.key: TotalGuard(f"{self.label} {ENERGY_RECEIVED.name}"),
        }
        self.with_derived_power = derived_power
        self.derived_power = DerivedPower()
        self.net_power = DerivedPower()
        """Fed energy delivered minus energy received: net grid power, positive for import."""
        self._readings = tuple(
            r for r in SERIES_1000_READINGS if r not in (DERIVED_POWER, NET_POWER) or derived_power
        )
        self._status_read_at: float | None = None
        self._status_due = True
        self._uptime: int | None = None
        self._count: int | None = None

    # -- description -----------------------------------------------------------------------

    @property
    def series(self) -> Series:
        if self.identity is not None:
            return self.identity.series
        return self._series or Series.S1000_2000

    def readings(self) -> tuple[Reading, ...]:
        return self._readings

    @property
    def can_reset_demand(self) -> bool:
        return True

    @property
    def options(self) -> frozenset[str]:
        return frozenset({OPTION_DERIVED_POWER})

    @property
    def suppressed(self) -> int:
        return sum(guard.suppressed for guard in self.guards.values())

    def _relabel(self) -> None:
        for key, guard in self.guards.items():
            guard.name = f"{self.label} {READINGS[key].name}"

    def seed_total(
        self, point: int | None, key: str, value: float, when: float | None = None
    ) -> None:
        guard = self.guards.get(key) if point is None else None
        if guard is not None and (guard.last is None or value > guard.last):
            guard.seed(value, when)

    # -- identification --------------------------------------------------------------------

    async def async_identify(self) -> Identity:
        reported = await self._reported_identity(tolerate_timeout=False)
        refuse_other_maker(self, reported)
        await self._update(self.identity_registers, "a read of registers 45001-45004")
        words = self.identity_registers
        notes: list[str] = []
        self._check_evidence(reported, words.modbus_id, notes)
        await self._read_status()
        await self._update(self.block, "a read of registers 40001-40006")
        await self._update(self.peak_register, "a read of registers 40061-40062")
        block_peak, peak = self.block.peak_demand, self.peak_register.peak_demand
        if block_peak != peak:
            self.poll_peak_register = True
            notes.append(
                f"registers 40005-40006 read {block_peak} kW but 40061-40062 read {peak} kW: "
                "peak demand is read from 40061 (one more transaction per poll)"
            )
            _LOGGER.info("%s: %s", self.label, notes[-1])
        model = reported.model if reported is not None else None
        info: ModelInfo | None = None
        if model:
            try:
                info = decode_model(model)
            except ConfigurationError:
                notes.append(f"model number {model!r} is not in a format the manual describes")
        series = self._series
        if series is None:
            series = Series(info.series) if info is not None and info.series else Series.S1000_2000
        if reported is not None and reported.program_id not in (None, words.program_id):
            notes.append(
                f"0x11 reports program {reported.program_id} but register 45004 holds "
                f"{words.program_id}; using the register"
            )
        self.identity = Identity(
            unit_id=self.unit_id,
            series=series,
            model=model,
            model_info=info,
            hardware_version=reg.decode_version(word(words.hardware_version)),
            software_version=reg.decode_version(word(words.software_version)),
            program_id=word(words.program_id),
            notes=notes,
            report_id=reported.raw if reported is not None else None,
        )
        for guard in self.guards.values():
            guard.max_kw = _max_kw(info)
        return self.identity

    def _check_evidence(
        self, reported: ReportedIdentity | None, modbus_id: int | None, notes: list[str]
    ) -> None:
        """Require positive evidence of a Leviton meter; raise ``NotLevitonError`` without.

        Evidence is a 0x11 answer naming Leviton, or register 45001 holding the unit id the
        meter answers at (the manual: 45001 is the meter's Modbus id), or a series a person
        configured. Any Modbus device answers a register read; few hold their own unit id at
        45001.
        """
        if reported is not None and reported.is_leviton:
            return
        if modbus_id == self.unit_id:
            return
        said = (
            "gives no 0x11 identification"
            if reported is None
            else "gives a 0x11 answer that names no manufacturer"
        )
        if self._configured:
            notes.append(
                f"the meter {said} and register 45001 holds {modbus_id}, not its unit id "
                f"{self.unit_id} (a gateway renumbering unit ids?); taken as the configured "
                f"Series {self._series}"
            )
            return
        raise NotLevitonError(
            self.where,
            self.unit_id,
            f"answers Modbus but shows nothing of a Leviton meter: it {said}, and register "
            f"45001 (a Leviton meter's own Modbus id) holds {modbus_id}, not {self.unit_id}",
        )

    async def async_read_modbus_id(self) -> int:
        """Register 45001: the Modbus id the meter holds (the one it answers at)."""
        await self._update(self.identity_registers, "a read of registers 45001-45004")
        return word(self.identity_registers.modbus_id)

    async def async_write_unit_id(self, new: int) -> None:
        """Write a new Modbus id to 45001 (function 0x10). The meter answers under its old id,
        then answers at the new one; ``Bus.async_change_unit_id`` checks that it did.

        The manual's example frame says quantity 2 with byte count 2, which no Modbus stack
        can send; the valid form is quantity 1, byte count 2, the id in the one register.
        """
        await self._io(
            f"the unit-id change to {new} (function 0x10 at register 45001)",
            lambda: self.unit.write_registers(reg.MODBUS_ID_REGISTER, [new]),
        )

    async def async_check_identity(self) -> IdentityCheck:
        """Registers 45001-45004 (one transaction): the program id must not have changed."""
        await self._update(self.identity_registers, "a read of registers 45001-45004")
        now = word(self.identity_registers.program_id)
        before = self.identity.program_id if self.identity is not None else None
        if before is None or now == before:
            return IdentityCheck(same=True, program_id=now)
        return IdentityCheck(same=False, program_id=now, change=f"program id {before} became {now}")

    # -- reading ---------------------------------------------------------------------------

    async def _read_status(self) -> None:
        await self._update(self.status, "a read of registers 45006-45008")
        now = self.clock()
        count = word(self.status.demand_reset_count)
        uptime = word(self.status.uptime)
        expected = self._extrapolated_uptime(now)
        if expected is not None and uptime + 2 < expected:
            _LOGGER.info(
                "%s restarted (uptime %s s, %s s counted forward)", self.label, uptime, expected
            )
        self._status_read_at = now
        self._status_due = False
        self._count = count
        self._uptime = uptime

    def _extrapolated_uptime(self, now: float) -> int | None:
        if self._uptime is None or self._status_read_at is None:
            return None
        return self._uptime + int(now - self._status_read_at)

    async def async_read(self, *, retry: bool = True) -> Snapshot:
        """Read the meter once; ``retry``: try once more after a failure that may be a lost
        or damaged frame (not after a Modbus exception answer)."""
        try:
            return await self._read()
        except RETRYABLE:
            self._status_due = True  # silent for a while: it may have restarted
            if not retry:
                raise
        try:
            return await self._read()
        except MeterError:
            self._status_due = True
            raise

    async def _read(self) -> Snapshot:
        if self.identity is None:
            await self.async_identify()
        await self._update(self.block, "a read of registers 40001-40006")
        peak = self.block.peak_demand
        if self.poll_peak_register:
            await self._update(self.peak_register, "a read of registers 40061-40062")
            peak = self.peak_register.peak_demand
        now = self.clock()
        last_peak = self.last.readings.get(PEAK_DEMAND.key) if self.last is not None else None
        if isinstance(last_peak, float | int) and peak is not None and peak < last_peak:
            self._status_due = True  # reset at the meter, or a restart: the counter tells
        if (
            self._status_due
            or self._status_read_at is None
            or now - self._status_read_at >= STATUS_INTERVAL_S
        ):
            await self._read_status()
        delivered = self.guards[ENERGY_DELIVERED.key].check(self.block.energy_delivered, now)
        received = self.guards[ENERGY_RECEIVED.key].check(self.block.energy_received, now)
        readings: dict[str, float | int | None] = {
            ENERGY_DELIVERED.key: delivered,
            ENERGY_RECEIVED.key: received,
            PEAK_DEMAND.key: peak,
        }
        if self.with_derived_power:
            readings[DERIVED_POWER.key] = self.derived_power.update(delivered, now)
            readings[NET_POWER.key] = self._net_power(delivered, received, now)
        readings[DEMAND_RESET_COUNT.key] = self._count
        readings[UPTIME.key] = self._extrapolated_uptime(now)
        readings[PROGRAM_ID.key] = self.identity.program_id if self.identity else None
        self.last = Snapshot(time=self.wall_clock(), readings=readings)
        return self.last

    def _net_power(self, delivered: float | None, received: float | None, now: float) -> int | None:
        """Net grid power in W (positive: import) from the steps of both totals: each 0.1 kWh
        step of either is a step of their difference."""
        net = None if delivered is None or received is None else round(delivered - received, 3)
        kilowatts = self.net_power.update(net, now)
        return None if kilowatts is None else round(kilowatts * 1000)

    # -- peak-demand reset -----------------------------------------------------------------

    async def async_reset_peak_demand(self) -> DemandResetResult:
        """Reset peak demand (0x06 of 0x00AA to 0x01F4), confirmed by reading back."""
        if self.identity is None:
            await self.async_identify()
        await self._read_status()  # a fresh count, to tell whether this reset happened
        count_before = self._count
        peak_before = self.last.readings.get(PEAK_DEMAND.key) if self.last else None
        try:
            await self._io(
                "the peak-demand reset (write 0x00AA to register 0x01F4)",
                lambda: self.unit.write_register(reg.DEMAND_RESET_ADDRESS, reg.DEMAND_RESET_VALUE),
            )
        except RETRYABLE:
            # The answer was lost, not necessarily the request: if the counter moved, the
            # meter did reset, and saying it failed would invite a second reset.
            await self._read_status()
            if self._count == count_before:
                raise
            _LOGGER.info(
                "%s: the reset's answer was lost, but the counter shows it happened", self.label
            )
        await self._read_status()
        snapshot = await self._read()
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

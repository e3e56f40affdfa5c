"""Series 8000 meters: 8, 12 or 24 metering points, their registers per a profile.

Leviton has not published the Series 8000 register map, so where each value lives comes from
a profile (``profile.py``); the provisional default says so wherever it shows. What the meter
answers to function 0x11 is not documented either: an answer naming Leviton (or a Series 8000
model number) is used, silence or a refusal is no failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from modbus_connection import ModbusUnit
from modbus_connection.model import Component

from . import modbus_compat
from .block_decoder import BlockDecoder
from .catalogue import (
    PROGRAM_ID,
    READINGS,
    SERIES_8000_METER_READINGS,
    SERIES_8000_POINT_READINGS,
    Reading,
)
from .errors import (
    ConfigurationError,
    ExceptionResponseError,
    LevitonError,
    NotLevitonError,
    VerificationError,
)
from .guard import TotalGuard
from .meter import (
    OPTION_PROFILE,
    PROVISIONAL_LABEL,
    RETRYABLE,
    Identity,
    IdentityCheck,
    LevitonMeter,
    Series,
    Snapshot,
)
from .model_numbers import ModelInfo, decode_model
from .profile import POINT_COUNTS, Profile, point_field_name, register_model
from .series1000 import refuse_other_maker

Converter = Callable[[Any], float | int | None]


class Series8000Meter(LevitonMeter):
    """A Series 8000 meter read through a register profile."""

    def __init__(
        self,
        unit: ModbusUnit,
        *,
        profile: Profile,
        points: int | None = None,
        configured: bool = False,
        fast_decode: bool = True,
        **kwargs: Any,
    ) -> None:
        """``points`` when already known (from a model number); ``configured``: a person said
        this is a Series 8000, which counts as evidence that it is a Leviton meter;
        ``fast_decode``: decode a poll with one struct (``block_decoder``) where the profile
        allows, rather than modbus-connection's generic decode (same requests, same values)."""
        super().__init__(unit, **kwargs)
        self.profile = profile
        self._points = points
        self._configured = configured
        self.registers: Component | None = None
        self.guards: dict[tuple[int, str], TotalGuard] = {}
        self._meter_readings = tuple(
            r for r in SERIES_8000_METER_READINGS if r.key in profile.meter
        )
        self._point_readings = tuple(
            r for r in SERIES_8000_POINT_READINGS if r.key in profile.point_registers
        )
        # Built once per identification: what each field of a poll becomes.
        self._meter_fields: list[tuple[str, str, Converter]] = []
        self._point_fields: list[tuple[int, str, str, Converter, TotalGuard | None]] = []
        self._decoder: BlockDecoder | None = None
        self._fast_decode = fast_decode

    # -- description -----------------------------------------------------------------------

    @property
    def series(self) -> Series:
        return Series.S8000

    @property
    def points(self) -> int:
        return self._points or 0

    @property
    def options(self) -> frozenset[str]:
        return frozenset({OPTION_PROFILE})

    @property
    def max_points(self) -> int:
        return self.profile.max_points

    def readings(self) -> tuple[Reading, ...]:
        if self.identity is not None and self.identity.program_id is not None:
            return (*self._meter_readings, PROGRAM_ID)
        return self._meter_readings

    def point_readings(self) -> tuple[Reading, ...]:
        return self._point_readings

    @property
    def model_label(self) -> str:
        return "Series 8000" + (PROVISIONAL_LABEL if self.profile.provisional else "")

    @property
    def point_model_label(self) -> str:
        return "Series 8000 metering point" + (
            PROVISIONAL_LABEL if self.profile.provisional else ""
        )

    @property
    def suppressed(self) -> int:
        return sum(guard.suppressed for guard in self.guards.values())

    def _guard_name(self, point: int, key: str) -> str:
        return f"{self.label} point {point} {READINGS[key].name}"

    def _relabel(self) -> None:
        for (point, key), guard in self.guards.items():
            guard.name = self._guard_name(point, key)

    def seed_total(
        self, point: int | None, key: str, value: float, when: float | None = None
    ) -> None:
        guard = self.guards.get((point, key)) if point is not None else None
        if guard is not None and (guard.last is None or value > guard.last):
            guard.seed(value, when)

    # -- identification --------------------------------------------------------------------

    async def async_read_point_count(self) -> int | None:
        """The profile's point-count register (None when the profile has none)."""
        spec = self.profile.meter.get("point_count")
        if spec is None:
            return None

        async def read() -> int:
            # Indexed inside ``_io``: an answer without the register is a short answer.
            return (await self._read_words(spec.address, spec.width))[0]

        return await self._io(
            f"a read of the point count at address {spec.address} ({self.profile.label()})", read
        )

    async def _read_words(self, address: int, count: int) -> list[int]:
        if self.profile.register_space == "input":
            return await self.unit.read_input_registers(address, count)
        return await self.unit.read_holding_registers(address, count)

    async def async_identify(self) -> Identity:
        # The Series 8000's answer to 0x11 is not documented: silence is no failure.
        reported = await self._reported_identity(tolerate_timeout=True)
        refuse_other_maker(self, reported)
        info: ModelInfo | None = None
        if reported is not None and reported.model:
            try:
                info = decode_model(reported.model)
            except ConfigurationError:
                info = None
        notes: list[str] = []
        points = self._points
        try:
            counted = await self.async_read_point_count() if points is None else None
        except ExceptionResponseError:
            if self._configured or (reported is not None and reported.is_leviton):
                raise
            raise NotLevitonError(
                self.where,
                self.unit_id,
                "answers Modbus but neither like a Series 1000/2000 (registers 40001-40006) "
                f"nor like a Series 8000 per {self.profile.label()}",
            ) from None
        if points is None:
            points = counted
        if points is None and info is not None and info.points:
            points = info.points
        leviton = (reported is not None and reported.is_leviton) or (
            info is not None and info.series == "8000"
        )
        if not leviton and not self._configured and counted not in POINT_COUNTS:
            raise NotLevitonError(
                self.where,
                self.unit_id,
                "answers Modbus but shows nothing of a Leviton Series 8000: no 0x11 answer "
                f"naming Leviton, and the point count per {self.profile.label()} reads "
                f"{counted} (a Series 8000 has {', '.join(map(str, POINT_COUNTS))}); if it is "
                "one, configure its series as 8000",
            )
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
        self._points = points
        self.registers = register_model(self.profile, points)(self.unit)
        self._build_fields(points)
        if self.profile.provisional:
            notes.append(
                "the Series 8000 register map is PROVISIONAL (Leviton has not published it); "
                "readings from a real meter are wrong until you supply its profile"
            )
        self.identity = Identity(
            unit_id=self.unit_id,
            series=Series.S8000,
            model=reported.model if reported is not None else None,
            model_info=info,
            hardware_version=reported.hardware_version if reported is not None else None,
            software_version=reported.software_version if reported is not None else None,
            program_id=reported.program_id if reported is not None else None,
            points=points,
            profile=self.profile.label(),
            provisional_profile=self.profile.provisional,
            notes=notes,
            report_id=reported.raw if reported is not None else None,
        )
        return self.identity

    def _build_fields(self, points: int) -> None:
        """What each register field of a poll becomes, with a glitch guard per total."""
        profile = self.profile
        self._meter_fields = [
            (key, key, spec.convert) for key, spec in profile.meter.items() if key != "point_count"
        ]
        totals = {r.key for r in self._point_readings if r.total}
        fields: list[tuple[int, str, str, Converter, TotalGuard | None]] = []
        for point in range(1, points + 1):
            for key, spec in profile.point_registers.items():
                guard = None
                if key in totals:
                    guard = self.guards.get((point, key)) or TotalGuard(
                        self._guard_name(point, key)
                    )
                    self.guards[(point, key)] = guard
                fields.append((point, key, point_field_name(point, key), spec.convert, guard))
        self._point_fields = fields
        # The fast decode of a poll: the blocks modbus-connection plans, one struct for all.
        blocks = (
            modbus_compat.read_blocks(self.registers)
            if self.registers is not None and self._fast_decode
            else None
        )
        placed = [
            (spec.address, spec) for key, spec in profile.meter.items() if key != "point_count"
        ]
        placed += [
            (profile.point_address(point, key), profile.point_registers[key])
            for point, key, _name, _convert, _guard in fields
        ]
        self._decoder = BlockDecoder.build(blocks, placed, profile.word_order) if blocks else None

    async def async_check_identity(self) -> IdentityCheck:
        """The point count must still be the same, and so must the program id where the
        meter reports one (0x11)."""
        before = self.identity.program_id if self.identity is not None else None
        counted = await self.async_read_point_count()
        if counted is not None and counted != self._points:
            return IdentityCheck(
                same=False,
                program_id=None,
                change=f"{self._points} metering points became {counted}",
            )
        if before is None:
            return IdentityCheck(same=True, program_id=None)
        reported = await self._reported_identity(tolerate_timeout=False)
        now = reported.program_id if reported is not None else None
        if now == before:
            return IdentityCheck(same=True, program_id=now)
        return IdentityCheck(same=False, program_id=now, change=f"program id {before} became {now}")

    # -- reading ---------------------------------------------------------------------------

    async def async_read(self, *, retry: bool = True) -> Snapshot:
        if self.registers is None:
            await self.async_identify()
        registers = self.registers
        if registers is None:
            raise LevitonError(f"unit {self.unit_id} on {self.where}: not identified")
        what = f"a read of the {self.points}-point register set"
        try:
            raw = await self._read_raw(registers, what)
        except RETRYABLE:  # a lost or damaged answer; an exception answer is an answer
            if not retry:
                raise
            raw = await self._read_raw(registers, what)
        now = self.clock()
        values = iter(raw)
        readings: dict[str, float | int | None] = {
            key: convert(next(values)) for key, _name, convert in self._meter_fields
        }
        if self.identity is not None and self.identity.program_id is not None:
            readings[PROGRAM_ID.key] = self.identity.program_id
        points: dict[int, dict[str, float | int | None]] = {
            point: {} for point in range(1, self.points + 1)
        }
        for point, key, _name, convert, guard in self._point_fields:
            value = convert(next(values))
            points[point][key] = value if guard is None else guard.check(value, now)
        self.last = Snapshot(time=self.wall_clock(), readings=readings, points=points)
        return self.last

    async def _read_raw(self, registers: Component, what: str) -> Sequence[Any]:
        """Every field's raw value, meter fields first, then the points': with the block
        decoder where there is one, else through the component's own decode."""
        decoder = self._decoder
        if decoder is None:
            await self._update(registers, what)
            return [getattr(registers, name) for _key, name, _convert in self._meter_fields] + [
                getattr(registers, name)
                for _point, _key, name, _convert, _guard in self._point_fields
            ]

        async def read() -> tuple[Any, ...]:
            words: list[int] = []
            for start, count in decoder.blocks:
                got = await self._read_words(start, count)
                if len(got) != count:
                    raise IndexError(f"{len(got)} of {count} registers at address {start}")
                words.extend(got)
            return decoder.decode(words)

        return await self._io(what, read)

"""Series 8000 register profiles: a data file describing where a meter keeps its readings.

Leviton's Series 8000 register map is not public, so the map is data a user can replace. The
project ships ``profiles/series8000_provisional.yaml``, a provisional layout that the simulator
also uses; ``load_profile`` validates a user's file and says exactly what is wrong with it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any, Final

import voluptuous as vol
import yaml
from modbus_connection.model import Component, float32, int32, integer, uint32

from .catalogue import PROGRAM_ID, SERIES_8000_METER_READINGS, SERIES_8000_POINT_READINGS
from .errors import ProfileError

PROFILE_DIR: Final = Path(__file__).parent / "profiles"
DEFAULT_PROFILE_PATH: Final = PROFILE_DIR / "series8000_provisional.yaml"
POINT_COUNTS: Final = (8, 12, 24)
TYPE_WIDTHS: Final = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2}
#: Readings of the whole meter that a profile can map (the program id comes from 0x11).
METER_KEYS: Final = (
    "point_count",
    *(r.key for r in SERIES_8000_METER_READINGS if r is not PROGRAM_ID),
)
POINT_KEYS: Final = tuple(r.key for r in SERIES_8000_POINT_READINGS)


@dataclass(frozen=True, kw_only=True)
class RegisterSpec:
    """One value: where it is, how wide, how to scale it."""

    address: int
    type: str
    scale: float = 1.0

    @property
    def width(self) -> int:
        return TYPE_WIDTHS[self.type]

    @cached_property
    def decimals(self) -> int:
        """Decimals a scaled value is rounded to: the scale's own (and 3 more for a float)."""
        places = max(0, -Decimal(repr(self.scale)).normalize().as_tuple().exponent)  # type: ignore[operator]
        return places + (3 if self.type == "float32" else 0)

    def convert(self, raw: float | None) -> float | None:
        """Scale a raw register value, rounded to the scale's own resolution."""
        if raw is None or raw != raw:  # None, or a float NaN
            return None
        if self.scale == 1.0:
            return raw
        return round(raw * self.scale, self.decimals)


@dataclass(frozen=True, kw_only=True, eq=False)
class Profile:
    """A validated Series 8000 register profile."""

    name: str
    source: str
    provisional: bool
    register_space: str
    word_order: str
    max_registers_per_read: int
    readable_ranges: tuple[tuple[int, int], ...] | None
    meter: dict[str, RegisterSpec]
    max_points: int
    first_address: int
    stride: int
    point_registers: dict[str, RegisterSpec]
    """Keyed by reading key; ``address`` is the offset within a point."""

    def point_address(self, point: int, key: str) -> int:
        """Wire address of a reading of a metering point (points count from 1)."""
        return self.first_address + (point - 1) * self.stride + self.point_registers[key].address

    def label(self) -> str:
        """How to name this profile to a person."""
        return f"{self.name} (PROVISIONAL register map)" if self.provisional else self.name

    def words(
        self,
        meter: Mapping[str, float],
        points: Mapping[int, Mapping[str, float]],
        point_count: int,
    ) -> dict[int, int]:
        """The registers a meter of ``point_count`` points holds, by wire address, from its
        values in the catalogue's units (``meter``: its own, ``points``: each point's): what
        the simulator holds and what the bridge serves. Registers inside a readable range but
        holding nothing read 0; a value not given is left out (its address answers 02)."""
        words: dict[int, int] = {}
        if self.readable_ranges:
            end = self.first_address + point_count * self.stride
            for first, last in self.readable_ranges:
                for address in range(first, min(last, end - 1) + 1):
                    words[address] = 0
        for key, spec in self.meter.items():
            if key in meter:
                encode_register(
                    words, spec.address, spec.type, meter[key] / spec.scale, self.word_order
                )
        for point in range(1, point_count + 1):
            values = points.get(point, {})
            for key, spec in self.point_registers.items():
                if key in values:
                    encode_register(
                        words,
                        self.point_address(point, key),
                        spec.type,
                        values[key] / spec.scale,
                        self.word_order,
                    )
        return words


def encode_register(words: dict[int, int], address: int, kind: str, raw: float, order: str) -> None:
    """Put an unscaled value of a profile's type at ``address`` (two registers for 32 bits,
    in the profile's word order)."""
    if kind == "float32":
        high, low = struct.unpack(">HH", struct.pack(">f", raw))
    else:
        number = round(raw)
        if kind in ("uint16", "int16"):
            words[address] = number & 0xFFFF
            return
        number &= 0xFFFFFFFF
        high, low = number >> 16, number & 0xFFFF
    if order == "little":
        high, low = low, high
    words[address], words[address + 1] = high, low


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise vol.Invalid(f"expected a whole number, got {value!r}")
    return value


_ADDRESS = vol.All(_integer, vol.Range(min=0, max=0xFFFF, msg="expected an address 0..65535"))
_TYPE = vol.In(sorted(TYPE_WIDTHS), msg="expected one of " + ", ".join(sorted(TYPE_WIDTHS)))
_SCALE = vol.All(vol.Coerce(float), vol.Range(min=1e-9, msg="expected a scale above 0"))
_METER_REGISTER = vol.Schema(
    {vol.Required("address"): _ADDRESS, vol.Required("type"): _TYPE, vol.Optional("scale"): _SCALE}
)
_POINT_REGISTER = vol.Schema(
    {
        vol.Required("offset"): vol.All(_integer, vol.Range(min=0, max=999)),
        vol.Required("type"): _TYPE,
        vol.Optional("scale"): _SCALE,
    }
)
_RANGE = vol.All(
    [_ADDRESS],
    vol.Length(min=2, max=2, msg="expected [first, last]"),
    vol.ExactSequence([_ADDRESS, _ADDRESS]),
)
PROFILE_SCHEMA: Final = vol.Schema(
    {
        vol.Required("name"): vol.All(str, vol.Length(min=1)),
        vol.Required("provisional"): bool,
        vol.Optional("register_space", default="holding"): vol.In(
            ["holding", "input"], msg="expected holding or input"
        ),
        vol.Optional("word_order", default="big"): vol.In(
            ["big", "little"], msg="expected big or little"
        ),
        vol.Optional("max_registers_per_read", default=125): vol.All(
            _integer, vol.Range(min=2, max=125)
        ),
        vol.Optional("readable_ranges"): [_RANGE],
        vol.Required("meter"): {
            vol.In(
                METER_KEYS, msg="unknown meter reading; expected one of " + ", ".join(METER_KEYS)
            ): _METER_REGISTER
        },
        vol.Required("points"): {
            vol.Required("max_count"): vol.In(POINT_COUNTS, msg="expected 8, 12 or 24"),
            vol.Required("first_address"): _ADDRESS,
            vol.Required("stride"): vol.All(_integer, vol.Range(min=1, max=1000)),
            vol.Required("registers"): vol.All(
                {
                    vol.In(
                        POINT_KEYS,
                        msg="unknown point reading; expected one of " + ", ".join(POINT_KEYS),
                    ): _POINT_REGISTER
                },
                vol.Length(min=1, msg="name at least one point reading"),
            ),
        },
    }
)


def _where(path: list[Any]) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def parse_profile(data: Any, source: str) -> Profile:
    """Validate profile data (already parsed from YAML); raise ``ProfileError``."""
    if not isinstance(data, dict):
        raise ProfileError(
            f"profile {source}: expected a mapping of settings, got {type(data).__name__}"
        )
    try:
        valid = PROFILE_SCHEMA(data)
    except vol.MultipleInvalid as err:
        problems = "; ".join(sorted(f"{_where(e.path)}: {e.msg}" for e in err.errors))
        raise ProfileError(f"profile {source}: {problems}") from None
    points = valid["points"]
    point_registers = {
        key: RegisterSpec(address=spec["offset"], type=spec["type"], scale=spec.get("scale", 1.0))
        for key, spec in points["registers"].items()
    }
    span = max(spec.address + spec.width for spec in point_registers.values())
    if span > points["stride"]:
        raise ProfileError(
            f"profile {source}: points.stride is {points['stride']} but the point registers "
            f"need {span}; points would overlap"
        )
    _check_overlaps(point_registers, f"profile {source}: points.registers")
    meter = {
        key: RegisterSpec(address=spec["address"], type=spec["type"], scale=spec.get("scale", 1.0))
        for key, spec in valid["meter"].items()
    }
    _check_overlaps(meter, f"profile {source}: meter")
    end = points["first_address"] + points["max_count"] * points["stride"] - 1
    if end > 0xFFFF:
        raise ProfileError(f"profile {source}: the points run past address 65535")
    ranges = (
        tuple(tuple(r) for r in valid["readable_ranges"]) if "readable_ranges" in valid else None
    )
    profile = Profile(
        name=valid["name"],
        source=source,
        provisional=valid["provisional"],
        register_space=valid["register_space"],
        word_order=valid["word_order"],
        max_registers_per_read=valid["max_registers_per_read"],
        readable_ranges=ranges,
        meter=meter,
        max_points=points["max_count"],
        first_address=points["first_address"],
        stride=points["stride"],
        point_registers=point_registers,
    )
    if ranges is not None:
        for first, last in ranges:
            if first > last:
                raise ProfileError(
                    f"profile {source}: readable range [{first}, {last}] is backwards"
                )
        for key, spec in meter.items():
            if not _covered(ranges, spec.address, spec.width):
                raise ProfileError(f"profile {source}: meter.{key} lies outside readable_ranges")
        for key in point_registers:
            address = profile.point_address(profile.max_points, key)
            if not _covered(ranges, address, point_registers[key].width):
                raise ProfileError(
                    f"profile {source}: points.registers.{key} of point {profile.max_points} "
                    "lies outside readable_ranges"
                )
    return profile


def _covered(ranges: tuple[tuple[int, int], ...], address: int, width: int) -> bool:
    return any(first <= address and address + width - 1 <= last for first, last in ranges)


def _check_overlaps(specs: dict[str, RegisterSpec], where: str) -> None:
    taken: dict[int, str] = {}
    for key, spec in specs.items():
        for address in range(spec.address, spec.address + spec.width):
            if address in taken:
                raise ProfileError(f"{where}: {key} overlaps {taken[address]} at {address}")
            taken[address] = key


def load_profile(path: str | Path | None = None) -> Profile:
    """Load and validate a profile file; the provisional default when ``path`` is None."""
    file = Path(path) if path is not None else DEFAULT_PROFILE_PATH
    resolved = file.expanduser().resolve()
    try:
        stamp = resolved.stat().st_mtime_ns
    except OSError:
        stamp = None  # reported by the read below
    return _load_cached(str(resolved), stamp)


async def async_load_profile(path: str | Path | None = None) -> Profile:
    """``load_profile`` in a worker thread: reading a file must not block an event loop."""
    return await asyncio.to_thread(load_profile, path)


@lru_cache(maxsize=32)
def _load_cached(file: str, stamp: int | None) -> Profile:
    """Parse a profile once per version of the file (an edited file is read again)."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"profile {file}: no such file") from None
    except OSError as err:
        raise ProfileError(f"profile {file}: cannot be read ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ProfileError(f"profile {file}: not valid YAML ({err})") from None
    return parse_profile(data, file)


def _field(spec: RegisterSpec, address: int, word_order: str) -> Any:
    """An unscaled field; ``RegisterSpec.convert`` applies the scale for every type alike."""
    order: Any = word_order
    if spec.type == "float32":
        return float32(address, word_order=order)
    if spec.type in ("uint16", "int16"):
        return integer(address, signed=spec.type == "int16")
    kind = uint32 if spec.type == "uint32" else int32
    return kind(address, word_order=order)


def point_field_name(point: int, key: str) -> str:
    return f"p{point}_{key}"


@cache
def register_model(profile: Profile, points: int) -> type[Component]:
    """A modbus-connection component class reading every value of a ``points``-point meter."""
    attributes: dict[str, Any] = {
        "register_space": profile.register_space,
        "max_span": profile.max_registers_per_read,
        "__doc__": f"Registers of a {points}-point Series 8000 per {profile.label()}.",
    }
    spans: list[tuple[int, int]] = []
    for key, spec in profile.meter.items():
        if key == "point_count":
            continue
        attributes[key] = _field(spec, spec.address, profile.word_order)
        spans.append((spec.address, spec.address + spec.width - 1))
    for point in range(1, points + 1):
        for key, spec in profile.point_registers.items():
            address = profile.point_address(point, key)
            attributes[point_field_name(point, key)] = _field(spec, address, profile.word_order)
            spans.append((address, address + spec.width - 1))
    # Without declared ranges, only named registers are read; touching ones are joined (the
    # read planner never joins ranges itself, so each would cost a request of its own).
    attributes["register_ranges"] = profile.readable_ranges or _runs(spans)
    return type(f"Series8000Registers{points}", (Component,), attributes)


def _runs(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Join address spans that touch or overlap: (1, 2), (3, 4), (6, 6) -> (1, 4), (6, 6)."""
    runs: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if runs and low <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], high))
        else:
            runs.append((low, high))
    return tuple(runs)

"""Simulated meters: what each one holds in its registers and says to function 0x11.

The physics (energy that grows with the load, a peak demand that rebuilds after a reset) and
the register contents of Series 1000/2000 meters (every documented register, exception 02 for
any other address) and of Series 8000 meters (per the register profile).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pymodbus.constants import ExcCodes

from leviton_driver import registers as reg
from leviton_driver.errors import ConfigurationError
from leviton_driver.profile import Profile
from leviton_driver.report_id import encode_report_server_id

from .keys import METER_KEYS, SERIES_KINDS

READ_FUNCTIONS: Final = (0x03, 0x04)
# Demand models (option D): the simulated meters keep a peak demand.
_DEFAULT_MODELS: Final = {"1000": "1N240-01D", "2000": "2N208-02D"}
_S8000_MODELS: Final = {8: "S8UTS-083", 12: "S8UTS-122", 24: "S8UTS-241"}


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
    glitch: float = 0.0

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
            if not sep or key not in METER_KEYS:
                raise ConfigurationError(
                    f"meter {text!r}: option {option!r} is not key=value with a key among "
                    + ", ".join(METER_KEYS)
                )
            spec._set(key, value, text)
        return spec

    def _set(self, key: str, value: str, text: str) -> None:
        try:
            if key in ("load", "energy", "export", "peak", "glitch"):
                number = float(value)
                if not math.isfinite(number) or number < 0 or (key == "glitch" and number > 1):
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
                f"meter {text!r}: {key}={value!r} is not valid ({METER_KEYS[key]})"
            ) from None


class SimulatedMeter:
    """The state of one simulated meter, and what it answers. One subclass per kind of meter:
    ``simulated_meter`` picks it."""

    kind_label = "a meter"
    """How ``leviton-bridge simulate`` names the kind."""

    def __init__(self, spec: MeterSpec, profile: Profile, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.clock = clock
        self.unit = spec.unit
        self.started = clock()
        self._energy_since = self.started
        self._energy_base = spec.energy
        self._glitches = random.Random(spec.unit)  # the same glitches at every run
        self.glitches_served = 0
        self.profile = profile
        self.program_id = spec.program if spec.program is not None else 40000 + spec.unit
        self.reset_count = spec.resets
        self.peak = spec.load if spec.peak is None else spec.peak
        self.peak_reset_at: float | None = None
        self.refusals: dict[int, tuple[int, ExcCodes]] = {}
        """Reads starting at an address answered with an exception, after a number of good ones."""
        self.late_answers: list[float] = []
        self.lost_answers = 0
        """Answers still to lose on the way back (a lost frame: the line stays free)."""
        """Delays (seconds) of its next answers: each comes that much after it should."""
        self.fewer_registers = 0
        """Its next this many register reads answer one register fewer than asked, in a
        well-formed frame (a faulty gateway, or an echo of the request)."""
        self.model = spec.model or ""

    # -- the physics -----------------------------------------------------------------------

    def hours(self) -> float:
        """Hours since the energy was last at ``_energy_base`` (start, or the last load change)."""
        return (self.clock() - self._energy_since) / 3600

    def energy_delivered(self) -> float:
        return self._energy_base + self.spec.load * self.hours()

    def set_energy(self, energy: float) -> None:
        """Make the energy total jump to ``energy`` (a glitch, or another meter's total)."""
        self._energy_base = energy
        self._energy_since = self.clock()

    def set_load(self, load: float) -> None:
        """Draw another load from now on; the energy so far stays."""
        self._energy_base = self.energy_delivered()
        self._energy_since = self.clock()
        self.spec.load = load

    def peak_demand(self) -> float:
        if self.peak_reset_at is None:
            return self.peak
        # 15-minute rolling demand rebuilds from zero after a reset.
        elapsed = self.clock() - self.peak_reset_at
        return self.spec.load * min(1.0, elapsed / 900)

    def reset_demand(self) -> None:
        """A peak-demand reset (over Modbus, or with the meter's own button)."""
        self.peak = 0.0
        self.peak_reset_at = self.clock()
        self.reset_count += 1

    def restart(self) -> None:
        """Power lost and back: uptime counts from zero again (the totals stay)."""
        self.spec.uptime = 0
        self.started = self.clock()

    def uptime(self) -> int:
        return self.spec.uptime + int(self.clock() - self.started)

    def glitch(self) -> float:
        """What this read's energy totals are multiplied by: 1, or (a ``glitch`` of the reads)
        0 or 1000, as a meter mid-update or a bit flip on a noisy line gives."""
        if self.spec.glitch and self._glitches.random() < self.spec.glitch:
            self.glitches_served += 1
            return 0.0 if self._glitches.random() < 0.5 else 1000.0
        return 1.0

    def point_load(self, point: int) -> float:
        """kW of one Series 8000 point: the load shared unevenly, so points differ."""
        weights = [1 + (p % 5) for p in range(1, self.spec.points + 1)]
        return self.spec.load * weights[point - 1] / sum(weights)

    # -- what it answers -------------------------------------------------------------------

    def refuse_reads(self, address: int, code: ExcCodes, *, after: int = 0) -> None:
        """Answer reads starting at ``address`` with exception ``code``, after ``after`` more
        good answers (a meter failing part-way, e.g. after its identification)."""
        self.refusals[address] = (after, code)

    def accept_reads(self, address: int) -> None:
        """Answer reads starting at ``address`` again (undo ``refuse_reads``)."""
        self.refusals.pop(address, None)

    def read(self, function: int, address: int, count: int) -> list[int] | ExcCodes:
        refusal = self.refusals.get(address)
        if refusal is not None:
            good, code = refusal
            if good <= 0:
                return code
            self.refusals[address] = (good - 1, code)
        return self._read(function, address, count)

    def _read(self, function: int, address: int, count: int) -> list[int] | ExcCodes:
        raise NotImplementedError

    def write(self, function: int, address: int, values: list[int]) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_ADDRESS

    def report_server_id(self) -> bytes | None:
        return None


class SimulatedSeries1000(SimulatedMeter):
    """A Series 1000 or 2000: every documented register, exception 02 elsewhere."""

    kind_label = "Series {series}"

    def __init__(self, spec: MeterSpec, profile: Profile, clock: Callable[[], float]) -> None:
        super().__init__(spec, profile, clock)
        self.model = spec.model or _DEFAULT_MODELS.get(spec.series, "")

    def _read(self, function: int, address: int, count: int) -> list[int] | ExcCodes:
        if function != 0x03:
            return ExcCodes.ILLEGAL_FUNCTION  # the manual lists 0x03 as the only read
        wanted = range(address, address + count)
        if not all(any(lo <= a <= hi for lo, hi in reg.DOCUMENTED_READ_RANGES) for a in wanted):
            return ExcCodes.ILLEGAL_ADDRESS
        words = self._words()
        return [words[a] for a in wanted]

    def _words(self) -> dict[int, int]:
        return reg.series1000_words(
            unit_id=self.unit,
            energy_delivered=int(self.energy_delivered() * self.glitch() * 10),
            energy_received=int(self.spec.export * 10),
            peak_demand=round(self.peak_demand() * 100),
            hardware_version=0x0302,
            software_version=0x0302,
            program_id=self.program_id,
            demand_reset_count=self.reset_count,
            uptime=self.uptime(),
        )

    def write(self, function: int, address: int, values: list[int]) -> ExcCodes | None:
        if function == 0x06 and address == reg.DEMAND_RESET_ADDRESS:
            if values != [reg.DEMAND_RESET_VALUE]:
                return ExcCodes.ILLEGAL_VALUE
            self.reset_demand()
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


class SimulatedSeries8000(SimulatedSeries1000):
    """A Series 8000, its registers per the profile; it answers 0x11 like a Series 2000 (what
    a real one answers is not documented: ``ident=none`` makes it refuse)."""

    kind_label = "Series 8000-{points}"

    def __init__(self, spec: MeterSpec, profile: Profile, clock: Callable[[], float]) -> None:
        super().__init__(spec, profile, clock)
        self.model = spec.model or _S8000_MODELS.get(spec.points, "S8UTS-241")
        if spec.points > profile.max_points:
            raise ConfigurationError(
                f"meter {spec.unit}: {spec.points} points, but profile {profile.label()} "
                f"describes at most {profile.max_points}"
            )

    def _read(self, function: int, address: int, count: int) -> list[int] | ExcCodes:
        expected = 0x04 if self.profile.register_space == "input" else 0x03
        if function != expected:
            return ExcCodes.ILLEGAL_FUNCTION
        words = self._words()
        wanted = range(address, address + count)
        if any(a not in words for a in wanted):
            return ExcCodes.ILLEGAL_ADDRESS
        return [words[a] for a in wanted]

    def _words(self) -> dict[int, int]:
        values: dict[str, float] = {"point_count": self.spec.points}
        values |= {"voltage_a": 120.1, "voltage_b": 119.8, "voltage_c": 120.4}
        hours = self.hours()
        glitch = self.glitch()
        points: dict[int, dict[str, float]] = {}
        for point in range(1, self.spec.points + 1):
            load = self.point_load(point)
            share = load / self.spec.load if self.spec.load else 1 / self.spec.points
            start = self._energy_base * share
            points[point] = {
                "energy_delivered": (start + load * hours) * glitch,
                "energy_received": self.spec.export * share,
                "power": load * 1000,
                "reactive_energy_delivered": (start + load * hours) * 0.3,
                "reactive_energy_received": 0.0,
                "reactive_power": load * 300,
            }
        return self.profile.words(values, points, self.spec.points)

    def write(self, function: int, address: int, values: list[int]) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_ADDRESS  # no documented writes


class SimulatedForeignDevice(SimulatedMeter):
    """Another maker's Modbus device, as pymodbus's own server behaves by default: every holding
    register reads 0, and it answers 0x11 with its name then the run status (0xFF) last
    (``model=`` names it; ``ident=none`` makes it refuse 0x11). Not a Leviton meter: the
    driver must say so."""

    kind_label = "a foreign (non-Leviton) device"

    def __init__(self, spec: MeterSpec, profile: Profile, clock: Callable[[], float]) -> None:
        super().__init__(spec, profile, clock)
        self.model = spec.model or "Pymodbus"

    def _read(self, function: int, address: int, count: int) -> list[int] | ExcCodes:
        if function not in READ_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        return [0] * count

    def write(self, function: int, address: int, values: list[int]) -> ExcCodes | None:
        return None  # it takes anything

    def report_server_id(self) -> bytes | None:
        if self.spec.ident == "none":
            return None
        return self.model.encode("ascii", "replace") + bytes([0xFF])


_KINDS: Final[dict[str, type[SimulatedMeter]]] = {
    "1000": SimulatedSeries1000,
    "2000": SimulatedSeries1000,
    "8000": SimulatedSeries8000,
    "foreign": SimulatedForeignDevice,
}


def simulated_meter(
    spec: MeterSpec, profile: Profile, clock: Callable[[], float]
) -> SimulatedMeter:
    """The simulated meter of the kind ``spec`` names."""
    return _KINDS[spec.series](spec, profile, clock)

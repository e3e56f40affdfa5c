"""The BACnet mapping: every object the bridge's BACnet/IP device shows, generated from the catalogue.

This module is pure (no network, no bacpypes3 application): it turns the configuration, the
reading catalogue and what a meter said about itself into object descriptions (``ObjectSpec``)
and checks that they can all live in one device (``check_config``, which the daemon runs for
``check-config`` and ``run``). ``objects`` makes bacpypes3 objects from the descriptions,
``face`` serves them, and ``ede`` writes them to an EDE file.

Object types
------------

* **Analog Input** (REAL, 32-bit float) for every measurement: power, reactive power, peak
  demand, average (derived) power, voltage.
* **Large Analog Value** (Double, 64-bit float) for every ever-increasing total: energy and
  reactive energy delivered and received, the demand-reset count and uptime. A REAL has a 24-bit
  mantissa: above 16,777,216 it cannot hold every whole number, let alone tenths, so 20,000,000.5
  kWh would read 20,000,000. A Double holds every 0.1 kWh step up to about 9 * 10^14 kWh. Large
  Analog Value is the standard object type (ASHRAE 135 clause 12.42) whose present value is a
  Double; its present value is read-only here.
* **Binary Value** "Reset peak demand", one per meter that can reset its demand (Series
  1000/2000): write ``active`` to reset the meter's peak demand; it reads ``active`` while the
  reset runs and returns to ``inactive`` by itself. It is the only writable property in the device.

Object instance numbers
-----------------------

An object's instance number is computed from where its reading comes from, so it stays the same
across restarts, when buses or meters are listed in another order, and when meters are added or
removed::

    instance = bus_code * 100000 + unit * 400 + point * 16 + slot

* ``bus_code`` (0..40): CRC-32 of the bus's id (its name in lower case, runs of anything but
  letters and digits as one ``_``, as in the MQTT topics) modulo 41. ``leviton-bridge
  bacnet-ede`` and the device's log show each bus's code.
* ``unit``: the meter's Modbus unit id (1..247).
* ``point``: 0 for readings of the whole meter (every Series 1000/2000 reading, the Series 8000
  voltages and the reset object), 1..24 for a Series 8000 metering point.
* ``slot`` (0..15): fixed per quantity, the same on every point: the catalogue's
  ``Reading.bacnet_slot``; the reset object is slot 15.

The largest instance is 40 * 100000 + 247 * 400 + 24 * 16 + 15 = 4,099,199, inside BACnet's
0..4,194,302. Instance numbers are unique across object types too, so a number alone names a
reading. Two meters on one bus always differ (their unit ids differ); two buses could draw the
same code: the bridge then refuses to start and names both buses and a new name for one of them
that has a free code (the rule cannot be collision-free for any names and still not depend on the
order or the number of buses). No slot is free: 14 is net power, 15 the reset object; a new
catalogue reading needs a new layout (and the instance numbers' formula a new version).

Names and descriptions
----------------------

* ``<meter name> <reading name>``, e.g. ``Unit 1A Energy delivered``;
* ``<meter name> point <n> <reading name>`` for a Series 8000 point, e.g. ``Tenant panel point 3
  Power``; the reset object is ``<meter name> Reset peak demand``.

The description repeats the catalogue's description of the quantity and says which meter (name,
bus, Modbus unit) and point it is. Names must be unique in a BACnet device, so the bridge refuses
two meters with the same name.

COV increments and units
------------------------

Each object's COV increment is the catalogue's ``cov_increment`` for its reading (about one step
of the meter's resolution for totals, a sensible change for power and voltage; see
``COV_DEFAULTS`` for the fallback by unit); its units are the catalogue's ``bacnet_units``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from leviton_driver import ConfigurationError, LevitonMeter
from leviton_driver.catalogue import READINGS, Reading
from leviton_driver.profile import POINT_COUNTS
from leviton_driver.registers import UNIT_ID_MAX

from ..config.settings import BacnetConfig, BridgeConfig, BusConfig, MeterConfig, slug

if TYPE_CHECKING:
    from ..core.meter_state import MeterState

ANALOG_INPUT: Final = "analogInput"
LARGE_ANALOG_VALUE: Final = "largeAnalogValue"
BINARY_VALUE: Final = "binaryValue"
TREND_LOG: Final = "trendLog"
DEVICE: Final = "device"

BUS_CODES: Final = 41
BUS_BLOCK: Final = 100_000
UNIT_BLOCK: Final = 400
POINT_BLOCK: Final = 16
MAX_POINTS: Final = max(POINT_COUNTS)
MAX_UNIT: Final = UNIT_ID_MAX
MAX_INSTANCE: Final = 4_194_302

#: Each reading's slot inside a point's block of 16 instance numbers is ``Reading.bacnet_slot``
#: in the catalogue (never renumbered: instance numbers are what a BMS binds to); the reset
#: object takes the last one.
RESET_SLOT: Final = 15
RESET_KEY: Final = "reset_peak_demand"
RESET_NAME: Final = "Reset peak demand"
RESET_DESCRIPTION: Final = (
    "Write active to reset the meter's peak demand; reads active while the reset runs, then "
    "returns to inactive"
)

#: The trend log of each energy-delivered total (with a ``history:`` section): a Trend Log
#: object whose instance number is the one of the Large Analog Value it logs (object
#: identifiers differ by type; the number still names the reading).
TREND_LOGGED: Final = "energy_delivered"
TREND_KEY: Final = "energy_delivered_log"
TREND_NAME: Final = "Energy delivered log"
TREND_DESCRIPTION: Final = (
    "The total energy delivered at the end of every interval of the history (ReadRange)"
)

#: COV increment by BACnet unit, for a reading whose catalogue entry gives none.
COV_DEFAULTS: Final[dict[str, float]] = {
    "kilowattHours": 0.1,
    "kilovoltAmpereHoursReactive": 0.1,
    "kilowatts": 0.01,
    "watts": 10.0,
    "voltAmperesReactive": 10.0,
    "volts": 1.0,
    "seconds": 60.0,
    "noUnits": 1.0,
}


@dataclass(frozen=True, kw_only=True)
class ObjectSpec:
    """One BACnet object of a meter: what to create and where its value comes from."""

    object_type: str
    """bacpypes3 object type name: analogInput, largeAnalogValue or binaryValue."""
    instance: int
    name: str
    description: str
    meter: MeterConfig
    key: str
    """The catalogue reading key (``RESET_KEY`` for the reset object)."""
    point: int = 0
    """0 for a reading of the whole meter, 1..24 for a Series 8000 metering point."""
    units: str | None = None
    """BACnet EngineeringUnits name."""
    cov_increment: float | None = None
    resolution: float | None = None

    @property
    def identifier(self) -> tuple[str, int]:
        return (self.object_type, self.instance)

    @property
    def writable(self) -> bool:
        return self.key == RESET_KEY

    @property
    def supports_cov(self) -> bool:
        return self.object_type != TREND_LOG

    @property
    def keyname(self) -> str:
        """A unique, stable key (the EDE file's first column)."""
        where = f"_p{self.point}" if self.point else ""
        return f"{self.meter.meter_id}{where}_{self.key}"

    @property
    def address(self) -> str:
        """Where the value comes from: bus id / unit / point / reading."""
        return f"{slug(self.meter.bus)}/u{self.meter.unit}/p{self.point}/{self.key}"


# -- the instance rule ---------------------------------------------------------------------


def bus_code(bus_name: str) -> int:
    """The bus's share of every instance number: CRC-32 of its id, modulo 41."""
    return zlib.crc32(slug(bus_name).encode("utf-8")) % BUS_CODES


def object_instance(bus_name: str, unit: int, point: int, slot: int) -> int:
    """The instance number of a quantity (see the module docstring)."""
    if not 1 <= unit <= MAX_UNIT:
        raise ConfigurationError(f"unit id {unit} is outside 1..{MAX_UNIT}")
    if not 0 <= point <= MAX_POINTS:
        raise ConfigurationError(f"metering point {point} is outside 0..{MAX_POINTS}")
    if not 0 <= slot < POINT_BLOCK:
        raise ConfigurationError(f"slot {slot} is outside 0..{POINT_BLOCK - 1}")
    return bus_code(bus_name) * BUS_BLOCK + unit * UNIT_BLOCK + point * POINT_BLOCK + slot


def object_type_for(reading: Reading) -> str:
    """Totals keep full precision in a 64-bit Large Analog Value; the rest are Analog Inputs."""
    return LARGE_ANALOG_VALUE if reading.state_class == "total_increasing" else ANALOG_INPUT


def cov_increment_for(reading: Reading) -> float:
    if reading.cov_increment > 0:
        return float(reading.cov_increment)
    return COV_DEFAULTS.get(reading.bacnet_units, 1.0)


def object_name(meter: MeterConfig, reading_name: str, point: int = 0) -> str:
    where = f" point {point}" if point else ""
    return f"{meter.name}{where} {reading_name}"


def _description(meter: MeterConfig, text: str, point: int) -> str:
    where = f", metering point {point}" if point else ""
    return f"{text}. Meter {meter.name} (bus {meter.bus}, Modbus unit {meter.unit}){where}"


def reading_spec(meter: MeterConfig, reading: Reading, point: int = 0) -> ObjectSpec:
    return ObjectSpec(
        object_type=object_type_for(reading),
        instance=object_instance(meter.bus, meter.unit, point, reading.bacnet_slot),
        name=object_name(meter, reading.name, point),
        description=_description(meter, reading.description or reading.name, point),
        meter=meter,
        key=reading.key,
        point=point,
        units=reading.bacnet_units,
        cov_increment=cov_increment_for(reading),
        resolution=10.0**-reading.precision,
    )


def reset_spec(meter: MeterConfig) -> ObjectSpec:
    return ObjectSpec(
        object_type=BINARY_VALUE,
        instance=object_instance(meter.bus, meter.unit, 0, RESET_SLOT),
        name=object_name(meter, RESET_NAME),
        description=_description(meter, RESET_DESCRIPTION, 0),
        meter=meter,
        key=RESET_KEY,
    )


# -- which objects a meter has ---------------------------------------------------------------


def meter_objects(
    config: MeterConfig, meter: LevitonMeter | None, *, points: int | None = None
) -> list[ObjectSpec]:
    """The objects of a configured meter, from its description: one per reading of the meter
    and of each metering point, and the reset object where it can reset its peak demand.

    A meter of series ``auto`` that has never answered has none yet; one configured by its
    series has its objects before it answers (a Series 8000's points once it says how many;
    ``points`` lists them in advance, for the EDE file of a meter that does not answer).
    """
    if meter is None:
        return []
    points = meter.points if points is None else points
    if points > MAX_POINTS:
        raise ConfigurationError(
            f"meter {config.name!r}: {points} metering points; BACnet objects exist "
            f"for 1..{MAX_POINTS}"
        )
    specs = [reading_spec(config, reading) for reading in meter.readings()]
    if meter.can_reset_demand:
        specs.append(reset_spec(config))
    for point in range(1, points + 1):
        specs.extend(reading_spec(config, reading, point) for reading in meter.point_readings())
    return specs


def state_objects(state: MeterState) -> list[ObjectSpec]:
    return meter_objects(state.config, state.meter)


def trend_log_spec(meter: MeterConfig, point: int = 0) -> ObjectSpec:
    logged = READINGS[TREND_LOGGED]
    return ObjectSpec(
        object_type=TREND_LOG,
        instance=object_instance(meter.bus, meter.unit, point, logged.bacnet_slot),
        name=object_name(meter, TREND_NAME, point),
        description=_description(meter, TREND_DESCRIPTION, point),
        meter=meter,
        key=TREND_KEY,
        point=point,
    )


def trend_logged(meter: MeterConfig, point: int = 0) -> ObjectSpec:
    """The object a trend log logs: the series' energy-delivered total."""
    return reading_spec(meter, READINGS[TREND_LOGGED], point)


def trend_logs(
    config: MeterConfig, meter: LevitonMeter | None, *, points: int | None = None
) -> list[ObjectSpec]:
    """The trend logs of a meter (with a ``history:`` section): of its energy-delivered total,
    or of each metering point's."""
    if meter is None:
        return []
    points = meter.points if points is None else points
    if points == 0:
        logged = any(reading.key == TREND_LOGGED for reading in meter.readings())
        return [trend_log_spec(config)] if logged else []
    if not any(reading.key == TREND_LOGGED for reading in meter.point_readings()):
        return []
    return [trend_log_spec(config, point) for point in range(1, min(points, MAX_POINTS) + 1)]


# -- checks: everything fits in one device ---------------------------------------------------


def _free_name(bus_name: str, taken: set[int]) -> str | None:
    for suffix in (*(f" {n}" for n in range(2, 100)), " b", " c", " d"):
        candidate = f"{bus_name}{suffix}"
        if bus_code(candidate) not in taken:
            return candidate
    return None


def check_objects(
    bacnet: BacnetConfig, buses: Sequence[BusConfig], meters: Sequence[MeterConfig]
) -> list[str]:
    """Every reason these meters cannot share one BACnet device (an empty list: they can)."""
    problems: list[str] = []
    codes: dict[int, str] = {}
    taken = {bus_code(bus.name) for bus in buses}
    for bus in buses:
        code = bus_code(bus.name)
        if code in codes:
            suggestion = _free_name(bus.name, taken)
            problems.append(
                f"buses {codes[code]!r} and {bus.name!r} both get BACnet bus code {code} (a "
                "checksum of the bus name, part of every object instance number), so their "
                "meters' objects would share instance numbers; rename one of them"
                + (
                    f", for example {bus.name!r} to {suggestion!r} (code {bus_code(suggestion)})"
                    if suggestion
                    else ""
                )
                + " (renaming a bus also changes its meters' MQTT topics)"
            )
        else:
            codes[code] = bus.name
    names: dict[str, MeterConfig] = {}
    for meter in meters:
        other = names.get(meter.name)
        if other is not None:
            problems.append(
                f"meters unit {other.unit} on bus {other.bus!r} and unit {meter.unit} on bus "
                f"{meter.bus!r} are both named {meter.name!r}; BACnet object names (which start "
                "with the meter's name) must be unique: give each meter its own name"
            )
        names.setdefault(meter.name, meter)
    if not problems:
        problems.extend(_name_clashes(bacnet, meters))
    return problems


def check_config(config: BridgeConfig) -> list[str]:
    """``check_objects`` for a whole configuration (none without a bacnet: section)."""
    if config.bacnet is None:
        return []
    return check_objects(config.bacnet, config.buses, config.meters)


def _all_possible(meter: MeterConfig) -> Iterable[ObjectSpec]:
    """Every object a meter could have, whatever it turns out to be: every reading of the
    catalogue for the meter and for each of the most points a meter can have (a reading can
    be both: a Series 1000's energy is its meter's, a Series 8000's its points'), and a
    reset."""
    for reading in READINGS.values():
        yield reading_spec(meter, reading)
        for point in range(1, MAX_POINTS + 1):
            yield reading_spec(meter, reading, point)
    yield reset_spec(meter)
    for point in range(MAX_POINTS + 1):
        yield trend_log_spec(meter, point)


def _name_clashes(bacnet: BacnetConfig, meters: Sequence[MeterConfig]) -> list[str]:
    owners: dict[str, str] = {
        bacnet.device_name: "the device itself",
        network_port_name(bacnet): "the device's network port",
    }
    problems: list[str] = []
    for meter in meters:
        owner = f"meter {meter.name!r} (bus {meter.bus!r}, unit {meter.unit})"
        for spec in _all_possible(meter):
            other = owners.setdefault(spec.name, owner)
            if other != owner:
                problems.append(
                    f"object name {spec.name!r} of {owner} is also the name of {other}; "
                    "rename the meter (or bacnet.device_name)"
                )
    return problems


def raise_for_problems(config: BridgeConfig) -> None:
    problems = check_config(config)
    if problems:
        raise ConfigurationError(
            f"{config.source or 'configuration'}: bacnet: " + "; ".join(problems)
        )


def network_port_name(config: BacnetConfig) -> str:
    return f"{config.device_name} BACnet/IP port"

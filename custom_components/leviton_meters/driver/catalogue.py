"""The reading catalogue: every quantity a Leviton meter reports, described once.

Home Assistant sensor descriptions, MQTT discovery payloads and BACnet objects are all
generated from these entries, so adding a reading is adding one entry here (and teaching the
meter class to fill it). Values are plain strings so that this module imports nothing from
Home Assistant, MQTT or BACnet libraries:

* ``device_class`` / ``state_class`` / ``entity_category`` use Home Assistant's string values.
* ``bacnet_units`` uses the BACnet ``EngineeringUnits`` enumeration names, and
  ``bacnet_slot`` is the reading's fixed place in a point's block of BACnet instance numbers
  (see the bridge's ``bacnet/mapping.py``): never renumber a slot, building-automation systems
  bind to the numbers. A new reading takes a free slot (none is free now: 14 is net power, 15
  is the reset object).
* ``enabled_by_default``: False for a reading few people chart (the diagnostics): a face that
  has entities (Home Assistant, MQTT discovery) creates it disabled, and a user enables it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Scope(StrEnum):
    """Where a reading lives on a meter."""

    METER = "meter"
    """One value per meter (Series 1000/2000 readings, Series 8000 per-phase voltage)."""

    POINT = "point"
    """One value per Series 8000 metering point."""


@dataclass(frozen=True, kw_only=True)
class Reading:
    """One quantity: how to name, show, store and publish it."""

    key: str
    """Stable key: JSON field, MQTT state key, unique-id suffix, translation key."""
    name: str
    unit: str | None
    device_class: str | None
    state_class: str | None
    bacnet_units: str
    bacnet_slot: int
    precision: int
    """Decimal places worth showing (the meter's resolution)."""
    scope: Scope = Scope.METER
    entity_category: str | None = None
    enabled_by_default: bool = True
    """False for the diagnostics: created disabled where a face has entities (a user enables
    them); every face still reads and publishes them."""
    total: bool = False
    """An ever-increasing total (kWh, kvarh): guarded against glitches and restored."""
    cov_increment: float = 0.0
    """Smallest change worth a BACnet COV notification."""
    description: str = ""


ENERGY_DELIVERED: Final = Reading(
    key="energy_delivered",
    name="Energy delivered",
    unit="kWh",
    device_class="energy",
    state_class="total_increasing",
    bacnet_units="kilowattHours",
    bacnet_slot=0,
    precision=1,
    total=True,
    cov_increment=0.1,
    description="Total real energy delivered from the grid to the load",
)
ENERGY_RECEIVED: Final = Reading(
    key="energy_received",
    name="Energy received",
    unit="kWh",
    device_class="energy",
    state_class="total_increasing",
    bacnet_units="kilowattHours",
    bacnet_slot=1,
    precision=1,
    total=True,
    cov_increment=0.1,
    description="Total real energy received by the grid from the load (export)",
)
PEAK_DEMAND: Final = Reading(
    key="peak_demand",
    name="Peak demand",
    unit="kW",
    device_class="power",
    state_class="measurement",
    bacnet_units="kilowatts",
    bacnet_slot=2,
    precision=2,
    cov_increment=0.01,
    description="Highest 15-minute rolling demand since the last demand reset",
)
DERIVED_POWER: Final = Reading(
    key="derived_power",
    name="Average power",
    unit="kW",
    device_class="power",
    state_class="measurement",
    bacnet_units="kilowatts",
    bacnet_slot=3,
    precision=2,
    cov_increment=0.05,
    description=(
        "Average power derived from the change in energy delivered between readings; "
        "its resolution is 0.1 kWh divided by the averaging window"
    ),
)
NET_POWER: Final = Reading(
    key="net_power",
    name="Net grid power",
    unit="W",
    device_class="power",
    state_class="measurement",
    bacnet_units="watts",
    bacnet_slot=14,
    precision=0,
    cov_increment=10,
    description=(
        "Net power from the grid, positive for import and negative for export, derived from "
        "the steps of energy delivered minus energy received (the same timing as average power)"
    ),
)
DEMAND_RESET_COUNT: Final = Reading(
    key="demand_reset_count",
    name="Demand reset count",
    unit=None,
    device_class=None,
    state_class="total_increasing",
    bacnet_units="noUnits",
    bacnet_slot=4,
    precision=0,
    entity_category="diagnostic",
    enabled_by_default=False,
    cov_increment=1,
    description="Number of peak-demand resets the meter has counted",
)
UPTIME: Final = Reading(
    key="uptime",
    name="Uptime",
    unit="s",
    device_class="duration",
    state_class="total_increasing",
    bacnet_units="seconds",
    bacnet_slot=5,
    precision=0,
    entity_category="diagnostic",
    enabled_by_default=False,
    cov_increment=60,
    description="Seconds since the meter last powered up",
)
POWER: Final = Reading(
    key="power",
    name="Power",
    unit="W",
    device_class="power",
    state_class="measurement",
    bacnet_units="watts",
    bacnet_slot=6,
    precision=0,
    scope=Scope.POINT,
    cov_increment=10,
    description="Real power",
)
REACTIVE_ENERGY_DELIVERED: Final = Reading(
    key="reactive_energy_delivered",
    name="Reactive energy delivered",
    unit="kvarh",
    device_class="reactive_energy",  # Home Assistant 2025.9 has it: kvarh, total_increasing
    state_class="total_increasing",
    bacnet_units="kilovoltAmpereHoursReactive",
    bacnet_slot=7,
    precision=1,
    scope=Scope.POINT,
    total=True,
    cov_increment=0.1,
    description="Total reactive energy delivered",
)
REACTIVE_ENERGY_RECEIVED: Final = Reading(
    key="reactive_energy_received",
    name="Reactive energy received",
    unit="kvarh",
    device_class="reactive_energy",
    state_class="total_increasing",
    bacnet_units="kilovoltAmpereHoursReactive",
    bacnet_slot=8,
    precision=1,
    scope=Scope.POINT,
    total=True,
    cov_increment=0.1,
    description="Total reactive energy received",
)
REACTIVE_POWER: Final = Reading(
    key="reactive_power",
    name="Reactive power",
    unit="var",
    device_class="reactive_power",
    state_class="measurement",
    bacnet_units="voltAmperesReactive",
    bacnet_slot=9,
    precision=0,
    scope=Scope.POINT,
    cov_increment=10,
    description="Reactive power",
)


def _voltage(phase: str, slot: int) -> Reading:
    return Reading(
        key=f"voltage_{phase.lower()}",
        name=f"Voltage phase {phase}",
        unit="V",
        device_class="voltage",
        state_class="measurement",
        bacnet_units="volts",
        bacnet_slot=slot,
        precision=1,
        cov_increment=1,
        description=f"Phase {phase} voltage",
    )


VOLTAGE_A: Final = _voltage("A", 10)
VOLTAGE_B: Final = _voltage("B", 11)
VOLTAGE_C: Final = _voltage("C", 12)
PROGRAM_ID: Final = Reading(
    key="program_id",
    name="Program id",
    unit=None,
    device_class=None,
    state_class=None,
    bacnet_units="noUnits",
    bacnet_slot=13,
    precision=0,
    entity_category="diagnostic",
    enabled_by_default=False,
    description=(
        "The meter's program id (register 45004, 'fn' in its 0x11 answer); Leviton correlates "
        "it with the serial number on the label, but it is not that number"
    ),
)

#: Series 1000/2000, per meter, in display order (the meter leaves out average and net power
#: when derived power is switched off).
SERIES_1000_READINGS: Final[tuple[Reading, ...]] = (
    ENERGY_DELIVERED,
    ENERGY_RECEIVED,
    PEAK_DEMAND,
    DERIVED_POWER,
    NET_POWER,
    DEMAND_RESET_COUNT,
    UPTIME,
    PROGRAM_ID,
)

#: Series 8000, per metering point.
SERIES_8000_POINT_READINGS: Final[tuple[Reading, ...]] = (
    ENERGY_DELIVERED,
    ENERGY_RECEIVED,
    POWER,
    REACTIVE_ENERGY_DELIVERED,
    REACTIVE_ENERGY_RECEIVED,
    REACTIVE_POWER,
)

#: Series 8000, per meter (the meter leaves out what its profile does not map, and the program
#: id when its 0x11 answer gives none).
SERIES_8000_METER_READINGS: Final[tuple[Reading, ...]] = (
    VOLTAGE_A,
    VOLTAGE_B,
    VOLTAGE_C,
    PROGRAM_ID,
)

#: Every reading by key.
READINGS: Final[dict[str, Reading]] = {
    reading.key: reading
    for reading in (
        *SERIES_1000_READINGS,
        *SERIES_8000_POINT_READINGS,
        *SERIES_8000_METER_READINGS,
    )
}

"""Each served meter's registers, built from its last poll: what a read of them answers.

A Series 1000/2000 is served with every register its manual documents (the readings block,
40061, the identity and version registers, the reset counter and uptime), with 45001 holding
the unit id it is served at (the manual: 45001 is the meter's own Modbus id; a client checks
it), and its own answer to function 0x11 as it gave it when identified. A Series 8000 is
served with the registers of its profile, in the profile's register space. Every other
address answers exception 02, as the meter does; another read function, 01.

Values are the meter's as the bridge last read them (the glitch guards' accepted totals, not
a glitch). An image is built once per poll, so a read costs a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from leviton_driver import LevitonMeter, Snapshot
from leviton_driver import registers as reg
from leviton_driver.series8000 import Series8000Meter

ILLEGAL_FUNCTION: Final = 0x01
ILLEGAL_ADDRESS: Final = 0x02
ILLEGAL_VALUE: Final = 0x03
DEVICE_FAILURE: Final = 0x04
PATH_UNAVAILABLE: Final = 0x0A
TARGET_FAILED: Final = 0x0B
READ_HOLDING: Final = 0x03
READ_INPUT: Final = 0x04


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterImage:
    """A meter's registers as served, from one poll."""

    unit: int
    """The unit id it is served at."""
    read_function: int
    """0x03 (holding registers) or 0x04 (a Series 8000 whose profile says input registers)."""
    words: Mapping[int, int]
    report_id: bytes | None
    """Its answer to function 0x11 (None: it refuses 0x11, exception 01)."""
    can_reset: bool
    read_at: float
    """Wall-clock time of the poll it shows."""

    def read(self, function: int, address: int, count: int) -> list[int] | int:
        """The registers asked for, or the exception code the meter answers."""
        if function != self.read_function:
            return ILLEGAL_FUNCTION
        words = self.words
        try:
            return [words[a] for a in range(address, address + count)]
        except KeyError:
            return ILLEGAL_ADDRESS


def _tenths(value: float | int | None, scale: float) -> int | None:
    return None if value is None else round(float(value) / scale)


def image_of(meter: LevitonMeter, snapshot: Snapshot, unit: int) -> MeterImage | None:
    """The meter's image served at ``unit``, None while its poll lacks a total (nothing
    to serve a client could trust: the unit answers exception 0x0B)."""
    identity = meter.identity
    if identity is None:
        return None
    report_id = identity.report_id
    if isinstance(meter, Series8000Meter):
        return _series8000(meter, snapshot, unit, report_id)
    readings = snapshot.readings
    delivered = _tenths(readings.get("energy_delivered"), 0.1)
    received = _tenths(readings.get("energy_received"), 0.1)
    if delivered is None or received is None:
        return None
    words = reg.series1000_words(
        unit_id=unit,
        energy_delivered=delivered,
        energy_received=received,
        peak_demand=_tenths(readings.get("peak_demand"), 0.01) or 0,
        hardware_version=reg.encode_version(identity.hardware_version),
        software_version=reg.encode_version(identity.software_version),
        program_id=identity.program_id or 0,
        demand_reset_count=int(readings.get("demand_reset_count") or 0),
        uptime=int(readings.get("uptime") or 0),
    )
    return MeterImage(
        unit=unit,
        read_function=READ_HOLDING,
        words=words,
        report_id=report_id,
        can_reset=meter.can_reset_demand,
        read_at=snapshot.time,
    )


def _series8000(
    meter: Series8000Meter, snapshot: Snapshot, unit: int, report_id: bytes | None
) -> MeterImage | None:
    profile = meter.profile
    points = meter.points
    if any(
        values.get(key) is None
        for values in snapshot.points.values()
        for key in ("energy_delivered", "energy_received")
        if key in values
    ):
        return None
    meter_values = {key: value for key, value in snapshot.readings.items() if value is not None}
    meter_values["point_count"] = points
    point_values = {
        point: {key: value for key, value in values.items() if value is not None}
        for point, values in snapshot.points.items()
    }
    words = profile.words(meter_values, point_values, points)
    return MeterImage(
        unit=unit,
        read_function=READ_INPUT if profile.register_space == "input" else READ_HOLDING,
        words=words,
        report_id=report_id,
        can_reset=False,
        read_at=snapshot.time,
    )

"""The Series 8000 fast decode (one precompiled struct over the planned blocks) gives the values
modbus-connection's generic decode gives, request for request, for every register type and both
word orders, whatever the registers hold."""

from __future__ import annotations

import random
from typing import Final

import pytest

from leviton_driver.profile import Profile, parse_profile
from leviton_driver.series8000 import Series8000Meter

from .test_register_model import (
    DEFAULT,
    PARTIAL_RANGED,
    PARTIAL_UNRANGED,
    TCP,
    Clock,
    MeterUnit,
    series8000_unit,
)

#: Every register type, low word first, values at odd offsets and a gap between points.
EVERY_TYPE: Final = parse_profile(
    {
        "name": "every type, little-endian",
        "provisional": False,
        "word_order": "little",
        "readable_ranges": [[0x0200, 0x02FF]],
        "meter": {
            "point_count": {"address": 0x0200, "type": "uint16"},
            "voltage_a": {"address": 0x0201, "type": "int16", "scale": 0.1},
            "voltage_b": {"address": 0x0203, "type": "float32", "scale": 0.01},
        },
        "points": {
            "max_count": 8,
            "first_address": 0x0210,
            "stride": 16,
            "registers": {
                "energy_delivered": {"offset": 1, "type": "uint32", "scale": 0.1},
                "energy_received": {"offset": 3, "type": "float32", "scale": 0.001},
                "power": {"offset": 6, "type": "int32"},
                "reactive_power": {"offset": 9, "type": "int16", "scale": 10},
                "reactive_energy_delivered": {"offset": 11, "type": "uint16"},
            },
        },
    },
    "test profile",
)


def _meter(unit: MeterUnit, profile: Profile, *, fast: bool) -> Series8000Meter:
    return Series8000Meter(
        unit,
        profile=profile,
        unit_id=unit.unit_id,
        where=TCP,
        configured=True,
        clock=Clock(),
        fast_decode=fast,
    )


@pytest.mark.parametrize(
    ("profile", "points"),
    [(DEFAULT, 24), (DEFAULT, 12), (PARTIAL_RANGED, 8), (PARTIAL_UNRANGED, 8), (EVERY_TYPE, 8)],
    ids=["default-24", "default-12", "partial-ranged", "partial-unranged", "every-type"],
)
@pytest.mark.parametrize("seed", range(5))
async def test_fast_decode_equals_the_generic_decode(
    profile: Profile, points: int, seed: int
) -> None:
    unit = series8000_unit(profile, points)
    fast, generic = _meter(unit, profile, fast=True), _meter(unit, profile, fast=False)
    await fast.async_identify()
    await generic.async_identify()
    assert fast._decoder is not None  # the fast path is the one under test
    assert generic._decoder is None
    count = profile.meter["point_count"]
    shuffle = random.Random(seed)
    for first, last in unit.readable:
        for address in range(first, last + 1):
            if address != count.address:
                unit.set_words(address, [shuffle.randrange(0x10000)])
    unit.forget()
    got = await fast.async_read(retry=False)
    fast_reads = list(unit.reads)
    unit.forget()
    expected = await generic.async_read(retry=False)
    assert list(unit.reads) == fast_reads  # the same requests
    assert got.readings == expected.readings
    assert got.points == expected.points

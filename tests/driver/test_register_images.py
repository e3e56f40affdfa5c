"""The register images the driver builds: what a meter holds, word for word.

The simulator holds, and the bridge's Modbus server serves, the words that
``registers.series1000_words`` and ``Profile.words`` build from readings. Each image is read
back here by the driver's own meter classes on a mock unit (no simulator, no sockets): the
readings that come out are the readings that went in, and the words are the manual's (its
0x0098 0x966C = 9,999,980 example, versions as major/minor bytes).
"""

from __future__ import annotations

import struct
from typing import Any, Final

import pytest

from leviton_driver import load_profile
from leviton_driver import registers as reg
from leviton_driver.profile import Profile, encode_register, parse_profile
from tests.driver.test_register_model import (
    MANUAL_KWH,
    MANUAL_WORDS,
    PARTIAL_RANGED,
    IllegalFunctionError,
    MeterUnit,
    _raise,
    identified_8000,
    series1000_meter,
)

DEFAULT: Final = load_profile()


@pytest.mark.parametrize(
    ("text", "word"),
    [("3.2", 0x0302), ("12.10", 0x0C0A), ("0.0", 0x0000), ("255.255", 0xFFFF)],
)
def test_a_version_is_its_register_and_back(text: str, word: int) -> None:
    assert reg.encode_version(text) == word
    assert reg.decode_version(word) == text


@pytest.mark.parametrize("text", [None, "", "3", "v3.2", "3.x", ".2"])
def test_a_version_not_major_dot_minor_is_held_as_0(text: str | None) -> None:
    """What the meter did not say is 0 in its register (the register is never left out)."""
    assert reg.encode_version(text) == 0


def test_a_series_1000_image_has_the_manuals_words() -> None:
    words = reg.series1000_words(
        unit_id=7,
        energy_delivered=9_999_980,
        energy_received=65_536,
        peak_demand=1_234,
        hardware_version=0x0302,
        software_version=0x0301,
        program_id=45_678,
        demand_reset_count=3,
        uptime=0x0001_0002,
    )
    assert (words[0x0000], words[0x0001]) == MANUAL_WORDS  # 40001-40002, high word first
    assert (words[0x0002], words[0x0003]) == (0x0001, 0x0000)
    assert (words[0x0004], words[0x0005]) == (words[0x003C], words[0x003D]) == (0, 1_234)
    assert [words[a] for a in range(0x1388, 0x138C)] == [7, 0x0302, 0x0301, 45_678]
    assert [words[a] for a in range(0x138D, 0x1390)] == [3, 0x0001, 0x0002]
    assert 0x138C not in words  # 45005 is not documented: it answers 02, as a meter's does
    # Every register it holds is one a meter answers, and none is out of a word's range.
    assert all(any(low <= a <= high for low, high in reg.DOCUMENTED_READ_RANGES) for a in words)
    assert all(0 <= value <= 0xFFFF for value in words.values())


async def test_a_series_1000_image_reads_back_as_what_built_it() -> None:
    unit = MeterUnit(reg.DOCUMENTED_READ_RANGES, unit_id=7)
    for address, word in reg.series1000_words(
        unit_id=7,
        energy_delivered=9_999_980,
        energy_received=12_345,
        peak_demand=1_234,
        hardware_version=reg.encode_version("3.2"),
        software_version=reg.encode_version("3.1"),
        program_id=45_678,
        demand_reset_count=3,
        uptime=86_400,
    ).items():
        unit.set_words(address, [word])
    unit.set_response("report_server_id", _raise(IllegalFunctionError()))
    meter = series1000_meter(unit, configured=True)

    identity = await meter.async_identify()
    snapshot = await meter.async_read()

    assert (identity.unit_id, identity.program_id) == (7, 45_678)
    assert (identity.hardware_version, identity.software_version) == ("3.2", "3.1")
    assert snapshot.readings["energy_delivered"] == MANUAL_KWH
    assert snapshot.readings["energy_received"] == pytest.approx(1_234.5)
    assert snapshot.readings["peak_demand"] == pytest.approx(12.34)


def test_values_wider_than_their_registers_wrap_as_the_meter_s_would() -> None:
    """A 32-bit total past 2**32 - 1 rolls over, as the meter's counter does; never a word
    out of range (which pymodbus would refuse to serve)."""
    words = reg.series1000_words(
        unit_id=1,
        energy_delivered=2**32 + 5,
        energy_received=0,
        peak_demand=0,
        hardware_version=0,
        software_version=0,
        program_id=0x1_0001,
        demand_reset_count=0,
        uptime=0,
    )
    assert (words[0x0000], words[0x0001]) == (0, 5)
    assert words[0x138B] == 1


def _point_values(profile: Profile, points: int) -> dict[int, dict[str, float]]:
    """A distinct value in the catalogue's units for each field of each point."""
    return {
        point: {
            key: round((point * 100 + index * 3 + 1) * spec.scale, 6)
            for index, (key, spec) in enumerate(profile.point_registers.items())
        }
        for point in range(1, points + 1)
    }


@pytest.mark.parametrize(
    "profile",
    [pytest.param(DEFAULT, id="default"), pytest.param(PARTIAL_RANGED, id="input-little-endian")],
)
async def test_a_series_8000_image_reads_back_as_what_built_it(profile: Profile) -> None:
    points = 8
    meter_values = {
        key: round((index + 2) * 1_201 * spec.scale, 6)
        for index, (key, spec) in enumerate(profile.meter.items())
        if key != "point_count"
    }
    meter_values["point_count"] = points
    point_values = _point_values(profile, points)
    unit = MeterUnit(profile.readable_ranges, space=profile.register_space, unit_id=5)
    for address, word in profile.words(meter_values, point_values, points).items():
        unit.set_words(address, [word])
    unit.set_response("report_server_id", _raise(IllegalFunctionError()))

    meter = await identified_8000(unit, profile)
    snapshot = await meter.async_read()

    assert meter.identity.points == points
    assert snapshot.readings == {
        key: pytest.approx(value) for key, value in meter_values.items() if key != "point_count"
    }
    assert snapshot.points == {
        point: {key: pytest.approx(value) for key, value in values.items()}
        for point, values in point_values.items()
    }


def test_a_series_8000_image_fills_its_readable_ranges_and_leaves_out_what_it_was_not_given() -> (
    None
):
    """Inside a readable range, a register nobody set reads 0 (as a meter's unused one does);
    beyond the meter's last point, and outside the ranges, nothing is held (exception 02)."""
    words = PARTIAL_RANGED.words({"point_count": 2}, {1: {"power": -1_500}}, 2)
    end = PARTIAL_RANGED.first_address + 2 * PARTIAL_RANGED.stride
    assert words[0x0FFE] == 2
    assert words[0x0FFF] == 0  # voltage_a: not given, inside a readable range
    power = PARTIAL_RANGED.point_address(1, "power")
    assert (words[power], words[power + 1]) == (0xFA24, 0xFFFF)  # -1,500, low word first
    assert max(words) == end - 1
    unranged = parse_profile(
        {
            "name": "no ranges",
            "provisional": False,
            "meter": {"point_count": {"address": 0x00FC, "type": "uint16"}},
            "points": {
                "max_count": 8,
                "first_address": 0x0100,
                "stride": 12,
                "registers": {"energy_delivered": {"offset": 0, "type": "uint32", "scale": 0.1}},
            },
        },
        "test profile",
    )
    assert unranged.words({"point_count": 1}, {}, 1) == {0x00FC: 1}


@pytest.mark.parametrize(
    ("kind", "raw", "order", "expected"),
    [
        ("uint16", 65_535, "big", [0xFFFF]),
        ("int16", -2, "big", [0xFFFE]),
        ("uint32", 9_999_980, "big", list(MANUAL_WORDS)),
        ("uint32", 9_999_980, "little", list(MANUAL_WORDS[::-1])),
        ("int32", -1_500, "big", [0xFFFF, 0xFA24]),
        ("float32", 230.5, "big", list(struct.unpack(">HH", struct.pack(">f", 230.5)))),
        ("float32", 230.5, "little", list(struct.unpack(">HH", struct.pack(">f", 230.5)))[::-1]),
        ("uint32", 12.6, "big", [0, 13]),  # a raw value between counts rounds to the nearest
    ],
)
def test_each_register_type_is_encoded_as_the_driver_decodes_it(
    kind: str, raw: float, order: str, expected: list[int]
) -> None:
    words: dict[int, int] = {}
    encode_register(words, 0x0200, kind, raw, order)
    assert [words[a] for a in sorted(words)] == expected
    assert min(words) == 0x0200


async def test_a_float32_profile_reads_back_to_its_own_resolution() -> None:
    """A float register is rounded to its scale's decimals and 3 more, not to the scale's."""
    profile = parse_profile(
        {
            "name": "float voltages",
            "provisional": False,
            "readable_ranges": [[0x00FC, 0x0117]],
            "meter": {
                "point_count": {"address": 0x00FC, "type": "uint16"},
                "voltage_a": {"address": 0x00FD, "type": "float32", "scale": 0.1},
            },
            "points": {
                "max_count": 8,
                "first_address": 0x0100,
                "stride": 2,
                "registers": {"power": {"offset": 0, "type": "float32"}},
            },
        },
        "test profile",
    )
    values: dict[str, Any] = {"point_count": 8, "voltage_a": 230.4567}
    unit = MeterUnit(profile.readable_ranges, unit_id=5)
    points = {point: {"power": point + 0.25} for point in range(1, 9)}
    for address, word in profile.words(values, points, 8).items():
        unit.set_words(address, [word])
    unit.set_response("report_server_id", _raise(IllegalFunctionError()))

    meter = await identified_8000(unit, profile)
    snapshot = await meter.async_read()

    assert profile.meter["voltage_a"].decimals == 4
    assert snapshot.readings["voltage_a"] == pytest.approx(230.4567, abs=1e-4)
    assert snapshot.points[3] == {"power": pytest.approx(3.25)}

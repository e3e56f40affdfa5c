"""The BACnet mapping on its own: instance rule, names, units, COV increments, checks, EDE rows."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from datetime import date
from typing import Any

import pytest
from bacpypes3.basetypes import EngineeringUnits
from bacpypes3.primitivedata import ObjectType
from modbus_connection.mock import MockModbusConnection

from leviton_bridge.bacnet import ede, mapping
from leviton_bridge.config import BacnetConfig, ConfigError, MeterConfig, parse_config, slug
from leviton_bridge.daemon import parse
from leviton_driver import Identity, LevitonMeter, Profile, configured_meter, load_profile
from leviton_driver.catalogue import (
    READINGS,
    SERIES_1000_READINGS,
    SERIES_8000_METER_READINGS,
    SERIES_8000_POINT_READINGS,
)
from leviton_driver.profile import parse_profile

#: Each reading's slot in a point's block of 16 instance numbers. Never renumbered: instance
#: numbers are what a building-automation system binds to.
SLOTS = {
    "energy_delivered": 0,
    "energy_received": 1,
    "peak_demand": 2,
    "derived_power": 3,
    "demand_reset_count": 4,
    "uptime": 5,
    "power": 6,
    "reactive_energy_delivered": 7,
    "reactive_energy_received": 8,
    "reactive_power": 9,
    "voltage_a": 10,
    "voltage_b": 11,
    "voltage_c": 12,
    "program_id": 13,
    "net_power": 14,
}


def config(buses: list[tuple[str, list[int]]], **bacnet: Any) -> Any:
    """A configuration whose BACnet section has not been checked yet (for the checker itself)."""
    return unchecked(
        [
            {
                "name": name,
                "connect": f"tcp://10.0.0.{index + 1}:502",
                "meters": [{"unit": unit} for unit in units],
            }
            for index, (name, units) in enumerate(buses)
        ],
        **bacnet,
    )


def unchecked(buses: list[dict[str, Any]], **bacnet: Any) -> Any:
    parsed = parse_config({"buses": buses, "mqtt": {"url": "mqtt://127.0.0.1"}}, "test")
    device = BacnetConfig(address="127.0.0.1/32", device_instance=59001, **bacnet)
    return dataclasses.replace(parsed, mqtt=None, bacnet=device)


def colliding_bus_names() -> tuple[str, str]:
    """Two bus names with the same bus code."""
    seen: dict[int, str] = {}
    for number in itertools.count(1):
        name = f"panel {number}"
        code = mapping.bus_code(name)
        if code in seen:
            return seen[code], name
        seen[code] = name
    raise AssertionError  # pragma: no cover


def distinct_bus_names(count: int) -> list[str]:
    names: list[str] = []
    codes: set[int] = set()
    for number in itertools.count(1):
        name = f"bus {number}"
        if mapping.bus_code(name) not in codes:
            codes.add(mapping.bus_code(name))
            names.append(name)
            if len(names) == count:
                return names
    raise AssertionError  # pragma: no cover


def meter_of(
    series: str,
    *,
    points: int | None = None,
    profile: Profile | None = None,
    derived_power: bool = True,
    program_id: int | None = None,
) -> LevitonMeter:
    """A meter as the bridge makes it from the configuration (nothing is sent: a mock link);
    with ``program_id``, as if it had been identified and had given one."""
    if series == "8000" and profile is None:
        profile = load_profile()
    meter = configured_meter(
        MockModbusConnection().for_unit(1),
        unit_id=1,
        where="test",
        series=series,
        profile=profile,
        points=points,
        derived_power=derived_power,
    )
    assert meter is not None
    if program_id is not None:
        meter.identity = Identity(
            unit_id=1, series=meter.series, program_id=program_id, points=points
        )
    return meter


@functools.cache
def largest_meters() -> tuple[LevitonMeter, LevitonMeter]:
    """A Series 2000 and a Series 8000 of 24 points that gave its program id."""
    return meter_of("2000"), meter_of("8000", points=24, program_id=1)


def all_specs(meter: MeterConfig) -> list[mapping.ObjectSpec]:
    """Every object a meter at this place could have, whichever series it turns out to be."""
    specs = {
        (spec.point, spec.key): spec
        for leviton in largest_meters()
        for spec in mapping.meter_objects(meter, leviton)
    }
    return list(specs.values())


# -- the catalogue is fully mapped ---------------------------------------------------------


def test_every_reading_has_its_own_fixed_slot_unit_and_increment() -> None:
    slots = {key: reading.bacnet_slot for key, reading in READINGS.items()}
    assert slots == SLOTS, "a reading's slot never changes; a new reading takes a free one"
    assert len(set(slots.values())) == len(slots)
    assert all(0 <= slot < mapping.POINT_BLOCK for slot in slots.values())
    assert mapping.RESET_SLOT not in slots.values()
    for reading in READINGS.values():
        EngineeringUnits(reading.bacnet_units)  # a real BACnet unit name
        assert mapping.cov_increment_for(reading) > 0
        assert mapping.cov_increment_for(reading) == (
            reading.cov_increment or mapping.COV_DEFAULTS[reading.bacnet_units]
        )


def test_totals_are_64_bit_and_measurements_analog_inputs() -> None:
    types = {key: mapping.object_type_for(reading) for key, reading in READINGS.items()}
    assert types == {
        "energy_delivered": "largeAnalogValue",
        "energy_received": "largeAnalogValue",
        "demand_reset_count": "largeAnalogValue",
        "uptime": "largeAnalogValue",
        "reactive_energy_delivered": "largeAnalogValue",
        "reactive_energy_received": "largeAnalogValue",
        "peak_demand": "analogInput",
        "derived_power": "analogInput",
        "power": "analogInput",
        "reactive_power": "analogInput",
        "voltage_a": "analogInput",
        "voltage_b": "analogInput",
        "voltage_c": "analogInput",
        "program_id": "analogInput",
        "net_power": "analogInput",
    }
    for reading in READINGS.values():
        if reading.total:
            assert types[reading.key] == "largeAnalogValue"


def test_units_and_cov_increments_per_quantity() -> None:
    meter = MeterConfig(unit=3, name="Panel", bus="basement")
    by_key = {(s.point, s.key): s for s in all_specs(meter)}
    expect = {
        (0, "energy_delivered"): ("kilowattHours", 0.1, 0.1),
        (0, "peak_demand"): ("kilowatts", 0.01, 0.01),
        (0, "derived_power"): ("kilowatts", 0.05, 0.01),
        (0, "uptime"): ("seconds", 60.0, 1.0),
        (0, "demand_reset_count"): ("noUnits", 1.0, 1.0),
        (0, "voltage_a"): ("volts", 1.0, 0.1),
        (5, "power"): ("watts", 10.0, 1.0),
        (5, "reactive_power"): ("voltAmperesReactive", 10.0, 1.0),
        (5, "reactive_energy_received"): ("kilovoltAmpereHoursReactive", 0.1, 0.1),
        (0, "program_id"): ("noUnits", 1.0, 1.0),
    }
    for key, (units, increment, resolution) in expect.items():
        spec = by_key[key]
        assert (spec.units, spec.cov_increment) == (units, increment), key
        assert spec.resolution == pytest.approx(resolution)


# -- the instance rule -------------------------------------------------------------------------


def test_instance_rule_is_the_documented_formula() -> None:
    code = mapping.bus_code("Basement")
    assert code == mapping.bus_code("basement") == mapping.bus_code(" basement ")
    assert 0 <= code < mapping.BUS_CODES
    meter = MeterConfig(unit=7, name="Unit 7", bus="Basement")
    energy = mapping.reading_spec(meter, READINGS["energy_delivered"])
    assert energy.instance == code * 100_000 + 7 * 400 + 0 * 16 + 0
    power = mapping.reading_spec(meter, READINGS["power"], point=24)
    assert power.instance == code * 100_000 + 7 * 400 + 24 * 16 + 6
    assert mapping.reset_spec(meter).instance == code * 100_000 + 7 * 400 + 15
    assert mapping.reset_spec(meter).identifier == ("binaryValue", code * 100_000 + 2815)


def test_highest_instance_fits_bacnet() -> None:
    assert (mapping.BUS_CODES - 1) * 100_000 + 247 * 400 + 24 * 16 + 15 <= mapping.MAX_INSTANCE
    with pytest.raises(ValueError, match="outside"):
        mapping.object_instance("x", 248, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        mapping.object_instance("x", 1, 25, 0)


def test_every_possible_object_of_a_full_installation_is_unique() -> None:
    """Every unit id on buses with distinct codes, each meter as large as a Series 8000-24."""
    names = distinct_bus_names(3)
    identifiers: set[int] = set()
    count = 0
    for bus_name in names:
        for unit in range(1, 248):
            for spec in all_specs(MeterConfig(unit=unit, name=f"{bus_name} {unit}", bus=bus_name)):
                identifiers.add(spec.instance)
                count += 1
                assert 0 <= spec.instance <= mapping.MAX_INSTANCE
    assert len(identifiers) == count


def test_instances_do_not_depend_on_config_order() -> None:
    names = distinct_bus_names(3)
    first = config([(names[0], [1, 2, 3]), (names[1], [1, 5]), (names[2], [9])])
    reordered = config([(names[2], [9]), (names[1], [5, 1]), (names[0], [3, 1, 2])])
    shrunk = config([(names[1], [5])])

    def table(cfg: Any) -> dict[tuple[str, int, int, str], tuple[str, int]]:
        return {
            (meter.bus, meter.unit, spec.point, spec.key): spec.identifier
            for meter in cfg.meters
            for spec in all_specs(meter)
        }

    one, two, three = table(first), table(reordered), table(shrunk)
    assert one == two
    assert all(one[key] == value for key, value in three.items())


# -- names and descriptions --------------------------------------------------------------------


def test_names_and_descriptions_say_meter_point_and_quantity() -> None:
    meter = MeterConfig(unit=2, name="Tenant panel", bus="tenant panel")
    panel = meter_of("8000", points=12, program_id=40003)
    specs = {(s.point, s.key): s for s in mapping.meter_objects(meter, panel)}
    power = specs[(3, "power")]
    assert power.name == "Tenant panel point 3 Power"
    assert power.description == (
        "Real power. Meter Tenant panel (bus tenant panel, Modbus unit 2), metering point 3"
    )
    assert specs[(0, "voltage_b")].name == "Tenant panel Voltage phase B"
    assert specs[(0, "program_id")].name == "Tenant panel Program id"
    assert power.keyname == "tenant_panel_u2_p3_power"
    assert power.address == "tenant_panel/u2/p3/power"
    assert len(specs) == 4 + 12 * 6
    s1000 = {
        s.key: s
        for s in mapping.meter_objects(MeterConfig(unit=1, name="A", bus="b"), meter_of("1000"))
    }
    assert set(s1000) == {r.key for r in SERIES_1000_READINGS} | {"reset_peak_demand"}
    assert s1000["reset_peak_demand"].name == "A Reset peak demand"
    assert s1000["reset_peak_demand"].writable
    assert not any(s.writable for k, s in s1000.items() if k != "reset_peak_demand")
    assert s1000["program_id"].description.startswith("The meter's program id (register 45004")
    assert {r.key for r in SERIES_8000_METER_READINGS} | {
        r.key for r in SERIES_8000_POINT_READINGS
    } == {key for _, key in specs}


def test_objects_follow_the_meters_description() -> None:
    """A Series 8000 has the readings its profile maps, a Series 1000/2000 leaves out derived
    power when it is switched off, and no meter has more points than BACnet objects allow."""
    meter = MeterConfig(unit=2, name="P", bus="b")
    profile = parse_profile(
        {
            "name": "two readings",
            "provisional": False,
            "meter": {
                "point_count": {"address": 0, "type": "uint16"},
                "voltage_a": {"address": 1, "type": "uint16", "scale": 0.1},
            },
            "points": {
                "max_count": 8,
                "first_address": 16,
                "stride": 2,
                "registers": {"energy_delivered": {"offset": 0, "type": "uint32", "scale": 0.1}},
            },
        },
        "test profile",
    )
    specs = mapping.meter_objects(meter, meter_of("8000", points=8, profile=profile))
    assert [(s.point, s.key) for s in specs] == [(0, "voltage_a")] + [
        (p, "energy_delivered") for p in range(1, 9)
    ]
    plain = mapping.meter_objects(meter, meter_of("2000", derived_power=False))
    assert [s.key for s in plain] == [
        r.key for r in SERIES_1000_READINGS if r.key not in ("derived_power", "net_power")
    ] + ["reset_peak_demand"]
    with pytest.raises(ValueError, match=r"1\.\.24"):
        mapping.meter_objects(meter, meter_of("8000"), points=25)


def test_objects_before_identification_follow_the_configured_series() -> None:
    config = MeterConfig(unit=1, name="A")
    # series: auto, never answered: nothing to show yet
    assert (
        configured_meter(MockModbusConnection().for_unit(1), unit_id=1, where="test", series="auto")
        is None
    )
    assert mapping.meter_objects(config, None) == []
    # Series 1000/2000: every reading (its program id too) and the reset, from the start
    assert [s.key for s in mapping.meter_objects(config, meter_of("2000"))] == [
        r.key for r in SERIES_1000_READINGS
    ] + ["reset_peak_demand"]
    # Series 8000: its voltages from the start; its points once it says how many, its program
    # id once it gives one
    assert [(s.point, s.key) for s in mapping.meter_objects(config, meter_of("8000"))] == [
        (0, "voltage_a"),
        (0, "voltage_b"),
        (0, "voltage_c"),
    ]
    identified = mapping.meter_objects(config, meter_of("8000", points=12, program_id=7))
    assert len(identified) == 4 + 12 * 6


# -- checks ------------------------------------------------------------------------------------


def test_bus_code_collision_names_both_buses_and_a_free_name() -> None:
    first, second = colliding_bus_names()
    problems = mapping.check_config(config([(first, [1]), (second, [2])]))
    assert len(problems) == 1
    problem = problems[0]
    assert repr(first) in problem
    assert repr(second) in problem
    assert f"bus code {mapping.bus_code(first)}" in problem
    suggestion = problem.split(" to ")[1].split(" (code")[0].strip("'")
    assert mapping.bus_code(suggestion) != mapping.bus_code(first)
    assert mapping.check_config(config([(first, [1]), (suggestion, [2])])) == []
    with pytest.raises(ValueError, match="rename one of them"):
        mapping.raise_for_problems(config([(first, [1]), (second, [2])]))


def test_duplicate_meter_names_are_refused() -> None:
    cfg = unchecked(
        [
            {"name": "a", "connect": "tcp://10.0.0.1:502", "meters": [{"unit": 1, "name": "X"}]},
            {"name": "b", "connect": "tcp://10.0.0.2:502", "meters": [{"unit": 1, "name": "X"}]},
        ]
    )
    assert mapping.bus_code("a") != mapping.bus_code("b")  # so the name is the only clash
    (problem,) = mapping.check_config(cfg)
    assert "both named 'X'" in problem


def test_loading_a_config_reports_bacnet_clashes() -> None:
    """check-config and run refuse a configuration the BACnet device could not serve."""
    first, second = colliding_bus_names()
    with pytest.raises(ConfigError) as caught:
        parse(
            {
                "buses": [
                    {"name": first, "connect": "tcp://10.0.0.1:502", "meters": [{"unit": 1}]},
                    {"name": second, "connect": "tcp://10.0.0.2:502", "meters": [{"unit": 2}]},
                ],
                "bacnet": {"address": "127.0.0.1/32", "device_instance": 1},
            },
            "site.yaml",
        )
    assert caught.value.problems[0].startswith("bacnet: buses ")
    assert "rename one of them" in str(caught.value)


@pytest.mark.parametrize(
    "name", ["a unit 1 Uptime", "a unit 1 Program id", "a unit 1 point 24 Reactive power"]
)
def test_object_name_clash_with_the_device_is_refused(name: str) -> None:
    cfg = config([("a", [1])], device_name=name)
    (problem,) = mapping.check_config(cfg)
    assert f"'{name}'" in problem
    assert "the device itself" in problem


def test_object_name_clash_of_a_point_energy_object_is_refused() -> None:
    # A meter "P" (a Series 8000, say) has "P point 3 Energy delivered"; so has a meter named
    # "P point 3" (a Series 1000/2000). BACnet names must be unique in the device.
    cfg = unchecked(
        [
            {
                "name": "b",
                "connect": "tcp://10.0.0.1:502",
                "meters": [{"unit": 1, "name": "P"}, {"unit": 2, "name": "P point 3"}],
            }
        ]
    )
    problems = mapping.check_config(cfg)
    assert any("'P point 3 Energy delivered'" in problem for problem in problems), problems


# -- EDE rows ---------------------------------------------------------------------------------


def test_ede_document_layout() -> None:
    cfg = config([("basement", [1])], device_name="Bridge; main", description="Line\nbreak")
    assert cfg.bacnet is not None
    meter = cfg.meters[0]
    specs = mapping.meter_objects(meter, meter_of("1000"))
    text, count = ede.ede_document(
        cfg.bacnet, reversed(specs), notes=["a note"], today=date(2025, 1, 2)
    )
    assert count == len(specs) + 1
    lines = text.split("\r\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert lines[:6] == [
        "#Engineering-Data-Exchange - B.I.G.-EU",
        "PROJECT_NAME;Bridge, main",
        "VERSION_OF_REFERENCEFILE;1",
        "TIMESTAMP_OF_LAST_CHANGE;2025-01-02",
        "AUTHOR_OF_LAST_CHANGE;leviton-bridge",
        "VERSION_OF_LAYOUT;2.3",
    ]
    assert lines[6] == "# a note"
    assert lines[8].startswith("# keyname;device obj.-instance;object-name;object-type")
    rows = [line.split(";") for line in lines[9:]]
    assert all(len(row) == 16 for row in rows)
    assert rows[0][:6] == ["device", "59001", "Bridge, main", "8", "59001", "Line break"]
    instances = [int(row[4]) for row in rows[1:]]
    assert instances == sorted(instances)
    by_key = {row[0]: row for row in rows}
    energy = by_key[f"{meter.meter_id}_energy_delivered"]
    assert energy[2:5] == [
        "basement unit 1 Energy delivered",
        str(int(ObjectType("largeAnalogValue"))),
        str(mapping.object_instance("basement", 1, 0, 0)),
    ]
    assert energy[9:11] == ["N", "Y"]
    assert energy[14] == str(int(EngineeringUnits("kilowattHours")))
    assert energy[15] == f"{slug('basement')}/u1/p0/energy_delivered"
    reset = by_key[f"{meter.meter_id}_reset_peak_demand"]
    assert reset[3] == str(int(ObjectType("binaryValue")))
    assert reset[6] == "0"
    assert reset[9] == "Y"
    assert reset[14] == ""

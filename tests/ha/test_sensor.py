"""Sensors and devices: states with units and classes, unavailability, restored totals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import voluptuous as vol
from homeassistant import block_async_io
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy import validate as energy_validate
from homeassistant.components.sensor import (
    ATTR_STATE_CLASS,
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    MAJOR_VERSION,
    MINOR_VERSION,
    STATE_UNAVAILABLE,
    EntityCategory,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import mock_restore_cache_with_extra_data

from custom_components.leviton_meters.const import (
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.leviton_meters.driver.catalogue import READINGS
from custom_components.leviton_meters.driver.profile import DEFAULT_PROFILE_PATH
from tests.support.simulator_process import SimulatorProcess

from .conftest import StartSim, enable_disabled_entities, make_entry, next_poll, setup_entry


def _value(hass: HomeAssistant, entity_id: str) -> float:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return float(state.state)


@pytest.mark.parametrize(
    ("key", "device_class", "state_class", "unit", "category"),
    [
        (
            "energy_delivered",
            SensorDeviceClass.ENERGY,
            SensorStateClass.TOTAL_INCREASING,
            "kWh",
            None,
        ),
        (
            "energy_received",
            SensorDeviceClass.ENERGY,
            SensorStateClass.TOTAL_INCREASING,
            "kWh",
            None,
        ),
        ("peak_demand", SensorDeviceClass.POWER, SensorStateClass.MEASUREMENT, "kW", None),
        ("average_power", SensorDeviceClass.POWER, SensorStateClass.MEASUREMENT, "kW", None),
        ("net_grid_power", SensorDeviceClass.POWER, SensorStateClass.MEASUREMENT, "W", None),
        (
            "demand_reset_count",
            None,
            SensorStateClass.TOTAL_INCREASING,
            None,
            EntityCategory.DIAGNOSTIC,
        ),
        (
            "uptime",
            SensorDeviceClass.DURATION,
            SensorStateClass.TOTAL_INCREASING,
            "s",
            EntityCategory.DIAGNOSTIC,
        ),
    ],
)
async def test_series_2000_sensor_classes(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    entity_registry: er.EntityRegistry,
    key: str,
    device_class: SensorDeviceClass | None,
    state_class: SensorStateClass,
    unit: str | None,
    category: EntityCategory | None,
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    entity_id = f"sensor.meter_1_{key}"
    if category is EntityCategory.DIAGNOSTIC:
        # Diagnostics are created disabled: no state until a user enables them.
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(entity_id) is None
        assert entity_id in await enable_disabled_entities(hass, entry)
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.attributes.get(ATTR_DEVICE_CLASS) == device_class
    assert state.attributes.get(ATTR_STATE_CLASS) == state_class
    assert state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == unit
    registered = entity_registry.async_get(entity_id)
    assert registered is not None
    assert registered.entity_category == category
    assert registered.config_entry_id == entry.entry_id
    reading = {"average_power": "derived_power", "net_grid_power": "net_power"}.get(key, key)
    assert registered.unique_id == f"s1000_40001_meter_{reading}"
    assert registered.translation_key == reading


async def test_series_2000_values(hass: HomeAssistant, simulator: SimulatorProcess) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    await enable_disabled_entities(hass, entry)
    assert _value(hass, "sensor.meter_1_energy_delivered") == pytest.approx(5000.0, abs=0.2)
    assert _value(hass, "sensor.meter_1_energy_received") == 0.0
    assert _value(hass, "sensor.meter_1_peak_demand") == 9.5
    assert _value(hass, "sensor.meter_1_demand_reset_count") == 3
    assert 0 <= _value(hass, "sensor.meter_1_uptime") < 60
    # Power needs two steps of the 0.1 kWh total: unknown right after start.
    for power in ("sensor.meter_1_average_power", "sensor.meter_1_net_grid_power"):
        state = hass.states.get(power)
        assert state is not None
        assert state.state == "unknown", power


async def test_series_1000_2000_device(
    hass: HomeAssistant, simulator: SimulatorProcess, device_registry: dr.DeviceRegistry
) -> None:
    entry = await make_entry(simulator, 1, title="Main panel")
    await setup_entry(hass, entry)
    await enable_disabled_entities(hass, entry)
    device = device_registry.async_get_device(identifiers={(DOMAIN, "s1000_40001")})
    assert device is not None
    assert device.manufacturer == "Leviton"
    assert device.model == "Series 2000"
    assert device.model_id == "2N208-021"
    assert device.hw_version == "3.2"
    assert device.sw_version == "3.2"
    # The program id is not the label's serial number (Leviton only correlates the two): it is
    # its own diagnostic sensor, and the device has no serial number.
    assert device.serial_number is None
    assert _value(hass, "sensor.main_panel_program_id") == 40001
    assert device.name == "Main panel"
    assert device.config_entries == {entry.entry_id}
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert len(devices) == 1

    await setup_entry(hass, await make_entry(simulator, 2))
    device = device_registry.async_get_device(identifiers={(DOMAIN, "s1000_40002")})
    assert device is not None
    assert device.model == "Series 1000"
    assert device.model_id == "1N240-01D"


async def test_series_8000_points_are_devices(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = await make_entry(simulator, 3, title="Tower")
    await setup_entry(hass, entry)
    assert await enable_disabled_entities(hass, entry) == ["sensor.tower_program_id"]
    meter = device_registry.async_get_device(identifiers={(DOMAIN, "s8000_40003")})
    assert meter is not None
    assert meter.model == "Series 8000 (provisional register map)"
    assert meter.model_id == "S8UTS-083"
    assert meter.serial_number is None
    assert _value(hass, "sensor.tower_program_id") == 40003  # from the 0x11 answer
    assert meter.name == "Tower"
    points = [
        device
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
        if device.id != meter.id
    ]
    assert sorted(device.name or "" for device in points) == [
        f"Tower point {n}" for n in range(1, 9)
    ]
    for device in points:
        assert device.via_device_id == meter.id
        assert device.manufacturer == "Leviton"
        assert device.model == "Series 8000 metering point (provisional register map)"

    point_loads = (await simulator.meter(3))["point_loads"]
    for point in (1, 8):
        assert _value(hass, f"sensor.tower_point_{point}_power") == pytest.approx(
            point_loads[str(point)] * 1000, abs=1
        )
        energy = hass.states.get(f"sensor.tower_point_{point}_energy_delivered")
        assert energy is not None
        assert energy.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ENERGY
        assert energy.attributes[ATTR_STATE_CLASS] == SensorStateClass.TOTAL_INCREASING
        assert energy.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kWh"
        reactive = hass.states.get(f"sensor.tower_point_{point}_reactive_energy_delivered")
        assert reactive is not None
        assert reactive.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kvarh"
        assert reactive.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.REACTIVE_ENERGY
        assert reactive.attributes[ATTR_STATE_CLASS] == SensorStateClass.TOTAL_INCREASING
        var = hass.states.get(f"sensor.tower_point_{point}_reactive_power")
        assert var is not None
        assert var.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.REACTIVE_POWER
        assert var.attributes[ATTR_UNIT_OF_MEASUREMENT] == "var"
    voltage = hass.states.get("sensor.tower_voltage_phase_a")
    assert voltage is not None
    assert float(voltage.state) == pytest.approx(120.1)
    assert voltage.attributes[ATTR_UNIT_OF_MEASUREMENT] == "V"
    assert voltage.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.VOLTAGE
    # 3 voltages, the program id and 6 readings for each of the 8 points; no button (no
    # documented reset).
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert len(entities) == 4 + 8 * 6
    assert all(entity.domain == "sensor" for entity in entities)
    registered = entity_registry.async_get("sensor.tower_point_1_power")
    assert registered is not None
    assert registered.unique_id == "s8000_40003_point_1_power"


async def test_unavailable_while_silent_and_back_after(
    hass: HomeAssistant, simulator: SimulatorProcess, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_entry(hass, await make_entry(simulator, 1, link_timeout=0.2))
    entity = "sensor.meter_1_peak_demand"
    assert _value(hass, entity) == 9.5
    caplog.set_level(logging.INFO, logger="custom_components.leviton_meters")
    caplog.clear()

    await simulator.faults(timeout=1.0)
    # One lost frame is not an outage: the first failed polls keep the last values...
    for _ in range(DEFAULT_UNAVAILABLE_AFTER - 1):
        await next_poll(hass)
        assert _value(hass, entity) == 9.5
    assert [r for r in caplog.records if "Error fetching" in r.getMessage()] == []
    # ... and the third in a row makes the sensors unavailable, until the meter answers.
    for _ in range(3):
        await next_poll(hass)
        state = hass.states.get(entity)
        assert state is not None
        assert state.state == STATE_UNAVAILABLE
    gone = [r for r in caplog.records if "Error fetching" in r.getMessage()]
    assert len(gone) == 1
    assert gone[0].levelno == logging.ERROR
    assert "Meter 1 (unit 1)" in gone[0].getMessage()
    assert "The meter does not answer: unit 1 on tcp://127.0.0.1" in gone[0].getMessage()

    await simulator.faults()
    for _ in range(2):
        await next_poll(hass)
    assert _value(hass, entity) == 9.5
    back = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(back) == 1
    assert back[0].getMessage() == "Fetching Meter 1 (unit 1) data recovered"
    assert len([r for r in caplog.records if "Error fetching" in r.getMessage()]) == 1


async def test_totals_never_go_backwards(hass: HomeAssistant, simulator: SimulatorProcess) -> None:
    await setup_entry(hass, await make_entry(simulator, 1))
    entity = "sensor.meter_1_energy_delivered"
    before = _value(hass, entity)
    await simulator.set(1, energy=100.0)  # the meter suddenly reads far lower (a glitch)
    await next_poll(hass)
    assert _value(hass, entity) == before
    await simulator.set(1, energy=9000.0)  # 4000 kWh more within a minute: beyond any rating
    await next_poll(hass)
    assert _value(hass, entity) == before
    await simulator.set(1, energy=5000.0)
    await next_poll(hass)
    assert before <= _value(hass, entity) < before + 0.3


async def test_restored_totals_are_kept(hass: HomeAssistant, simulator: SimulatorProcess) -> None:
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State("sensor.meter_1_energy_delivered", "6000.0"),
                {"native_value": 6000.0, "native_unit_of_measurement": "kWh"},
            ),
            (
                State("sensor.meter_1_energy_received", "0.0"),
                {"native_value": 0.0, "native_unit_of_measurement": "kWh"},
            ),
            (
                State("sensor.meter_1_peak_demand", "42.0"),
                {"native_value": 42.0, "native_unit_of_measurement": "kW"},
            ),
            (
                State("sensor.meter_3_point_1_energy_delivered", "99999.0"),
                {"native_value": 99999.0, "native_unit_of_measurement": "kWh"},
            ),
            (
                State("sensor.meter_3_point_2_energy_delivered", "1.0"),
                {"native_value": 1.0, "native_unit_of_measurement": "kWh"},
            ),
            (
                State("sensor.meter_3_point_3_energy_delivered", "unknown"),
                {"native_value": None, "native_unit_of_measurement": "kWh"},
            ),
        ],
    )
    await setup_entry(hass, await make_entry(simulator, 1))
    await setup_entry(hass, await make_entry(simulator, 3))
    # The meter reads about 5000 kWh; what was shown before the restart was higher.
    assert _value(hass, "sensor.meter_1_energy_delivered") == 6000.0
    assert _value(hass, "sensor.meter_1_peak_demand") == 9.5  # not a total: the meter's value
    assert _value(hass, "sensor.meter_3_point_1_energy_delivered") == 99999.0
    point_2 = _value(hass, "sensor.meter_3_point_2_energy_delivered")
    assert point_2 > 1.0  # the meter's higher value wins
    assert _value(hass, "sensor.meter_3_point_3_energy_delivered") > 0
    await next_poll(hass)
    assert _value(hass, "sensor.meter_1_energy_delivered") == 6000.0
    assert _value(hass, "sensor.meter_3_point_1_energy_delivered") == 99999.0
    assert _value(hass, "sensor.meter_3_point_2_energy_delivered") >= point_2
    meter = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.meter
    assert meter.guards["energy_delivered"].last == 6000.0
    assert meter.suppressed >= 1


async def test_series_8000_sensors_follow_the_profile(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    entity_registry: er.EntityRegistry,
    tmp_path: Path,
) -> None:
    """A profile that maps fewer readings gets fewer sensors, not ones that stay unknown."""
    text = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8")
    kept = [
        line
        for line in text.splitlines()
        if not line.strip().startswith(("voltage_b:", "voltage_c:", "reactive_energy_received:"))
    ]
    assert len(kept) == len(text.splitlines()) - 3
    profile = tmp_path / "site.yaml"
    profile.write_text("\n".join(kept) + "\n", encoding="utf-8")
    entry = await make_entry(simulator, 3, profile=str(profile))
    await setup_entry(hass, entry)
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert len(entities) == 2 + 8 * 5  # voltage A and the program id; 5 readings a point
    assert hass.states.get("sensor.meter_3_voltage_phase_a") is not None
    assert hass.states.get("sensor.meter_3_voltage_phase_b") is None
    assert hass.states.get("sensor.meter_3_point_1_reactive_energy_received") is None
    assert _value(hass, "sensor.meter_3_point_1_reactive_energy_delivered") > 0


async def test_status_is_read_again_when_the_meter_restarted(
    hass: HomeAssistant, start_sim: StartSim
) -> None:
    """After a meter was silent (a power cut), its uptime and reset counter are read again at
    once, not counted forward for up to ten minutes."""
    sim = await start_sim("1:2000:uptime=86400:resets=3")
    entry = await make_entry(sim, 1, link_timeout=0.2)
    await setup_entry(hass, entry)
    await enable_disabled_entities(hass, entry)
    assert _value(hass, "sensor.meter_1_uptime") >= 86400
    await sim.silence(1)
    await next_poll(hass)
    assert _value(hass, "sensor.meter_1_uptime") >= 86400  # one failed poll: values kept
    await sim.restart(1)
    await sim.unsilence(1)
    await next_poll(hass)
    assert _value(hass, "sensor.meter_1_uptime") < 3600


async def test_a_reset_at_the_meter_shows_at_the_next_poll(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    """Someone resets peak demand with the meter's own button: peak demand drops, and the
    reset counter is read again at once rather than up to ten minutes later."""
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    await enable_disabled_entities(hass, entry)
    assert _value(hass, "sensor.meter_1_demand_reset_count") == 3
    await simulator.press_reset(1)
    await next_poll(hass)
    assert _value(hass, "sensor.meter_1_peak_demand") == 0.0
    assert _value(hass, "sensor.meter_1_demand_reset_count") == 4


async def test_series_8000_setup_reads_no_file_in_the_event_loop(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    caplog: pytest.LogCaptureFixture,
    disable_block_async_io: None,  # undoes what block_async_io.enable() patches
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The register profile is read in a worker thread: no "Detected blocking call" on start,
    with Home Assistant's loop protection on as a real installation has it (including the
    checks it leaves out under pytest, where they would trip on the tests' own files)."""
    monkeypatch.setattr(block_async_io, "_IN_TESTS", False, raising=False)
    block_async_io.enable()
    caplog.set_level(logging.WARNING)
    entry = await make_entry(simulator, 3)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    blocking = [r.getMessage() for r in caplog.records if "blocking call" in r.getMessage()]
    assert blocking == []


async def test_unavailable_after_is_an_option(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    """``unavailable_after: 1``: the sensors show unavailable at the first failed poll."""
    await setup_entry(
        hass, await make_entry(simulator, 1, link_timeout=0.2, **{CONF_UNAVAILABLE_AFTER: 1})
    )
    assert _value(hass, "sensor.meter_1_peak_demand") == 9.5
    await simulator.faults(timeout=1.0)
    await next_poll(hass)
    state = hass.states.get("sensor.meter_1_peak_demand")
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_net_grid_power_follows_the_energy_steps(
    hass: HomeAssistant, start_sim: StartSim
) -> None:
    """Net grid power (W, positive for import) comes from the steps of the energy totals:
    unknown until two steps, then positive for energy drawn from the grid, and equal to the
    average power when nothing is exported (received stands still). Export (negative) is
    covered on the driver (tests/driver/test_net_power.py): the simulator's received total
    does not move."""
    sim = await start_sim("1:2000:model=2N208-021:load=0:energy=5000")  # load 0: totals still
    await setup_entry(hass, await make_entry(sim, 1))
    net, average = "sensor.meter_1_net_grid_power", "sensor.meter_1_average_power"
    state = hass.states.get(net)
    assert state is not None
    assert state.state == "unknown"
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "W"
    for energy in (5000.1, 5000.2):
        await sim.set(1, energy=energy)
        await next_poll(hass)
    assert _value(hass, net) > 0
    assert _value(hass, net) == pytest.approx(_value(hass, average) * 1000, abs=1)


def test_net_grid_power_fits_the_energy_dashboards_grid_power() -> None:
    """The README: releases whose Energy settings take a grid power sensor (2026.2 does, 2025.9
    does not) take Net grid power as it is, one sensor with the standard sign (positive from
    the grid): a power sensor in W, which their energy validation accepts."""
    grid = {
        "type": "grid",
        "flow_from": [],
        "flow_to": [],
        "cost_adjustment_day": 0,
        "power": [{"stat_rate": "sensor.meter_1_net_grid_power"}],
    }
    if (MAJOR_VERSION, MINOR_VERSION) >= (2026, 2):
        assert energy_data.GRID_SOURCE_SCHEMA(grid)["power"] == grid["power"]
        reading = READINGS["net_power"]
        assert reading.device_class in energy_validate.POWER_USAGE_DEVICE_CLASSES
        assert reading.unit in energy_validate.POWER_USAGE_UNITS[SensorDeviceClass.POWER]
        assert reading.state_class == SensorStateClass.MEASUREMENT  # what it validates
    else:
        with pytest.raises(vol.Invalid, match="extra keys not allowed"):
            energy_data.GRID_SOURCE_SCHEMA(grid)

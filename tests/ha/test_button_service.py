"""The peak-demand reset: the button, the service, and the service's errors."""

from __future__ import annotations

import pytest
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.components.button import SERVICE_PRESS
from homeassistant.const import ATTR_DEVICE_ID, ATTR_ENTITY_ID, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service import async_get_all_descriptions
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.leviton_meters.const import DOMAIN, SERVICE_RESET_PEAK_DEMAND
from tests.support.simulator_process import SimulatorProcess

from .conftest import assert_renders, enable_disabled_entities, make_entry, setup_entry


def _value(hass: HomeAssistant, entity_id: str) -> float:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return float(state.state)


def _device(device_registry: dr.DeviceRegistry, identifier: str) -> str:
    device = device_registry.async_get_device(identifiers={(DOMAIN, identifier)})
    assert device is not None, identifier
    return device.id


async def test_button_resets_peak_demand(
    hass: HomeAssistant, simulator: SimulatorProcess, entity_registry: er.EntityRegistry
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    await enable_disabled_entities(hass, entry)  # the reset count is a diagnostic
    button = "button.meter_1_reset_peak_demand"
    registered = entity_registry.async_get(button)
    assert registered is not None
    assert registered.entity_category == EntityCategory.CONFIG
    assert registered.unique_id == "s1000_40001_meter_reset_peak_demand"
    assert _value(hass, "sensor.meter_1_peak_demand") == 9.5
    assert _value(hass, "sensor.meter_1_demand_reset_count") == 3

    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: button}, blocking=True
    )
    meter = await simulator.meter(1)
    assert meter["peak_demand"] < 0.005  # rebuilding from zero: below the 0.01 kW step
    assert meter["reset_count"] == 4
    # Published at once, without waiting for the next poll.
    assert _value(hass, "sensor.meter_1_peak_demand") == 0.0
    assert _value(hass, "sensor.meter_1_demand_reset_count") == 4
    state = hass.states.get(button)
    assert state is not None
    assert state.state != "unknown"  # the time of the last press


async def test_no_button_on_a_series_8000(hass: HomeAssistant, simulator: SimulatorProcess) -> None:
    await setup_entry(hass, await make_entry(simulator, 3))
    assert hass.states.get("button.meter_3_reset_peak_demand") is None
    assert hass.states.async_entity_ids(BUTTON_DOMAIN) == []


async def test_service_resets_the_devices_meters(
    hass: HomeAssistant, simulator: SimulatorProcess, device_registry: dr.DeviceRegistry
) -> None:
    await setup_entry(hass, await make_entry(simulator, 1))
    second_entry = await make_entry(simulator, 2)
    await setup_entry(hass, second_entry)
    await enable_disabled_entities(hass, second_entry)  # the reset count is a diagnostic
    assert hass.services.has_service(DOMAIN, SERVICE_RESET_PEAK_DEMAND)
    first, second = _device(device_registry, "s1000_40001"), _device(device_registry, "s1000_40002")
    await hass.services.async_call(
        DOMAIN, SERVICE_RESET_PEAK_DEMAND, target={ATTR_DEVICE_ID: [first, second]}, blocking=True
    )
    assert (await simulator.meter(1))["reset_count"] == 4
    assert (await simulator.meter(2))["reset_count"] == 1
    assert _value(hass, "sensor.meter_1_peak_demand") == 0.0
    assert _value(hass, "sensor.meter_2_peak_demand") == 0.0
    assert _value(hass, "sensor.meter_2_demand_reset_count") == 1

    # One device id as a plain string works too, and only that meter is reset.
    await hass.services.async_call(
        DOMAIN, SERVICE_RESET_PEAK_DEMAND, {ATTR_DEVICE_ID: second}, blocking=True
    )
    assert (await simulator.meter(1))["reset_count"] == 4
    assert (await simulator.meter(2))["reset_count"] == 2


async def test_service_errors(
    hass: HomeAssistant, simulator: SimulatorProcess, device_registry: dr.DeviceRegistry
) -> None:
    series_2000 = await make_entry(simulator, 1)
    await setup_entry(hass, series_2000)
    await setup_entry(hass, await make_entry(simulator, 3, title="Tower"))

    async def call(device_id: str) -> None:
        await hass.services.async_call(
            DOMAIN, SERVICE_RESET_PEAK_DEMAND, {ATTR_DEVICE_ID: device_id}, blocking=True
        )

    with pytest.raises(ServiceValidationError) as caught:
        await call("no-such-device")
    assert caught.value.translation_key == "not_a_meter"
    # Home Assistant drops the full stop of a translated exception message.
    assert str(caught.value) == "Device no-such-device is not a Leviton meter"

    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    lamp = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "lamp")}
    )
    with pytest.raises(ServiceValidationError) as caught:
        await call(lamp.id)
    assert caught.value.translation_key == "not_a_meter"

    for identifier in ("s8000_40003", "s8000_40003_point_2"):
        with pytest.raises(ServiceValidationError) as caught:
            await call(_device(device_registry, identifier))
        assert caught.value.translation_key == "no_demand_reset"
        assert str(caught.value) == (
            "Tower is a Series 8000, which has no documented peak-demand reset"
        )

    meter_1 = _device(device_registry, "s1000_40001")
    await simulator.faults(exception=1.0)  # the meter refuses everything
    with pytest.raises(HomeAssistantError) as failed:
        await call(meter_1)
    assert failed.value.translation_key == "reset_failed"
    message = str(failed.value)
    assert message.startswith("Resetting the peak demand of Meter 1 failed: unit 1 on tcp://")
    assert "exception 04 (server device failure)" in message
    placeholders = failed.value.translation_placeholders
    assert placeholders is not None
    assert assert_renders("exceptions.reset_failed.message", placeholders).rstrip(".") == message
    assert (await simulator.meter(1))["reset_count"] == 3

    # A pressed button reports the same error.
    with pytest.raises(HomeAssistantError) as failed:
        await hass.services.async_call(
            BUTTON_DOMAIN,
            SERVICE_PRESS,
            {ATTR_ENTITY_ID: "button.meter_1_reset_peak_demand"},
            blocking=True,
        )
    assert failed.value.translation_key == "reset_failed"
    await simulator.faults()

    assert await hass.config_entries.async_unload(series_2000.entry_id)
    with pytest.raises(ServiceValidationError) as caught:
        await call(meter_1)
    assert caught.value.translation_key == "not_loaded"
    assert str(caught.value) == "Meter 1 is not loaded"


async def test_reset_action_offers_only_meters_that_can_reset(
    hass: HomeAssistant, simulator: SimulatorProcess, device_registry: dr.DeviceRegistry
) -> None:
    """The action's device picker offers the meters with a peak-demand reset, by the model
    the driver gives them, and not a Series 8000 or its metering points."""
    entries = [await make_entry(simulator, unit) for unit in (1, 2, 3)]
    for entry in entries:
        await setup_entry(hass, entry)
    descriptions = await async_get_all_descriptions(hass)
    filters = descriptions[DOMAIN][SERVICE_RESET_PEAK_DEMAND]["target"]["device"]
    assert {f["integration"] for f in filters} == {DOMAIN}
    offered = {f["model"] for f in filters}
    for entry in entries:
        can_reset = entry.runtime_data.meter.can_reset_demand
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
            assert (device.model in offered) is (can_reset and device.via_device_id is None), (
                device.name,
                device.model,
            )
    # A Series 1000/2000 whose model number is unknown is offered too.
    assert "Series 1000/2000" in offered

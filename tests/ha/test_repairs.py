"""Repairs: a meter unreachable for over an hour, and a meter swapped for another."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import DOMAIN as REPAIRS_DOMAIN
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.components.repairs.issue_handler import async_process_repairs_platforms
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.leviton_meters.const import DEFAULT_UNAVAILABLE_AFTER, DOMAIN
from tests.support.simulator_process import SimulatorProcess

from .conftest import (
    assert_renders,
    enable_disabled_entities,
    make_entry,
    next_poll,
    setup_entry,
)


def _state(hass: HomeAssistant, entity_id: str = "sensor.meter_1_peak_demand") -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _assert_issue_translated(issue: ir.IssueEntry) -> None:
    assert issue.translation_key is not None
    assert_renders(f"issues.{issue.translation_key}.title", issue.translation_placeholders)
    if issue.is_fixable:
        assert_renders(
            f"issues.{issue.translation_key}.fix_flow.step.confirm.description",
            issue.translation_placeholders,
        )
    else:
        assert_renders(
            f"issues.{issue.translation_key}.description", issue.translation_placeholders
        )


async def _fix(hass: HomeAssistant, issue_id: str) -> dict[str, Any]:
    """Run an issue's fix flow as the Repairs dashboard does; returns the confirm form."""
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    await async_process_repairs_platforms(hass)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    form = dict(result)
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    return form


@pytest.mark.freeze_time(tick=True)
async def test_unreachable_for_over_an_hour(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = await make_entry(simulator, 1, link_timeout=0.2)
    await setup_entry(hass, entry)
    issue_id = f"unreachable_{entry.entry_id}"
    await simulator.faults(timeout=1.0)
    for _ in range(DEFAULT_UNAVAILABLE_AFTER):
        await next_poll(hass)
    assert _state(hass) == STATE_UNAVAILABLE
    freezer.tick(timedelta(minutes=50))
    await next_poll(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None  # not yet an hour

    freezer.tick(timedelta(minutes=11))
    await next_poll(hass)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert not issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == "Meter 1"
    assert issue.translation_placeholders["hours"] == "1"
    assert issue.translation_placeholders["where"].startswith("unit 1 on tcp://127.0.0.1:")
    _assert_issue_translated(issue)

    await simulator.faults()
    await next_poll(hass)
    assert _state(hass) == "9.5"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    # A new outage starts its hour afresh.
    await simulator.faults(timeout=1.0)
    await next_poll(hass)
    freezer.tick(timedelta(minutes=30))
    await next_poll(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    freezer.tick(timedelta(minutes=31))
    await next_poll(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    # Unloading the entry takes the notice away (it is noticed afresh once loaded again).
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_swapped_meter_at_setup_is_fixed_in_repairs(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    issue_registry: ir.IssueRegistry,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    # The entry was made for the meter with program id 12345; program 40001 answers now.
    entry = await make_entry(simulator, 1, unique_id="s1000_12345")
    entry.add_to_hass(hass)
    old = device_registry.async_get_or_create(  # from when the old meter was read
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "s1000_12345")}, name="Meter 1"
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason == (
        "Meter 1 now answers as another meter (program id 12345 became 40001); readings are "
        "paused until you confirm the new meter in Repairs"
    )
    issue_id = f"identity_changed_{entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {
        "name": "Meter 1",
        "before": "12345",
        "after": "40001",
    }
    assert issue.data == {"entry_id": entry.entry_id, "unique_id": "s1000_40001"}
    _assert_issue_translated(issue)
    assert hass.states.get("sensor.meter_1_energy_delivered") is None

    form = await _fix(hass, issue_id)
    assert form["description_placeholders"] == issue.translation_placeholders
    assert entry.unique_id == "s1000_40001"
    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    device = device_registry.async_get_device(identifiers={(DOMAIN, "s1000_40001")})
    assert device is not None
    assert device.serial_number is None  # the program id is a diagnostic sensor
    assert float(_state(hass, "sensor.meter_1_peak_demand")) == 9.5

    # The replaced meter's device stays for its history until the user deletes it; the
    # current meter's device cannot be deleted while the entry reads it.
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    for message_id, (target, allowed) in enumerate(((device, False), (old, True)), start=1):
        await client.send_json(
            {
                "id": message_id,
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": entry.entry_id,
                "device_id": target.id,
            }
        )
        response = await client.receive_json()
        assert response["success"] is allowed
    assert device_registry.async_get_device(identifiers={(DOMAIN, "s1000_12345")}) is None
    assert device_registry.async_get_device(identifiers={(DOMAIN, "s1000_40001")}) is not None


async def test_fix_flow_for_an_entry_that_is_gone(
    hass: HomeAssistant, simulator: SimulatorProcess, issue_registry: ir.IssueRegistry
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        "identity_changed_gone",
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="identity_changed",
        translation_placeholders={"name": "Old", "before": "1", "after": "2"},
        data={"entry_id": "gone", "unique_id": "s1000_2"},
    )
    await _fix(hass, "identity_changed_gone")
    assert issue_registry.async_get_issue(DOMAIN, "identity_changed_gone") is None


@pytest.mark.freeze_time(tick=True)
async def test_swapped_meter_noticed_while_running(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    issue_id = f"identity_changed_{entry.entry_id}"
    await simulator.set(1, program_id=777)  # another meter now answers at unit 1
    await next_poll(hass)
    assert _state(hass) == "9.5"  # the identity is read back hourly, not at every poll

    freezer.tick(timedelta(hours=1, minutes=1))
    await next_poll(hass)
    assert _state(hass) == STATE_UNAVAILABLE
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"name": "Meter 1", "before": "40001", "after": "777"}
    assert issue.data == {"entry_id": entry.entry_id, "unique_id": "s1000_777"}
    # It stays paused at the following polls: the other meter's totals never mix in.
    await next_poll(hass)
    assert _state(hass) == STATE_UNAVAILABLE
    await next_poll(hass)
    assert _state(hass) == STATE_UNAVAILABLE

    # The original meter is back at unit 1: readings resume and the issue goes.
    await simulator.set(1, program_id=40001)
    await next_poll(hass)
    assert _state(hass) == "9.5"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    # Swapped again, and this time the user accepts the new meter.
    await simulator.set(1, program_id=777)
    freezer.tick(timedelta(hours=1, minutes=1))
    await next_poll(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await _fix(hass, issue_id)
    assert entry.unique_id == "s1000_777"
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.last_update_success
    device = device_registry.async_get_device(identifiers={(DOMAIN, "s1000_777")})
    assert device is not None
    await enable_disabled_entities(hass, entry)  # the program id is a diagnostic
    program_ids = [
        state.state
        for state in hass.states.async_all("sensor")
        if state.entity_id.endswith("program_id") and state.state not in ("unavailable", "unknown")
    ]
    assert program_ids == ["777"]  # the accepted meter's
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

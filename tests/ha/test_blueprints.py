"""The automation blueprints in blueprints/automation/leviton_meters: each is loaded the way
Home Assistant loads an imported blueprint (from the configuration's blueprints folder, through
an automation that uses it), and run against a simulated meter over real Modbus."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.blueprint import BLUEPRINT_SCHEMA, Blueprint
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.leviton_meters.const import CONF_UNAVAILABLE_AFTER, DOMAIN
from tests.support.simulator_process import SimulatorProcess

from .conftest import make_entry, next_poll, setup_entry

REPOSITORY = Path(__file__).parents[2]
BLUEPRINTS = REPOSITORY / "blueprints" / "automation" / DOMAIN
README = REPOSITORY / "README.md"
#: Where the repository lives (the manifest's documentation URL, without its anchor).
HOME = "https://github.com/leviton-meters/leviton-meters"
#: My Home Assistant's import redirect: the button that imports a blueprint by its URL.
IMPORT_LINK = "https://my.home-assistant.io/redirect/blueprint_import/"


@pytest.fixture(autouse=True)
async def _blueprints_installed(hass: HomeAssistant, tmp_path: Path) -> None:
    """The blueprints where an import puts them: <config>/blueprints/automation/<author>/;
    and persistent notifications, which Home Assistant always loads at start."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / DOMAIN)
    assert await async_setup_component(hass, "persistent_notification", {})


async def _automation(hass: HomeAssistant, blueprint: str, inputs: dict[str, Any]) -> str:
    """An automation that uses ``blueprint`` with ``inputs``; its entity id (on)."""
    config = {
        "id": blueprint,
        "alias": blueprint,
        "use_blueprint": {"path": f"{DOMAIN}/{blueprint}.yaml", "input": inputs},
    }
    assert await async_setup_component(hass, "automation", {"automation": [config]})
    await hass.async_block_till_done()
    entity_id = f"automation.{blueprint}"
    state = hass.states.get(entity_id)
    assert state is not None, f"{blueprint} did not load"
    assert state.state == "on"
    return entity_id


async def _notifications(hass: HomeAssistant, hass_ws_client: WebSocketGenerator) -> list[Any]:
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    answer = await client.receive_json()
    assert answer["success"], answer
    return list(answer["result"])


def _device(hass: HomeAssistant, identifier: str) -> str:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, identifier)})
    assert device is not None
    return device.id


# -- what every blueprint is ------------------------------------------------------------------


def test_there_are_the_three_blueprints() -> None:
    assert sorted(path.name for path in BLUEPRINTS.glob("*.yaml")) == [
        "meter_swapped.yaml",
        "meter_unavailable.yaml",
        "reset_peak_demand_on_billing_day.yaml",
    ]


@pytest.mark.parametrize("path", sorted(BLUEPRINTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_blueprint_is_valid_and_says_where_it_comes_from(path: Path) -> None:
    data = load_yaml_dict(str(path))
    blueprint = Blueprint(data, expected_domain="automation", schema=BLUEPRINT_SCHEMA)
    metadata = blueprint.metadata
    assert metadata["source_url"] == f"{HOME}/blob/main/{path.relative_to(REPOSITORY)}"
    assert metadata["homeassistant"]["min_version"] == "2025.9.0"  # hacs.json's floor
    for name, spec in metadata["input"].items():
        assert spec.get("name"), name
        assert spec.get("description"), name


@pytest.mark.parametrize("path", sorted(BLUEPRINTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_readme_has_an_import_button_for_each(path: Path) -> None:
    """docs-examples: the README offers each blueprint with My Home Assistant's import link,
    whose URL is the blueprint's own source_url."""
    readme = README.read_text(encoding="utf-8")
    source = load_yaml_dict(str(path))
    links = [
        parse_qs(urlparse(word).query)
        for word in readme.replace("(", " ").replace(")", " ").split()
        if word.startswith(IMPORT_LINK)
    ]
    assert {"blueprint_url": [source["blueprint"]["source_url"]]} in links, path.name


# -- reset peak demand on the billing day ----------------------------------------------------


def _local(*when: int) -> datetime:
    return datetime(*when, tzinfo=dt_util.get_default_time_zone())


@pytest.mark.freeze_time(tick=True)
async def test_reset_on_the_billing_day(
    hass: HomeAssistant, simulator: SimulatorProcess, freezer: FrozenDateTimeFactory
) -> None:
    """Billing day 31: in February the reset falls on the 28th, in March on the 31st; on no
    other day. Each reset is the meter's own (its counter counts it)."""
    freezer.move_to(_local(2026, 2, 27, 0, 0, 0))
    await setup_entry(hass, await make_entry(simulator, 1))
    await _automation(
        hass,
        "reset_peak_demand_on_billing_day",
        {"meters": [_device(hass, "s1000_40001")], "billing_day": 31, "reset_time": "00:00:05"},
    )
    counts = []
    for day in ((2026, 2, 27), (2026, 2, 28), (2026, 3, 28), (2026, 3, 31)):
        freezer.move_to(_local(*day, 0, 0, 5))
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done(wait_background_tasks=True)
        counts.append((await simulator.meter(1))["reset_count"])
    assert counts == [3, 4, 4, 5]


# -- a meter unavailable for N minutes -------------------------------------------------------


async def test_unavailable_for_the_minutes_chosen(
    hass: HomeAssistant, simulator: SimulatorProcess, hass_ws_client: WebSocketGenerator
) -> None:
    entry = await make_entry(simulator, 1, link_timeout=0.2, **{CONF_UNAVAILABLE_AFTER: 1})
    await setup_entry(hass, entry)
    sensor = "sensor.meter_1_energy_delivered"
    await _automation(hass, "meter_unavailable", {"meter_sensors": [sensor], "minutes": 5})
    await simulator.silence(1)
    await next_poll(hass)
    state = hass.states.get(sensor)
    assert state is not None
    assert state.state == "unavailable"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=4))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await _notifications(hass, hass_ws_client) == []  # not yet 5 minutes
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    notifications = await _notifications(hass, hass_ws_client)
    assert [n["title"] for n in notifications] == ["Leviton meter unavailable"]
    assert notifications[0]["message"].startswith("Meter 1 has not answered for 5 minutes.")


async def test_unavailable_runs_the_users_actions_with_its_variables(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    entry = await make_entry(simulator, 1, link_timeout=0.2, **{CONF_UNAVAILABLE_AFTER: 1})
    await setup_entry(hass, entry)
    fired: list[dict[str, Any]] = []
    hass.bus.async_listen("leviton_test_alert", lambda event: fired.append(dict(event.data)))
    action = {
        "event": "leviton_test_alert",
        "event_data": {"meter": "{{ meter }}", "minutes": "{{ minutes }}"},
    }
    await _automation(
        hass,
        "meter_unavailable",
        {
            "meter_sensors": ["sensor.meter_1_peak_demand"],
            "minutes": 1,
            "actions": [action],
        },
    )
    await simulator.silence(1)
    await next_poll(hass)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=1, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert fired == [{"meter": "Meter 1", "minutes": 1}]


# -- a swapped meter -------------------------------------------------------------------------


async def test_swapped_meter_is_told_once(
    hass: HomeAssistant, simulator: SimulatorProcess, hass_ws_client: WebSocketGenerator
) -> None:
    entry = await make_entry(simulator, 1, title="Basement")
    await setup_entry(hass, entry)
    await _automation(hass, "meter_swapped", {})
    await simulator.set(1, program_id=777)  # another meter now answers at unit 1
    for _ in range(2):  # noticed at each setup; told once
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    notifications = await _notifications(hass, hass_ws_client)
    assert [n["title"] for n in notifications] == ["Leviton meter replaced"]
    assert notifications[0]["message"].startswith("Another meter now answers in place of Basement.")

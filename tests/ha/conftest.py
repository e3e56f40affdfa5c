"""Home Assistant fixtures: the component enabled, simulated meters, entries set up.

These tests run in Home Assistant's own environment (one per supported release, see the
Makefile). The simulated meters run in a process of the project's environment
(``support.simulator_process``), and every test talks to them over real Modbus on loopback
(TCP, RTU over TCP, or a socat pty pair); nothing of the component or its driver is mocked.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import (
    RELOAD_AFTER_UPDATE_DELAY,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.leviton_meters.const import (
    CONF_CONNECTION,
    CONF_HOST,
    CONF_KIND,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_SERIES,
    CONF_TIMEOUT,
    CONF_UNIT_ID,
    DOMAIN,
)
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import mosquitto, start_broker
from tests.support.simulator_process import SimulatorProcess

COMPONENT = Path(__file__).parents[2] / "custom_components" / DOMAIN
STRINGS: dict[str, Any] = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))

# The meters the tests use. The model is given so that the device registry shows what a real
# Series 2000 of the manual reports, whatever the simulator's default is.
SPEC_2000 = "1:2000:model=2N208-021:load=12:energy=5000:peak=9.5:resets=3"
SPEC_1000 = "2:1000:model=1N240-01D:load=2:energy=800"
SPEC_8000 = "3:8000-8:model=S8UTS-083:load=16:energy=1600"

StartSim = Callable[..., Awaitable[SimulatorProcess]]
StartBridge = Callable[[dict[str, Any]], BridgeProcess]

__all__ = ["mosquitto", "start_broker"]  # fixtures from support, used here


@pytest.fixture(autouse=True)
def _enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/leviton_meters in every test."""


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """Start simulator processes on free loopback ports (or a serial device with
    ``serial=``); all stop when the test ends."""
    running: list[SimulatorProcess] = []

    async def start(*specs: str, **options: Any) -> SimulatorProcess:
        sim = await SimulatorProcess.start(*specs, **options)
        running.append(sim)
        return sim

    yield start
    for sim in running:
        await sim.stop()


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator[StartBridge]:
    """``start_bridge(config)``: ``leviton-bridge run`` of the project's environment; killed at
    teardown if it still runs."""
    running: list[BridgeProcess] = []

    def start(config: dict[str, Any]) -> BridgeProcess:
        bridge = BridgeProcess.start(config, tmp_path, name=f"bridge-{len(running)}")
        running.append(bridge)
        return bridge

    yield start
    for bridge in running:
        bridge.kill()


@pytest.fixture
async def simulator(start_sim: StartSim) -> SimulatorProcess:
    """A Series 2000 (unit 1), a Series 1000 (2) and a Series 8000 with 8 points (3), Modbus TCP."""
    return await start_sim(SPEC_2000, SPEC_1000, SPEC_8000)


def connection_of(sim: SimulatorProcess, timeout: float | None = None) -> dict[str, Any]:
    """The config entry's connection data for a simulator (TCP or RTU over TCP)."""
    assert sim.address is not None
    connection: dict[str, Any] = {
        CONF_KIND: "tcp" if sim.framing == "tcp" else "rtu+tcp",
        CONF_HOST: sim.address[0],
        CONF_PORT: sim.address[1],
    }
    if timeout is not None:
        connection[CONF_TIMEOUT] = timeout
    return connection


def tcp_connection(sim: SimulatorProcess) -> dict[str, Any]:
    return connection_of(sim)


async def make_entry(
    sim: SimulatorProcess,
    unit: int,
    unique_id: str | None = None,
    *,
    title: str | None = None,
    link_timeout: float | None = None,
    series: str | None = None,
    **options: Any,
) -> MockConfigEntry:
    """An entry as the config flow would create it for the simulator's meter ``unit``."""
    meter = await sim.meter(unit)
    series = series or meter["series"]
    family = "s8000" if meter["series"] == "8000" else "s1000"
    return MockConfigEntry(
        domain=DOMAIN,
        title=title or f"Meter {unit}",
        unique_id=unique_id or f"{family}_{meter['program_id']}",
        data={
            CONF_CONNECTION: connection_of(sim, link_timeout),
            CONF_UNIT_ID: unit,
            CONF_SERIES: series,
        },
        options={CONF_SCAN_INTERVAL: 30, **options},
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def enable_disabled_entities(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    """Enable the entities the integration created disabled (the diagnostics) as a user does in
    their settings; Home Assistant reloads the entry once the changes settle. Returns their ids,
    each of which then has a state."""
    registry = er.async_get(hass)
    enabled = [
        registered.entity_id
        for registered in er.async_entries_for_config_entry(registry, entry.entry_id)
        if registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    ]
    assert enabled, "the entry has no entity disabled by the integration"
    for entity_id in enabled:
        registry.async_update_entity(entity_id, disabled_by=None)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=RELOAD_AFTER_UPDATE_DELAY + 1)
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    for entity_id in enabled:
        assert hass.states.get(entity_id) is not None, f"{entity_id} has no state once enabled"
    return enabled


async def next_poll(hass: HomeAssistant, seconds: float = 31) -> None:
    """Move Home Assistant's timers past the next poll and wait for it to finish."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done(wait_background_tasks=True)


# -- translations ----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def translation(path: str) -> str:
    """The English string at a dotted path of strings.json (fails the test if missing)."""
    node: Any = STRINGS
    for part in path.split("."):
        assert isinstance(node, dict), f"{path}: {part} is under a string"
        assert part in node, f"strings.json has no {path}"
        node = node[part]
    assert isinstance(node, str), f"{path} is not a string"
    return node


def assert_renders(path: str, placeholders: Mapping[str, Any] | None) -> str:
    """The string exists and every placeholder it uses is given; returns it rendered."""
    text = translation(path)
    given = dict(placeholders or {})
    missing = set(_PLACEHOLDER.findall(text)) - set(given)
    assert not missing, f"{path} needs placeholders {sorted(missing)}, given {sorted(given)}"
    return _PLACEHOLDER.sub(lambda m: str(given[m.group(1)]), text)


def assert_flow_translated(result: ConfigFlowResult, section: str = "config") -> None:
    """Every key a flow result shows to the user exists in strings.json, placeholders given."""
    kind = result["type"]
    placeholders = result.get("description_placeholders")
    if kind is FlowResultType.FORM:
        step = f"{section}.step.{result['step_id']}"
        assert isinstance(STRINGS[section]["step"].get(result["step_id"]), dict), step
        if "description" in STRINGS[section]["step"][result["step_id"]]:
            assert_renders(f"{step}.description", placeholders)
        schema = result["data_schema"]
        if schema is not None:
            for key in schema.schema:
                translation(f"{step}.data.{key}")
                translation(f"{step}.data_description.{key}")  # config-flow: every field
        for error in (result.get("errors") or {}).values():
            assert_renders(f"{section}.error.{error}", placeholders)
    elif kind is FlowResultType.MENU:
        step = f"{section}.step.{result['step_id']}"
        translation(f"{step}.title")
        if "description" in STRINGS[section]["step"][result["step_id"]]:
            assert_renders(f"{step}.description", placeholders)
        for option in result["menu_options"]:
            translation(f"{step}.menu_options.{option}")
    elif kind is FlowResultType.ABORT:
        assert_renders(f"{section}.abort.{result['reason']}", placeholders)
    elif kind is FlowResultType.SHOW_PROGRESS:
        assert_renders(f"{section}.progress.{result['progress_action']}", placeholders)


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Every test talks to real servers on loopback.

    pytest-homeassistant-custom-component blocks sockets for every test and allows connections
    only to 127.0.0.1; this re-enables creating them (still loopback only).
    """

"""Home Assistant fixtures: the component enabled, simulated meters, entries set up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.leviton_meters.const import (
    CONF_CONNECTION,
    CONF_HOST,
    CONF_KIND,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_SERIES,
    CONF_UNIT_ID,
    DOMAIN,
)
from leviton_driver.simulator import MeterSimulator, MeterSpec


@pytest.fixture(autouse=True)
def _enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/leviton_meters in every test."""


@pytest.fixture
async def simulator() -> AsyncIterator[MeterSimulator]:
    """A Series 2000 (1), a Series 1000 (2) and a Series 8000-8 (3) on Modbus TCP."""
    sim = MeterSimulator(
        [
            MeterSpec.parse("1:2000:load=12:energy=5000:peak=9.5:resets=3"),
            MeterSpec.parse("2:1000:load=2:energy=800"),
            MeterSpec.parse("3:8000-8:load=16:energy=1600"),
        ]
    )
    await sim.start_tcp()
    yield sim
    await sim.stop()


def tcp_connection(sim: MeterSimulator) -> dict[str, Any]:
    assert sim.address is not None
    return {CONF_KIND: "tcp", CONF_HOST: sim.address[0], CONF_PORT: sim.address[1]}


def make_entry(
    sim: MeterSimulator, unit: int, unique_id: str | None = None, **options: Any
) -> MockConfigEntry:
    series = {1: "2000", 2: "1000", 3: "8000"}.get(unit, "auto")
    family = "s8000" if series == "8000" else "s1000"
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {unit}",
        unique_id=unique_id or f"{family}_{40000 + unit}",
        data={CONF_CONNECTION: tcp_connection(sim), CONF_UNIT_ID: unit, CONF_SERIES: series},
        options={CONF_SCAN_INTERVAL: 30, **options},
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

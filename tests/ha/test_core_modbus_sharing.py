"""Home Assistant 2026.9+: units from the core modbus integration's shared connections.

That release cannot run here, so a stand-in for ``homeassistant.components.modbus`` hands out
units the way it does (``async_get_unit`` for an entry, ``async_get_temporary_unit`` as an
async context manager) on a real ``modbus_connection.pymodbus.ModbusConnection`` to the
simulator: the meters are still read over real Modbus.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import pytest
from homeassistant import config_entries
from homeassistant.components import modbus as core_modbus_integration
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from modbus_connection import ModbusSerialParams, ModbusTcpParams, ModbusUnit
from modbus_connection.pymodbus import ModbusConnection
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.leviton_meters import link
from custom_components.leviton_meters.const import CONF_HOST, CONF_PORT, CONF_UNIT_ID, DOMAIN
from tests.support.simulator_process import SimulatorProcess

from .conftest import make_entry, next_poll, setup_entry

Params = ModbusTcpParams | ModbusSerialParams


class CoreModbus:
    """What the core modbus integration shares: one connection per endpoint, units on it."""

    def __init__(self) -> None:
        self.connections: dict[Any, ModbusConnection] = {}
        self.holders: dict[Any, set[str]] = {}
        self.temporary_units: list[int] = []
        self.module = ModuleType("homeassistant.components.modbus")
        self.module.async_get_unit = self.async_get_unit  # type: ignore[attr-defined]
        self.module.async_get_temporary_unit = self.async_get_temporary_unit  # type: ignore[attr-defined]

    def async_get_unit(
        self, hass: HomeAssistant, entry: ConfigEntry, params: Params, unit_id: int
    ) -> ModbusUnit:
        key = params.endpoint
        connection = self.connections.setdefault(key, ModbusConnection(params, timeout=0.5))
        holders = self.holders.setdefault(key, set())
        holders.add(entry.entry_id)

        async def release() -> None:
            holders.discard(entry.entry_id)
            if not holders:
                del self.connections[key]
                await connection.close()

        entry.async_on_unload(release)
        return connection.for_unit(unit_id)

    @asynccontextmanager
    async def async_get_temporary_unit(
        self, hass: HomeAssistant, params: Params, unit_id: int
    ) -> AsyncIterator[ModbusUnit]:
        self.temporary_units.append(unit_id)
        connection = self.connections.get(params.endpoint)
        if connection is not None:
            yield connection.for_unit(unit_id)
            return
        connection = ModbusConnection(params, timeout=0.5)
        try:
            yield connection.for_unit(unit_id)
        finally:
            await connection.close()


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> CoreModbus:
    stand_in = CoreModbus()
    monkeypatch.setattr(link, "core_modbus", lambda: stand_in.module)
    return stand_in


async def test_setup_reads_through_the_core_connection(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    core: CoreModbus,
    hass_client: ClientSessionGenerator,
) -> None:
    first, second = await make_entry(simulator, 1), await make_entry(simulator, 2)
    await setup_entry(hass, first)
    await setup_entry(hass, second)
    assert first.state is second.state is ConfigEntryState.LOADED
    assert first.runtime_data.link.shared_by_core
    assert hass.data.get(link.DATA_CONNECTIONS, {}) == {}  # the component opened nothing itself
    assert len(core.connections) == 1
    assert next(iter(core.holders.values())) == {first.entry_id, second.entry_id}
    assert first.runtime_data.identity.model == "2N208-021"
    assert first.runtime_data.identity.program_id == 40001
    state = hass.states.get("sensor.meter_1_peak_demand")
    assert state is not None
    assert float(state.state) == 9.5

    requests = await simulator.requests(1)
    await next_poll(hass)
    assert await simulator.requests(1) > requests

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, first)
    assert isinstance(diagnostics, dict)
    assert diagnostics["link"] == {"shared_by_core_modbus": True, "requests_sent": None}

    assert await hass.config_entries.async_unload(first.entry_id)
    assert await hass.config_entries.async_unload(second.entry_id)
    assert core.connections == {}


async def test_not_ready_through_the_core_connection(
    hass: HomeAssistant, simulator: SimulatorProcess, core: CoreModbus
) -> None:
    await simulator.faults(timeout=1.0)
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert core.connections == {}  # the unit went back when setup failed


async def test_config_flow_probes_through_the_core(
    hass: HomeAssistant, simulator: SimulatorProcess, core: CoreModbus
) -> None:
    assert simulator.address is not None
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "tcp"}
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    # The core opens its connections on the first request: the probe finds a dead port.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: free}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "unit_id"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_UNIT_ID: 1})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "tcp"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.address[1]}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "scan_settings"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"first_unit": 1, "last_unit": 2}
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["step_id"] == "pick"
    assert core.temporary_units[-2:] == [1, 2]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"meter": "1"})
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["program"] == "40001"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "Core"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == "s1000_40001"
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    assert result["result"].runtime_data.link.shared_by_core


async def test_which_core_modbus_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    assert link.core_modbus() is None  # before 2026.9 the component keeps its own links
    monkeypatch.setattr(link, "MAJOR_VERSION", 2026)
    monkeypatch.setattr(link, "MINOR_VERSION", 9)
    assert link.core_modbus() is None  # a modbus integration that does not share units yet
    monkeypatch.setattr(core_modbus_integration, "async_get_unit", object(), raising=False)
    monkeypatch.setattr(
        core_modbus_integration, "async_get_temporary_unit", object(), raising=False
    )
    assert link.core_modbus() is core_modbus_integration

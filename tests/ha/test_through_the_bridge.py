"""Home Assistant reads the meters through the bridge's Modbus TCP server as it reads them on
their line: this component (a Series 2000 and a Series 8000, set up as the config flow sets
them up) and a core ``modbus:`` YAML hub, both against the bridge (a process of the project's
environment) while it polls the simulated meters. An RS485 line has one master; with the bridge
as that master, Home Assistant is one more reader at no cost to the line."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
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
from tests.support import free_port, until
from tests.support.simulator_process import SimulatorProcess

from .conftest import SPEC_2000, SPEC_8000, StartBridge, StartSim, next_poll, setup_entry


async def _served(port: int, unit: int) -> bool:
    """Whether the bridge serves ``unit`` with values yet: a read of 40001-40006 answered (a
    Series 8000 answers exception 02 there, as it does on its line), not 0x0A or 0x0B."""
    request = struct.pack(">HHHBBHH", 1, 0, 6, unit, 3, 0, 6)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(64), 5)
        return len(answer) > 8 and (answer[7] == 3 or answer[7:9] == b"\x83\x02")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _entry(port: int, unit: int, program_id: int, series: str) -> MockConfigEntry:
    family = "s8000" if series == "8000" else "s1000"
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {unit}",
        unique_id=f"{family}_{program_id}",
        data={
            CONF_CONNECTION: {CONF_KIND: "tcp", CONF_HOST: "127.0.0.1", CONF_PORT: port},
            CONF_UNIT_ID: unit,
            CONF_SERIES: series,
        },
        options={CONF_SCAN_INTERVAL: 30},
    )


async def test_home_assistant_reads_the_meters_through_the_bridge(
    hass: HomeAssistant, start_sim: StartSim, start_bridge: StartBridge
) -> None:
    sim: SimulatorProcess = await start_sim(SPEC_2000, SPEC_8000)
    port = free_port()
    config: dict[str, Any] = {
        "buses": [
            {
                "name": "lab",
                "connect": f"{sim.url}?timeout=0.5",
                "poll_interval": 0.5,
                "meters": [{"unit": 1}, {"unit": 3}],
            }
        ],
        "modbus_server": {"listen": f"127.0.0.1:{port}"},
    }
    start_bridge(config)
    for unit in (1, 3):
        await until(lambda unit=unit: _served(port, unit), f"unit {unit} served by the bridge")
    meter_1, meter_3 = await sim.meter(1), await sim.meter(3)

    # A core modbus YAML hub, as a homeowner writes it, pointed at the bridge.
    hub = {
        "name": "through_bridge",
        "type": "tcp",
        "host": "127.0.0.1",
        "port": port,
        "sensors": [
            {
                "name": "Core energy",
                "address": 0,
                "device_address": 1,
                "input_type": "holding",
                "data_type": "uint32",
                "scale": 0.1,
                "precision": 1,
                "unit_of_measurement": "kWh",
                "scan_interval": 10,
            }
        ],
    }
    assert await async_setup_component(hass, "modbus", {"modbus": [hub]})
    await hass.async_block_till_done()

    # This component, set up as the config flow sets up a meter it found at the bridge.
    entries = [
        _entry(port, 1, meter_1["program_id"], "2000"),
        _entry(port, 3, meter_3["program_id"], "8000"),
    ]
    for entry in entries:
        await setup_entry(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
    await next_poll(hass)

    energy = meter_1["energy_delivered"]
    core = hass.states.get("sensor.core_energy")
    ours = hass.states.get("sensor.meter_1_energy_delivered")
    assert core is not None
    assert ours is not None
    assert float(core.state) == pytest.approx(energy, abs=0.3)
    assert float(ours.state) == pytest.approx(energy, abs=0.3)
    peak = hass.states.get("sensor.meter_1_peak_demand")
    assert peak is not None
    assert float(peak.state) == pytest.approx(9.5)
    # The Series 8000's points, as on its line (its load is spread over them).
    point = hass.states.get("sensor.meter_3_point_1_energy_delivered")
    assert point is not None
    assert float(point.state) > 0
    # The devices say what the meters say they are: identification through the bridge.
    devices = dr.async_get(hass)
    device = devices.async_get_device(identifiers={(DOMAIN, entries[0].unique_id or "")})
    assert device is not None
    assert (device.model_id, device.hw_version, device.sw_version) == ("2N208-021", "3.2", "3.2")
    for entry in entries:
        assert await hass.config_entries.async_unload(entry.entry_id)

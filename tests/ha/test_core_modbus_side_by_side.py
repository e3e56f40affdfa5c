"""Why Home Assistant 2025.9 is the oldest supported release: core `modbus` and this component
side by side.

Home Assistant installs a custom component's requirements under its package constraints. From
2025.9 those pin pymodbus 3.11.x, the version core `modbus` is built for, so this component's
`pymodbus[serial]>=3.11` leaves it alone and both integrations work in one installation. Before
2025.9 nothing pinned it, our requirement upgraded pymodbus past what core `modbus` could use,
and every Modbus YAML device of the homeowner stopped working. Here a core `modbus:` YAML hub
and a Leviton entry read the same simulated meter, in the environment Home Assistant builds.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from homeassistant.components import modbus as core_modbus
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from tests.support.simulator_process import SimulatorProcess

from .conftest import make_entry, next_poll, setup_entry


def _core_pymodbus_requirement() -> str:
    manifest = Path(core_modbus.__file__).with_name("manifest.json")
    requirements: list[str] = json.loads(manifest.read_text(encoding="utf-8"))["requirements"]
    return next(r for r in requirements if r.startswith("pymodbus"))


async def test_core_modbus_yaml_hub_and_this_component_both_read(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    # The environment holds the pymodbus core `modbus` pins, not one our requirement chose.
    assert _core_pymodbus_requirement() == f"pymodbus=={metadata.version('pymodbus')}"

    assert simulator.address is not None
    host, port = simulator.address
    hub = {
        "name": "core_hub",
        "type": "tcp",
        "host": host,
        "port": port,
        "sensors": [
            {
                # The Series 2000 at unit 1: energy delivered, registers 40001-40002, kWh/10.
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

    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    await next_poll(hass)  # both poll: core `modbus` every 10 s, this component every 30 s
    core = hass.states.get("sensor.core_energy")
    ours = hass.states.get("sensor.meter_1_energy_delivered")
    assert core is not None
    assert ours is not None
    assert float(core.state) == pytest.approx(5000.0, abs=0.3)
    assert float(ours.state) == pytest.approx(5000.0, abs=0.3)

    assert await hass.config_entries.async_unload(entry.entry_id)

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from leviton_driver.simulator import MeterSimulator

from .conftest import make_entry, setup_entry


async def test_setup(hass: HomeAssistant, simulator: MeterSimulator) -> None:
    entry = make_entry(simulator, 1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.meter_1_energy_delivered")
    assert state is not None, sorted(hass.states.async_entity_ids())
    assert float(state.state) == 5000.0

"""What the Home Assistant benchmarks (``ha_bus.py``, ``core_modbus.py``) share: config entries
for simulated Series 2000 meters, made as the config flow makes them, set up in a running core.

Imported only inside a Home Assistant environment, while pytest collects the benchmark (before
Home Assistant's test harness puts its own, empty, ``custom_components`` package first).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

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


async def set_up_series2000(hass: HomeAssistant, host: str, port: int, meters: int) -> None:
    """One entry per meter (units 1..``meters``) on the RTU-over-TCP link at ``host:port``,
    polled every 10 s, each set up before the next."""
    connection = {CONF_KIND: "rtu+tcp", CONF_HOST: host, CONF_PORT: port, CONF_TIMEOUT: 1.0}
    for unit in range(1, meters + 1):
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"Meter {unit}",
            unique_id=f"s1000_{40000 + unit}",
            data={CONF_CONNECTION: connection, CONF_UNIT_ID: unit, CONF_SERIES: "2000"},
            options={CONF_SCAN_INTERVAL: 10},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

"""Diagnostics: settings, identity, last readings and error counts, with addresses redacted."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from tests.support.simulator_process import SimulatorProcess

from .conftest import make_entry, next_poll, setup_entry

REDACTED = "**REDACTED**"


def revealed(data: object, *secrets: str | int) -> list[object]:
    """The places in ``data`` (keys and values, at any depth) that hold one of ``secrets``: a
    number equal to it, or a text that contains it."""
    found: list[object] = []
    texts = [str(secret) for secret in secrets]
    if isinstance(data, dict):
        for key, value in data.items():
            found += revealed(key, *secrets) + revealed(value, *secrets)
    elif isinstance(data, list | tuple | set):
        for item in data:
            found += revealed(item, *secrets)
    elif isinstance(data, str):
        found += [data] if any(text in data for text in texts) else []
    elif isinstance(data, int) and not isinstance(data, bool):
        found += [data] if str(data) in texts else []
    return found


async def test_series_2000_diagnostics(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, simulator: SimulatorProcess
) -> None:
    entry = await make_entry(simulator, 1, link_timeout=0.2)
    await setup_entry(hass, entry)
    await simulator.faults(timeout=1.0)
    await next_poll(hass)
    await simulator.faults()
    await next_poll(hass)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert isinstance(diagnostics, dict)
    assert diagnostics["entry"] == {
        "title": "Meter 1",
        "unique_id": REDACTED,
        "state": "loaded",
        "reason": None,
        "data": {
            "connection": {
                "kind": "tcp",
                "host": REDACTED,
                "port": simulator.address[1] if simulator.address else None,
                "timeout": 0.2,
            },
            "unit_id": 1,
            "series": "2000",
        },
        "options": {"scan_interval": 30},
    }
    identity = diagnostics["identity"]
    assert isinstance(identity, dict)
    assert identity["program_id"] == REDACTED
    assert identity["model"] == "2N208-021"
    assert identity["series"] == "2000"
    assert identity["hardware_version"] == "3.2"
    model_info = identity["model_info"]
    assert isinstance(model_info, dict)
    assert model_info["ct_rating_amps"] == 200
    assert model_info["voltage"] == "208"
    link = diagnostics["link"]
    assert isinstance(link, dict)
    assert link["shared_by_core_modbus"] is False
    assert isinstance(link["requests_sent"], int)
    assert link["requests_sent"] >= 7
    assert diagnostics["last_update_success"] is True
    # The poll that failed tried twice (a lost frame is worth one more try within the poll).
    assert diagnostics["errors"] == {"timeout": 2}
    assert diagnostics["implausible_totals_ignored"] == 0
    assert diagnostics["poll_interval_seconds"] == 30
    assert diagnostics["failed_polls_in_a_row"] == 0
    assert diagnostics["last_read_seconds"] > 0
    bus = diagnostics["bus"]
    assert isinstance(bus, dict)
    assert bus["meters"] == 1
    assert bus["passes"] == 2  # the two polls above, each one pass over the bus
    assert bus["pass_seconds"] == diagnostics["last_read_seconds"]
    assert diagnostics["meter"] == {
        "model": "Series 2000",
        "readings": [
            "energy_delivered",
            "energy_received",
            "peak_demand",
            "derived_power",
            "net_power",
            "demand_reset_count",
            "uptime",
            "program_id",
        ],
        "points": 0,
        "point_readings": [],
        "can_reset_demand": True,
    }
    last = diagnostics["last_readings"]
    assert isinstance(last, dict)
    readings = last["readings"]
    assert isinstance(readings, dict)
    assert readings["peak_demand"] == 9.5
    assert readings["demand_reset_count"] == 3
    assert last["points"] == {}
    # Nowhere in the download: where the meter is and which meter it is (as a value or in a
    # text; a float such as a duration may hold the digits 40001 by chance).
    assert not revealed(diagnostics, "127.0.0.1", 40001)


async def test_series_8000_diagnostics(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, simulator: SimulatorProcess
) -> None:
    entry = await make_entry(simulator, 3)
    await setup_entry(hass, entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert isinstance(diagnostics, dict)
    identity = diagnostics["identity"]
    assert isinstance(identity, dict)
    assert identity["series"] == "8000"
    assert identity["points"] == 8
    assert identity["provisional_profile"] is True
    assert identity["program_id"] == REDACTED
    last = diagnostics["last_readings"]
    assert isinstance(last, dict)
    points = last["points"]
    assert isinstance(points, dict)
    assert sorted(points) == [str(n) for n in range(1, 9)]
    meter = diagnostics["meter"]
    assert isinstance(meter, dict)
    assert meter["model"] == "Series 8000 (provisional register map)"
    assert meter["points"] == 8
    assert meter["can_reset_demand"] is False
    # The program id appears nowhere but as redacted (readings may hold those digits by chance).
    assert not revealed(diagnostics["identity"], 40003)
    assert not revealed(diagnostics["entry"], 40003)


async def test_diagnostics_of_an_entry_that_is_not_loaded(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, simulator: SimulatorProcess
) -> None:
    """A meter that did not answer at start: the entry is not loaded, and its diagnostics are
    what someone needs to look at (they used to fail with HTTP 500)."""
    await simulator.faults(timeout=1.0)
    entry = await make_entry(simulator, 1, link_timeout=0.2)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert isinstance(diagnostics, dict)
    assert set(diagnostics) == {"entry"}
    shown = diagnostics["entry"]
    assert isinstance(shown, dict)
    assert shown["state"] == "setup_retry"
    assert shown["reason"].startswith("The meter does not answer: unit 1 on tcp://")
    assert shown["data"]["connection"]["host"] == REDACTED

    assert await hass.config_entries.async_unload(entry.entry_id)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["state"] == "not_loaded"

"""Diagnostics download: settings, identity, last readings, error counts.

It downloads whether or not the entry is loaded: an entry whose meter did not answer at start
(or one being reloaded) has no coordinator, and those are the entries someone needs to look at.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_CONNECTION
from .coordinator import LevitonConfigEntry, LevitonCoordinator
from .link import link_key
from .scheduler import describe_bus, scheduler_of

# Network addresses and the program id say where a site is and which meter it has; the program
# id (which Leviton ties to the label's serial number) is inside the meter's 0x11 answer too.
TO_REDACT = {"host", "program_id", "unique_id", "fingerprint", "raw", "report_id"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: LevitonConfigEntry
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "entry": {
            "title": entry.title,
            "unique_id": entry.unique_id,
            "state": entry.state.value,
            "reason": entry.reason,
            "data": dict(entry.data),
            "options": dict(entry.options),
        }
    }
    coordinator = getattr(entry, "runtime_data", None)
    if isinstance(coordinator, LevitonCoordinator):
        data |= _coordinator_diagnostics(coordinator)
        key = link_key(entry.data[CONF_CONNECTION])
        data["bus"] = describe_bus(scheduler_of(hass, key) if key is not None else None)
    return async_redact_data(data, TO_REDACT)


def _coordinator_diagnostics(coordinator: LevitonCoordinator) -> dict[str, Any]:
    meter = coordinator.meter
    last = coordinator.data
    return {
        "link": {
            "shared_by_core_modbus": coordinator.link.shared_by_core,
            "requests_sent": meter.transactions,
        },
        "meter": {
            "model": meter.model_label,
            "readings": [reading.key for reading in meter.readings()],
            "points": meter.points,
            "point_readings": [reading.key for reading in meter.point_readings()],
            "can_reset_demand": meter.can_reset_demand,
        },
        # nested dataclasses (model_info) become dicts too
        "identity": asdict(meter.identity) if meter.identity is not None else None,
        "last_readings": (
            {"readings": last.readings, "points": last.points} if last is not None else None
        ),
        "last_update_success": coordinator.last_update_success,
        "poll_interval_seconds": coordinator.poll_interval.total_seconds(),
        "failed_polls_in_a_row": coordinator.supervisor.failures,
        "last_read_seconds": coordinator.read_seconds,
        "errors": dict(meter.errors),
        "implausible_totals_ignored": meter.suppressed,
    }

"""Diagnostics download: settings, identity, last readings, error counts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import LevitonConfigEntry

# Network addresses and the serial number say where a site is and which meter it has.
TO_REDACT = {"host", "program_id", "serial_number", "unique_id", "fingerprint", "raw"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: LevitonConfigEntry
) -> dict[str, Any]:
    coordinator = entry.runtime_data
    meter = coordinator.meter
    identity = asdict(coordinator.identity)  # nested dataclasses (model_info) become dicts too
    last = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "link": {
                "shared_by_core_modbus": coordinator.link.shared_by_core,
                "requests_sent": meter.transactions,
            },
            "identity": identity,
            "last_readings": (
                {"readings": last.readings, "points": last.points} if last is not None else None
            ),
            "last_update_success": coordinator.last_update_success,
            "errors": dict(meter.errors),
            "implausible_totals_ignored": getattr(meter, "suppressed", 0),
            "poll_peak_register_40061": getattr(meter, "poll_peak_register", None),
        },
        TO_REDACT,
    )

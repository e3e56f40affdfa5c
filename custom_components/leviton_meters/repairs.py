"""Repair flows: accept a meter that replaced another at the same unit id."""

from __future__ import annotations

from typing import Any

from homeassistant import data_entry_flow
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.core import HomeAssistant


class AcceptNewMeterFlow(ConfirmRepairFlow):
    """The user confirms the new meter: the entry takes its identity and reloads."""

    def __init__(self, entry_id: str, unique_id: str) -> None:
        super().__init__()
        self.entry_id = entry_id
        self.unique_id = unique_id

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        if user_input is not None:
            entry = self.hass.config_entries.async_get_entry(self.entry_id)
            if entry is not None:
                self.hass.config_entries.async_update_entry(entry, unique_id=self.unique_id)
                await self.hass.config_entries.async_reload(entry.entry_id)
            return self.async_create_entry(data={})
        return await super().async_step_confirm(user_input)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Only the swapped-meter issue is fixable; it carries its entry and the new identity."""
    data = data or {}
    return AcceptNewMeterFlow(str(data.get("entry_id", "")), str(data.get("unique_id", "")))

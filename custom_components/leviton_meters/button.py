"""The peak-demand reset button."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import LevitonConfigEntry
from .entity import LevitonEntity

PARALLEL_UPDATES = 1

RESET_PEAK_DEMAND = ButtonEntityDescription(
    key="reset_peak_demand",
    translation_key="reset_peak_demand",
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LevitonConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    if coordinator.meter.can_reset_demand:
        async_add_entities([ResetPeakDemandButton(coordinator, RESET_PEAK_DEMAND.key)])


class ResetPeakDemandButton(LevitonEntity, ButtonEntity):
    """Resets the meter's peak demand; the readings refresh at once."""

    entity_description = RESET_PEAK_DEMAND

    async def async_press(self) -> None:
        await self.coordinator.async_reset_peak_demand()

"""Sensors generated from the driver's reading catalogue."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import LevitonConfigEntry, LevitonCoordinator
from .driver.catalogue import Reading
from .entity import LevitonEntity

PARALLEL_UPDATES = 0  # the coordinator does all the I/O


@dataclass(frozen=True, kw_only=True)
class LevitonSensorEntityDescription(SensorEntityDescription):
    """A sensor described by a catalogue reading."""

    reading: Reading


def describe(reading: Reading) -> LevitonSensorEntityDescription:
    """The Home Assistant sensor description of a catalogue reading."""
    return LevitonSensorEntityDescription(
        key=reading.key,
        translation_key=reading.key,
        reading=reading,
        native_unit_of_measurement=reading.unit,
        device_class=SensorDeviceClass(reading.device_class) if reading.device_class else None,
        state_class=SensorStateClass(reading.state_class) if reading.state_class else None,
        suggested_display_precision=reading.precision,
        entity_category=EntityCategory(reading.entity_category)
        if reading.entity_category
        else None,
        # The diagnostics (uptime, reset count, program id) are created disabled: few chart
        # them, and a disabled entity records no history. Enabled in the entity's settings.
        entity_registry_enabled_default=reading.enabled_by_default,
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LevitonConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One sensor per reading of the meter and of each metering point, as the meter describes
    itself (its profile and the derived-power option already applied)."""
    coordinator = entry.runtime_data
    meter = coordinator.meter
    entities = [LevitonSensor(coordinator, describe(reading)) for reading in meter.readings()]
    for point in range(1, meter.points + 1):
        entities += [
            LevitonSensor(coordinator, describe(reading), point)
            for reading in meter.point_readings()
        ]
    _forget_gone_sensors(hass, entry, {entity.unique_id for entity in entities})
    async_add_entities(entities)


def _forget_gone_sensors(
    hass: HomeAssistant, entry: LevitonConfigEntry, kept: set[str | None]
) -> None:
    """A sensor the meter no longer has (average power switched off, a reading the profile no
    longer maps) goes from the registry, rather than staying unavailable forever."""
    registry = er.async_get(hass)
    for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
        if registered.domain == Platform.SENSOR and registered.unique_id not in kept:
            registry.async_remove(registered.entity_id)


class LevitonSensor(LevitonEntity, RestoreSensor):
    """One reading of a meter or metering point."""

    entity_description: LevitonSensorEntityDescription

    def __init__(
        self,
        coordinator: LevitonCoordinator,
        description: LevitonSensorEntityDescription,
        point: int | None = None,
    ) -> None:
        super().__init__(coordinator, description.key, point)
        self.entity_description = description
        self._restored: float | None = None

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if not self.entity_description.reading.total:
            return
        last = await self.async_get_last_sensor_data()
        if last is None or not isinstance(last.native_value, (int, float)):
            return
        # A total never goes backwards, also across restarts: the glitch guard starts here.
        self._restored = float(last.native_value)
        self.coordinator.seed_total(self.point, self.entity_description.key, self._restored)

    @property
    def native_value(self) -> float | int | None:
        data = self.coordinator.data  # the first poll ran before the entities were added
        values = data.readings if self.point is None else data.points.get(self.point, {})
        value = values.get(self.entity_description.key)
        if (
            self.entity_description.reading.total
            and self._restored is not None
            and (value is None or value < self._restored)
        ):
            return self._restored  # a total never goes below what was shown before a restart
        return value

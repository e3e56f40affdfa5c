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

from .const import CONF_DERIVED_POWER, DOMAIN
from .coordinator import LevitonConfigEntry, LevitonCoordinator
from .driver import Series1000Meter, Series8000Meter
from .driver.catalogue import (
    DERIVED_POWER,
    SERIES_1000_READINGS,
    SERIES_8000_METER_READINGS,
    SERIES_8000_POINT_READINGS,
    Reading,
)
from .entity import LevitonEntity, entity_unique_id

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
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LevitonConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    entities: list[LevitonSensor] = []
    if isinstance(coordinator.meter, Series1000Meter):
        derived = entry.options.get(CONF_DERIVED_POWER, True)
        entities += [
            LevitonSensor(coordinator, describe(reading))
            for reading in SERIES_1000_READINGS
            if reading is not DERIVED_POWER or derived
        ]
        if not derived:
            # Switched off in the options: the sensor goes, not just stays unavailable.
            registry = er.async_get(hass)
            unique_id = entity_unique_id(coordinator.unique_id, DERIVED_POWER.key)
            if entity_id := registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id):
                registry.async_remove(entity_id)
    elif isinstance(coordinator.meter, Series8000Meter):
        # Only the readings the register profile maps (a profile may leave some out).
        profile = coordinator.meter.profile
        entities += [
            LevitonSensor(coordinator, describe(r))
            for r in SERIES_8000_METER_READINGS
            if r.key in profile.meter
        ]
        for point in range(1, (coordinator.identity.points or 0) + 1):
            entities += [
                LevitonSensor(coordinator, describe(r), point)
                for r in SERIES_8000_POINT_READINGS
                if r.key in profile.point_registers
            ]
    async_add_entities(entities)


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

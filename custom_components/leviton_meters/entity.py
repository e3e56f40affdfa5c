"""The base entity: one meter (or one Series 8000 metering point) as a device."""

from __future__ import annotations

from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import LevitonCoordinator


def entity_unique_id(meter_unique_id: str, key: str, point: int | None = None) -> str:
    """The unique id of a meter's (or a metering point's) entity for a reading or action."""
    where = "meter" if point is None else f"point_{point}"
    return f"{meter_unique_id}_{where}_{key}"


class LevitonEntity(CoordinatorEntity[LevitonCoordinator]):
    """An entity of a Leviton meter, named after its device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: LevitonCoordinator, key: str, point: int | None = None) -> None:
        super().__init__(coordinator)
        self.point = point
        self._attr_unique_id = entity_unique_id(coordinator.unique_id, key, point)
        self._attr_device_info = coordinator.device_info(point)

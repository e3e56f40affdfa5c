"""The base entity: one meter (or one Series 8000 metering point) as a device."""

from __future__ import annotations

from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import LevitonCoordinator


class LevitonEntity(CoordinatorEntity[LevitonCoordinator]):
    """An entity of a Leviton meter, named after its device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: LevitonCoordinator, key: str, point: int | None = None) -> None:
        super().__init__(coordinator)
        self.point = point
        where = "meter" if point is None else f"point_{point}"
        self._attr_unique_id = f"{coordinator.unique_id}_{where}_{key}"
        self._attr_device_info = coordinator.device_info(point)

"""Leviton Series 1000/2000 and Series 8000 electricity submeters."""

from __future__ import annotations

import voluptuous as vol
from homeassistant.const import ATTR_DEVICE_ID, Platform
from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from .const import (
    CONF_CONNECTION,
    CONF_DERIVED_POWER,
    CONF_PROFILE,
    CONF_SERIES,
    CONF_UNIT_ID,
    DOMAIN,
    SERVICE_RESET_PEAK_DEMAND,
)
from .coordinator import (
    LevitonConfigEntry,
    LevitonCoordinator,
    has_identity,
    meter_unique_id,
    report_identity_changed,
)
from .driver import (
    ConfigurationError,
    LevitonMeter,
    MeterError,
    Profile,
    async_identify_meter,
    load_profile,
)
from .link import async_open_link, link_settings
from .scheduler import async_scheduler_for

PLATFORMS = [Platform.BUTTON, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PARALLEL_UPDATES = 0

RESET_SCHEMA = vol.Schema({vol.Required(ATTR_DEVICE_ID): vol.All(cv.ensure_list, [cv.string])})


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the peak-demand reset service (it targets devices of any entry)."""

    async def reset_peak_demand(call: ServiceCall) -> None:
        coordinators = _coordinators_for_devices(hass, call.data[ATTR_DEVICE_ID])
        for coordinator in coordinators:
            await coordinator.async_reset_peak_demand()

    hass.services.async_register(
        DOMAIN,
        SERVICE_RESET_PEAK_DEMAND,
        reset_peak_demand,
        schema=RESET_SCHEMA,
        supports_response=SupportsResponse.NONE,
    )
    return True


def _coordinators_for_devices(
    hass: HomeAssistant, device_ids: list[str]
) -> list[LevitonCoordinator]:
    registry = dr.async_get(hass)
    found: dict[str, LevitonCoordinator] = {}
    for device_id in device_ids:
        device = registry.async_get(device_id)
        entries = [
            entry
            for entry_id in (device.config_entries if device else ())
            if (entry := hass.config_entries.async_get_entry(entry_id)) is not None
            and entry.domain == DOMAIN
        ]
        if device is None or not entries:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_meter",
                translation_placeholders={"device_id": device_id},
            )
        for entry in entries:
            coordinator = getattr(entry, "runtime_data", None)
            if not isinstance(coordinator, LevitonCoordinator):
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="not_loaded",
                    translation_placeholders={"name": entry.title},
                )
            if not coordinator.meter.can_reset_demand:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="no_demand_reset",
                    translation_placeholders={"name": entry.title},
                )
            found[entry.entry_id] = coordinator
    return list(found.values())


async def async_setup_entry(hass: HomeAssistant, entry: LevitonConfigEntry) -> bool:
    """Identify the meter and start polling it."""
    try:
        settings = link_settings(entry.data[CONF_CONNECTION])
    except ConfigurationError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="bad_connection",
            translation_placeholders={"error": str(err)},
        ) from err
    unit_id = entry.data[CONF_UNIT_ID]
    profile: Profile | None = None
    if path := entry.options.get(CONF_PROFILE):
        try:
            profile = await hass.async_add_executor_job(load_profile, path)
        except ConfigurationError as err:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="bad_profile",
                translation_placeholders={"error": str(err)},
            ) from err
    link = async_open_link(hass, entry, settings, unit_id)

    async def identify() -> LevitonMeter:
        """The meter at the entry's unit id, identified (at setup, and again whenever the
        supervision's policy says)."""
        return await async_identify_meter(
            link.unit,
            unit_id=unit_id,
            where=link.where,
            series=entry.data.get(CONF_SERIES, "auto"),
            profile=profile,
            trace=link.trace,
            derived_power=entry.options.get(CONF_DERIVED_POWER, True),
        )

    try:
        meter = await identify()
    except MeterError as err:
        await link.release()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="meter_unreachable",
            translation_placeholders={"error": str(err)},
        ) from err
    unique_id = meter_unique_id(meter, f"{settings.url}-{unit_id}")
    # Without a program id the meter cannot be told from another: nothing to compare.
    if entry.unique_id is not None and has_identity(meter) and unique_id != entry.unique_id:
        placeholders = report_identity_changed(
            hass,
            entry,
            unique_id,
            entry.unique_id.split("_", 1)[-1],
            unique_id.split("_", 1)[-1],
        )
        await link.release()
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="identity_changed",
            translation_placeholders=placeholders,
        )
    ir.async_delete_issue(hass, DOMAIN, f"identity_changed_{entry.entry_id}")
    coordinator = LevitonCoordinator(hass, entry, link, meter, identify)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    scheduler = async_scheduler_for(hass, settings.params.endpoint, settings.url)
    scheduler.add(coordinator)
    entry.async_on_unload(lambda: scheduler.remove(coordinator))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_options_updated(hass: HomeAssistant, entry: LevitonConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: LevitonConfigEntry) -> bool:
    """Stop polling; the link closes when its last meter unloads."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:  # whether it answers is noticed afresh when it is loaded again
        ir.async_delete_issue(hass, DOMAIN, f"unreachable_{entry.entry_id}")
    return unloaded


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: LevitonConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Devices of a meter the entry no longer reads (one swapped for another) may be deleted."""
    current = entry.unique_id or entry.entry_id
    return not any(
        domain == DOMAIN and (key == current or key.startswith(f"{current}_point_"))
        for domain, key in device.identifiers
    )


async def async_remove_entry(hass: HomeAssistant, entry: LevitonConfigEntry) -> None:
    """Forget the entry's repair issues."""
    for issue in ("unreachable", "identity_changed"):
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{entry.entry_id}")

"""Options: poll interval, failed polls before unavailable, average power from energy
(Series 1000/2000), register profile (Series 8000); each shown where it means something."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers import selector

from .const import (
    CONF_CONNECTION,
    CONF_DERIVED_POWER,
    CONF_PROFILE,
    CONF_SCAN_INTERVAL,
    CONF_SERIES,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_UNAVAILABLE_AFTER,
    MAX_SCAN_INTERVAL,
    MAX_UNAVAILABLE_AFTER,
    MIN_SCAN_INTERVAL,
)
from .driver import (
    OPTION_DERIVED_POWER,
    OPTION_PROFILE,
    SERIES_OPTIONS,
    ConfigurationError,
    load_profile,
)
from .link import link_key
from .scheduler import describe_bus, scheduler_of


class LevitonOptionsFlow(OptionsFlow):
    """Poll interval, derived power (Series 1000/2000), register profile (Series 8000)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        entry = self.config_entry
        coordinator = getattr(entry, "runtime_data", None)
        # What the meter says it takes; an entry that is not loaded: what its series takes.
        meaningful = (
            coordinator.meter.options
            if coordinator is not None
            else SERIES_OPTIONS.get(entry.data.get(CONF_SERIES, "auto"), SERIES_OPTIONS["auto"])
        )
        errors: dict[str, str] = {}
        bus = self._bus_figures()
        placeholders = {"error": "", **bus}
        if user_input is not None:
            options = dict(user_input)
            options[CONF_SCAN_INTERVAL] = int(options[CONF_SCAN_INTERVAL])
            if options[CONF_SCAN_INTERVAL] < int(bus["shortest"]):
                errors[CONF_SCAN_INTERVAL] = "interval_too_short"
            options[CONF_UNAVAILABLE_AFTER] = int(options[CONF_UNAVAILABLE_AFTER])
            if path := (options.get(CONF_PROFILE) or "").strip():
                try:
                    await self.hass.async_add_executor_job(load_profile, path)
                except ConfigurationError as err:
                    errors[CONF_PROFILE] = "bad_profile"
                    placeholders["error"] = str(err)
                options[CONF_PROFILE] = path
            else:
                options.pop(CONF_PROFILE, None)
            if not errors:
                return self.async_create_entry(data=options)
        current = entry.options | (user_input or {})
        fields: dict[Any, Any] = {
            vol.Required(
                CONF_SCAN_INTERVAL, default=current.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
            ): (
                selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL,
                        max=MAX_SCAN_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=selector.NumberSelectorMode.BOX,
                    )
                )
            ),
            vol.Required(
                CONF_UNAVAILABLE_AFTER,
                default=current.get(CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER),
            ): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=MAX_UNAVAILABLE_AFTER, step=1, mode=selector.NumberSelectorMode.BOX
                )
            ),
        }
        if OPTION_DERIVED_POWER in meaningful:
            fields[
                vol.Required(CONF_DERIVED_POWER, default=current.get(CONF_DERIVED_POWER, True))
            ] = selector.BooleanSelector()
        if OPTION_PROFILE in meaningful:
            fields[
                vol.Optional(
                    CONF_PROFILE, description={"suggested_value": current.get(CONF_PROFILE)}
                )
            ] = selector.TextSelector()
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _bus_figures(self) -> dict[str, str]:
        """How many meters share this meter's link, and the shortest interval it carries."""
        key = link_key(self.config_entry.data[CONF_CONNECTION])
        figures = describe_bus(scheduler_of(self.hass, key) if key is not None else None)
        seconds = figures["pass_seconds"]
        return {
            "meters": str(figures["meters"]),
            "pass": f"{seconds:.2f}" if seconds is not None else "?",
            "shortest": str(figures["shortest_interval"]),
        }

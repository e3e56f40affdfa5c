"""UI setup: pick the connection, find the meter, confirm what was found."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers import selector
from modbus_connection import ModbusError

from .const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_CONNECTION,
    CONF_DERIVED_POWER,
    CONF_DEVICE,
    CONF_HOST,
    CONF_KIND,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_SCAN_INTERVAL,
    CONF_SERIES,
    CONF_STOPBITS,
    CONF_UNIT_ID,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    KIND_RTU_TCP,
    KIND_SERIAL,
    KIND_TCP,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
)
from .coordinator import LevitonConfigEntry, has_identity, meter_unique_id
from .driver import (
    ConfigurationError,
    ConnectError,
    LevitonMeter,
    MeterError,
    MeterTimeoutError,
    NotLevitonError,
    Series1000Meter,
    detect_meter,
    load_profile,
)
from .driver.connection import LinkSettings
from .driver.meter import Identity
from .link import (
    LinkInUseError,
    async_check_link,
    holders_with_other_settings,
    link_settings,
    temporary_links,
)

_LOGGER = logging.getLogger(__name__)

CONF_NAME = "name"
CONF_FIRST = "first_unit"
CONF_LAST = "last_unit"
CONF_FOUND = "meter"
SCAN_TIMEOUT = 0.6  # the manual: a meter answers within 500 ms
BAUD_RATES = ["1200", "2400", "4800", "9600", "19200", "38400", "57600", "115200"]


def _unit_selector() -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(min=1, max=247, step=1, mode=selector.NumberSelectorMode.BOX)
    )


def _list_serial_ports() -> list[str]:
    from serial.tools import list_ports

    return sorted(port.device for port in list_ports.comports())


def _describe(identity: Identity) -> dict[str, str]:
    """Placeholders showing a found meter to the user."""
    return {
        "unit": str(identity.unit_id),
        "series": identity.series,
        "model": identity.model or "not reported",
        "hardware": identity.hardware_version or "?",
        "software": identity.software_version or "?",
        "program": str(identity.program_id) if identity.program_id is not None else "?",
        "points": str(identity.points) if identity.points else "-",
        "notes": "\n".join(f"- {note}" for note in identity.notes) or "-",
    }


def _series_choice(meter: LevitonMeter) -> str:
    """The series to store: what identification found, "auto" where it could not tell."""
    identity = meter.identity
    if identity is not None and identity.series in ("1000", "2000", "8000"):
        return identity.series
    return "auto"


class LevitonConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one Leviton meter."""

    VERSION = 1

    def __init__(self) -> None:
        self._connection: dict[str, Any] = {}
        self._settings: LinkSettings | None = None
        self._meter: LevitonMeter | None = None
        self._found: dict[int, LevitonMeter] = {}
        self._scan_range: tuple[int, int] = (1, 247)
        self._scan_task: asyncio.Task[None] | None = None
        self._entry_unloaded = False

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: LevitonConfigEntry) -> LevitonOptionsFlow:
        return LevitonOptionsFlow()

    # -- the connection ------------------------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="user", menu_options=["serial", "tcp", "rtu_tcp"])

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        current = self._get_reconfigure_entry().data[CONF_CONNECTION]
        return self.async_show_menu(
            step_id="reconfigure",
            menu_options=["serial", "tcp", "rtu_tcp"],
            description_placeholders={"current": link_settings(current).url},
        )

    def _defaults(self) -> dict[str, Any]:
        if self.source == SOURCE_RECONFIGURE:
            return dict(self._get_reconfigure_entry().data[CONF_CONNECTION])
        return {}

    async def async_step_serial(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            connection = {
                CONF_KIND: KIND_SERIAL,
                CONF_DEVICE: user_input[CONF_DEVICE],
                CONF_BAUDRATE: int(user_input[CONF_BAUDRATE]),
                CONF_PARITY: user_input[CONF_PARITY],
                CONF_STOPBITS: int(user_input[CONF_STOPBITS]),
                CONF_BYTESIZE: int(user_input[CONF_BYTESIZE]),
            }
            if (
                result := await self._connection_chosen(connection, errors, placeholders)
            ) is not None:
                return result
        defaults = self._defaults() | (user_input or {})
        ports = await self.hass.async_add_executor_job(_list_serial_ports)
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_DEVICE, default=defaults.get(CONF_DEVICE, ports[0] if ports else "")
                ): (
                    selector.SelectSelector(
                        selector.SelectSelectorConfig(
                            options=ports,
                            custom_value=True,
                            mode=selector.SelectSelectorMode.DROPDOWN,
                        )
                    )
                ),
                vol.Required(CONF_BAUDRATE, default=str(defaults.get(CONF_BAUDRATE, 9600))): (
                    selector.SelectSelector(selector.SelectSelectorConfig(options=BAUD_RATES))
                ),
                vol.Required(
                    CONF_PARITY, default=defaults.get(CONF_PARITY, "N")
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=["N", "E", "O"], translation_key="parity")
                ),
                vol.Required(CONF_STOPBITS, default=str(defaults.get(CONF_STOPBITS, 1))): (
                    selector.SelectSelector(selector.SelectSelectorConfig(options=["1", "2"]))
                ),
                vol.Required(CONF_BYTESIZE, default=str(defaults.get(CONF_BYTESIZE, 8))): (
                    selector.SelectSelector(selector.SelectSelectorConfig(options=["7", "8"]))
                ),
            }
        )
        return self.async_show_form(
            step_id="serial",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_tcp(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self._socket_step("tcp", KIND_TCP, 502, user_input)

    async def async_step_rtu_tcp(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return await self._socket_step("rtu_tcp", KIND_RTU_TCP, 4196, user_input)

    async def _socket_step(
        self, step_id: str, kind: str, default_port: int, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            connection = {
                CONF_KIND: kind,
                CONF_HOST: user_input[CONF_HOST].strip(),
                CONF_PORT: int(user_input[CONF_PORT]),
            }
            if (
                result := await self._connection_chosen(connection, errors, placeholders)
            ) is not None:
                return result
        current = self._defaults()
        if current.get(CONF_KIND, kind) != kind:
            current = {}  # reconfiguring another kind of connection: its host is no default
        defaults = current | (user_input or {})
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_HOST, default=defaults.get(CONF_HOST, "")
                ): selector.TextSelector(),
                vol.Required(
                    CONF_PORT, default=defaults.get(CONF_PORT, default_port)
                ): selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _use_connection(
        self, connection: dict[str, Any], placeholders: dict[str, str]
    ) -> str | None:
        """Check the settings and that the link opens; an error key, or None when usable."""
        try:
            settings = link_settings(connection)
        except ConfigurationError as err:
            _LOGGER.debug("invalid connection settings: %s", err)
            placeholders["error"] = str(err)
            return "invalid_settings"
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            if holders_with_other_settings(self.hass, settings) == {entry.entry_id}:
                # New line settings for the one meter on this port: the entry lets go of the
                # port so that they can be tried (it is loaded again whatever the outcome).
                await self.hass.config_entries.async_unload(entry.entry_id)
                self._entry_unloaded = True
        try:
            await async_check_link(self.hass, settings)
        except LinkInUseError as err:
            placeholders["error"] = str(err)
            return "line_conflict"
        except ModbusError as err:
            _LOGGER.debug("cannot connect to %s: %s", settings.url, err)
            placeholders["error"] = str(err)
            return "cannot_connect"
        except Exception as err:  # anything else must not end the flow
            _LOGGER.exception("unexpected error opening %s", settings.url)
            placeholders["error"] = f"{type(err).__name__}: {err}"
            return "unknown"
        self._connection = connection
        self._settings = settings
        return None

    async def _connection_chosen(
        self, connection: dict[str, Any], errors: dict[str, str], placeholders: dict[str, str]
    ) -> ConfigFlowResult | None:
        """Go on with a usable connection; None (and ``errors`` filled) to show the form again."""
        if (error := await self._use_connection(connection, placeholders)) is not None:
            errors["base"] = error
            self._reload_unloaded_entry()
            return None
        if self.source != SOURCE_RECONFIGURE:
            return await self.async_step_unit()
        entry = self._get_reconfigure_entry()
        assert self._settings is not None
        try:
            meter = await self._probe(self._settings, entry.data[CONF_UNIT_ID])
        except MeterError as err:
            errors["base"] = self._probe_error(err)
            placeholders["error"] = str(err)
            self._reload_unloaded_entry()
            return None
        if has_identity(meter):
            # A meter that reports no program id cannot be told from another: taken as is.
            await self.async_set_unique_id(
                meter_unique_id(meter, f"{self._settings.url}-{meter.unit_id}")
            )
            try:
                self._abort_if_unique_id_mismatch(reason="wrong_meter")
            except AbortFlow:
                self._reload_unloaded_entry()
                raise
        self._entry_unloaded = False  # reloaded with the new settings
        return self.async_update_reload_and_abort(entry, data_updates={CONF_CONNECTION: connection})

    def _reload_unloaded_entry(self) -> None:
        """Load the entry being reconfigured again, with its settings as they were."""
        if self._entry_unloaded:
            self._entry_unloaded = False
            self.hass.config_entries.async_schedule_reload(self._get_reconfigure_entry().entry_id)

    # -- finding the meter ---------------------------------------------------------------

    async def async_step_unit(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A known unit id, or a scan of the bus."""
        return self.async_show_menu(step_id="unit", menu_options=["unit_id", "scan_settings"])

    async def async_step_nothing_found(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The scan found no meter that is not set up yet: enter an id or scan again."""
        return self.async_show_menu(
            step_id="nothing_found",
            menu_options=["unit_id", "scan_settings"],
            description_placeholders={
                "first": str(self._scan_range[0]),
                "last": str(self._scan_range[1]),
                "known": str(len(self._found)),
            },
        )

    async def _probe(self, settings: LinkSettings, unit_id: int) -> LevitonMeter:
        async with temporary_links(self.hass, settings) as links:
            link = await links.unit(unit_id)
            return await detect_meter(
                link.unit, unit_id=unit_id, where=link.where, trace=link.trace
            )

    @staticmethod
    def _probe_error(err: MeterError) -> str:
        if isinstance(err, NotLevitonError):
            return "not_leviton"
        if isinstance(err, ConnectError):
            return "cannot_connect"
        if isinstance(err, MeterTimeoutError):
            return "no_meter"
        return "bad_answer"

    async def async_step_unit_id(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        assert self._settings is not None
        if user_input is not None:
            unit_id = int(user_input[CONF_UNIT_ID])
            try:
                self._meter = await self._probe(self._settings, unit_id)
            except MeterError as err:
                errors["base"] = self._probe_error(err)
                placeholders["error"] = str(err)
            else:
                return await self._found_meter(self._meter)
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_UNIT_ID, default=(user_input or {}).get(CONF_UNIT_ID, 1)
                ): _unit_selector()
            }
        )
        return self.async_show_form(
            step_id="unit_id",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_scan_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            first, last = int(user_input[CONF_FIRST]), int(user_input[CONF_LAST])
            if first > last:
                errors["base"] = "bad_range"
            else:
                self._scan_range = (first, last)
                return await self.async_step_scan()
        schema = vol.Schema(
            {
                vol.Required(CONF_FIRST, default=1): _unit_selector(),
                vol.Required(CONF_LAST, default=247): _unit_selector(),
            }
        )
        return self.async_show_form(step_id="scan_settings", data_schema=schema, errors=errors)

    async def async_step_scan(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if self._scan_task is None:
            self._scan_task = self.hass.async_create_task(self._scan(), eager_start=False)
        if not self._scan_task.done():
            first, last = self._scan_range
            return self.async_show_progress(
                step_id="scan",
                progress_action="scanning",
                progress_task=self._scan_task,
                description_placeholders={
                    "first": str(first),
                    "last": str(last),
                    "seconds": str(round((last - first + 1) * SCAN_TIMEOUT)),
                },
            )
        task, self._scan_task = self._scan_task, None
        if task.exception() is not None:
            _LOGGER.warning("scan failed: %s", task.exception())
        return self.async_show_progress_done(next_step_id="pick")

    async def _scan(self) -> None:
        assert self._settings is not None
        settings = replace(self._settings, timeout=min(self._settings.timeout, SCAN_TIMEOUT))
        first, last = self._scan_range
        self._found = {}
        async with temporary_links(self.hass, settings) as links:
            for index, unit_id in enumerate(range(first, last + 1)):
                link = await links.unit(unit_id)
                try:
                    meter = await detect_meter(
                        link.unit, unit_id=unit_id, where=link.where, trace=link.trace
                    )
                except MeterTimeoutError:
                    continue
                except MeterError as err:
                    _LOGGER.info("unit %s answered but could not be identified: %s", unit_id, err)
                    continue
                finally:
                    # Releases after 2025.4 draw a progress bar; 2025.4 shows the range and
                    # the longest the scan can take.
                    if hasattr(self, "async_update_progress"):
                        self.async_update_progress((index + 1) / (last - first + 1))
                self._found[unit_id] = meter

    async def async_step_pick(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        configured = {
            entry.unique_id for entry in self._async_current_entries(include_ignore=False)
        }
        assert self._settings is not None
        choices = {
            str(unit_id): f"unit {unit_id}: Series {m.identity.series}"
            + (f", {m.identity.model}" if m.identity.model else "")
            for unit_id, m in self._found.items()
            if m.identity is not None
            and meter_unique_id(m, f"{self._settings.url}-{unit_id}") not in configured
        }
        if not choices:
            return await self.async_step_nothing_found()
        if user_input is not None:
            self._meter = self._found[int(user_input[CONF_FOUND])]
            return await self._found_meter(self._meter)
        schema = vol.Schema(
            {
                vol.Required(CONF_FOUND): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=[
                            selector.SelectOptionDict(value=k, label=v) for k, v in choices.items()
                        ]
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="pick",
            data_schema=schema,
            description_placeholders={"count": str(len(choices))},
        )

    async def _found_meter(self, meter: LevitonMeter) -> ConfigFlowResult:
        assert self._settings is not None
        await self.async_set_unique_id(
            meter_unique_id(meter, f"{self._settings.url}-{meter.unit_id}")
        )
        self._abort_if_unique_id_configured()
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        meter = self._meter
        assert meter is not None
        assert meter.identity is not None
        identity = meter.identity
        if user_input is not None:
            return self.async_create_entry(
                title=user_input[CONF_NAME],
                data={
                    CONF_CONNECTION: self._connection,
                    CONF_UNIT_ID: meter.unit_id,
                    CONF_SERIES: _series_choice(meter),
                },
                options={CONF_SCAN_INTERVAL: DEFAULT_SCAN_INTERVAL},
            )
        name = f"Leviton {identity.model or 'Series ' + identity.series} unit {identity.unit_id}"
        schema = vol.Schema({vol.Required(CONF_NAME, default=name): selector.TextSelector()})
        return self.async_show_form(
            step_id="confirm", data_schema=schema, description_placeholders=_describe(identity)
        )


class LevitonOptionsFlow(OptionsFlow):
    """Poll interval, derived power (Series 1000/2000), register profile (Series 8000)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        entry = self.config_entry
        coordinator = getattr(entry, "runtime_data", None)
        is_8000 = entry.data.get(CONF_SERIES) == "8000" or (
            coordinator is not None and not isinstance(coordinator.meter, Series1000Meter)
        )
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            options = dict(user_input)
            options[CONF_SCAN_INTERVAL] = int(options[CONF_SCAN_INTERVAL])
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
            )
        }
        if is_8000:
            fields[
                vol.Optional(
                    CONF_PROFILE, description={"suggested_value": current.get(CONF_PROFILE)}
                )
            ] = selector.TextSelector()
        else:
            fields[
                vol.Required(CONF_DERIVED_POWER, default=current.get(CONF_DERIVED_POWER, True))
            ] = selector.BooleanSelector()
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders=placeholders,
        )

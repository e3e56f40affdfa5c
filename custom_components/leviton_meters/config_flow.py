"""UI setup: pick the connection, find the meter, confirm what was found."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers import selector
from modbus_connection import ModbusError

from . import forms
from .const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_HOST,
    CONF_KIND,
    CONF_PARITY,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_SERIES,
    CONF_STOPBITS,
    CONF_UNIT_ID,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    KIND_RTU_TCP,
    KIND_SERIAL,
    KIND_TCP,
)
from .coordinator import LevitonConfigEntry, has_identity, meter_unique_id
from .driver import (
    SCAN_TIMEOUT,
    ConfigurationError,
    ConnectError,
    Identity,
    LevitonMeter,
    LinkSettings,
    MeterError,
    MeterTimeoutError,
    NoModbusMeterError,
    NotLevitonError,
    ScanResult,
    async_detect_meter,
    async_scan,
    no_answer_advice,
)
from .link import (
    LinkInUseError,
    async_check_link,
    holders_with_other_settings,
    link_settings,
    temporary_links,
)
from .options_flow import LevitonOptionsFlow

_LOGGER = logging.getLogger(__name__)

CONF_NAME = "name"
CONF_FIRST = "first_unit"
CONF_LAST = "last_unit"
CONF_FOUND = "meter"


def scan_promise(count: int, answer_timeout: float) -> int:
    """The longest a scan of ``count`` silent ids takes, in whole seconds: one request each,
    waiting ``answer_timeout``, with a tenth to spare for the link itself."""
    return math.ceil(count * answer_timeout * 1.1)


def _describe(meter: LevitonMeter, identity: Identity) -> dict[str, str]:
    """Placeholders showing a found meter to the user."""
    return {
        "unit": str(identity.unit_id),
        "series": meter.model_label,
        "model": identity.model or "not reported",
        "hardware": identity.hardware_version or "?",
        "software": identity.software_version or "?",
        "program": str(identity.program_id) if identity.program_id is not None else "?",
        "points": str(identity.points) if identity.points else "-",
        "notes": "\n".join(f"- {note}" for note in identity.notes) or "-",
    }


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
            # A port that set-up meters use keeps the name they know it by (a by-id name and
            # its /dev/ttyUSB0 are one port, and must share one connection).
            device = await self.hass.async_add_executor_job(
                forms.same_port, user_input[CONF_DEVICE], self._serial_devices_in_use()
            )
            connection = {
                CONF_KIND: KIND_SERIAL,
                CONF_DEVICE: device,
                CONF_BAUDRATE: int(user_input[CONF_BAUDRATE]),
                CONF_PARITY: forms.PARITY_OPTIONS.get(
                    user_input[CONF_PARITY], user_input[CONF_PARITY]
                ),
                CONF_STOPBITS: int(user_input[CONF_STOPBITS]),
                CONF_BYTESIZE: int(user_input[CONF_BYTESIZE]),
            }
            if (
                result := await self._connection_chosen(connection, errors, placeholders)
            ) is not None:
                return result
        defaults = self._defaults() | {
            key: value for key, value in (user_input or {}).items() if key != CONF_PARITY
        }
        if user_input is not None:
            defaults[CONF_PARITY] = forms.PARITY_OPTIONS.get(user_input[CONF_PARITY], "N")
        ports = await self.hass.async_add_executor_job(forms.list_serial_ports)
        schema = forms.serial_schema(defaults, ports)
        return self.async_show_form(
            step_id="serial",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    def _serial_devices_in_use(self) -> list[str]:
        """The serial ports the other entries' meters use, by the names they use."""
        current = (
            self._get_reconfigure_entry().entry_id if self.source == SOURCE_RECONFIGURE else None
        )
        return [
            entry.data[CONF_CONNECTION][CONF_DEVICE]
            for entry in self._async_current_entries(include_ignore=False)
            if entry.entry_id != current
            and entry.data.get(CONF_CONNECTION, {}).get(CONF_KIND) == KIND_SERIAL
            and CONF_DEVICE in entry.data[CONF_CONNECTION]
        ]

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
        schema = forms.socket_schema(defaults, default_port)
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
            errors["base"] = self._probe_error(err, placeholders)
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
            meter: LevitonMeter = await async_detect_meter(
                link.unit, unit_id=unit_id, where=link.where, trace=link.trace
            )
            return meter

    @staticmethod
    def _probe_error(err: MeterError, placeholders: dict[str, str]) -> str:
        """The form's error key for a failed probe; fills the placeholders its text uses."""
        placeholders["error"] = str(err)
        if isinstance(err, NotLevitonError):
            return "not_leviton"
        if isinstance(err, ConnectError):
            return "cannot_connect"
        if isinstance(err, MeterTimeoutError):
            # What to check, for the kind of link: said once, not after the driver's words.
            placeholders["error"] = (
                err.advice
                if isinstance(err, NoModbusMeterError)
                else no_answer_advice(err.connection)
            )
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
                errors["base"] = self._probe_error(err, placeholders)
            else:
                return await self._found_meter(self._meter)
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_UNIT_ID, default=(user_input or {}).get(CONF_UNIT_ID, 1)
                ): forms.unit_selector()
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
                vol.Required(CONF_FIRST, default=1): forms.unit_selector(),
                vol.Required(CONF_LAST, default=247): forms.unit_selector(),
            }
        )
        return self.async_show_form(step_id="scan_settings", data_schema=schema, errors=errors)

    async def async_step_scan(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if self._scan_task is None:
            self._scan_task = self.hass.async_create_task(self._scan(), eager_start=False)
        if not self._scan_task.done():
            first, last = self._scan_range
            assert self._settings is not None
            return self.async_show_progress(
                step_id="scan",
                progress_action="scanning",
                progress_task=self._scan_task,
                description_placeholders={
                    "first": str(first),
                    "last": str(last),
                    "seconds": str(scan_promise(last - first + 1, self._scan_answer_timeout())),
                },
            )
        task, self._scan_task = self._scan_task, None
        if task.exception() is not None:
            _LOGGER.warning("scan failed: %s", task.exception())
        return self.async_show_progress_done(next_step_id="pick")

    def _scan_answer_timeout(self) -> float:
        """How long the scan waits at each id: its own short timeout, unless the link's is
        shorter (a shared core connection keeps its own, see ``TemporaryLinks``)."""
        assert self._settings is not None
        return min(self._settings.timeout, SCAN_TIMEOUT)

    async def _scan(self) -> None:
        """One request per silent id, each waiting at most the scan's own timeout, also on a
        link a set-up meter already uses; silence is not logged as an error."""
        assert self._settings is not None
        first, last = self._scan_range
        answer_timeout = self._scan_answer_timeout()
        self._found = {}

        def progress(done: int, total: int, result: ScanResult) -> None:
            # Releases since 2025.4 draw a progress bar.
            self.async_update_progress(done / total)

        async with temporary_links(self.hass, self._settings) as links:

            async def unit_for(unit_id: int) -> Any:
                return (await links.unit(unit_id)).unit

            first_link = await links.unit(first)
            await links.connect()
            with links.quick_answers(answer_timeout, silent_ids=last - first + 1):
                result = await async_scan(
                    unit_for,
                    range(first, last + 1),
                    where=first_link.where,
                    trace=first_link.trace,
                    progress=progress,
                )
        for unit_id, problem in result.problems.items():
            _LOGGER.info("unit %s answered but could not be identified: %s", unit_id, problem)
        self._found = result.found

    async def async_step_pick(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        configured = {
            entry.unique_id for entry in self._async_current_entries(include_ignore=False)
        }
        assert self._settings is not None
        choices = {
            str(unit_id): f"unit {unit_id}: {m.model_label}"
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
                    CONF_SERIES: meter.series.setting,
                },
                options={CONF_SCAN_INTERVAL: DEFAULT_SCAN_INTERVAL},
            )
        name = f"Leviton {identity.model or meter.model_label} unit {identity.unit_id}"
        schema = vol.Schema({vol.Required(CONF_NAME, default=name): selector.TextSelector()})
        return self.async_show_form(
            step_id="confirm",
            data_schema=schema,
            description_placeholders=_describe(meter, identity),
        )

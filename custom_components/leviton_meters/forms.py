"""The forms of the setup flow: their fields and selectors (the steps are in config_flow.py)."""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from homeassistant.helpers import selector

from .const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_DEVICE,
    CONF_HOST,
    CONF_PARITY,
    CONF_PORT,
    CONF_STOPBITS,
)

BAUD_RATES: Final = ["1200", "2400", "4800", "9600", "19200", "38400", "57600", "115200"]
#: The parity selector's options (translation keys must be lower case) and what they store.
PARITY_OPTIONS: Final = {"none": "N", "even": "E", "odd": "O"}
PARITY_KEYS: Final = {stored: key for key, stored in PARITY_OPTIONS.items()}


def unit_selector() -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(min=1, max=247, step=1, mode=selector.NumberSelectorMode.BOX)
    )


def list_serial_ports() -> list[str]:
    """The serial ports this machine has (blocking: run it in the executor)."""
    from serial.tools import list_ports

    return sorted(port.device for port in list_ports.comports())


def serial_schema(defaults: dict[str, Any], ports: list[str]) -> vol.Schema:
    """A serial port and its line settings; ``defaults`` as stored (parity N/E/O)."""
    return vol.Schema(
        {
            vol.Required(
                CONF_DEVICE, default=defaults.get(CONF_DEVICE, ports[0] if ports else "")
            ): (
                selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=ports, custom_value=True, mode=selector.SelectSelectorMode.DROPDOWN
                    )
                )
            ),
            vol.Required(CONF_BAUDRATE, default=str(defaults.get(CONF_BAUDRATE, 9600))): (
                selector.SelectSelector(selector.SelectSelectorConfig(options=BAUD_RATES))
            ),
            vol.Required(
                CONF_PARITY, default=PARITY_KEYS.get(defaults.get(CONF_PARITY, "N"), "none")
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=["none", "even", "odd"], translation_key="parity"
                )
            ),
            vol.Required(CONF_STOPBITS, default=str(defaults.get(CONF_STOPBITS, 1))): (
                selector.SelectSelector(selector.SelectSelectorConfig(options=["1", "2"]))
            ),
            vol.Required(CONF_BYTESIZE, default=str(defaults.get(CONF_BYTESIZE, 8))): (
                selector.SelectSelector(selector.SelectSelectorConfig(options=["7", "8"]))
            ),
        }
    )


def socket_schema(defaults: dict[str, Any], default_port: int) -> vol.Schema:
    """A host and TCP port."""
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, "")): selector.TextSelector(),
            vol.Required(
                CONF_PORT, default=defaults.get(CONF_PORT, default_port)
            ): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                )
            ),
        }
    )

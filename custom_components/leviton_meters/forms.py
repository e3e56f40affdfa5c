"""The forms of the setup flow: their fields and selectors (the steps are in config_flow.py)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
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


#: Where udev names each serial adapter after what it is (maker, model, serial number): a name
#: that survives replugging and restarts, unlike /dev/ttyUSB0, which is handed out in the order
#: adapters appear.
SERIAL_BY_ID: Final = Path("/dev/serial/by-id")


def list_serial_ports() -> list[selector.SelectOptionDict]:
    """The serial ports this machine has, stable names first (blocking: run it in the executor).

    Every ``/dev/serial/by-id/...`` name comes first, labelled with the port it points to now;
    then the ports that have no such name (built-in UARTs, pseudo-terminals).
    """
    from serial.tools import list_ports

    return serial_port_options((port.device for port in list_ports.comports()), SERIAL_BY_ID)


def serial_port_options(devices: Iterable[str], by_id: Path) -> list[selector.SelectOptionDict]:
    """Options for the port selector: the stable names in ``by_id`` (those that point to a
    port), each with its port beside it, then the ``devices`` no stable name points to."""
    options: list[selector.SelectOptionDict] = []
    named: set[str] = set()
    links = sorted(by_id.iterdir()) if by_id.is_dir() else []
    for link in links:
        port = os.path.realpath(link)
        if not os.path.exists(port):
            continue  # an adapter that was unplugged: udev removes its name shortly
        named.add(port)
        options.append(selector.SelectOptionDict(value=str(link), label=f"{link} ({port})"))
    for device in sorted(set(devices)):
        if os.path.realpath(device) not in named:
            options.append(selector.SelectOptionDict(value=device, label=device))
    return options


def same_port(device: str, others: Iterable[str]) -> str:
    """The name among ``others`` (ports meters already use) of the port ``device`` names, or
    ``device`` itself: two names of one port must open one connection, which is keyed by the
    name (a by-id name and /dev/ttyUSB0 for the same adapter would open it twice)."""
    port = os.path.realpath(device)
    for other in others:
        if other == device or os.path.realpath(other) == port:
            return other
    return device


def serial_schema(defaults: dict[str, Any], ports: list[selector.SelectOptionDict]) -> vol.Schema:
    """A serial port and its line settings; ``defaults`` as stored (parity N/E/O)."""
    first = ports[0]["value"] if ports else ""
    return vol.Schema(
        {
            vol.Required(CONF_DEVICE, default=defaults.get(CONF_DEVICE, first)): (
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

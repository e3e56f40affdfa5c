"""Constants of the Leviton meters integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "leviton_meters"
MANUFACTURER: Final = "Leviton"

# Config entry data
CONF_CONNECTION: Final = "connection"
CONF_KIND: Final = "kind"
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_DEVICE: Final = "device"
CONF_BAUDRATE: Final = "baudrate"
CONF_PARITY: Final = "parity"
CONF_STOPBITS: Final = "stopbits"
CONF_BYTESIZE: Final = "bytesize"
CONF_TIMEOUT: Final = "timeout"
CONF_UNIT_ID: Final = "unit_id"
CONF_SERIES: Final = "series"

# Options
CONF_SCAN_INTERVAL: Final = "scan_interval"
CONF_DERIVED_POWER: Final = "derived_power"
CONF_PROFILE: Final = "profile"
CONF_UNAVAILABLE_AFTER: Final = "unavailable_after"

KIND_TCP: Final = "tcp"
KIND_RTU_TCP: Final = "rtu+tcp"
KIND_SERIAL: Final = "serial"

DEFAULT_SCAN_INTERVAL: Final = 30
MIN_SCAN_INTERVAL: Final = 1
MAX_SCAN_INTERVAL: Final = 3600
DEFAULT_TIMEOUT: Final = 1.0
#: Failed polls in a row before the sensors show unavailable: one lost frame is not an outage.
DEFAULT_UNAVAILABLE_AFTER: Final = 3
MAX_UNAVAILABLE_AFTER: Final = 100

#: How long a meter may stay unreachable before a repair issue says so.
UNREACHABLE_REPAIR_AFTER: Final = timedelta(hours=1)

SERVICE_RESET_PEAK_DEMAND: Final = "reset_peak_demand"

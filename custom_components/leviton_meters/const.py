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

#: The poll interval (seconds). 30 s by default: a Series 1000/2000 total steps in 0.1 kWh and
#: its peak demand is a 15-minute average, so few people need faster, and a bus of 8 meters
#: stays idle most of the time. The option goes down to 1 s because these are local wired
#: meters, not a service to spare: one poll is one short Modbus transaction (about 30 ms of
#: line time for a Series 1000/2000 at 9600 baud), and what bounds the interval is the line,
#: which the options form measures: it refuses an interval shorter than one pass over every
#: meter on the connection, with 20 % to spare (``scheduler.PASS_HEADROOM``).
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

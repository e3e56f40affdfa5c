"""What a bridge configuration is: plain, typed data. ``config.py`` reads and checks the YAML
file that holds it; everything else (pollers, MQTT, BACnet) takes these."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
DEFAULT_POLL_INTERVAL: Final = 10.0
POLL_INTERVAL_RANGE: Final = (0.1, 3600.0)
"""Seconds between polls of a bus (the example file and the README say the same)."""
DEFAULT_OFFLINE_AFTER: Final = 3
OFFLINE_AFTER_RANGE: Final = (1, 100)
"""Consecutive failed polls before a meter is shown offline: one lost frame is not an outage."""


def slug(text: str) -> str:
    """A topic- and id-safe form of a name: lower case letters, digits and underscores."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def default_state_dir() -> str:
    """The state directory when the configuration names none: systemd's ``StateDirectory=``
    (``$STATE_DIRECTORY``), else ``$XDG_STATE_HOME/leviton-bridge``, else
    ``~/.local/state/leviton-bridge``."""
    given = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if given:
        return given
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "leviton-bridge")


def default_meter_name(bus: str, unit: int) -> str:
    """A meter's name when the configuration gives it none."""
    return f"{bus} unit {unit}"


@dataclass(frozen=True, kw_only=True)
class MeterConfig:
    unit: int
    name: str
    series: str = "auto"
    profile: str | None = None
    bus: str = ""

    @cached_property
    def meter_id(self) -> str:
        """Stable id from the configuration (bus name and unit), known before the meter answers
        (worked out once: publishers use it for every message)."""
        return f"{slug(self.bus)}_u{self.unit}"


@dataclass(frozen=True, kw_only=True)
class BusConfig:
    name: str
    connect: str
    poll_interval: float
    meters: tuple[MeterConfig, ...]
    offline_after: int = DEFAULT_OFFLINE_AFTER


@dataclass(frozen=True, kw_only=True)
class MqttConfig:
    url: str
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    client_id: str = "leviton-bridge"
    discovery_prefix: str = "homeassistant"
    base_topic: str = "leviton"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    keepalive: int = 30


@dataclass(frozen=True, kw_only=True)
class BacnetConfig:
    address: str
    device_instance: int
    device_name: str = "Leviton meters bridge"
    vendor_identifier: int = 999
    location: str = ""
    description: str = "Leviton electricity submeters"
    bbmd: str | None = None
    ttl: int = 900
    trend_log_buffer: int = 1000
    """Records each trend log keeps for ReadRange (with a ``history:`` section)."""


DEFAULT_HTTP_LISTEN: Final = "127.0.0.1:8080"
MIN_TOKEN_LENGTH: Final = 16


@dataclass(frozen=True, kw_only=True)
class HttpConfig:
    """The status page, its API, ``/metrics`` and ``/healthz`` (the ``http:`` section)."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    """Asked of every request but ``/healthz`` when set (required beyond loopback)."""
    cert_file: str | None = None
    key_file: str | None = None
    max_connections: int = 256
    """Open connections at most; at the cap a new one closes the idlest."""
    max_live_pages: int = 32
    """Open pages (live-update streams) at most; more are answered 503."""
    idle_timeout: float = 15.0
    """Seconds a connection may sit without a request being answered (a keep-alive nobody
    uses, a request sent half) before it is closed."""

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    @property
    def listen(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """Where a browser on this host finds the page (a wildcard address shown as loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}/"


DEFAULT_MODBUS_LISTEN: Final = "127.0.0.1:5020"
LOOPBACK_NETWORKS: Final = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True, kw_only=True)
class ModbusServerConfig:
    """The Modbus TCP server face (the ``modbus_server:`` section)."""

    host: str = "127.0.0.1"
    port: int = 5020
    allow: tuple[str, ...] = LOOPBACK_NETWORKS
    """Client networks (CIDR) whose connections are accepted; others are closed at accept."""
    max_clients: int = 32
    idle_timeout: float = 60.0
    """Seconds a client may send nothing before its connection is closed."""
    writes: bool = False
    """Whether a write of a Series 1000/2000's demand-reset register resets it."""
    max_age: float | None = None
    """Seconds a meter's last poll may be old before its registers answer 0x0B (None: three
    poll intervals of its bus, at least 10 s)."""
    units: tuple[tuple[str, int], ...] = ()
    """(meter id, unit id) of meters served at another unit id than on their line."""

    @property
    def listen(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


HISTORY_INTERVALS: Final = (5, 15, 30, 60)
"""Minutes an interval of the history may last (a divisor of an hour, as meters log)."""
DEFAULT_HISTORY_INTERVAL: Final = 15
DEFAULT_HISTORY_KEEP: Final = 400
"""Days of intervals kept (13 months: this month against the same month last year)."""
HISTORY_DAYS_KEPT: Final = 3653
"""Days of daily rows kept: ten years."""


@dataclass(frozen=True, kw_only=True)
class HistoryConfig:
    """The interval store (the ``history:`` section)."""

    path: str
    """The SQLite file (default: ``history.sqlite3`` in the state directory)."""
    interval: int = DEFAULT_HISTORY_INTERVAL
    """Minutes: 5, 15, 30 or 60."""
    keep: int = DEFAULT_HISTORY_KEEP
    """Days of intervals kept; daily rows are kept ``HISTORY_DAYS_KEPT`` days."""

    @property
    def interval_s(self) -> int:
        return self.interval * 60


@dataclass(frozen=True, kw_only=True)
class BridgeConfig:
    buses: tuple[BusConfig, ...]
    mqtt: MqttConfig | None
    bacnet: BacnetConfig | None = None
    http: HttpConfig | None = None
    modbus_server: ModbusServerConfig | None = None
    history: HistoryConfig | None = None
    log_level: str = "info"
    state_dir: str = field(default_factory=lambda: default_state_dir())
    """Where the bridge keeps what outlives a restart (the totals it last showed)."""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def meters(self) -> list[MeterConfig]:
        return [meter for bus in self.buses for meter in bus.meters]

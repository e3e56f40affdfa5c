"""Reading and checking the bridge's YAML configuration, with errors that say where and what.

See ``leviton-bridge.example.yaml`` at the top of the repository for every key with comments,
and ``settings.py`` for what a checked configuration is.

Every problem is reported at once, one line each (``buses[0].meters[1].unit: 300 is out of
range; expected a Modbus unit id 1..247``), and whatever passes here, ``leviton-bridge run``
starts with: the checks include what would only fail at start (a BACnet port above 65535, a
profile file whose contents are wrong). A hostile file (not UTF-8, nested thousands deep, YAML
aliases that expand without bound, duplicate keys, numbers of thousands of digits, megabytes
in one value) gets the same kind of one-line problem, never a traceback or a hang.

What only a face can judge (BACnet instance numbers that clash between buses, object names
that clash in the device) is checked by the daemon (``daemon.check``), with the face's rules,
for ``check-config`` and ``run`` alike.

The schema is here, with the problems between values; ``validators.py`` holds the checks of
single values, and ``safe_yaml.py`` reads the file without letting it hang or crash us.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import voluptuous as vol

from leviton_driver import SERIES_CHOICES, ConfigurationError, parse_url
from leviton_driver.registers import UNIT_ID_MAX, UNIT_ID_MIN

from . import validators as valid
from .safe_yaml import MAX_DEPTH, parse_yaml
from .settings import (
    DEFAULT_HISTORY_INTERVAL,
    DEFAULT_HISTORY_KEEP,
    DEFAULT_HTTP_LISTEN,
    DEFAULT_MODBUS_LISTEN,
    DEFAULT_OFFLINE_AFTER,
    DEFAULT_POLL_INTERVAL,
    HISTORY_INTERVALS,
    LOG_LEVELS,
    LOOPBACK_NETWORKS,
    OFFLINE_AFTER_RANGE,
    BacnetConfig,
    BridgeConfig,
    BusConfig,
    HistoryConfig,
    HttpConfig,
    MeterConfig,
    ModbusServerConfig,
    MqttConfig,
    default_meter_name,
    default_state_dir,
    slug,
)

__all__ = [
    "BacnetConfig",
    "BridgeConfig",
    "BusConfig",
    "ConfigError",
    "HttpConfig",
    "MeterConfig",
    "MqttConfig",
    "load_config",
    "parse_config",
    "slug",
]


class ConfigError(ConfigurationError):
    """The configuration file is not valid; ``problems`` lists every mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


METER_SCHEMA: Final = vol.Schema(
    {
        vol.Required("unit"): valid.in_range(UNIT_ID_MIN, UNIT_ID_MAX, "a Modbus unit id"),
        vol.Optional("name"): valid.text(),
        vol.Optional("series", default="auto"): vol.All(
            vol.Coerce(str), vol.In(SERIES_CHOICES, msg="expected auto, 1000, 2000 or 8000")
        ),
        vol.Optional("profile"): valid.profile_file,
    }
)
BUS_SCHEMA: Final = vol.Schema(
    {
        vol.Required("name"): valid.text(),
        vol.Required("connect"): valid.connection_url,
        vol.Optional("poll_interval", default=DEFAULT_POLL_INTERVAL): valid.seconds,
        vol.Optional("offline_after", default=DEFAULT_OFFLINE_AFTER): valid.in_range(
            *OFFLINE_AFTER_RANGE, "a number of failed polls"
        ),
        vol.Required("meters"): valid.each(METER_SCHEMA, "list at least one meter"),
    }
)
MQTT_SCHEMA: Final = vol.Schema(
    {
        vol.Required("url"): valid.mqtt_url,
        vol.Optional("username"): valid.text(),
        # password and password_file exclude each other: checked with the other problems
        # between values, so that one run lists every other problem of the section too.
        vol.Optional("password"): vol.All(str, vol.Length(max=valid.MAX_TEXT)),
        vol.Optional("password_file"): valid.file_path,
        vol.Optional("client_id", default="leviton-bridge"): valid.text(),
        vol.Optional("discovery_prefix", default="homeassistant"): valid.topic,
        vol.Optional("base_topic", default="leviton"): valid.topic,
        vol.Optional("ca_file"): valid.file_path,
        vol.Optional("cert_file"): valid.file_path,
        vol.Optional("key_file"): valid.file_path,
        vol.Optional("tls_insecure", default=False): bool,
        vol.Optional("keepalive", default=30): valid.in_range(5, 3600, "seconds"),
    }
)
BACNET_SCHEMA: Final = vol.Schema(
    {
        vol.Required("address"): valid.bacnet_address,
        vol.Required("device_instance"): valid.in_range(0, 4194302, "a BACnet device instance"),
        vol.Optional("device_name", default="Leviton meters bridge"): valid.text(),
        vol.Optional("vendor_identifier", default=999): valid.in_range(
            0, 65535, "a vendor identifier"
        ),
        vol.Optional("location", default=""): vol.All(str, vol.Length(max=valid.MAX_TEXT)),
        vol.Optional("description", default="Leviton electricity submeters"): vol.All(
            str, vol.Length(max=valid.MAX_TEXT)
        ),
        vol.Optional("bbmd"): valid.bbmd,
        vol.Optional("ttl", default=900): valid.in_range(30, 65535, "seconds"),
        vol.Optional("trend_log_buffer", default=1000): valid.in_range(
            10, 100_000, "trend log records"
        ),
    }
)
HTTP_SCHEMA: Final = vol.Schema(
    {
        vol.Optional("listen", default=DEFAULT_HTTP_LISTEN): valid.listen_address,
        # token and token_file exclude each other, and listening beyond loopback needs one:
        # checked with the other problems between values.
        vol.Optional("token"): valid.token,
        vol.Optional("token_file"): valid.file_path,
        vol.Optional("cert_file"): valid.file_path,
        vol.Optional("key_file"): valid.file_path,
        vol.Optional("max_connections", default=256): valid.in_range(8, 100_000, "connections"),
        vol.Optional("max_live_pages", default=32): valid.in_range(1, 10_000, "pages"),
        vol.Optional("idle_timeout", default=15.0): valid.seconds,
    }
)
MODBUS_SERVER_SCHEMA: Final = vol.Schema(
    {
        vol.Optional("listen", default=DEFAULT_MODBUS_LISTEN): valid.listen_address,
        # "allow" is required beyond loopback: checked with the problems between values.
        vol.Optional("allow"): vol.All(
            [valid.network], vol.Length(min=1, max=256, msg="list 1 to 256 client networks")
        ),
        vol.Optional("max_clients", default=32): valid.in_range(1, 1024, "clients"),
        vol.Optional("idle_timeout", default=60.0): valid.seconds,
        vol.Optional("writes", default=False): bool,
        vol.Optional("max_age"): valid.seconds,
        vol.Optional("units", default=dict): vol.Schema(
            {valid.text(80): valid.in_range(UNIT_ID_MIN, UNIT_ID_MAX, "a Modbus unit id")}
        ),
    }
)
HISTORY_SCHEMA: Final = vol.Schema(
    {
        vol.Optional("path"): valid.store_path,
        vol.Optional("interval", default=DEFAULT_HISTORY_INTERVAL): vol.All(
            valid.not_bool,
            vol.In(HISTORY_INTERVALS, msg="expected minutes: 5, 15, 30 or 60"),
        ),
        vol.Optional("keep", default=DEFAULT_HISTORY_KEEP): valid.in_range(
            1, 3653, "days of intervals"
        ),
    }
)
CONFIG_SCHEMA: Final = vol.Schema(
    {
        vol.Required("buses"): valid.each(BUS_SCHEMA, "list at least one bus"),
        vol.Optional("mqtt"): MQTT_SCHEMA,
        vol.Optional("bacnet"): BACNET_SCHEMA,
        vol.Optional("http"): HTTP_SCHEMA,
        vol.Optional("modbus_server"): MODBUS_SERVER_SCHEMA,
        vol.Optional("history"): HISTORY_SCHEMA,
        vol.Optional("log_level", default="info"): vol.In(
            LOG_LEVELS, msg="expected debug, info, warning or error"
        ),
        vol.Optional("state_dir"): valid.folder_path,
    }
)


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, str):
            part = str.__str__(part)  # voluptuous shows some keys as <key>
        elif not isinstance(part, int):
            part = repr(part)[:40]  # a key that is not a text (a number, a list)
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _problem(error: vol.Invalid) -> str:
    message = error.msg
    if message == "extra keys not allowed":
        message = "unknown key (check the spelling; see leviton-bridge.example.yaml)"
    elif message == "required key not provided":
        message = "required, but missing"
    return f"{_path(error.path)}: {message}"


def parse_config(data: Any, source: str) -> BridgeConfig:
    """Validate parsed YAML; raise ``ConfigError`` listing every problem, each with its path."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["expected a mapping with buses: (and mqtt:, bacnet:, ...)"])
    problems: list[str] = []
    valid: dict[str, Any] | None = None
    for section in ("http", "modbus_server", "history"):
        if section in data and data[section] is None:
            data = {**data, section: {}}  # "http:" alone: the section with its defaults
    try:
        valid = CONFIG_SCHEMA(data)
    except vol.MultipleInvalid as err:
        problems.extend(_problem(e) for e in err.errors)
    # Problems between values are looked for even when some values are wrong, so that one run
    # of check-config lists everything there is to fix.
    problems.extend(_bus_problems(data.get("buses")))
    password = _mqtt_problems(data.get("mqtt"), problems)
    token = _http_problems(data.get("http"), problems)
    _modbus_server_problems(data.get("modbus_server"), data.get("buses"), problems)
    if not any(face in data for face in ("mqtt", "bacnet", "modbus_server")):
        problems.append(
            "(top level): configure mqtt:, bacnet: or modbus_server: (or several); otherwise "
            "the bridge publishes nothing"
        )
    if problems or valid is None:
        raise ConfigError(source, problems)
    buses = tuple(
        BusConfig(
            name=bus["name"],
            connect=bus["connect"],
            poll_interval=bus["poll_interval"],
            offline_after=bus["offline_after"],
            meters=tuple(
                MeterConfig(
                    unit=meter["unit"],
                    name=meter.get("name") or default_meter_name(bus["name"], meter["unit"]),
                    series=meter["series"],
                    profile=meter.get("profile"),
                    bus=bus["name"],
                )
                for meter in bus["meters"]
            ),
        )
        for bus in valid["buses"]
    )
    mqtt = _mqtt(valid["mqtt"], password) if "mqtt" in valid else None
    bacnet = BacnetConfig(**valid["bacnet"]) if "bacnet" in valid else None
    http = _http(valid["http"], token) if "http" in valid else None
    modbus_server = _modbus_server(valid["modbus_server"]) if "modbus_server" in valid else None
    state_dir = valid.get("state_dir") or default_state_dir()
    history = _history(valid["history"], state_dir) if "history" in valid else None
    return BridgeConfig(
        buses=buses,
        mqtt=mqtt,
        bacnet=bacnet,
        http=http,
        modbus_server=modbus_server,
        history=history,
        log_level=valid["log_level"],
        state_dir=state_dir,
        source=source,
    )


def _history(data: dict[str, Any], state_dir: str) -> HistoryConfig:
    path = data.get("path") or str(Path(state_dir) / "history.sqlite3")
    return HistoryConfig(path=path, interval=data["interval"], keep=data["keep"])


def _bus_problems(buses: Any) -> list[str]:
    """Clashes between buses and between meters (on the raw data; wrong values are skipped)."""
    problems: list[str] = []
    if not isinstance(buses, list):
        return problems
    names: dict[str, str] = {}
    endpoints: dict[Any, str] = {}
    for index, bus in enumerate(buses):
        if not isinstance(bus, dict):
            continue
        name = bus.get("name")
        if isinstance(name, str) and name.strip() and len(name) <= valid.MAX_TEXT:
            if slug(name) in names:
                problems.append(
                    f"buses[{index}].name: {name!r} clashes with bus {names[slug(name)]!r} "
                    "(bus names become topic and id parts: give each bus its own name)"
                )
            names.setdefault(slug(name), name)
        connect = bus.get("connect")
        if isinstance(connect, str) and len(connect) <= valid.MAX_URL:
            try:
                endpoint = parse_url(connect).params.endpoint
            except ConfigurationError:
                endpoint = None  # reported by the schema
            if endpoint is not None and endpoint in endpoints:
                problems.append(
                    f"buses[{index}].connect: the same link as bus {endpoints[endpoint]!r}; "
                    "list every meter of one bus under one bus"
                )
            if endpoint is not None:
                endpoints.setdefault(endpoint, str(name))
        meters = bus.get("meters")
        if not isinstance(meters, list):
            continue
        units: set[int] = set()
        for number, meter in enumerate(meters):
            if not isinstance(meter, dict):
                continue
            unit = meter.get("unit")
            if isinstance(unit, int) and not isinstance(unit, bool):
                if unit in units:
                    problems.append(
                        f"buses[{index}].meters[{number}].unit: unit {unit} is listed twice"
                    )
                units.add(unit)
            series = str(meter.get("series", "auto"))[:20]
            if meter.get("profile") and series in SERIES_CHOICES and series not in ("8000", "auto"):
                problems.append(
                    f"buses[{index}].meters[{number}].profile: only a Series 8000 takes a profile"
                )
    return problems


def _mqtt_problems(data: Any, problems: list[str]) -> str | None:
    """Check how the mqtt: values go together; returns the password (read from its file)."""
    if not isinstance(data, dict):
        return None
    password = data.get("password")
    password_file = data.get("password_file")
    if password is not None and password_file is not None:
        problems.append("mqtt.password: give password or password_file, not both")
    elif isinstance(password_file, str):
        try:
            path = valid.resolve(password_file)
            if path.is_file():
                password = path.read_text(encoding="utf-8").strip()
        except vol.Invalid:
            pass  # reported by the schema
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            problems.append(f"mqtt.password_file: {password_file} cannot be read ({why})")
    if (password is not None or password_file is not None) and "username" not in data:
        problems.append("mqtt.password: a password needs a username")
    if ("cert_file" in data) != ("key_file" in data):
        problems.append("mqtt.cert_file: give cert_file and key_file together")
    _tls_problems(data, problems)
    url = data.get("url")
    try:
        scheme = urlsplit(url).scheme if isinstance(url, str) else None
    except ValueError:
        scheme = None  # reported by the schema
    if scheme == "mqtt":
        if any(k in data for k in ("ca_file", "cert_file", "key_file")):
            problems.append("mqtt.url: TLS files need an mqtts:// URL")
        if data.get("tls_insecure") is True:
            problems.append("mqtt.tls_insecure: only means something with an mqtts:// URL")
    return password if isinstance(password, str) else None


def _http_problems(data: Any, problems: list[str]) -> str | None:
    """Check how the http: values go together; returns the token read from token_file."""
    if not isinstance(data, dict):
        return None
    token = data.get("token")
    token_file = data.get("token_file")
    from_file: str | None = None
    if token is not None and token_file is not None:
        problems.append("http.token: give token or token_file, not both")
    elif isinstance(token_file, str):
        text: str | None = None
        try:
            path = valid.resolve(token_file)
            text = path.read_text(encoding="utf-8") if path.is_file() else None
        except vol.Invalid:
            pass  # reported by the schema
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            problems.append(f"http.token_file: {token_file} cannot be read ({why})")
        if text is not None:
            try:
                from_file = valid.token(text)
            except vol.Invalid as err:
                problems.append(f"http.token_file: {token_file} holds no usable token: {err.msg}")
    listen = data.get("listen", DEFAULT_HTTP_LISTEN)
    try:
        host = valid.split_listen(listen)[0] if isinstance(listen, str) else ""
    except vol.Invalid:
        host = ""  # reported by the schema
    if host and not valid.is_loopback(host) and token is None and token_file is None:
        problems.append(
            f"http.listen: {listen.strip()} can be reached from other hosts: set http.token or "
            "http.token_file (every request but /healthz must then give it), or listen on "
            "127.0.0.1"
        )
    if ("cert_file" in data) != ("key_file" in data):
        problems.append("http.cert_file: give cert_file and key_file together")
    _tls_problems(data, problems, "http")
    return from_file


def _modbus_server_problems(data: Any, buses: Any, problems: list[str]) -> None:
    """How the modbus_server: values go together with the buses: ``allow`` given whenever
    clients beyond this host could connect; every meter served at a unit id of its own."""
    if not isinstance(data, dict):
        return
    listen = data.get("listen", DEFAULT_MODBUS_LISTEN)
    try:
        host = valid.split_listen(listen)[0] if isinstance(listen, str) else ""
    except vol.Invalid:
        host = ""  # reported by the schema
    if host and not valid.is_loopback(host) and "allow" not in data:
        problems.append(
            f"modbus_server.listen: {listen.strip()} can be reached from other hosts: list the "
            "client networks in modbus_server.allow (e.g. [192.168.1.0/24]), or listen on "
            "127.0.0.1"
        )
    units = data.get("units") or {}
    if not isinstance(units, dict) or not isinstance(buses, list):
        return
    meters: dict[str, int] = {}
    for bus in buses:
        if not isinstance(bus, dict) or not isinstance(bus.get("name"), str):
            continue
        for meter in bus.get("meters") or []:
            if isinstance(meter, dict) and isinstance(meter.get("unit"), int):
                meters[f"{slug(bus['name'])}_u{meter['unit']}"] = meter["unit"]
    for meter_id in units:
        if meter_id not in meters:
            known = ", ".join(sorted(meters)[:8])
            problems.append(
                f"modbus_server.units.{str(meter_id)[:60]}: no such meter; keys are meter ids "
                f"(<bus>_u<unit>): {known}"
            )
    served: dict[int, str] = {}
    for meter_id, line_unit in meters.items():
        unit = units.get(meter_id, line_unit)
        if not isinstance(unit, int):
            continue
        if unit in served:
            problems.append(
                f"modbus_server: {served[unit]} and {meter_id} would both be served at unit "
                f"{unit}; serve one at another: modbus_server.units: {{{meter_id}: N}}"
            )
        else:
            served[unit] = meter_id


def _modbus_server(data: dict[str, Any]) -> ModbusServerConfig:
    host, port = valid.split_listen(data["listen"])
    return ModbusServerConfig(
        host=host,
        port=port,
        allow=tuple(data.get("allow") or LOOPBACK_NETWORKS),
        max_clients=data["max_clients"],
        idle_timeout=data["idle_timeout"],
        writes=data["writes"],
        max_age=data.get("max_age"),
        units=tuple(sorted(data["units"].items())),
    )


def _http(data: dict[str, Any], token_from_file: str | None) -> HttpConfig:
    host, port = valid.split_listen(data["listen"])
    return HttpConfig(
        host=host,
        port=port,
        token=data.get("token") or token_from_file,
        cert_file=data.get("cert_file"),
        key_file=data.get("key_file"),
        max_connections=data["max_connections"],
        max_live_pages=data["max_live_pages"],
        idle_timeout=data["idle_timeout"],
    )


def _tls_problems(data: dict[str, Any], problems: list[str], section: str = "mqtt") -> None:
    """TLS files that exist but that TLS cannot use (not PEM, or a key that does not fit)."""

    def usable(key: str) -> Path | None:
        value = data.get(key)
        if not isinstance(value, str):
            return None
        try:
            path = valid.resolve(value)
            return path if path.is_file() else None
        except (vol.Invalid, OSError, ValueError):
            return None  # reported by the schema

    if (ca := usable("ca_file")) is not None:
        try:
            ssl.create_default_context(cafile=str(ca))
        except (ssl.SSLError, OSError, ValueError) as err:
            problems.append(
                f"{section}.ca_file: {data['ca_file']} is not a usable CA certificate in PEM form "
                f"({getattr(err, 'reason', None) or err})"
            )
    cert, key = usable("cert_file"), usable("key_file")
    if cert is not None and key is not None:
        try:
            ssl.create_default_context().load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError, ValueError) as err:
            problems.append(
                f"{section}.cert_file: {data['cert_file']} and key_file {data['key_file']} are not a "
                f"certificate and its key in PEM form ({getattr(err, 'reason', None) or err})"
            )


def _mqtt(data: dict[str, Any], password: str | None) -> MqttConfig:
    parts = urlsplit(data["url"])
    tls = parts.scheme == "mqtts"
    return MqttConfig(
        url=data["url"],
        host=parts.hostname or "",
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=data.get("username"),
        password=password,
        client_id=data["client_id"],
        discovery_prefix=data["discovery_prefix"],
        base_topic=data["base_topic"],
        ca_file=data.get("ca_file"),
        cert_file=data.get("cert_file"),
        key_file=data.get("key_file"),
        tls_insecure=data["tls_insecure"],
        keepalive=data["keepalive"],
    )


def load_config(path: str | Path) -> BridgeConfig:
    """Read and validate a configuration file (``ConfigError`` lists what is wrong)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(file), ["no such file"]) from None
    except OSError as err:
        raise ConfigError(str(file), [f"cannot be read ({err.strerror})"]) from None
    try:
        data = parse_yaml(raw)
    except ValueError as err:
        raise ConfigError(str(file), [str(err)]) from None
    token = valid.CONFIG_FOLDER.set(file.resolve().parent)
    try:
        return parse_config(data, str(file))
    except RecursionError:
        raise ConfigError(str(file), [f"nested more than {MAX_DEPTH} levels deep"]) from None
    finally:
        valid.CONFIG_FOLDER.reset(token)

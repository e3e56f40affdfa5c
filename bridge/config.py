"""The bridge's YAML configuration: schema, loading, and errors that say where and what.

See ``leviton-bridge.example.yaml`` at the top of the repository for every key with comments.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import voluptuous as vol
import yaml

from leviton_driver import SERIES_CHOICES, ConfigurationError, parse_url
from leviton_driver.registers import UNIT_ID_MAX, UNIT_ID_MIN

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
DEFAULT_POLL_INTERVAL: Final = 10.0


class ConfigError(ConfigurationError):
    """The configuration file is not valid; ``problems`` lists every mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def slug(text: str) -> str:
    """A topic- and id-safe form of a name: lower case letters, digits and underscores."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


@dataclass(frozen=True, kw_only=True)
class MeterConfig:
    unit: int
    name: str
    series: str = "auto"
    profile: str | None = None
    bus: str = ""

    @property
    def meter_id(self) -> str:
        """Stable id from the configuration (bus name and unit), known before the meter answers."""
        return f"{slug(self.bus)}_u{self.unit}"


@dataclass(frozen=True, kw_only=True)
class BusConfig:
    name: str
    connect: str
    poll_interval: float
    meters: tuple[MeterConfig, ...]


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


@dataclass(frozen=True, kw_only=True)
class BridgeConfig:
    buses: tuple[BusConfig, ...]
    mqtt: MqttConfig | None
    bacnet: BacnetConfig | None = None
    log_level: str = "info"
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def meters(self) -> list[MeterConfig]:
        return [meter for bus in self.buses for meter in bus.meters]


# -- validators with messages a person can act on -----------------------------------------


def _connection_url(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("expected a connection URL such as rtu+tcp://10.0.0.7:4196")
    try:
        parse_url(value)
    except ConfigurationError as err:
        raise vol.Invalid(str(err)) from None
    return value


def _mqtt_url(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise vol.Invalid(f"{value!r} is not a valid URL; expected mqtt://HOST[:PORT]") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise vol.Invalid(f"{value!r}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    return value


def _whole(low: int, high: int, what: str) -> vol.All:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected {what}, a whole number {low}..{high}")
        if not low <= value <= high:
            raise vol.Invalid(f"{value} is out of range; expected {what} {low}..{high}")
        return value

    return vol.All(check)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= 3600:
        raise vol.Invalid("expected seconds between 0.1 and 3600")
    return float(value)


def _topic(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not value
        or any(c in value for c in "#+\0")
        or value.endswith("/")
    ):
        raise vol.Invalid("expected an MQTT topic without wildcards (# +) or a trailing /")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("expected a non-empty text")
    return value.strip()


_BASE: ContextVar[Path | None] = ContextVar("config_base", default=None)
"""The configuration file's folder: relative paths in the file are relative to it."""


def _resolve(value: str) -> Path:
    path = Path(value).expanduser()
    base = _BASE.get()
    return base / path if base is not None and not path.is_absolute() else path


def _file(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise vol.Invalid("expected a file path")
    path = _resolve(value)
    if not path.is_file():
        shown = value if str(path) == value else f"{value} ({path})"
        raise vol.Invalid(f"no such file: {shown}")
    return str(path)


def _each(schema: vol.Schema, empty: str) -> Callable[[Any], list[Any]]:
    """A non-empty list whose items all match ``schema``, reporting the problems of every item.

    (Voluptuous's own ``[schema]`` stops at the first item with a problem inside it.)
    """

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise vol.Invalid(f"expected a list; {empty}")
        if not value:
            raise vol.Invalid(empty)
        items: list[Any] = []
        errors: list[vol.Invalid] = []
        for index, item in enumerate(value):
            try:
                items.append(schema(item))
            except vol.MultipleInvalid as err:
                for error in err.errors:
                    error.prepend([index])
                    errors.append(error)
            except vol.Invalid as err:
                err.prepend([index])
                errors.append(err)
        if errors:
            raise vol.MultipleInvalid(errors)
        return items

    return check


METER_SCHEMA: Final = vol.Schema(
    {
        vol.Required("unit"): _whole(UNIT_ID_MIN, UNIT_ID_MAX, "a Modbus unit id"),
        vol.Optional("name"): _text,
        vol.Optional("series", default="auto"): vol.All(
            vol.Coerce(str), vol.In(SERIES_CHOICES, msg="expected auto, 1000, 2000 or 8000")
        ),
        vol.Optional("profile"): _file,
    }
)
BUS_SCHEMA: Final = vol.Schema(
    {
        vol.Required("name"): _text,
        vol.Required("connect"): _connection_url,
        vol.Optional("poll_interval", default=DEFAULT_POLL_INTERVAL): _seconds,
        vol.Required("meters"): _each(METER_SCHEMA, "list at least one meter"),
    }
)
MQTT_SCHEMA: Final = vol.Schema(
    {
        vol.Required("url"): _mqtt_url,
        vol.Optional("username"): _text,
        vol.Exclusive("password", "password"): str,
        vol.Exclusive("password_file", "password"): _file,
        vol.Optional("client_id", default="leviton-bridge"): _text,
        vol.Optional("discovery_prefix", default="homeassistant"): _topic,
        vol.Optional("base_topic", default="leviton"): _topic,
        vol.Optional("ca_file"): _file,
        vol.Optional("cert_file"): _file,
        vol.Optional("key_file"): _file,
        vol.Optional("tls_insecure", default=False): bool,
        vol.Optional("keepalive", default=30): _whole(5, 3600, "seconds"),
    }
)
BACNET_SCHEMA: Final = vol.Schema(
    {
        vol.Required("address"): _text,
        vol.Required("device_instance"): _whole(0, 4194302, "a BACnet device instance"),
        vol.Optional("device_name", default="Leviton meters bridge"): _text,
        vol.Optional("vendor_identifier", default=999): _whole(0, 65535, "a vendor identifier"),
        vol.Optional("location", default=""): str,
        vol.Optional("description", default="Leviton electricity submeters"): str,
        vol.Optional("bbmd"): _text,
        vol.Optional("ttl", default=900): _whole(30, 65535, "seconds"),
    }
)
CONFIG_SCHEMA: Final = vol.Schema(
    {
        vol.Required("buses"): _each(BUS_SCHEMA, "list at least one bus"),
        vol.Optional("mqtt"): MQTT_SCHEMA,
        vol.Optional("bacnet"): BACNET_SCHEMA,
        vol.Optional("log_level", default="info"): vol.In(
            LOG_LEVELS, msg="expected debug, info, warning or error"
        ),
    }
)


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, str):
            part = str.__str__(part)  # voluptuous shows an exclusion group's key as <key>
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _problem(error: vol.Invalid) -> str:
    message = error.msg
    if message == "extra keys not allowed":
        message = "unknown key (check the spelling; see leviton-bridge.example.yaml)"
    elif message == "required key not provided":
        message = "required, but missing"
    elif message.startswith("two or more values in the same group of exclusion"):
        message = "give password or password_file, not both"
    return f"{_path(error.path)}: {message}"


def parse_config(data: Any, source: str) -> BridgeConfig:
    """Validate parsed YAML; raise ``ConfigError`` listing every problem, each with its path."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["expected a mapping with buses: (and mqtt:, bacnet:)"])
    problems: list[str] = []
    valid: dict[str, Any] | None = None
    try:
        valid = CONFIG_SCHEMA(data)
    except vol.MultipleInvalid as err:
        problems.extend(_problem(e) for e in err.errors)
    # Problems between values are looked for even when some values are wrong, so that one run
    # of check-config lists everything there is to fix.
    problems.extend(_bus_problems(data.get("buses")))
    password = _mqtt_problems(data.get("mqtt"), problems)
    if "mqtt" not in data and "bacnet" not in data:
        problems.append(
            "(top level): configure mqtt:, bacnet: or both; otherwise the bridge publishes nothing"
        )
    if problems or valid is None:
        raise ConfigError(source, problems)
    buses = tuple(
        BusConfig(
            name=bus["name"],
            connect=bus["connect"],
            poll_interval=bus["poll_interval"],
            meters=tuple(
                MeterConfig(
                    unit=meter["unit"],
                    name=meter.get("name") or f"{bus['name']} unit {meter['unit']}",
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
    if bacnet is not None:
        # Bus-code and name clashes of the BACnet device, reported before anything starts.
        from .bacnet_mapping import check_objects  # the BACnet mapping imports this module

        clashes = check_objects(bacnet, buses, [meter for bus in buses for meter in bus.meters])
        if clashes:
            raise ConfigError(source, [f"bacnet: {clash}" for clash in clashes])
    return BridgeConfig(
        buses=buses, mqtt=mqtt, bacnet=bacnet, log_level=valid["log_level"], source=source
    )


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
        if isinstance(name, str) and name.strip():
            if slug(name) in names:
                problems.append(
                    f"buses[{index}].name: {name!r} clashes with bus {names[slug(name)]!r} "
                    "(bus names become topic and id parts: give each bus its own name)"
                )
            names.setdefault(slug(name), name)
        connect = bus.get("connect")
        if isinstance(connect, str):
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
            series = str(meter.get("series", "auto"))
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
    if isinstance(password_file, str) and _resolve(password_file).is_file():
        try:
            password = _resolve(password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            problems.append(f"mqtt.password_file: {password_file} cannot be read ({why})")
    if (password is not None or password_file is not None) and "username" not in data:
        problems.append("mqtt.password: a password needs a username")
    if ("cert_file" in data) != ("key_file" in data):
        problems.append("mqtt.cert_file: give cert_file and key_file together")
    _tls_problems(data, problems)
    url = data.get("url")
    if isinstance(url, str) and urlsplit(url).scheme == "mqtt":
        if any(k in data for k in ("ca_file", "cert_file", "key_file")):
            problems.append("mqtt.url: TLS files need an mqtts:// URL")
        if data.get("tls_insecure") is True:
            problems.append("mqtt.tls_insecure: only means something with an mqtts:// URL")
    return password if isinstance(password, str) else None


def _tls_problems(data: dict[str, Any], problems: list[str]) -> None:
    """TLS files that exist but that TLS cannot use (not PEM, or a key that does not fit)."""

    def usable(key: str) -> Path | None:
        value = data.get(key)
        return _resolve(value) if isinstance(value, str) and _resolve(value).is_file() else None

    if (ca := usable("ca_file")) is not None:
        try:
            ssl.create_default_context(cafile=str(ca))
        except (ssl.SSLError, OSError, ValueError) as err:
            problems.append(
                f"mqtt.ca_file: {data['ca_file']} is not a usable CA certificate in PEM form "
                f"({getattr(err, 'reason', None) or err})"
            )
    cert, key = usable("cert_file"), usable("key_file")
    if cert is not None and key is not None:
        try:
            ssl.create_default_context().load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError, ValueError) as err:
            problems.append(
                f"mqtt.cert_file: {data['cert_file']} and key_file {data['key_file']} are not a "
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
    """Read and validate a configuration file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(file), ["no such file"]) from None
    except OSError as err:
        raise ConfigError(str(file), [f"cannot be read ({err.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(str(file), [_yaml_problem(err)]) from None
    token = _BASE.set(file.resolve().parent)
    try:
        return parse_config(data, str(file))
    finally:
        _BASE.reset(token)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line: where the YAML broke, and how."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where}: {problem}" + (f" ({context})" if context else "")

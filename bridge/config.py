"""Reading and checking the bridge's YAML configuration, with errors that say where and what.

See ``leviton-bridge.example.yaml`` at the top of the repository for every key with comments,
and ``settings.py`` for what a checked configuration is.

Every problem is reported at once, one line each (``buses[0].meters[1].unit: 300 is out of
range; expected a Modbus unit id 1..247``), and whatever passes here, ``leviton-bridge run``
starts with: the checks include what would only fail at start (a BACnet port above 65535, a
profile file whose contents are wrong). A hostile file (not UTF-8, nested thousands deep, YAML
aliases that expand without bound, duplicate keys, numbers of thousands of digits, megabytes
in one value) gets the same kind of one-line problem, never a traceback or a hang.

The schema uses voluptuous's own validators (``Range``, ``Length``, ``Strip``, ``In``...);
what it lacks is written here: reporting the problems of every item of a list (its ``[schema]``
stops at the first item with a problem) and problems between values.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import voluptuous as vol
import yaml

from leviton_driver import SERIES_CHOICES, ConfigurationError, LevitonError, load_profile, parse_url
from leviton_driver.registers import UNIT_ID_MAX, UNIT_ID_MIN

from .settings import (
    DEFAULT_OFFLINE_AFTER,
    DEFAULT_POLL_INTERVAL,
    LOG_LEVELS,
    OFFLINE_AFTER_RANGE,
    POLL_INTERVAL_RANGE,
    BacnetConfig,
    BridgeConfig,
    BusConfig,
    MeterConfig,
    MqttConfig,
    slug,
)

__all__ = [
    "BacnetConfig",
    "BridgeConfig",
    "BusConfig",
    "ConfigError",
    "MeterConfig",
    "MqttConfig",
    "load_config",
    "parse_config",
    "slug",
]

#: Sizes beyond any real configuration, which a hostile file must not get past.
MAX_FILE_BYTES: Final = 1_000_000
MAX_VALUES: Final = 100_000
"""Values in the parsed file, counting each use of a YAML alias (a "billion laughs" file
expands to billions)."""
MAX_DEPTH: Final = 64
MAX_TEXT: Final = 200
"""Characters in a name, topic or other short text."""
MAX_URL: Final = 1000


class ConfigError(ConfigurationError):
    """The configuration file is not valid; ``problems`` lists every mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


# -- YAML that cannot hang or crash us -------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (the second one would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} is given twice (first at line {seen[key] + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _size_problem(data: Any) -> str | None:
    """Whether the parsed file is absurdly large or deep once its aliases are expanded."""
    budget = MAX_VALUES
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return (
                f"more than {MAX_VALUES} values (counting every use of a YAML alias); a bridge "
                "configuration is far smaller"
            )
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None


def _parse_yaml(raw: bytes) -> Any:
    """The file's data; raises ``ValueError`` with one line saying what is wrong with it."""
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{len(raw)} bytes; a bridge configuration is far smaller")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"not UTF-8 text (byte {err.start + 1} is {raw[err.start]:#04x})"
        ) from None
    if "\0" in text:
        raise ValueError(f"contains a NUL character (at offset {text.index(chr(0))})")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        raise ValueError(_yaml_problem(err)) from None
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise ValueError(f"a value cannot be read ({err})") from None
    if (problem := _size_problem(data)) is not None:
        raise ValueError(problem)
    return data


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line: where the YAML broke, and how."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where}: {problem}" + (f" ({context})" if context else "")


# -- validators with messages a person can act on ---------------------------------------------


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise vol.Invalid("expected a number, not true/false")
    return value


def _in_range(low: int, high: int, what: str) -> Callable[[Any], int]:
    """A whole number in a range; the message repeats the value and names the range."""
    check = vol.Schema(vol.All(_not_bool, int))

    def validate(value: Any) -> int:
        try:
            number: int = check(value)
        except vol.Invalid:
            raise vol.Invalid(f"expected {what}, a whole number {low}..{high}") from None
        if not low <= number <= high:
            shown = str(number) if len(str(number)) <= 20 else f"{str(number)[:20]}..."
            raise vol.Invalid(f"{shown} is out of range; expected {what} {low}..{high}")
        return number

    return validate


def _seconds(value: Any) -> float:
    low, high = POLL_INTERVAL_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise vol.Invalid(f"expected seconds between {low:g} and {high:g}")
    return float(value)


def _text(max_length: int = MAX_TEXT) -> vol.All:
    """A non-empty text (spaces around it dropped), at most ``max_length`` characters."""
    return vol.All(
        vol.Msg(str, "expected a text"),
        vol.Strip,
        vol.Length(
            min=1,
            max=max_length,
            msg=f"expected a non-empty text of at most {max_length} characters",
        ),
        _printable,
    )


def _printable(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise vol.Invalid("control characters are not allowed")
    return value


def _connection_url(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("expected a connection URL such as rtu+tcp://10.0.0.7:4196")
    if len(value) > MAX_URL:
        raise vol.Invalid(f"a connection URL of {len(value)} characters; expected a short URL")
    try:
        parse_url(value)
    except ConfigurationError as err:
        raise vol.Invalid(str(err)) from None
    return value


def _mqtt_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL:
        raise vol.Invalid("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise vol.Invalid(f"{value!r} is not a valid URL; expected mqtt://HOST[:PORT]") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise vol.Invalid(f"{value!r}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    if len(parts.hostname) > 253:
        raise vol.Invalid("the broker's host name is longer than a host name can be (253)")
    return value


def _topic(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_TEXT
        or any(c in value for c in "#+\0")
        or value.endswith("/")
    ):
        raise vol.Invalid("expected an MQTT topic without wildcards (# +) or a trailing /")
    return value


_ADDRESS_RE: Final = re.compile(
    r"(?P<host>[0-9.]+)(?:/(?P<prefix>\d{1,2}))?(?::(?P<port>\d{1,5}))?"
)


def _bacnet_address(value: Any) -> str:
    """``IPv4[/prefix][:port]``, checked as bacpypes3 will need it to start."""
    if not isinstance(value, str) or not (match := _ADDRESS_RE.fullmatch(value.strip())):
        raise vol.Invalid(
            "expected this host's IPv4 address with its netmask and optionally a UDP port, "
            "e.g. 192.168.1.10/24 or 192.168.1.10/24:47809"
        )
    try:
        ipaddress.IPv4Address(match["host"])
    except ValueError:
        raise vol.Invalid(f"{match['host']!r} is not an IPv4 address") from None
    if match["prefix"] is not None and not 0 <= int(match["prefix"]) <= 32:
        raise vol.Invalid(f"netmask /{match['prefix']} is not 0..32")
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        raise vol.Invalid(f"UDP port {match['port']} is not 1..65535")
    return value.strip()


def _bbmd(value: Any) -> str:
    """A BBMD's ``IPv4[:port]``."""
    text: str = _text()(value)
    host, _, port = text.partition(":")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise vol.Invalid(f"{text!r}: expected a BBMD's IPv4 address, optionally :port") from None
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise vol.Invalid(f"{text!r}: UDP port {port} is not 1..65535")
    return text


_BASE: ContextVar[Path | None] = ContextVar("config_base", default=None)
"""The configuration file's folder: relative paths in the file are relative to it."""


def _resolve(value: str) -> Path:
    """A path of the file, relative to the file's folder; ``~user`` that does not exist is an
    error, not a crash."""
    path = Path(value)
    try:
        path = path.expanduser()
    except RuntimeError:
        raise vol.Invalid(f"{value}: cannot expand ~ (no such user, or no home folder)") from None
    base = _BASE.get()
    return base / path if base is not None and not path.is_absolute() else path


def _file(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 4096 or "\0" in value:
        raise vol.Invalid("expected a file path")
    path = _resolve(value)
    try:
        found = path.is_file()
    except OSError as err:
        raise vol.Invalid(f"{value}: cannot be checked ({err.strerror})") from None
    if not found:
        shown = value if str(path) == value else f"{value} ({path})"
        raise vol.Invalid(f"no such file: {shown}")
    return str(path)


def _profile(value: Any) -> str:
    """A Series 8000 profile file whose contents are valid (what ``run`` would load)."""
    path = _file(value)
    try:
        load_profile(path)
    except LevitonError as err:
        raise vol.Invalid(str(err)) from None
    return path


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
        vol.Required("unit"): _in_range(UNIT_ID_MIN, UNIT_ID_MAX, "a Modbus unit id"),
        vol.Optional("name"): _text(),
        vol.Optional("series", default="auto"): vol.All(
            vol.Coerce(str), vol.In(SERIES_CHOICES, msg="expected auto, 1000, 2000 or 8000")
        ),
        vol.Optional("profile"): _profile,
    }
)
BUS_SCHEMA: Final = vol.Schema(
    {
        vol.Required("name"): _text(),
        vol.Required("connect"): _connection_url,
        vol.Optional("poll_interval", default=DEFAULT_POLL_INTERVAL): _seconds,
        vol.Optional("offline_after", default=DEFAULT_OFFLINE_AFTER): _in_range(
            *OFFLINE_AFTER_RANGE, "a number of failed polls"
        ),
        vol.Required("meters"): _each(METER_SCHEMA, "list at least one meter"),
    }
)
MQTT_SCHEMA: Final = vol.Schema(
    {
        vol.Required("url"): _mqtt_url,
        vol.Optional("username"): _text(),
        # password and password_file exclude each other: checked with the other problems
        # between values, so that one run lists every other problem of the section too.
        vol.Optional("password"): vol.All(str, vol.Length(max=MAX_TEXT)),
        vol.Optional("password_file"): _file,
        vol.Optional("client_id", default="leviton-bridge"): _text(),
        vol.Optional("discovery_prefix", default="homeassistant"): _topic,
        vol.Optional("base_topic", default="leviton"): _topic,
        vol.Optional("ca_file"): _file,
        vol.Optional("cert_file"): _file,
        vol.Optional("key_file"): _file,
        vol.Optional("tls_insecure", default=False): bool,
        vol.Optional("keepalive", default=30): _in_range(5, 3600, "seconds"),
    }
)
BACNET_SCHEMA: Final = vol.Schema(
    {
        vol.Required("address"): _bacnet_address,
        vol.Required("device_instance"): _in_range(0, 4194302, "a BACnet device instance"),
        vol.Optional("device_name", default="Leviton meters bridge"): _text(),
        vol.Optional("vendor_identifier", default=999): _in_range(0, 65535, "a vendor identifier"),
        vol.Optional("location", default=""): vol.All(str, vol.Length(max=MAX_TEXT)),
        vol.Optional("description", default="Leviton electricity submeters"): vol.All(
            str, vol.Length(max=MAX_TEXT)
        ),
        vol.Optional("bbmd"): _bbmd,
        vol.Optional("ttl", default=900): _in_range(30, 65535, "seconds"),
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
            part = str.__str__(part)  # voluptuous shows some keys as <key>
        elif not isinstance(part, int):
            part = repr(part)[:40]  # a key that is not text (a number, a list)
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
            offline_after=bus["offline_after"],
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
        from .bacnet_mapping import check_objects

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
        if isinstance(name, str) and name.strip() and len(name) <= MAX_TEXT:
            if slug(name) in names:
                problems.append(
                    f"buses[{index}].name: {name!r} clashes with bus {names[slug(name)]!r} "
                    "(bus names become topic and id parts: give each bus its own name)"
                )
            names.setdefault(slug(name), name)
        connect = bus.get("connect")
        if isinstance(connect, str) and len(connect) <= MAX_URL:
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
            path = _resolve(password_file)
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


def _tls_problems(data: dict[str, Any], problems: list[str]) -> None:
    """TLS files that exist but that TLS cannot use (not PEM, or a key that does not fit)."""

    def usable(key: str) -> Path | None:
        value = data.get(key)
        if not isinstance(value, str):
            return None
        try:
            path = _resolve(value)
            return path if path.is_file() else None
        except (vol.Invalid, OSError, ValueError):
            return None  # reported by the schema

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
    """Read and validate a configuration file (``ConfigError`` lists what is wrong)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(file), ["no such file"]) from None
    except OSError as err:
        raise ConfigError(str(file), [f"cannot be read ({err.strerror})"]) from None
    try:
        data = _parse_yaml(raw)
    except ValueError as err:
        raise ConfigError(str(file), [str(err)]) from None
    token = _BASE.set(file.resolve().parent)
    try:
        return parse_config(data, str(file))
    except RecursionError:
        raise ConfigError(str(file), [f"nested more than {MAX_DEPTH} levels deep"]) from None
    finally:
        _BASE.reset(token)

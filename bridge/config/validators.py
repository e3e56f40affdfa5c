"""Validators for the bridge's configuration schema, with messages a person can act on.

Voluptuous's own validators (``Range``, ``Length``, ``Strip``, ``In``...) are used where they
say enough; what it lacks is here: values checked the way the bridge will use them at start
(connection URLs, BACnet addresses, profile files), and ``each``, which reports the problems
of every item of a list (voluptuous's ``[schema]`` stops at the first item with a problem).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import voluptuous as vol

from leviton_driver import ConfigurationError, LevitonError, load_profile, parse_url

from .settings import MIN_TOKEN_LENGTH, POLL_INTERVAL_RANGE

MAX_TEXT: Final = 200
"""Characters in a name, topic or other short text."""
MAX_URL: Final = 1000


def not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise vol.Invalid("expected a number, not true/false")
    return value


def in_range(low: int, high: int, what: str) -> Callable[[Any], int]:
    """A whole number in a range; the message repeats the value and names the range."""
    check = vol.Schema(vol.All(not_bool, int))

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


def seconds(value: Any) -> float:
    low, high = POLL_INTERVAL_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise vol.Invalid(f"expected seconds between {low:g} and {high:g}")
    return float(value)


def text(max_length: int = MAX_TEXT) -> vol.All:
    """A non-empty text (spaces around it dropped), at most ``max_length`` characters."""
    return vol.All(
        vol.Msg(str, "expected a text"),
        vol.Strip,
        vol.Length(
            min=1,
            max=max_length,
            msg=f"expected a non-empty text of at most {max_length} characters",
        ),
        printable,
    )


def printable(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise vol.Invalid("control characters are not allowed")
    return value


def connection_url(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("expected a connection URL such as rtu+tcp://10.0.0.7:4196")
    if len(value) > MAX_URL:
        raise vol.Invalid(f"a connection URL of {len(value)} characters; expected a short URL")
    try:
        parse_url(value)
    except ConfigurationError as err:
        raise vol.Invalid(str(err)) from None
    return value


def mqtt_url(value: Any) -> str:
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


def topic(value: Any) -> str:
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


def bacnet_address(value: Any) -> str:
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


def bbmd(value: Any) -> str:
    """A BBMD's ``IPv4[:port]``."""
    given: str = text()(value)
    host, _, port = given.partition(":")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise vol.Invalid(f"{given!r}: expected a BBMD's IPv4 address, optionally :port") from None
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise vol.Invalid(f"{given!r}: UDP port {port} is not 1..65535")
    return given


_HOST_NAME_RE: Final = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_LISTEN_HELP: Final = "expected HOST:PORT, e.g. 127.0.0.1:8080, [::1]:8080 or 0.0.0.0:8080"


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 address in brackets) as (host, port); ``vol.Invalid`` in words."""
    text = value.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise vol.Invalid(f"{text[:60]!r}: {_LISTEN_HELP}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise vol.Invalid(f"{host[:60]!r} is not an IPv6 address; {_LISTEN_HELP}") from None
    elif ":" in host:
        raise vol.Invalid(f"{text[:60]!r}: write an IPv6 address in brackets, e.g. [::1]:8080")
    elif host.replace(".", "").isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise vol.Invalid(f"{host[:60]!r} is not an IPv4 address; {_LISTEN_HELP}") from None
    elif not _HOST_NAME_RE.fullmatch(host):
        raise vol.Invalid(f"{host[:60]!r} is not a host name or IP address; {_LISTEN_HELP}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise vol.Invalid(f"TCP port {port[:20]!r} is not 1..65535; {_LISTEN_HELP}")
    return host, int(port)


def listen_address(value: Any) -> str:
    """Where the status page listens: ``HOST:PORT``."""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise vol.Invalid(_LISTEN_HELP)
    split_listen(value)
    return value.strip()


def is_loopback(host: str) -> bool:
    """Whether only this host can reach an address (``localhost`` counts; other names do not:
    what they resolve to can change)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def network(value: Any) -> str:
    """A client network in CIDR (``192.168.1.0/24``; an address alone is one host)."""
    if not isinstance(value, str) or len(value) > 64:
        raise vol.Invalid("expected a network in CIDR, e.g. 192.168.1.0/24 or 10.0.0.5/32")
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise vol.Invalid(
            f"{value[:60]!r} is not a network in CIDR, e.g. 192.168.1.0/24 or 10.0.0.5/32"
        ) from None


def token(value: Any) -> str:
    """An access token: long enough not to be guessed, one word of printable characters."""
    if (
        not isinstance(value, str)
        or not MIN_TOKEN_LENGTH <= len(value.strip()) <= 1000
        or any(c.isspace() or not c.isprintable() for c in value.strip())
    ):
        raise vol.Invalid(
            f"expected a token of {MIN_TOKEN_LENGTH} to 1000 printable characters without "
            "spaces (e.g. the output of: openssl rand -hex 24)"
        )
    return value.strip()


CONFIG_FOLDER: ContextVar[Path | None] = ContextVar("config_base", default=None)
"""The configuration file's folder: relative paths in the file are relative to it."""


def resolve(value: str) -> Path:
    """A path of the file, relative to the file's folder; ``~user`` that does not exist is an
    error, not a crash."""
    path = Path(value)
    try:
        path = path.expanduser()
    except RuntimeError:
        raise vol.Invalid(f"{value}: cannot expand ~ (no such user, or no home folder)") from None
    base = CONFIG_FOLDER.get()
    return base / path if base is not None and not path.is_absolute() else path


def file_path(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 4096 or "\0" in value:
        raise vol.Invalid("expected a file path")
    path = resolve(value)
    try:
        found = path.is_file()
    except OSError as err:
        raise vol.Invalid(f"{value}: cannot be checked ({err.strerror})") from None
    if not found:
        shown = value if str(path) == value else f"{value} ({path})"
        raise vol.Invalid(f"no such file: {shown}")
    return str(path)


def folder_path(value: Any) -> str:
    """A folder for the bridge's own files (made at start when missing; a file is refused)."""
    if not isinstance(value, str) or not value or len(value) > 4096 or "\0" in value:
        raise vol.Invalid("expected a folder path")
    path = resolve(value)
    try:
        is_file = path.exists() and not path.is_dir()
    except OSError as err:
        raise vol.Invalid(f"{value}: cannot be checked ({err.strerror})") from None
    if is_file:
        raise vol.Invalid(f"{value} is a file; expected a folder")
    return str(path)


def store_path(value: Any) -> str:
    """A file the bridge keeps (its folder made at start when missing; a folder is refused)."""
    if not isinstance(value, str) or not value or len(value) > 4096 or "\0" in value:
        raise vol.Invalid("expected a file path")
    path = resolve(value)
    try:
        is_folder = path.is_dir()
    except OSError as err:
        raise vol.Invalid(f"{value}: cannot be checked ({err.strerror})") from None
    if is_folder:
        raise vol.Invalid(
            f"{value} is a folder; expected a file in it, e.g. {path / 'history.sqlite3'}"
        )
    return str(path)


def profile_file(value: Any) -> str:
    """A Series 8000 profile file whose contents are valid (what ``run`` would load)."""
    path = file_path(value)
    try:
        load_profile(path)
    except LevitonError as err:
        raise vol.Invalid(str(err)) from None
    return path


def each(schema: vol.Schema, empty: str) -> Callable[[Any], list[Any]]:
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

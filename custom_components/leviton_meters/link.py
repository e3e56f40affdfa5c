"""Modbus links for config entries.

One physical link (serial port, gateway socket) carries every meter on its bus, so all config
entries on it share one connection and their requests go one at a time. On Home Assistant
2026.9 and later the core ``modbus`` integration hands out units on shared connections
(``async_get_unit``, ``async_get_temporary_unit``), so other integrations on the same port share
it too; before that, this module keeps the shared connections itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.util.hass_dict import HassKey
from modbus_connection import ModbusError, ModbusUnit

from .const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_DEVICE,
    CONF_HOST,
    CONF_KIND,
    CONF_PARITY,
    CONF_PORT,
    CONF_STOPBITS,
    CONF_TIMEOUT,
    DOMAIN,
    KIND_RTU_TCP,
    KIND_SERIAL,
    KIND_TCP,
)
from .driver.connection import LevitonConnection, LinkSettings, PacketTrace, parse_url
from .driver.errors import ConfigurationError

#: First Home Assistant release whose modbus integration shares units with other integrations.
CORE_SHARING_VERSION: Final = (2026, 9)


def connection_url(connection: Mapping[str, Any]) -> str:
    """The driver's connection URL for the connection part of a config entry.

    Raises the driver's ``ConfigurationError`` for a kind of connection it does not know.
    """
    kind = connection.get(CONF_KIND)
    timeout = connection.get(CONF_TIMEOUT)
    query = f"timeout={timeout}" if timeout else ""
    if kind in (KIND_TCP, KIND_RTU_TCP):
        host = connection[CONF_HOST]
        host = f"[{host}]" if ":" in host else host
        return f"{kind}://{host}:{connection[CONF_PORT]}" + (f"?{query}" if query else "")
    if kind == KIND_SERIAL:
        line = (
            f"baud={connection[CONF_BAUDRATE]}&parity={connection[CONF_PARITY]}"
            f"&stopbits={connection[CONF_STOPBITS]}&bytesize={connection[CONF_BYTESIZE]}"
        )
        return f"serial://{connection[CONF_DEVICE]}?{line}" + (f"&{query}" if query else "")
    raise ConfigurationError(
        f"unknown connection kind {kind!r}; expected {KIND_TCP}, {KIND_RTU_TCP} or {KIND_SERIAL}"
    )


def link_settings(connection: Mapping[str, Any]) -> LinkSettings:
    """Parse the connection part of a config entry (raises the driver's ConfigurationError)."""
    return parse_url(connection_url(connection))


def link_key(connection: Mapping[str, Any]) -> Hashable | None:
    """What identifies the physical link of a config entry's connection (its bus scheduler's
    key); None for settings that cannot be used (the entry then fails to set up)."""
    try:
        return link_settings(connection).params.endpoint
    except ConfigurationError:
        return None


@dataclass(kw_only=True)
class MeterLink:
    """A unit to talk to one meter, and how to let go of it."""

    unit: ModbusUnit
    where: str
    trace: PacketTrace | None = None
    """The raw-byte trace of our own connection (None on the core's shared one)."""
    release: Callable[[], Coroutine[Any, Any, None]]
    shared_by_core: bool = False


@dataclass
class _SharedConnection:
    settings: LinkSettings
    connection: LevitonConnection
    holders: set[object] = field(default_factory=set)


class LinkInUseError(ConfigEntryError):
    """The port is already open with other line settings for another meter."""


DATA_CONNECTIONS: HassKey[dict[Any, _SharedConnection]] = HassKey(f"{DOMAIN}_connections")


def core_modbus() -> ModuleType | None:
    """The core modbus integration when it shares units, else None."""
    if (MAJOR_VERSION, MINOR_VERSION) < CORE_SHARING_VERSION:
        return None
    from homeassistant.components import modbus  # only imported where it shares units

    if hasattr(modbus, "async_get_unit") and hasattr(modbus, "async_get_temporary_unit"):
        return modbus
    return None


def _acquire(
    hass: HomeAssistant, settings: LinkSettings, holder: object
) -> tuple[LevitonConnection, Callable[[], Coroutine[Any, Any, None]]]:
    connections = hass.data.setdefault(DATA_CONNECTIONS, {})
    endpoint = settings.params.endpoint
    shared = connections.get(endpoint)
    if shared is None:
        shared = connections[endpoint] = _SharedConnection(settings, LevitonConnection(settings))
    elif shared.settings.params != settings.params:
        raise LinkInUseError(
            translation_domain=DOMAIN,
            translation_key="line_settings_conflict",
            translation_placeholders={"url": settings.url, "other": shared.settings.url},
        )
    shared.holders.add(holder)
    released = False

    async def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        shared.holders.discard(holder)
        if not shared.holders and connections.get(endpoint) is shared:
            del connections[endpoint]
            await shared.connection.close()

    return shared.connection, release


def holders_with_other_settings(hass: HomeAssistant, settings: LinkSettings) -> set[object]:
    """Who holds the port of ``settings`` open with other line settings (empty: nobody)."""
    shared = hass.data.get(DATA_CONNECTIONS, {}).get(settings.params.endpoint)
    if shared is None or shared.settings.params == settings.params:
        return set()
    return set(shared.holders)


def async_open_link(
    hass: HomeAssistant, entry: ConfigEntry, settings: LinkSettings, unit_id: int
) -> MeterLink:
    """A unit for a config entry's meter, held until the entry unloads."""
    core = core_modbus()
    if core is not None:
        unit: ModbusUnit = core.async_get_unit(hass, entry, settings.params, unit_id)

        async def nothing() -> None:
            return None  # the core closes its connection when the entry unloads

        return MeterLink(unit=unit, where=settings.url, release=nothing, shared_by_core=True)
    connection, release = _acquire(hass, settings, entry.entry_id)
    entry.async_on_unload(release)
    return MeterLink(
        unit=connection.for_unit(unit_id),
        where=settings.url,
        trace=connection.trace,
        release=release,
    )


async def async_check_link(hass: HomeAssistant, settings: LinkSettings) -> None:
    """Open the link once to see that it opens (raises ``ModbusError``).

    The core's shared connections open lazily, on the first request; there the meter probe
    that follows is the check.
    """
    if core_modbus() is not None:
        return
    connection, release = _acquire(hass, settings, object())
    try:
        await connection.connect()
    finally:
        await release()


class TemporaryLinks:
    """Units for a config flow (which has no entry yet), all released together."""

    def __init__(self, hass: HomeAssistant, settings: LinkSettings) -> None:
        self.hass = hass
        self.settings = settings
        self._releases: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._contexts: list[Any] = []
        self._connection: LevitonConnection | None = None

    async def unit(self, unit_id: int) -> MeterLink:
        core = core_modbus()
        if core is not None:
            context = core.async_get_temporary_unit(self.hass, self.settings.params, unit_id)
            unit: ModbusUnit = await context.__aenter__()
            self._contexts.append(context)
            return MeterLink(
                unit=unit, where=self.settings.url, release=self.close, shared_by_core=True
            )
        connection, release = _acquire(self.hass, self.settings, self)
        self._releases.append(release)
        self._connection = connection
        return MeterLink(
            unit=connection.for_unit(unit_id),
            where=self.settings.url,
            trace=connection.trace,
            release=self.close,
        )

    async def connect(self) -> None:
        """Open the link now where it is ours (the core opens its own on the first request);
        a link that does not open is reported by the first request."""
        if self._connection is not None:
            with contextlib.suppress(ModbusError):
                await self._connection.connect()

    @contextmanager
    def quick_answers(self, seconds: float, *, silent_ids: int = 0) -> Iterator[None]:
        """Wait at most ``seconds`` for each answer while the block runs (a bus scan), also on
        a connection a set-up meter holds with a longer timeout. The core's shared connections
        keep their own timeout (they can raise it for a unit, not lower it)."""
        if self._connection is None:
            yield
            return
        with self._connection.quick_answers(seconds, silent_ids=silent_ids):
            yield

    async def close(self) -> None:
        contexts, self._contexts = self._contexts, []
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)
        releases, self._releases = self._releases, []
        for release in releases:
            await release()


@asynccontextmanager
async def temporary_links(
    hass: HomeAssistant, settings: LinkSettings
) -> AsyncIterator[TemporaryLinks]:
    links = TemporaryLinks(hass, settings)
    try:
        yield links
    finally:
        await links.close()

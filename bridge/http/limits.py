"""What anyone who can reach the status page may cost the bridge: little, and never the log.

* ``Connections``: every connection of the page, counted and timed. One that is idle (no
  request being answered) for ``idle_timeout`` seconds is closed: a keep-alive nobody uses, a
  request sent half (a slow-loris), a port scan. At ``max_connections`` a new connection
  closes the idlest one to make room, so that idle connections by the thousand never lock out
  ``/healthz``; only when every connection is busy is a new one answered ``503``. (aiohttp
  itself closes neither kind, and without a cap the open-file limit is the cap: past it even
  ``/healthz`` fails.)
* ``RequestLog``: what aiohttp logs about requests it could not parse (an oversized header,
  a megabyte URL), each an ERROR with a traceback, becomes one warning per client and kind a
  minute, with a count. The client still gets aiohttp's clear ``400``.
* ``LoginLimiter``: wrong tokens, per client: after ``MAX_FAILURES`` in a minute, ``429``
  until the minute is over; the log says so once a minute, with counts, not once a try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..core.idle import IdleReaper
from ..core.ratelimit import PeerWarnings

_LOGGER = logging.getLogger("leviton_bridge.http")

WINDOW_S: Final = 60.0
"""At most one log line per client and kind in this many seconds."""
MAX_FAILURES: Final = 5
"""Wrong tokens a client may send in ``WINDOW_S`` before it is answered 429."""
REFUSED: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: 52\r\n\r\nthe bridge's page has too many connections open now\n"
)


@dataclass(eq=False, slots=True)
class Connection:
    transport: asyncio.BaseTransport
    last: float
    """When it last sent something or finished a request (monotonic)."""
    busy: int = 0
    """Requests being answered on it now (a live page's stream: as long as it is open)."""


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the connection counted and timed."""

    def __init__(self, connections: Connections, inner: asyncio.Protocol) -> None:
        self.connections = connections
        self.inner = inner
        self.connection: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connection = self.connections.opened(transport)
        if self.connection is None:
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(REFUSED)
            transport.close()
            return
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.connection is not None:
            self.connection.last = self.connections.clock()
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.connection is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection is not None:
            self.connections.closed(self.connection)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Connections:
    """The page's connections: at most ``limit``, none idle for longer than ``idle_timeout``."""

    def __init__(
        self, *, limit: int, idle_timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.open: dict[asyncio.BaseTransport, Connection] = {}
        self.counts: Counter[str] = Counter()
        """Connections closed idle, closed to make room, refused at the cap."""
        self.reaper = IdleReaper(
            self.open,
            idle_timeout=idle_timeout,
            counts=self.counts,
            counted_as="closed idle",
            name="page reaper",
            clock=clock,
        )
        self.warnings = PeerWarnings(_LOGGER, "status page", window=WINDOW_S)

    def protocol(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        return _GuardedProtocol(self, inner)

    def opened(self, transport: asyncio.BaseTransport) -> Connection | None:
        """Count a new connection; make room or refuse it (None) at the cap."""
        if len(self.open) >= self.limit:
            idle = [c for c in self.open.values() if not c.busy]
            if not idle:
                self.counts["refused"] += 1
                self.warnings.warn(
                    _peer(transport),
                    "connections",
                    "refused a connection: %d are open, every one answering a request",
                    len(self.open),
                )
                return None
            oldest = min(idle, key=lambda c: c.last)
            self.counts["closed to make room"] += 1
            self._close(oldest)
        connection = Connection(transport, self.clock())
        self.open[transport] = connection
        return connection

    def closed(self, connection: Connection) -> None:
        self.open.pop(connection.transport, None)

    @contextlib.contextmanager
    def busy(self, transport: asyncio.BaseTransport | None) -> Any:
        """Mark a connection as answering a request (the middleware does, for each one)."""
        connection = self.open.get(transport) if transport is not None else None
        if connection is not None:
            connection.busy += 1
        try:
            yield
        finally:
            if connection is not None:
                connection.busy -= 1
                connection.last = self.clock()

    def start(self) -> None:
        self.reaper.start()

    async def stop(self) -> None:
        await self.reaper.stop()

    def close_idle(self) -> int:
        """Close the connections idle for longer than ``idle_timeout``; how many."""
        return self.reaper.close_idle()

    def _close(self, connection: Connection) -> None:
        self.open.pop(connection.transport, None)
        connection.transport.close()


class GuardedSite(web.BaseSite):
    """aiohttp's TCP site, every connection of it counted and timed by ``Connections``."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        connections: Connections,
        *,
        ssl_context: Any = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.host, self.port, self.connections = host, port, connections

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: self.connections.protocol(server()),
            self.host,
            self.port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
        )


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


class RequestLog(logging.LoggerAdapter[logging.Logger]):
    """The logger aiohttp's request handler is given: requests it cannot parse are said once
    per client and kind a minute, without a traceback; anything else as aiohttp says it."""

    def __init__(self, warnings: PeerWarnings) -> None:
        super().__init__(_LOGGER, {})
        self.warnings = warnings

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info if isinstance(exc_info, BaseException) else None
        if error is None and exc_info is True:
            error = sys.exc_info()[1]
        if isinstance(error, HttpProcessingError):
            peer = str(args[0]) if args else "?"
            what = " ".join(str(error.message or type(error).__name__).split())[:160]
            if level >= logging.WARNING:
                self.warnings.warn(
                    peer, type(error).__name__, "refused a request it could not read (%s)", what
                )
            else:  # aiohttp's own judgement: not HTTP at all (a scan), worth a debug line
                self.logger.log(level, "status page: %s: not an HTTP request (%s)", peer, what)
            return
        super().log(level, msg, *args, **kwargs)

    def process(
        self, msg: object, kwargs: MutableMapping[str, Any]
    ) -> tuple[object, MutableMapping[str, Any]]:
        return msg, kwargs


@dataclass(slots=True)
class _Tries:
    wrong: deque[float] = field(default_factory=deque)


class LoginLimiter:
    """Wrong tokens per client: ``MAX_FAILURES`` a minute, then ``429`` for the rest of it."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 4096,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self.max_clients = max_clients
        self._clients: dict[str, _Tries] = {}
        self._told_at: float | None = None
        self._untold: Counter[str] = Counter()
        """Wrong or refused logins per client since the last summary."""
        self._timer: asyncio.TimerHandle | None = None
        self.refused = 0
        """Login attempts answered 429."""

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, None when it may now."""
        tries = self._clients.get(client)
        if tries is None:
            return None
        self._forget_old(tries)
        if len(tries.wrong) < self.max_failures:
            return None
        self.refused += 1
        self._note(client)
        return max(1.0, tries.wrong[0] + self.window - self.clock())

    def failed(self, client: str) -> None:
        """A wrong token from ``client``: counted, and said once a minute for everyone."""
        if client not in self._clients and len(self._clients) >= self.max_clients:
            self._clients.pop(next(iter(self._clients)))
        tries = self._clients.setdefault(client, _Tries())
        self._forget_old(tries)
        tries.wrong.append(self.clock())
        self._note(client)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _forget_old(self, tries: _Tries) -> None:
        cutoff = self.clock() - self.window
        while tries.wrong and tries.wrong[0] < cutoff:
            tries.wrong.popleft()

    def _note(self, client: str) -> None:
        """Count an attempt; say so now if nothing was said within the window, else at its
        end (one line a minute, however many attempts)."""
        self._untold[client] += 1
        now = self.clock()
        if self._told_at is None or now - self._told_at >= self.window:
            self._say()
        elif self._timer is None:
            delay = self._told_at + self.window - now
            self._timer = asyncio.get_running_loop().call_later(delay, self._say)

    def _say(self) -> None:
        self._timer = None
        if not self._untold:
            return
        counts, self._untold = self._untold, Counter()
        self._told_at = self.clock()
        busiest, most = counts.most_common(1)[0]
        others = sum(counts.values()) - most
        _LOGGER.warning(
            "status page: %d login(s) with a wrong token from %s%s; a client is answered 429 "
            "after %d in a minute (said at most once a minute)",
            most,
            busiest,
            f", {others} from {len(counts) - 1} other client(s)" if others else "",
            self.max_failures,
        )

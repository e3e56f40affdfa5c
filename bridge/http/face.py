"""The status-page face: an HTTP server (aiohttp) started and stopped with the bridge.

* ``GET /``: the page (its HTML, CSS and JS are served from here, ``/static/``);
* ``GET /api/meters``, ``GET /api/meters/{id}``: meters as ``leviton-bridge read --json``
  shows them, with availability and statistics;
* ``GET /api/status``: the faces, health and per-bus figures;
* ``GET /api/events[?points=ID,...|all]``: server-sent events that keep the page current;
* ``POST /api/meters/{id}/reset_peak_demand``: body ``{"confirm": true}``; the reset's result;
* ``GET /api/meters/{id}/history``: the meter's intervals, hours, days or months, as JSON or CSV
  (with a ``history:`` section; see ``history``);
* ``GET /metrics``: the Prometheus text format;
* ``GET /healthz``: liveness, 200 ``ok`` (with notes of what is degraded) or 503 with the
  reasons; ``GET /readyz``: readiness, 503 while a configured face is down; neither asks for
  the token;
* ``GET, POST /login``, ``POST /logout``: a browser's session (with a token).

See ``security`` for the token, the session and cross-site protection.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leviton_driver import ConfigurationError

from ..config.settings import HttpConfig
from ..core.codec import dumps
from ..core.faces import FaceStatus, Figure, Refusal
from ..core.history import HistoryUnavailable
from ..core.meter_state import MeterState
from . import metrics, views
from .history import HistoryRequest, Refused, history_csv, history_json, history_rows
from .limits import Connections, GuardedSite, LoginLimiter, RequestLog
from .live import TICK_S, LiveFeed, event, parse_points
from .security import Guard
from .stats import BusStats, MeterTracker

if TYPE_CHECKING:
    from ..core.bridge import BridgeCore

_LOGGER = logging.getLogger(__name__)

STATIC: Final = {"app.js": "text/javascript", "style.css": "text/css", "icon.svg": "image/svg+xml"}
PUBLIC: Final = frozenset({"/healthz", "/readyz", "/login"})
PROBES: Final = frozenset({"/healthz", "/readyz"})
"""Answered to anyone, whatever the Host header: an orchestrator asks by address."""
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make Origin "null"
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
LOGOUT_BUTTON: Final = '<button type="button" id="logout" class="link">Log out</button>'


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _text(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


class StatusPage:
    """The page, its API, ``/metrics``, ``/healthz`` and ``/readyz`` of one bridge."""

    def __init__(self, core: BridgeCore, config: HttpConfig) -> None:
        self.core = core
        self.config = config
        self.guard = Guard(config)
        self.tracker = MeterTracker(core.states)
        self.stats = [BusStats(poller) for poller in core.pollers]
        self.feed = LiveFeed(core, self.tracker, self.stats)
        self.registry = metrics.registry(core, self.stats)
        self.url = config.url
        """Where a browser on this host finds the page (the bound port once started)."""
        self.since: float | None = None
        self.connections = Connections(
            limit=config.max_connections, idle_timeout=config.idle_timeout
        )
        self.logins = LoginLimiter()
        self._files = {name: _text(name) for name in (*STATIC, "index.html", "login.html")}
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        self.app.on_response_prepare.append(self._headers)
        self.app.add_routes(
            [
                web.get("/", self._index),
                web.get("/login", self._login_page),
                web.post("/login", self._login),
                web.post("/logout", self._logout),
                web.get("/static/{name}", self._static),
                web.get("/api/meters", self._meters),
                web.get("/api/meters/{id}", self._meter),
                web.post("/api/meters/{id}/reset_peak_demand", self._reset),
                web.get("/api/meters/{id}/history", self._history),
                web.get("/api/status", self._status),
                web.get("/api/csrf-token", self._csrf),
                web.get("/api/events", self._events, allow_head=False),
                web.get("/metrics", self._metrics),
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
            ]
        )

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; ``ConfigurationError`` (in words) when the address cannot be had."""
        context = None
        if self.config.cert_file and self.config.key_file:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.config.cert_file, self.config.key_file)
        runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=2.0,
            logger=RequestLog(self.connections.warnings),
        )
        await runner.setup()
        site = GuardedSite(
            runner, self.config.host, self.config.port, self.connections, ssl_context=context
        )
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise ConfigurationError(
                f"http.listen {self.config.listen}: cannot listen there "
                f"({err.strerror or err}); is the port in use, or the address not this host's?"
            ) from None
        self._runner = runner
        self.connections.start()
        self.since = time.time()
        _LOGGER.info(
            "status page listening on %s (%s from this host)%s",
            self.config.listen,
            self.url,
            "" if self.guard.needs_token else "; no token: for this host's users only",
        )

    async def stop(self) -> None:
        self.feed.close()
        self.logins.close()
        await self.connections.stop()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def status(self) -> FaceStatus:
        serving = self._runner is not None
        return FaceStatus(
            key="http",
            title="Status page",
            up=serving,
            since=self.since,
            summary=f"{'listening on' if serving else 'not listening on'} {self.config.listen}",
            problem=None if serving else "not listening",
            details={
                "listen": self.config.listen,
                "open_pages": len(self.feed.subscribers),
                "connections": len(self.connections.open),
            },
            figures=[
                Figure(
                    "leviton_http_connections",
                    "Open connections of the page",
                    len(self.connections.open),
                ),
                Figure(
                    "leviton_http_open_pages",
                    "Pages with their live stream open",
                    len(self.feed.subscribers),
                ),
                *(
                    Figure(
                        "leviton_http_connections_closed",
                        "Connections closed by the bridge, by why",
                        count,
                        counter=True,
                        labels={"why": why},
                    )
                    for why, count in sorted(self.connections.counts.items())
                ),
                Figure(
                    "leviton_http_logins_refused",
                    "Login attempts answered 429 (too many wrong tokens)",
                    self.logins.refused,
                    counter=True,
                ),
            ],
        )

    # -- MeterListener: when each meter went on- or offline, and the open pages ----------------

    def meter_identified(self, state: MeterState) -> None:
        self.tracker.meter_identified(state)

    def meter_updated(self, state: MeterState) -> None:
        self.tracker.meter_updated(state)

    def meter_unavailable(self, state: MeterState) -> None:
        self.tracker.meter_unavailable(state)

    # -- every request -----------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        with self.connections.busy(request.transport):
            return await self._checked(request, handler)

    async def _checked(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path not in PROBES:
            refused = self.guard.host_refused(request)
            if refused is not None:
                return web.Response(status=421, text=f"{refused}\n")
            public = path in PUBLIC or path.startswith("/static/")
            if not public and not self.guard.authenticated(request):
                if path == "/" and request.method == "GET":
                    return self._login_response("", status=401)
                return web.Response(
                    status=401,
                    text="this bridge asks for its token: Authorization: Bearer TOKEN\n",
                    headers={"WWW-Authenticate": 'Bearer realm="leviton-bridge"'},
                )
        response: web.StreamResponse = await handler(request)
        return response

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(SECURITY_HEADERS)

    # -- the page ----------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        page = (
            self._files["index.html"]
            .replace("{{csrf}}", self.guard.csrf_token)
            .replace("{{logout}}", LOGOUT_BUTTON if self.guard.needs_token else "")
        )
        return web.Response(
            text=page, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(
            text=self._files[name], content_type=STATIC[name], headers={"Cache-Control": "no-cache"}
        )

    def _login_response(self, error: str, status: int = 200) -> web.Response:
        shown = f'<p class="error" role="alert">{error}</p>' if error else ""
        return web.Response(
            text=self._files["login.html"].replace("{{error}}", shown),
            status=status,
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    async def _login_page(self, request: web.Request) -> web.Response:
        if not self.guard.needs_token or self.guard.authenticated(request):
            raise web.HTTPSeeOther("/")
        return self._login_response("")

    async def _login(self, request: web.Request) -> web.Response:
        if not self.guard.needs_token:
            raise web.HTTPSeeOther("/")
        site = request.headers.get("Sec-Fetch-Site")
        origin = request.headers.get("Origin")
        if (site is not None and site not in ("same-origin", "none")) or (
            origin is not None and origin != f"{request.scheme}://{request.host}"
        ):
            return self._login_response("Log in from this page.", status=403)
        client = request.remote or "?"
        wait = self.logins.retry_after(client)
        if wait is not None:
            answer = self._login_response(
                f"Too many wrong tokens: try again in {wait:.0f} s.", status=429
            )
            answer.headers["Retry-After"] = f"{wait:.0f}"
            return answer
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not self.guard.check_login(given):
            self.logins.failed(client)
            return self._login_response("That is not this bridge's token.", status=401)
        self.logins.succeeded(client)
        response = web.HTTPSeeOther("/")
        self.guard.start_session(response)
        raise response

    async def _logout(self, request: web.Request) -> web.Response:
        refused = self.guard.cross_site(request)
        if refused is not None:
            return _json({"ok": False, "error": f"refused: {refused}"}, 403)
        response = _json({"ok": True})
        self.guard.end_session(response)
        return response

    # -- the API -----------------------------------------------------------------------------

    def _state(self, request: web.Request) -> MeterState:
        state = self.core.state(request.match_info["id"])
        if state is None:
            raise web.HTTPNotFound(
                text=dumps({"error": f"no meter {request.match_info['id'][:80]!r}"}),
                content_type="application/json",
            )
        return state

    async def _meters(self, request: web.Request) -> web.Response:
        return _json([views.meter_api(state, self.tracker) for state in self.core.states])

    async def _meter(self, request: web.Request) -> web.Response:
        return _json(views.meter_api(self._state(request), self.tracker))

    async def _history(self, request: web.Request) -> web.Response:
        """A meter's history (``history``): 404 without a ``history:`` section, 400 for a
        request that cannot be answered as asked, 503 while the file cannot be read."""
        state = self._state(request)
        view = self.core.history
        if view is None:
            return _json({"error": "this bridge keeps no history (no history: section)"}, 404)
        now = self.core.pollers[0].meter_clocks.wall() if self.core.pollers else time.time()
        try:
            asked = HistoryRequest(view, dict(request.query), now)
            series, rows = await history_rows(view, state.meter_id, asked, now)
        except Refused as err:
            return _json({"error": str(err)}, 400)
        except HistoryUnavailable as err:
            return _json({"error": f"the history cannot be read now: {err}"}, 503)
        wants_csv = request.query.get("format") == "csv" or (
            "format" not in request.query and "text/csv" in request.headers.get("Accept", "")
        )
        if wants_csv:
            return web.Response(
                text=history_csv(state.meter_id, rows),
                content_type="text/csv",
                charset="utf-8",
                headers={
                    "Cache-Control": "no-store",
                    "Content-Disposition": (
                        f'inline; filename="{state.meter_id}-{asked.step}.csv"'
                    ),
                },
            )
        return _json(history_json(state.meter_id, state.config.name, view, asked, series, rows))

    async def _status(self, request: web.Request) -> web.Response:
        return _json({**self.feed.bridge_state(), "buses": [views.bus_json(s) for s in self.stats]})

    async def _csrf(self, request: web.Request) -> web.Response:
        return _json({"csrf_token": self.guard.csrf_token})

    async def _reset(self, request: web.Request) -> web.Response:
        refused = self.guard.cross_site(request)
        if refused is not None:
            _LOGGER.warning("status page: refused a peak-demand reset: %s", refused)
            return _json({"ok": False, "error": f"refused: {refused}"}, 403)
        state = self._state(request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("confirm") is not True:
            return _json({"ok": False, "error": 'confirm the reset: send {"confirm": true}'}, 400)
        outcome = await self.core.reset_peak_demand(state.meter_id, "http")
        if outcome.refusal is not None:
            status = 404 if outcome.refusal is Refusal.UNKNOWN_METER else 409
            return _json(outcome.as_dict(), status)
        return _json(outcome.as_dict(), 200 if outcome.ok else 502)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if len(self.feed.subscribers) >= self.config.max_live_pages:
            return web.Response(
                status=503,
                text=f"{len(self.feed.subscribers)} pages are open already (http.max_live_pages); "
                "close one, or open it again later\n",
                headers={"Retry-After": "10", "Cache-Control": "no-store"},
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        subscriber = self.feed.subscribe(parse_points(request.query.get("points")))
        loop = asyncio.get_running_loop()
        try:
            await response.write(self.feed.snapshot(subscriber))
            told = loop.time()
            while True:
                try:
                    data = await asyncio.wait_for(
                        subscriber.queue.get(), max(0.0, told + TICK_S - loop.time())
                    )
                except TimeoutError:
                    data = b""
                if data is None:
                    break
                if data:
                    await response.write(data)
                if loop.time() - told >= TICK_S:
                    await response.write(event("bridge", self.feed.bridge_state()))
                    told = loop.time()
        except ConnectionResetError:
            pass  # the page was closed
        finally:
            self.feed.unsubscribe(subscriber)
        return response

    # -- monitoring --------------------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        """Liveness: whether the core polls (what restarts the process when it fails)."""
        health = self.core.health.check()
        return web.Response(
            text=health.text(),
            status=200 if health.ok else 503,
            headers={"Cache-Control": "no-store"},
        )

    async def _readyz(self, request: web.Request) -> web.Response:
        """Readiness: alive, and every configured face up."""
        ready = self.core.health.readiness()
        return web.Response(
            text=ready.text(good="ready", bad="not ready"),
            status=200 if ready.ok else 503,
            headers={"Cache-Control": "no-store"},
        )

"""Who may see the status page and reset meters, and protection against cross-site requests.

With a token (required beyond loopback), every request but ``/healthz``, ``/login`` and the
page's static files must show it: a program sends ``Authorization: Bearer TOKEN``; a browser
logs in once at ``/login`` and then carries a session cookie (HttpOnly, SameSite=Strict,
Secure over TLS) derived from the token, so changing the token logs every browser out.

Without a token (loopback only) the page is open to this host's users, and the ``Host`` header
must name a loopback address: a web site whose name an attacker points at 127.0.0.1 (DNS
rebinding) gets nothing.

Requests that change something (a peak-demand reset, logging out) must come from the page's
own origin: a browser's ``Sec-Fetch-Site`` and ``Origin`` must not name another site, and the
request must carry the page's CSRF token in ``X-CSRF-Token`` (a header no cross-site form can
set) unless it was authorised by an ``Authorization`` header, which browsers never add on their
own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from aiohttp import web

from ..config.settings import HttpConfig
from ..config.validators import is_loopback

SESSION_COOKIE: Final = "leviton_bridge_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_DAYS: Final = 90


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """The checks above, for one server."""

    def __init__(self, config: HttpConfig) -> None:
        self.token = config.token
        self.tls = config.tls
        self.csrf_token = secrets.token_urlsafe(32)
        """Embedded in the page; asked of its requests that change something."""
        self._session = (
            hmac.new(
                self.token.encode(), b"leviton-bridge page session", hashlib.sha256
            ).hexdigest()
            if self.token is not None
            else None
        )
        self._listen_host = config.host.lower()

    @property
    def needs_token(self) -> bool:
        return self.token is not None

    def _by_header(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return (
            self.token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), self.token.encode())
        )

    def _by_cookie(self, request: web.Request) -> bool:
        cookie = request.cookies.get(SESSION_COOKIE)
        return (
            self._session is not None
            and cookie is not None
            and hmac.compare_digest(cookie.encode(), self._session.encode())
        )

    def authenticated(self, request: web.Request) -> bool:
        return self.token is None or self._by_header(request) or self._by_cookie(request)

    def host_refused(self, request: web.Request) -> str | None:
        """Without a token: why the ``Host`` header is not one of this host's loopback names."""
        if self.token is not None:
            return None
        host = _host_name(request.headers.get("Host", "")).lower()
        if is_loopback(host) or host == self._listen_host:
            return None
        return f"this page answers only at a loopback address, not at {host[:80]!r}"

    def cross_site(self, request: web.Request) -> str | None:
        """Why a request that changes something does not come from the page (None: it does)."""
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return f"a cross-site request ({site})"
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return f"a request from another origin ({origin[:80]})"
        if self._by_header(request):
            return None
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.csrf_token.encode()):
            return f"a request without the page's {CSRF_HEADER}"
        return None

    def check_login(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def start_session(self, response: web.StreamResponse) -> None:
        assert self._session is not None
        response.set_cookie(
            SESSION_COOKIE,
            self._session,
            max_age=SESSION_DAYS * 86400,
            path="/",
            httponly=True,
            secure=self.tls,
            samesite="Strict",
        )

    @staticmethod
    def end_session(response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/")

"""Helpers and fixtures of the status-page tests (``tests/http``): the bridge with its page, in
the test's own event loop, against a real mosquitto and simulated meters; an HTTP client; a
headless Chromium.

The browser is Debian's ``chromium`` (``make test`` installs it with apt-get), driven by
playwright with ``executable_path``: nothing here downloads a browser.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from . import PATIENCE, free_port
from .mosquitto import Broker

TOKEN = "test-token-0123456789abcdef"
REPOSITORY = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPOSITORY / "build"
CHROMIUM = "/usr/bin/chromium"


class HeldClock:
    """A clock that stands still until the test moves it: simulated meters on it keep their
    readings (energy, uptime) until the test says time has passed."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def http_section(**options: Any) -> dict[str, Any]:
    """An ``http:`` section on a free loopback port."""
    return {"listen": f"127.0.0.1:{free_port()}", **options}


def bridge_config(
    broker: Broker | None, url: str, *units: int, http: dict[str, Any] | None = None, **bus: Any
) -> dict[str, Any]:
    """One bus ``lab`` with ``units`` on ``url`` (short timeouts), MQTT and the page."""
    config: dict[str, Any] = {
        "buses": [
            {
                "name": "lab",
                "connect": f"{url}?timeout=0.3",
                "poll_interval": 0.3,
                "meters": [{"unit": unit} for unit in units],
                **bus,
            }
        ],
        "http": http if http is not None else http_section(),
        "log_level": "debug",
    }
    if broker is not None:
        config["mqtt"] = {"url": broker.url, "client_id": f"bridge-http-{broker.port}"}
    return config


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client without cookies kept between requests (each request shows what it sends)."""
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=PATIENCE),
    ) as session:
        yield session


@pytest.fixture
def chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is not installed; `make test` installs Debian's chromium "
            "(apt-get install chromium)"
        )
    return CHROMIUM

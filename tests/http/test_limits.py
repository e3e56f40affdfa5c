"""What anyone who can reach the status page may cost: little, and never the log. Requests
aiohttp cannot read get a clear 400 and at most one line per client and kind, without a
traceback; idle and half-sent connections are closed; idle connections by the dozen never lock
out ``/healthz``; open pages and wrong tokens are capped."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import pytest

from leviton_bridge.http.limits import LoginLimiter
from tests.support import until
from tests.support.inprocess import StartSimulator
from tests.support.mosquitto import Broker
from tests.support.running import RunBridge, RunningBridge
from tests.support.statuspage import TOKEN, bridge_config, http_section


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the page and aiohttp logged at WARNING or above."""
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("aiohttp", "leviton_bridge.http"))
    ]


def _address(running: RunningBridge) -> tuple[str, int]:
    config = running.bridge.config.http
    assert config is not None
    return config.host, config.port


async def _raw(running: RunningBridge, request: bytes) -> bytes | None:
    """Send bytes as they are; what comes back before the server closes (None: the server
    closed while a megabyte was still on its way in, and the reset lost the answer)."""
    reader, writer = await asyncio.open_connection(*_address(running))
    try:
        writer.write(request)
        return await reader.read()
    except ConnectionResetError:
        return None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _healthz(running: RunningBridge) -> int:
    async with aiohttp.ClientSession() as http, http.get(running.url + "healthz") as answer:
        return answer.status


async def test_unreadable_requests_cost_one_line_per_client_and_kind(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1))
    big_header = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n"
    )
    big_url = b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    not_http = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 10  # a TLS hello, say
    for request, times in ((big_header, 200), (big_url, 5), (not_http, 50)):
        for _ in range(times):
            answer = await _raw(running, request)
            if answer is None and request is big_url:
                continue
            assert answer is not None
            assert answer.split(b"\r\n", 1)[0].split()[1:2] == [b"400"], answer[:80]
            assert b"Traceback" not in answer
    lines = _lines(caplog)
    assert all(r.exc_info is None for r in lines), [r.getMessage() for r in lines]
    # One line for the oversized header and the megabyte URL (a line too long); what is not
    # HTTP at all (a TLS hello on a plain port, a scan) is worth a debug line only.
    assert [r.kind for r in lines] == ["LineTooLong"], [r.getMessage() for r in lines]  # type: ignore[attr-defined]
    debug = [r for r in caplog.records if r.name.startswith(("aiohttp", "leviton_bridge.http"))]
    assert all(r.exc_info is None for r in debug)
    assert all("refused a request it could not read" in r.getMessage() for r in lines)
    assert await _healthz(running) == 200


async def test_idle_and_half_sent_connections_are_closed(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(
        bridge_config(mosquitto, url, 1, http=http_section(idle_timeout=0.3))
    )
    # Half a request, then nothing; and a connection that sends nothing at all.
    half = await asyncio.open_connection(*_address(running))
    half[1].write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    silent = await asyncio.open_connection(*_address(running))
    for reader, writer in (half, silent):
        assert await reader.read() == b""  # closed by the bridge
        writer.close()
    page = running.bridge.status
    assert page.connections.counts["closed idle"] >= 2
    # A live page's stream is a request being answered: never closed for being quiet.
    async with (
        aiohttp.ClientSession() as http,
        http.get(running.url + "api/events") as stream,
    ):
        first = await stream.content.readline()
        assert first.startswith(b"retry:")
        closed = page.connections.counts["closed idle"]
        await until(
            lambda: page.connections.close_idle() == 0 and len(page.feed.subscribers) == 1,
            "the stream kept",
        )
        assert page.connections.counts["closed idle"] == closed


async def test_idle_connections_never_lock_out_healthz(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(
        bridge_config(mosquitto, url, 1, http=http_section(max_connections=8, max_live_pages=1))
    )
    idle = [await asyncio.open_connection(*_address(running)) for _ in range(40)]
    page = running.bridge.status
    await until(lambda: len(page.connections.open) <= 8, "the cap held")
    assert await _healthz(running) == 200  # the idlest connection made room
    assert page.connections.counts["closed to make room"] >= 32
    for _reader, writer in idle:
        writer.close()
    # Open pages are capped too: the second is told so.
    async with aiohttp.ClientSession() as http, http.get(running.url + "api/events") as first:
        await first.content.readline()
        async with http.get(running.url + "api/events") as second:
            assert second.status == 503
            assert "http.max_live_pages" in await second.text()


async def test_wrong_tokens_are_limited_and_summed_up(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1, http=http_section(token=TOKEN)))
    statuses = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for _ in range(50):
            async with http.post(running.url + "login", data={"token": "wrong" * 4}) as answer:
                statuses.append(answer.status)
                retry = answer.headers.get("Retry-After")
        async with http.post(
            running.url + "login", data={"token": TOKEN}, allow_redirects=False
        ) as answer:
            assert answer.status == 429  # the right token too, until the minute is over
    assert statuses == [401] * 5 + [429] * 45
    assert retry is not None
    assert 1 <= int(retry) <= 60
    said = [r.getMessage() for r in _lines(caplog) if "with a wrong token" in r.getMessage()]
    assert len(said) == 1, said  # the rest is summed up at the end of the minute
    assert await _healthz(running) == 200


async def test_the_login_summary_comes_once_a_window(caplog: pytest.LogCaptureFixture) -> None:
    limiter = LoginLimiter(max_failures=3, window=0.2)
    for client in ("10.0.0.1",) * 30 + ("10.0.0.2",) * 4:
        if limiter.retry_after(client) is None:
            limiter.failed(client)
    assert limiter.retry_after("10.0.0.1") is not None
    assert limiter.retry_after("10.0.0.9") is None

    def summaries() -> list[str]:
        return [r.getMessage() for r in caplog.records if "with a wrong token" in r.getMessage()]

    await until(lambda: len(summaries()) == 2, "the summary at the end of the window")
    first, summary = summaries()
    assert first.startswith("status page: 1 login(s) with a wrong token from 10.0.0.1;")
    # 2 more wrong, then refused (429) to the end of the window, and one asked after the loop
    assert summary.startswith(
        "status page: 30 login(s) with a wrong token from 10.0.0.1, 4 from 1 other client(s);"
    )
    limiter.close()

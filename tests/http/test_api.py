"""The JSON API, the token, cross-site protection, the live stream and TLS, over real HTTP."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from leviton_bridge.core import codec
from leviton_driver import Bus
from tests.support import PATIENCE, until
from tests.support.inprocess import StartSimulator
from tests.support.mosquitto import Broker
from tests.support.running import RunBridge
from tests.support.statuspage import TOKEN, bridge_config, http_section

BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def get_json(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.get(url, **kwargs) as answer:
        return answer.status, await answer.json()


async def test_api_meters_has_the_keys_of_read_json(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    sim, url = await start_simulator("1:2000:load=0:energy=1234.5", "3:8000-8:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1, 3, 5))
    poller = running.bridge.pollers[0]
    await poller.wait_for_cycle(2)
    await until(lambda: all(s.snapshot for s in poller.states[:2]), "both meters read")
    status, meters = await get_json(http, running.url + "api/meters")
    assert status == 200
    assert [m["id"] for m in meters] == ["lab_u1", "lab_u3", "lab_u5"]
    bus = Bus(url)
    try:
        for unit, shown in zip((1, 3), meters, strict=False):
            meter = await bus.async_meter(unit)
            snapshot = await meter.async_read()
            assert meter.identity is not None
            read = codec.meter_json(meter.identity, snapshot)
            for key in read:
                if key not in ("readings", "points", "time"):  # a read of its own
                    assert shown[key] == read[key], key
            readings = {k: v for k, v in read["readings"].items() if k != "uptime"}
            assert {k: shown["readings"][k] for k in readings} == readings
            assert shown.get("points") == read.get("points")
            assert shown["available"] is True
            assert shown["last_error"] is None
            assert shown["statistics"]["failed_polls"] == {}
    finally:
        await bus.async_close()
    # A configured meter that never answered: its configuration, offline, and why.
    silent = meters[2]
    assert (silent["unit_id"], silent["available"], silent["readings"]) == (5, False, {})
    await until(lambda: poller.states[2].failures >= 1, "a failed poll of unit 5")
    status, silent = await get_json(http, running.url + "api/meters/lab_u5")
    assert status == 200
    assert "unit 5" in silent["last_error"]
    assert (
        silent["statistics"]["failed_polls"].get("no_modbus", 0)
        + silent["statistics"]["failed_polls"].get("timeout", 0)
        >= 1
    )
    status, missing = await get_json(http, running.url + "api/meters/lab_u9")
    assert status == 404
    assert "lab_u9" in missing["error"]
    status, overview = await get_json(http, running.url + "api/status")
    assert status == 200
    assert overview["health"]["ok"] is True
    assert overview["faces"]["mqtt"]["connected"] is True
    assert overview["faces"]["mqtt"]["up"] is True
    (bus_figures,) = overview["buses"]
    assert bus_figures["name"] == "lab"
    assert bus_figures["figures"]["transactions"] >= 3
    assert bus_figures["figures"]["poll_interval_s"] == 0.3
    assert sim.meters[1].reset_count == 0


async def test_reset_through_the_api(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    """The same path as the MQTT and BACnet resets: a second command soon after is coalesced."""
    sim, url = await start_simulator("1:2000:load=0:peak=7.5", "3:8000-8:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1, 3, http=http_section(token=TOKEN)))
    poller = running.bridge.pollers[0]
    await until(lambda: all(s.available for s in poller.states), "both meters online")
    reset = running.url + "api/meters/lab_u1/reset_peak_demand"
    async with http.post(reset, json={"confirm": True}) as answer:
        assert answer.status == 401  # no token
    async with http.post(reset, json={}, headers=BEARER) as answer:
        assert answer.status == 400
        assert "confirm" in (await answer.json())["error"]
    async with http.post(reset, json={"confirm": True}, headers=BEARER) as answer:
        assert answer.status == 200
        first = await answer.json()
    assert first == {
        "ok": True,
        "coalesced": False,
        "reset_count_before": 0,
        "reset_count_after": 1,
        "peak_demand_before": 7.5,
        "peak_demand_after": 0.0,
    }
    async with http.post(reset, json={"confirm": True}, headers=BEARER) as answer:
        again = await answer.json()
    assert again["ok"] is True
    assert again["coalesced"] is True
    assert sim.meters[1].reset_count == 1
    async with http.post(
        running.url + "api/meters/lab_u3/reset_peak_demand", json={"confirm": True}, headers=BEARER
    ) as answer:
        assert answer.status == 409
        assert (await answer.json())["error"] == "this meter has no documented peak-demand reset"


async def test_cross_site_and_host_checks_without_a_token(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    """On loopback without a token: only this host's names, and only the page's own requests
    change anything."""
    sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1))
    await until(lambda: running.bridge.states[0].available, "the meter online")
    base = running.url
    async with http.get(base, headers={"Host": "attacker.example"}) as answer:
        assert answer.status == 421  # a name pointed at 127.0.0.1 (DNS rebinding)
    async with http.get(base + "healthz", headers={"Host": "monitor.example"}) as answer:
        assert answer.status == 200
    async with http.get(base) as answer:
        assert answer.status == 200
        page = await answer.text()
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    reset = base + "api/meters/lab_u1/reset_peak_demand"
    refused = [
        {},
        {"X-CSRF-Token": "wrong"},
        {"X-CSRF-Token": csrf, "Origin": "http://attacker.example"},
        {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
        {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-site"},
    ]
    for headers in refused:
        async with http.post(reset, json={"confirm": True}, headers=headers) as answer:
            assert answer.status == 403, headers
    assert sim.meters[1].reset_count == 0
    async with http.get(base + "api/csrf-token") as answer:
        assert (await answer.json())["csrf_token"] == csrf
    origin = base.rstrip("/")
    headers = {"X-CSRF-Token": csrf, "Origin": origin, "Sec-Fetch-Site": "same-origin"}
    async with http.post(reset, json={"confirm": True}, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
    assert sim.meters[1].reset_count == 1


async def test_login_and_logout(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1, http=http_section(token=TOKEN)))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(running.url) as answer:
            assert answer.status == 401
            assert 'action="/login"' in await answer.text()
        async with browser.post(running.url + "login", data={"token": "wrong" * 4}) as answer:
            assert answer.status == 401
        async with browser.post(running.url + "login", data={"token": TOKEN}) as answer:
            assert answer.status == 200  # followed the redirect to the page
            assert 'name="csrf-token"' in await answer.text()
            cookie = answer.history[0].headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        async with browser.get(running.url + "api/meters") as answer:
            assert answer.status == 200
        async with browser.post(running.url + "logout") as answer:
            assert answer.status == 403  # not from the page
        page = await (await browser.get(running.url)).text()
        csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        async with browser.post(running.url + "logout", headers={"X-CSRF-Token": csrf}) as answer:
            assert answer.status == 200
        async with browser.get(running.url + "api/meters") as answer:
            assert answer.status == 401


async def test_the_live_stream(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    """A snapshot first, then updates as meters are polled; closing the page costs nothing."""
    sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1))
    status = running.bridge.status
    assert status is not None
    async with http.get(running.url + "api/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        events: list[tuple[str, Any]] = []

        async def next_event() -> tuple[str, Any]:
            name, data = "", ""
            while True:
                line = (await stream.content.readline()).decode()
                assert line, "the stream ended"
                if line.startswith("event: "):
                    name = line[7:].strip()
                elif line.startswith("data: "):
                    data = line[6:].strip()
                elif line == "\n" and name:
                    return name, json.loads(data)

        events.append(await next_event())
        name, snapshot = events[0]
        assert name == "snapshot"
        assert [m["id"] for m in snapshot["meters"]] == ["lab_u1"]
        assert snapshot["catalogue"]["energy_delivered"]["unit"] == "kWh"
        assert len(status.feed.subscribers) == 1
        sim.meters[1].peak = 3.25
        while True:
            name, data = await next_event()
            shown = [m for m in data.get("meters", []) if m["id"] == "lab_u1"]
            if name == "update" and shown and shown[-1]["readings"]["peak_demand"] == 3.25:
                break
    await until(lambda: not status.feed.subscribers, "the closed stream forgotten")


async def first_event(http: aiohttp.ClientSession, url: str) -> Any:
    """The data of a stream's first event (its snapshot)."""
    async with http.get(url) as stream:
        while True:
            line = (await stream.content.readline()).decode()
            assert line, "the stream ended"
            if line.startswith("data: "):
                return json.loads(line[6:])


async def test_points_go_to_the_pages_that_show_them(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    _sim, url = await start_simulator("1:2000:load=0", "3:8000-8:load=8", "4:8000-8:load=4")
    running = await run_bridge(bridge_config(mosquitto, url, 1, 3, 4))
    states = running.bridge.states
    await until(lambda: all(s.snapshot for s in states), "every meter read")
    events = running.url + "api/events"
    assert "points" not in await first_event(http, events)
    some = await first_event(http, events + "?points=lab_u3,lab_u1")
    assert list(some["points"]) == ["lab_u3"]  # the Series 2000 has none
    shown = some["points"]["lab_u3"]
    assert sorted(shown, key=int) == [str(n) for n in range(1, 9)]
    assert list(shown["1"])[:3] == ["energy_delivered", "energy_received", "power"]
    meter = next(s for s in states if s.meter_id == "lab_u3").meter
    assert meter is not None
    for values in shown.values():
        assert list(values) == [reading.key for reading in meter.point_readings()]
        assert all(isinstance(value, int | float) for value in values.values()), values
    everything = await first_event(http, events + "?points=all")
    assert sorted(everything["points"]) == ["lab_u3", "lab_u4"]


async def test_tls(
    tmp_path: Path,
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
) -> None:
    from tests.mqtt.conftest import make_pki  # the MQTT tests' CA and certificates

    pki = make_pki(tmp_path)
    _sim, url = await start_simulator("1:2000:load=0")
    http = http_section(token=TOKEN, cert_file=str(pki.cert), key_file=str(pki.key))
    running = await run_bridge(bridge_config(mosquitto, url, 1, http=http))
    assert running.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(pki.ca))
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as client,
        client.get(running.url + "healthz", ssl=context) as answer,
    ):
        assert answer.status == 200
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as client,
        client.post(running.url + "login", data={"token": TOKEN}, ssl=context) as answer,
    ):
        assert "Secure" in answer.history[0].headers["Set-Cookie"]

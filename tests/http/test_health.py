"""Liveness (``/healthz``, the systemd watchdog) follows the core: a bus whose polling stopped
or stalled, shutting down. Readiness (``/readyz``) follows the faces: a broker away makes the
bridge degraded and not ready, never unhealthy, so nothing restarts it for that.

No test waits out the stall limit: the health monitor's clock is stepped past it
(``SteppedClock``) while a bus's cycle is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from leviton_bridge.core.health import STALL_S
from leviton_bridge.core.systemd import sd_notify, watchdog_interval
from tests.support import PATIENCE, SteppedClock, until
from tests.support.inprocess import StartSimulator
from tests.support.mosquitto import Broker
from tests.support.running import RunBridge
from tests.support.statuspage import bridge_config


async def healthz(http: aiohttp.ClientSession, url: str, path: str = "healthz") -> tuple[int, str]:
    async with http.get(url + path) as answer:
        return answer.status, await answer.text()


async def test_a_broker_outage_degrades_the_bridge_but_it_stays_alive(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1))
    publisher = running.mqtt
    await publisher.wait_until(lambda: publisher.connections >= 1)
    assert await healthz(http, running.url) == (200, "ok\n")
    assert await healthz(http, running.url, "readyz") == (200, "ready\n")

    mosquitto.stop()
    failures = publisher.connect_failures
    await publisher.wait_until(lambda: publisher.connect_failures > failures)
    # However long the broker stays away: alive (polling goes on), degraded, not ready.
    status, text = await healthz(http, running.url)
    assert status == 200
    lines = text.splitlines()
    assert lines[0] == "ok"
    assert lines[1].startswith("degraded: MQTT is down: cannot connect: connection refused")
    status, text = await healthz(http, running.url, "readyz")
    assert status == 503
    assert text.splitlines()[:2] == ["not ready", lines[1].removeprefix("degraded: ")]
    cycles = running.poller.cycles
    await running.poller.wait_for_cycle(cycles + 2)  # and the meters are still polled

    mosquitto.start()

    async def ready() -> bool:
        return (await healthz(http, running.url, "readyz"))[0] == 200

    await until(ready, "/readyz back to 200 once the broker is back")
    assert await healthz(http, running.url) == (200, "ok\n")


async def test_healthz_when_a_bus_stalls(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    """A bus whose cycle never ends (a bug, a hung link) fails liveness once it has finished no
    cycle for longer than ``stalled_after``: that is what a restart cures."""
    _sim, url = await start_simulator("1:2000:load=0")
    clock = SteppedClock()
    held = asyncio.Event()
    entered = asyncio.Event()

    def prepare(bridge: Any) -> None:
        bridge.health.clock = clock
        poller = bridge.pollers[0]
        poll_meter = poller.poll_meter

        async def hanging(state: Any) -> bool:
            if poller.cycles >= 3:
                entered.set()
                await held.wait()
            return bool(await poll_meter(state))

        poller.poll_meter = hanging

    running = await run_bridge(bridge_config(mosquitto, url, 1), prepare=prepare)
    await entered.wait()
    assert (await healthz(http, running.url))[0] == 200  # the monitor sees the held cycle
    clock.advance(STALL_S + 1)
    status, text = await healthz(http, running.url)
    assert status == 503
    assert text.splitlines()[1].startswith("bus lab: no poll cycle has finished for ")
    held.set()
    await running.poller.wait_for_cycle(running.poller.cycles)

    async def healthy() -> bool:
        return (await healthz(http, running.url))[0] == 200

    await until(healthy, "/healthz back to 200 once the bus cycles again")


async def test_healthz_when_a_bus_stops_polling(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1))
    assert (await healthz(http, running.url))[0] == 200
    task = running.bridge.tasks[0]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    status, text = await healthz(http, running.url)
    assert status == 503
    assert "bus lab: its polling task was cancelled" in text
    await running.stop()
    assert running.bridge.health.check().problems == ["stopping"]


# -- systemd ---------------------------------------------------------------------------------


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's, named by $NOTIFY_SOCKET; a watchdog of
    0.2 s (a message every 0.1 s)."""
    folder = tempfile.mkdtemp(prefix="sd-")  # short: a socket path has at most 107 bytes
    path = Path(folder) / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    yield sock
    sock.close()
    path.unlink(missing_ok=True)
    os.rmdir(folder)


class Notifications:
    """What the bridge told "systemd", in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.messages: list[str] = []

    async def wait_for(self, check: str, *, after: int = 0) -> int:
        """The position of the first message from ``after`` on that contains ``check``."""
        loop = asyncio.get_running_loop()
        position = after
        while True:
            while position < len(self.messages):
                if check in self.messages[position]:
                    return position
                position += 1
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), PATIENCE)
            self.messages.append(data.decode())


async def test_systemd_ready_watchdog_and_stopping(
    mosquitto: Broker,
    notify_socket: socket.socket,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
) -> None:
    """A broker away keeps the watchdog fed (degraded, said in STATUS=); a bus that stops
    polling stops it, so that systemd restarts the bridge. (mosquitto speaks sd_notify too:
    it starts before $NOTIFY_SOCKET is set.)"""
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1))
    told = Notifications(notify_socket)
    ready = await told.wait_for("READY=1")
    assert "STATUS=polling 1 meter(s)" in told.messages[ready]
    fed = await told.wait_for("WATCHDOG=1", after=ready)
    publisher = running.mqtt
    await publisher.wait_until(lambda: publisher.connections >= 1)

    mosquitto.stop()
    degraded = await told.wait_for("STATUS=running; degraded: MQTT is down", after=fed)
    assert "WATCHDOG=1" in told.messages[degraded]
    fed_while_degraded = await told.wait_for("WATCHDOG=1", after=degraded + 1)

    task = running.bridge.tasks[0]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    unhealthy = await told.wait_for("STATUS=unhealthy: bus lab", after=fed_while_degraded)
    assert "WATCHDOG=1" not in told.messages[unhealthy]

    await running.stop()
    stopping = await told.wait_for("STOPPING=1", after=unhealthy)
    assert not any("WATCHDOG=1" in m for m in told.messages[unhealthy:stopping])


def test_sd_notify_outside_systemd_and_on_an_abstract_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False
    name = f"leviton-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify("READY=1") is True
        assert sock.recv(100) == b"READY=1"
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify")
    assert sd_notify("READY=1") is False  # said at debug level; the bridge goes on
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # asked of another process
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    monkeypatch.delenv("WATCHDOG_PID")
    assert watchdog_interval() is None

"""``/healthz`` and the systemd notifications follow the bridge's health: the MQTT broker
stopped past the publisher's reconnect backoff, a bus whose polling stopped, shutting down.

No test waits out the 90-second grace period: the health monitor's clock is stepped past it
(``SteppedClock``) once the bridge has noticed that the broker is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from leviton_bridge.http.health import MQTT_GRACE_S
from leviton_bridge.http.systemd import sd_notify, watchdog_interval
from support import PATIENCE, SteppedClock, until
from support.inprocess import StartSimulator
from support.mosquitto import Broker
from support.running import RunBridge
from support.statuspage import bridge_config


async def healthz(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url + "healthz") as answer:
        return answer.status, await answer.text()


async def test_healthz_follows_the_mqtt_broker(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    clock = SteppedClock()
    running = await run_bridge(
        bridge_config(mosquitto, url, 1),
        prepare=lambda bridge: setattr(bridge.health, "clock", clock),
    )
    publisher = running.bridge.mqtt
    assert publisher is not None
    await publisher.wait_until(lambda: publisher.connections >= 1)
    assert await healthz(http, running.url) == (200, "ok\n")

    mosquitto.stop()
    failures = publisher.connect_failures
    await publisher.wait_until(lambda: publisher.connect_failures > failures)
    # Within the backoff: still healthy, and saying that it is reconnecting.
    status, text = await healthz(http, running.url)
    assert status == 200
    assert f"MQTT broker {mosquitto.url}: reconnecting for" in text
    clock.advance(MQTT_GRACE_S + 1)
    status, text = await healthz(http, running.url)
    assert status == 503
    lines = text.splitlines()
    assert lines[0] == "unhealthy"
    assert lines[1].startswith(f"MQTT broker {mosquitto.url}: no connection for ")
    assert "connection refused" in lines[1]

    mosquitto.start()

    async def healthy() -> bool:
        return (await healthz(http, running.url))[0] == 200

    await until(healthy, "/healthz back to 200 once the broker is back")


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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(mosquitto speaks sd_notify too: it starts before $NOTIFY_SOCKET is set, and again
    without it.)"""
    _sim, url = await start_simulator("1:2000:load=0")
    clock = SteppedClock()
    running = await run_bridge(
        bridge_config(mosquitto, url, 1),
        prepare=lambda bridge: setattr(bridge.health, "clock", clock),
    )
    told = Notifications(notify_socket)
    ready = await told.wait_for("READY=1")
    assert "STATUS=polling 1 meter(s)" in told.messages[ready]
    fed = await told.wait_for("WATCHDOG=1", after=ready)
    publisher = running.bridge.mqtt
    assert publisher is not None
    await publisher.wait_until(lambda: publisher.connections >= 1)

    # The broker gone past the backoff: no more WATCHDOG=1, and systemd's status says why.
    mosquitto.stop()
    await until(lambda: publisher.disconnected_since is not None, "the broker missed")
    clock.advance(MQTT_GRACE_S + 1)
    unhealthy = await told.wait_for("STATUS=unhealthy: MQTT broker", after=fed)
    assert "WATCHDOG=1" not in told.messages[unhealthy]
    with monkeypatch.context() as without:
        without.delenv("NOTIFY_SOCKET")
        mosquitto.start()
    fed_again = await told.wait_for("WATCHDOG=1", after=unhealthy)
    assert not any("WATCHDOG=1" in m for m in told.messages[unhealthy:fed_again])
    assert "STATUS=running" in told.messages[fed_again]

    await running.stop()
    await told.wait_for("STOPPING=1", after=fed_again)


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

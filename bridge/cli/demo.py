"""``leviton-bridge demo``: simulated meters, an MQTT broker, and the bridge between them.

Nothing to set up: three simulated meters (a Series 2000, a Series 1000 and a Series 8000-12)
on loopback, an MQTT broker unless ``--broker`` names one, and the bridge publishing them with
Home Assistant discovery, shown as a live table until Ctrl-C, and on the bridge's status page
(http://127.0.0.1:8080/, or another free port when 8080 is taken; the demo prints it).

The broker is a mosquitto the demo starts on a free loopback port when the machine has one
(``make demo`` installs it on Debian as root), else an embedded amqtt (the ``demo`` extra).
amqtt 0.12 replays retained messages to clients other than the one subscribing, so the table
counts each message once however often it arrives (by topic and payload; a state message
carries the time of its read).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from leviton_driver import Clocks, LevitonError
from leviton_driver.catalogue import READINGS

from ..config.settings import BridgeConfig
from ..daemon import Bridge, parse
from ..mqtt.mapping import Topics
from ..simulator import MeterSimulator, MeterSpec
from . import render

DEMO_METERS = (
    # Loads high enough that the 0.1 kWh energy steps (and so average power) show within a minute.
    ("1:2000:load=45:energy=48210.3", "Workshop (Series 2000)"),
    ("2:1000:load=7.2:energy=9120.7", "Apartment 2B (Series 1000)"),
    ("3:8000-12:load=20:energy=30000", "Tenant panel (Series 8000-12)"),
)
SHOWN = ("energy_delivered", "peak_demand", "derived_power", "voltage_a")
DEMO_HTTP_PORT: Final = 8080


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and Path("/usr/sbin/mosquitto").exists():
        found = "/usr/sbin/mosquitto"
    return found


async def start_local_broker(stack: AsyncExitStack) -> tuple[str, str]:
    """A broker on a free loopback port, anonymous, stopped with ``stack``: mosquitto when the
    machine has it, else amqtt. Returns (what it is, URL)."""
    port = _free_port()
    executable = _mosquitto()
    if executable is not None:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leviton-demo-")))
        config = folder / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        if os.geteuid() == 0:
            lines.append("user root")  # mosquitto drops to its own user, who cannot read tmp
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            executable,
            "-c",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            # Its own session: Ctrl-C reaches the demo alone, which stops the bridge first and
            # the broker after (else the bridge says it lost the broker on the way out).
            start_new_session=True,
        )

        async def stop() -> None:
            if process.returncode is None:
                process.terminate()
                await process.wait()

        stack.push_async_callback(stop)
        for _ in range(200):  # mosquitto listens within milliseconds; give it up to 10 s
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return "a local mosquitto", f"mqtt://127.0.0.1:{port}"
        raise LevitonError(f"mosquitto ({executable}) did not start on 127.0.0.1:{port}")
    try:
        from amqtt.broker import Broker
    except ImportError:
        raise LevitonError(
            "no MQTT broker to run the demo with: install mosquitto (apt-get install "
            "mosquitto), or the demo extra (pip install 'leviton-meters[demo]'), or pass "
            "--broker mqtt://HOST:PORT"
        ) from None
    # amqtt warns about undelivered messages when it shuts down; that is no news in a demo.
    logging.getLogger("amqtt").setLevel(logging.ERROR)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    stack.push_async_callback(broker.shutdown)
    return "an embedded amqtt broker", f"mqtt://127.0.0.1:{port}"


class BrokerWatch:
    """Counts what actually reaches the broker under the bridge's topics."""

    def __init__(self, url: str, base_topic: str) -> None:
        host, port = url.removeprefix("mqtt://").rsplit(":", 1)
        self.counts: Counter[str] = Counter()
        self._seen: set[tuple[str, bytes]] = set()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="leviton-demo-watch")
        self.client.on_message = lambda _c, _u, message: self._count(message)
        self.client.on_connect = lambda client, *_: client.subscribe(
            [(f"{base_topic}/#", 0), ("homeassistant/device/+/config", 0)]
        )
        self.client.connect_async(host, int(port))
        self.client.loop_start()

    def _count(self, message: mqtt.MQTTMessage) -> None:
        """Each message once, whether it arrived live, retained, or replayed."""
        key = (message.topic, bytes(message.payload))
        if message.payload and key not in self._seen:
            self._seen.add(key)
            self.counts[message.topic] += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _table(
    bridge: Bridge, topics: Topics, watch: BrokerWatch, broker_url: str, page_url: str | None
) -> str:
    lines = [
        f"{time.strftime('%H:%M:%S')}  MQTT broker {broker_url}, topics under {topics.base}/"
        + (f"; status page {page_url}" if page_url else "")
    ]
    for state in bridge.states:
        identity = state.identity
        status = "online" if state.available else f"offline: {state.last_error or 'not read yet'}"
        kind = render.identity_line(identity) if identity else "identifying..."
        lines.append(f"  {state.config.name}: {kind} [{status}]")
        snapshot = state.snapshot
        if snapshot is not None:
            shown = [
                f"{READINGS[key].name} {render.number(value, READINGS[key].precision)} {READINGS[key].unit}"
                for key in SHOWN
                if (value := snapshot.readings.get(key)) is not None
            ]
            if snapshot.points:
                total = sum(v.get("power") or 0 for v in snapshot.points.values())
                shown.append(f"{len(snapshot.points)} points drawing {total:.0f} W")
            lines.append("    " + ", ".join(shown))
        state_topic = topics.state(state.meter_id)
        lines.append(f"    -> {state_topic} ({watch.counts[state_topic]} received by the broker)")
    discovery = sum(n for topic, n in watch.counts.items() if topic.endswith("/config"))
    lines.append(
        f"  Home Assistant discovery: {discovery} device config message(s) under homeassistant/device/"
    )
    lines.append("  Ctrl-C to stop.")
    return "\n".join(lines) + "\n"


@dataclass
class DemoSession:
    """What a running demo is made of (``demo_session``)."""

    simulator: MeterSimulator
    modbus_url: str
    broker: str
    """What the broker is, in words ("a local mosquitto", ...)."""
    broker_url: str
    bridge: Bridge
    config: BridgeConfig

    @property
    def page_url(self) -> str | None:
        """The status page's address (None: the demo runs without it)."""
        status = self.bridge.status
        return status.url if status is not None else None


def demo_config(
    modbus_url: str,
    broker_url: str,
    *,
    interval: float,
    http: dict[str, Any] | None = None,
    state_dir: str | None = None,
) -> BridgeConfig:
    """The demo's configuration: its three meters on one bus, MQTT, the status page and the
    history with its charts (and a state directory of its own: the simulated meters start
    afresh at every demo, and so does their history)."""
    data: dict[str, Any] = {
        "buses": [
            {
                "name": "demo",
                "connect": modbus_url,
                "poll_interval": interval,
                "meters": [
                    {"unit": int(spec.split(":")[0]), "name": name} for spec, name in DEMO_METERS
                ],
            }
        ],
        "mqtt": {"url": broker_url, "client_id": "leviton-bridge-demo"},
        "history": {"interval": 5},
    }
    if http is not None:
        data["http"] = http
    if state_dir is not None:
        data["state_dir"] = state_dir
    return parse(data, "demo")


def _page_listen() -> str:
    """127.0.0.1:8080 when it is free, else another free loopback port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", DEMO_HTTP_PORT))
        except OSError:
            return f"127.0.0.1:{_free_port()}"
    return f"127.0.0.1:{DEMO_HTTP_PORT}"


@asynccontextmanager
async def demo_session(
    *,
    interval: float = 2.0,
    broker_url: str | None = None,
    http: dict[str, Any] | None = None,
    link_timeout: float | None = None,
    clock: Callable[[], float] | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> AsyncIterator[DemoSession]:
    """The demo's simulated meters, a broker (unless ``broker_url`` names one) and the bridge
    with its status page (``http``: the ``http:`` section; by default 127.0.0.1:8080, or
    another free port), running until the block ends. ``link_timeout`` and ``clock`` are for
    tests: ``clock`` is the meters' monotonic clock, the simulated meters' and the one the
    bridge counts their uptime on (held still, every value stands still); ``wall_clock`` the
    time their readings are given (and the history's intervals counted on)."""
    async with AsyncExitStack() as stack:
        options: dict[str, Any] = {"clock": clock} if clock is not None else {}
        simulator = MeterSimulator([MeterSpec.parse(spec) for spec, _ in DEMO_METERS], **options)
        host, port = await simulator.start_tcp("127.0.0.1", 0)
        stack.push_async_callback(simulator.stop)
        modbus_url = f"tcp://{host}:{port}"
        where = "the MQTT broker"
        if broker_url is None:
            where, broker_url = await start_local_broker(stack)
        state_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="leviton-demo-"))
        config = demo_config(
            modbus_url + (f"?timeout={link_timeout}" if link_timeout else ""),
            broker_url,
            interval=interval,
            http=http if http is not None else {"listen": _page_listen()},
            state_dir=state_dir,
        )
        bridge = Bridge(config)
        if clock is not None or wall_clock is not None:
            clocks = Clocks(monotonic=clock or time.monotonic, wall=wall_clock or time.time)
            for poller in bridge.pollers:
                poller.meter_clocks = clocks
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        try:
            started = asyncio.create_task(bridge.started.wait())
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                started.cancel()
                await task  # it failed to start: say why
            yield DemoSession(simulator, modbus_url, where, broker_url, bridge, config)
        finally:
            stop.set()
            with suppress(asyncio.CancelledError):
                await task


async def run_demo(
    out: TextIO, *, interval: float = 2.0, cycles: int = 0, broker_url: str | None = None
) -> int:
    """Run the demo; ``cycles`` > 0 stops after that many tables (for tests)."""
    async with demo_session(interval=interval, broker_url=broker_url) as demo:
        assert demo.config.mqtt is not None
        topics = Topics(demo.config.mqtt)
        watch = BrokerWatch(demo.broker_url, topics.base)
        try:
            out.write(demo.simulator.describe(demo.modbus_url))
            out.write(f"Bridge publishing to {demo.broker} at {demo.broker_url}\n")
            out.write(f"Status page: {demo.page_url} (open it in a browser)\n\n")
            shown = 0
            while not cycles or shown < cycles:
                await asyncio.sleep(interval)
                if out.isatty():
                    out.write("\033[H\033[J")
                out.write(_table(demo.bridge, topics, watch, demo.broker_url, demo.page_url))
                out.flush()
                shown += 1
        finally:
            watch.stop()
    return 0

"""``leviton-bridge demo``: simulated meters, an MQTT broker, and the bridge between them.

Nothing to set up: three simulated meters (a Series 2000, a Series 1000 and a Series 8000-12)
on loopback, an MQTT broker unless ``--broker`` names one, and the bridge publishing them with
Home Assistant discovery, shown as a live table until Ctrl-C.

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
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from typing import TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from leviton_bridge.simulator import MeterSimulator, MeterSpec
from leviton_driver import LevitonError
from leviton_driver.catalogue import READINGS

from . import render
from .config import parse_config
from .daemon import Bridge
from .mqtt_mapping import Topics

DEMO_METERS = (
    # Loads high enough that the 0.1 kWh energy steps (and so average power) show within a minute.
    ("1:2000:load=45:energy=48210.3", "Workshop (Series 2000)"),
    ("2:1000:load=7.2:energy=9120.7", "Apartment 2B (Series 1000)"),
    ("3:8000-12:load=20:energy=30000", "Tenant panel (Series 8000-12)"),
)
SHOWN = ("energy_delivered", "peak_demand", "derived_power", "voltage_a")


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


def _table(bridge: Bridge, topics: Topics, watch: BrokerWatch, broker_url: str) -> str:
    lines = [f"{time.strftime('%H:%M:%S')}  MQTT broker {broker_url}, topics under {topics.base}/"]
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


async def run_demo(
    out: TextIO, *, interval: float = 2.0, cycles: int = 0, broker_url: str | None = None
) -> int:
    """Run the demo; ``cycles`` > 0 stops after that many tables (for tests)."""
    async with AsyncExitStack() as stack:
        simulator = MeterSimulator([MeterSpec.parse(spec) for spec, _ in DEMO_METERS])
        host, port = await simulator.start_tcp("127.0.0.1", 0)
        stack.push_async_callback(simulator.stop)
        where = "the MQTT broker"
        if broker_url is None:
            where, broker_url = await start_local_broker(stack)
        config = parse_config(
            {
                "buses": [
                    {
                        "name": "demo",
                        "connect": f"tcp://{host}:{port}",
                        "poll_interval": interval,
                        "meters": [
                            {"unit": int(spec.split(":")[0]), "name": name}
                            for spec, name in DEMO_METERS
                        ],
                    }
                ],
                "mqtt": {"url": broker_url, "client_id": "leviton-bridge-demo"},
            },
            "demo",
        )
        assert config.mqtt is not None
        topics = Topics(config.mqtt)
        watch = BrokerWatch(broker_url, topics.base)
        stack.callback(watch.stop)
        bridge = Bridge(config)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        out.write(simulator.describe(f"tcp://{host}:{port}"))
        out.write(f"Bridge publishing to {where} at {broker_url}\n\n")
        shown = 0
        try:
            while not cycles or shown < cycles:
                await asyncio.sleep(interval)
                if out.isatty():
                    out.write("\033[H\033[J")
                out.write(_table(bridge, topics, watch, broker_url))
                out.flush()
                shown += 1
        finally:
            stop.set()
            with suppress(asyncio.CancelledError):
                await task
    return 0

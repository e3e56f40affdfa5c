"""Benchmark: how soon every meter's state is back on the broker after a broker outage.

Run on demand (it is not a test; as long as the outages asked for, plus a little)::

    .venv/bin/python bench/outage.py [--outages 3,30,70,180,600] [--meters 6] [--interval 1]

What runs: mosquitto on a free loopback port (persistence off: a broker that comes back holds
nothing, as after a crash), the simulated meters in a process of their own, and the bridge
(``leviton-bridge run``) as a process, polling every ``--interval`` s. For each outage length,
mosquitto is stopped for that long and started again; a fresh client connects as soon as the
broker listens and waits for a state of every meter read after the broker's return.

``back_after_s`` is the time from the broker's start to the last meter's first fresh state
(the bridge's reconnect wait, its republishing and one poll interval at most). The target is
under 5 s for every outage length, with connection attempts every 2 s at most while the
broker is away (``RECONNECT_MAX_S``), which cost nothing measurable.

The last line::

    RESULT back_after_s=3:...,30:...,... worst_s=... attempts_per_min=...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import free_port
from support.mosquitto import Broker
from support.simulator_process import SimulatorProcess


class Fresh:
    """A client that connects as soon as it can and notes each meter's first state read
    after ``since`` (wall clock)."""

    def __init__(self, broker: Broker, since: float) -> None:
        self.since = since
        self.first: dict[str, float] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fresh-{since}")
        self.client.on_connect = lambda c, *_: c.subscribe("leviton/+/state", qos=1)
        self.client.on_message = self._message
        while True:
            try:
                self.client.connect(broker.host, broker.port)
                break
            except OSError:
                time.sleep(0.01)
        self.client.loop_start()

    def _message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return
        read = datetime.fromisoformat(json.loads(message.payload)["time"]).timestamp()
        meter = message.topic.split("/")[1]
        with self.lock:
            if read >= self.since and meter not in self.first:
                self.first[meter] = time.time()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def run(outages: list[float], meters: int, interval: float) -> int:
    folder = Path(tempfile.mkdtemp(prefix="outage-"))
    broker = Broker(shutil.which("mosquitto") or "/usr/sbin/mosquitto", folder, free_port())
    broker.start()
    specs = [f"{unit}:2000:load=2" for unit in range(1, meters + 1)]
    sim = await SimulatorProcess.start(*specs)
    config = {
        "log_level": "info",
        "state_dir": str(folder / "state"),
        "mqtt": {"url": broker.url, "client_id": "outage-bridge"},
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "buses": [
            {
                "name": "lab",
                "connect": f"{sim.url}?timeout=0.3",
                "poll_interval": interval,
                "meters": [{"unit": unit} for unit in range(1, meters + 1)],
            }
        ],
    }
    path = folder / "bridge.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    executable = Path(sys.executable).parent / "leviton-bridge"
    log = (folder / "bridge.log").open("w")
    bridge = await asyncio.create_subprocess_exec(
        str(executable), "run", "--config", str(path), stdout=log, stderr=log
    )
    results: dict[float, float] = {}
    failures_per_min: list[float] = []
    try:
        first = Fresh(broker, time.time())
        while len(first.first) < meters:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # a benchmark may watch the clock; tests may not
        first.stop()
        for seconds in outages:
            broker.stop()
            down_at = time.monotonic()
            attempts_before = await asyncio.to_thread(_attempts, config)
            await asyncio.sleep(seconds)
            attempts = await asyncio.to_thread(_attempts, config) - attempts_before
            if seconds >= 30:
                failures_per_min.append(attempts / ((time.monotonic() - down_at) / 60))
            broker.start()
            back = time.time()
            fresh = await asyncio.to_thread(Fresh, broker, back)
            while len(fresh.first) < meters:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            fresh.stop()
            results[seconds] = max(fresh.first.values()) - back
            print(
                f"broker down {seconds:g} s: every meter's fresh state {results[seconds]:.2f} s after its return"
            )
    finally:
        bridge.terminate()
        await asyncio.wait_for(bridge.wait(), 30)
        log.close()
        await sim.stop()
        broker.stop()
    worst = max(results.values())
    rate = max(failures_per_min, default=0.0)
    print(f"connection attempts while the broker was away: at most {rate:.0f} a minute")
    print(
        "RESULT back_after_s="
        + ",".join(f"{seconds:g}:{after:.2f}" for seconds, after in results.items())
        + f" worst_s={worst:.2f} attempts_per_min={rate:.0f}"
    )
    return 0 if worst < 5 else 1


def _attempts(config: dict[str, Any]) -> int:
    """Connection attempts that failed so far, from the bridge's ``/metrics``."""
    url = f"http://{config['http']['listen']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("leviton_mqtt_connect_failures_total "):
                return int(float(line.split()[1]))
    return 0


def main() -> int:
    os.environ["STATE_DIRECTORY"] = tempfile.mkdtemp(prefix="leviton-bench-state-")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outages", default="3,30,70,180,600", help="seconds, comma-separated")
    parser.add_argument("--meters", type=int, default=6)
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, seconds")
    args = parser.parse_args()
    outages = [float(part) for part in args.outages.split(",") if part.strip()]
    return asyncio.run(run(outages, args.meters, args.interval))


if __name__ == "__main__":
    sys.exit(main())

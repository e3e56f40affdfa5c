"""Benchmark: floods from whoever can reach the bridge, and what each costs it.

Run on demand (it is not a test; about two minutes)::

    .venv/bin/python bench/floods.py

What runs: mosquitto, three simulated meters, and the bridge (``leviton-bridge run``) as a
process with its status page (a token) and MQTT, its open-file limit at 1,024 (systemd's usual
default). One flood after another, each with ``/healthz`` asked every 0.2 s meanwhile:

* ``headers``: 1,000 requests with an 10 KiB header; ``urls``: 100 requests with a 1 MB URL;
* ``logins``: 1,000 wrong tokens on the login form;
* ``commands``: 10,000 garbage payloads on a meter's reset command topic;
* ``births``: 200 ``online`` messages on ``homeassistant/status`` in about two seconds;
* ``idle``: 1,100 connections opened to the page and held, sending nothing.

For each: the most log lines of one kind (the bridge's log, numbers taken out) per second of
the flood; ``/healthz`` answers that were not 200; poll cycles during the flood against the
cycles a quiet window of the same length had (``poll_ratio``, 1.0: polling kept its rate).

The last line::

    RESULT headers=lines_per_s:...,healthz_failed:...,poll_ratio:... urls=... ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import free_port
from support.mosquitto import Broker
from support.simulator_process import SimulatorProcess

TOKEN = "flood-test-token-0123456789"
INTERVAL = 0.5
WINDOW_S = 5.0
"""Poll cycles are counted over this long, quiet and with each flood."""


class Bridge:
    def __init__(self, folder: Path, listen: str) -> None:
        self.log_path = folder / "bridge.log"
        self.listen = listen
        self.url = f"http://{listen}/"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    async def cycles(self, http: aiohttp.ClientSession) -> float:
        async with http.get(
            self.url + "metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as answer:
            for line in (await answer.text()).splitlines():
                if line.startswith("leviton_bus_cycles_total"):
                    return float(line.split()[-1])
        return 0.0


async def probe(url: str, failed: list[int], stop: asyncio.Event) -> None:
    """Ask /healthz every 0.2 s until told to stop; count what was not a 200."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            try:
                async with http.get(url + "healthz") as answer:
                    if answer.status != 200:
                        failed[0] += 1
            except (aiohttp.ClientError, TimeoutError, OSError):
                failed[0] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


async def raw(host: str, port: int, data: bytes) -> None:
    with contextlib.suppress(OSError):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(data)
        with contextlib.suppress(OSError):
            await reader.read()
        writer.close()


def mqtt_flood(broker: Broker, topic: str, payloads: list[str], spread: float = 0.0) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
    client.max_inflight_messages_set(200)
    client.connect(broker.host, broker.port)
    client.loop_start()
    pause = spread / len(payloads) if spread else 0.0
    infos = []
    for payload in payloads:
        infos.append(client.publish(topic, payload, qos=1))
        if pause:
            time.sleep(pause)
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


async def run() -> int:
    folder = Path(tempfile.mkdtemp(prefix="floods-"))
    broker = Broker(shutil.which("mosquitto") or "/usr/sbin/mosquitto", folder, free_port())
    broker.start()
    sim = await SimulatorProcess.start("1:2000:load=2", "2:2000:load=2", "3:8000-8:load=5")
    port = free_port()
    host = "127.0.0.1"
    config = {
        "log_level": "info",
        "state_dir": str(folder / "state"),
        "mqtt": {"url": broker.url, "client_id": "flood-bridge"},
        "http": {"listen": f"{host}:{port}", "token": TOKEN},
        "buses": [
            {
                "name": "lab",
                "connect": f"{sim.url}?timeout=0.3",
                "poll_interval": INTERVAL,
                "meters": [{"unit": 1}, {"unit": 2}, {"unit": 3}],
            }
        ],
    }
    path = folder / "bridge.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    executable = Path(sys.executable).parent / "leviton-bridge"
    bridge = Bridge(folder, f"{host}:{port}")
    log = bridge.log_path.open("w")

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    process = await asyncio.create_subprocess_exec(
        str(executable),
        "-v",
        "run",
        "--config",
        str(path),
        stdout=log,
        stderr=log,
        preexec_fn=low_file_limit,
    )
    results: dict[str, dict[str, float]] = {}
    try:
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    if await bridge.cycles(http) >= 4:
                        break
                await asyncio.sleep(0.2)  # a benchmark may watch the clock; tests may not

            async def measure(name: str, flood: Callable[[], Awaitable[Any]]) -> None:
                quiet_start, quiet_cycles = time.monotonic(), await bridge.cycles(http)
                await asyncio.sleep(WINDOW_S)
                quiet_rate = (await bridge.cycles(http) - quiet_cycles) / (
                    time.monotonic() - quiet_start
                )
                before = len(bridge.log_lines())
                failed, stop = [0], asyncio.Event()
                prober = asyncio.create_task(probe(bridge.url, failed, stop))
                start, cycles = time.monotonic(), await bridge.cycles(http)
                await flood()
                took = max(1.0, time.monotonic() - start)
                # Polling over a window as long as the quiet one, the flood at its start.
                await asyncio.sleep(max(0.0, start + WINDOW_S - time.monotonic()))
                rate = (await bridge.cycles(http) - cycles) / (time.monotonic() - start)
                stop.set()
                await prober
                kinds = Counter(
                    re.sub(r"[0-9a-f]{6,}|[0-9.:]+", "#", line)[:100]
                    for line in bridge.log_lines()[before:]
                    if line.startswith(("WARNING", "ERROR", "INFO", "CRITICAL"))
                )
                most = kinds.most_common(1)[0][1] if kinds else 0
                results[name] = {
                    "lines_per_s": most / took,
                    "healthz_failed": failed[0],
                    "poll_ratio": rate / quiet_rate if quiet_rate else 0.0,
                }
                print(
                    f"{name}: {took:.1f} s; {sum(kinds.values())} log lines, at most "
                    f"{most} of one kind ({most / took:.2f}/s); /healthz failed {failed[0]} "
                    f"times; poll rate {rate:.2f}/s against {quiet_rate:.2f}/s quiet"
                )
                for line, count in kinds.most_common(3):
                    print(f"    {count:5d} x {line}")

            header = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 10_240 + b"\r\n\r\n"

            async def headers() -> None:
                for _ in range(10):
                    await asyncio.gather(*(raw(host, port, header) for _ in range(100)))

            async def urls() -> None:
                big = b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                for _ in range(10):
                    await asyncio.gather(*(raw(host, port, big) for _ in range(10)))

            async def logins() -> None:
                async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
                    for _ in range(1000):
                        async with client.post(bridge.url + "login", data={"token": "x" * 20}):
                            pass

            async def commands() -> None:
                garbage = [f"garbage {n}" for n in range(10_000)]
                await asyncio.to_thread(
                    mqtt_flood, broker, "leviton/lab_u1/reset_peak_demand/set", garbage
                )

            async def births() -> None:
                await asyncio.to_thread(
                    mqtt_flood, broker, "homeassistant/status", ["online"] * 200, 2.0
                )
                await asyncio.sleep(3)  # the republish comes within 2.5 s

            async def idle() -> None:
                held = []
                for _ in range(1100):
                    with contextlib.suppress(OSError):
                        held.append(await asyncio.open_connection(host, port))
                await asyncio.sleep(10)
                for _reader, writer in held:
                    writer.close()

            for name, flood in (
                ("headers", headers),
                ("urls", urls),
                ("logins", logins),
                ("commands", commands),
                ("births", births),
                ("idle", idle),
            ):
                await measure(name, flood)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        log.close()
        await sim.stop()
        broker.stop()
    print(
        "RESULT "
        + " ".join(
            f"{name}=lines_per_s:{r['lines_per_s']:.2f},healthz_failed:{r['healthz_failed']:.0f},"
            f"poll_ratio:{r['poll_ratio']:.2f}"
            for name, r in results.items()
        )
    )
    ok = all(
        r["lines_per_s"] <= 1.0 and r["healthz_failed"] == 0 and r["poll_ratio"] >= 0.9
        for r in results.values()
    )
    return 0 if ok else 1


def main() -> int:
    os.environ["STATE_DIRECTORY"] = tempfile.mkdtemp(prefix="leviton-bench-state-")
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())

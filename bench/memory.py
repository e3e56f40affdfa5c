"""Benchmark: does the bridge's memory stay flat over an hour of work?

Run on demand (it is not a test; ``--minutes`` long, an hour by default)::

    .venv/bin/python bench/memory.py [--minutes 60] [--settle 10] [--interval 10]

What runs: mosquitto on a free loopback port; 100 simulated meters (4 gateways of 20 Series
2000 and 5 Series 8000-24, 2,400 points) in a process of their own; the bridge
(``leviton-bridge run``) polling them every ``--interval`` s, publishing to mosquitto and
serving its status page; and here, a page's live stream with every point unfolded
(``/api/events?points=all``), read for the whole run, as a page left open on a wall would.

The bridge's resident memory is sampled every 15 s. ``slope_mb_per_h`` is the least-squares
slope of the samples taken after ``--settle`` minutes (start-up, caches filling and the
allocator settling come first). The target is under 0.5 MB an hour.

The last line::

    RESULT minutes=... rss_settled_mb=... rss_end_mb=... slope_mb_per_h=... samples=...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import free_port
from support.mosquitto import Broker
from support.simulator_process import SimulatorProcess

GATEWAYS = 4
S2000 = 20
S8000 = 5
SAMPLE_S = 15.0


async def read_stream(url: str, counted: list[int]) -> None:
    """The page's live stream with every point, read and thrown away, until cancelled."""
    while True:
        try:
            timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(url + "api/events?points=all") as stream,
            ):
                async for chunk in stream.content.iter_any():
                    counted[0] += len(chunk)
        except (aiohttp.ClientError, TimeoutError):
            await asyncio.sleep(1)


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB an hour."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    num = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    den = sum((t - mean_t) ** 2 for t, _ in samples)
    return num / den * 3600 if den else 0.0


async def run(minutes: float, settle: float, interval: float) -> int:
    folder = Path(tempfile.mkdtemp(prefix="memory-"))
    broker = Broker(shutil.which("mosquitto") or "/usr/sbin/mosquitto", folder, free_port())
    broker.start()
    specs = [f"{u}:2000:load=3" for u in range(1, S2000 + 1)]
    specs += [f"{u}:8000-24:load=20" for u in range(S2000 + 1, S2000 + S8000 + 1)]
    sims = [await SimulatorProcess.start(*specs) for _ in range(GATEWAYS)]
    listen = f"127.0.0.1:{free_port()}"
    config = {
        "log_level": "warning",
        "state_dir": str(folder / "state"),
        "mqtt": {"url": broker.url, "client_id": "memory-bridge"},
        "http": {"listen": listen},
        "buses": [
            {
                "name": f"gw{number}",
                "connect": f"{sim.url}?timeout=0.5",
                "poll_interval": interval,
                "meters": [{"unit": int(spec.split(":")[0])} for spec in specs],
            }
            for number, sim in enumerate(sims, 1)
        ],
    }
    path = folder / "bridge.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    executable = Path(sys.executable).parent / "leviton-bridge"
    log = (folder / "bridge.log").open("w")
    bridge = await asyncio.create_subprocess_exec(
        str(executable), "run", "--config", str(path), stdout=log, stderr=log
    )
    process = psutil.Process(bridge.pid)
    counted = [0]
    reader = asyncio.create_task(read_stream(f"http://{listen}/", counted))
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < minutes * 60:
            if bridge.returncode is not None:
                raise RuntimeError(f"the bridge ended: see {folder / 'bridge.log'}")
            samples.append((elapsed, process.memory_info().rss / 1e6))
            await asyncio.sleep(SAMPLE_S)  # a benchmark may watch the clock; tests may not
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        bridge.terminate()
        await asyncio.wait_for(bridge.wait(), 30)
        log.close()
        for sim in sims:
            await sim.stop()
        broker.stop()
    late = [(t, m) for t, m in samples if t >= settle * 60]
    rate = slope(late)
    print(
        f"{len(samples)} samples over {minutes:g} min; the page's stream carried "
        f"{counted[0] / 1e6:.0f} MB; RSS {late[0][1]:.1f} MB after {settle:g} min of settling "
        f"-> {samples[-1][1]:.1f} MB"
    )
    for t, m in samples[:: max(1, len(samples) // 12)]:
        print(f"  {t / 60:5.1f} min  {m:6.1f} MB")
    print(
        f"RESULT minutes={minutes:g} rss_settled_mb={late[0][1]:.1f} "
        f"rss_end_mb={samples[-1][1]:.1f} slope_mb_per_h={rate:.2f} samples={len(late)}"
    )
    return 0 if rate < 0.5 else 1


def main() -> int:
    os.environ["STATE_DIRECTORY"] = tempfile.mkdtemp(prefix="leviton-bench-state-")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0, help="minutes left out of the slope")
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval, seconds")
    args = parser.parse_args()
    return asyncio.run(run(args.minutes, args.settle, args.interval))


if __name__ == "__main__":
    sys.exit(main())

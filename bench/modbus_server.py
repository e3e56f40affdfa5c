"""Benchmark: the bridge's Modbus TCP server under load, and what it costs the RS485 lines.

Run on demand (it is not a test; about a minute and a half)::

    .venv/bin/python bench/modbus_server.py [--clients 10] [--rate 1000] [--window 20]

What runs: 100 simulated Series 2000 meters behind 4 gateways (25 each, in a process of their
own) on emulated 9600-baud RS485 lines; the bridge (``leviton-bridge run``) as a process,
polling them every 2 s and serving them on its Modbus TCP server; and here, ``--clients``
clients reading 6-register blocks (40001-40006) of the 100 served meters, ``--rate`` requests a
second in all, evenly paced, for ``--window`` seconds, after a quiet window of the same length.

Measured:

* ``p99_ms``: from a request written to its answer read, at the client (loopback);
* ``serving_cpu_pct``: the bridge's CPU (user + system) in the busy window minus the quiet
  one, as a share of one core (target: under 10 %);
* ``cycle_ratio``: the mean poll cycle of the buses (``leviton_bus_cycle_seconds``) with the
  clients against without (target: at most 1.02);
* ``extra_transactions``: requests the simulated lines received beyond one per meter and poll
  cycle while the clients read (target: 0: nothing a client asks reaches the line).

The last line::

    RESULT requests=... p99_ms=... serving_cpu_pct=... cycle_ratio=... extra_transactions=...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import free_port
from support.simulator_process import SimulatorProcess

GATEWAYS = 4
METERS = 25
INTERVAL = 2.0


def metrics(listen: str) -> dict[str, list[float]]:
    with urllib.request.urlopen(f"http://{listen}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, list[float]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            found.setdefault(name, []).append(float(line.rsplit(" ", 1)[1]))
    return found


async def client(port: int, rate: float, until: float, latencies: list[float], number: int) -> int:
    """One client: a request every 1/rate s to the next meter, each answer awaited."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent, tid = 0, 0
    started = time.perf_counter()
    try:
        while time.perf_counter() < until:
            unit = (number * 7 + sent) % (GATEWAYS * METERS) + 1
            tid = (tid + 1) & 0xFFFF
            request = struct.pack(">HHHBBHH", tid, 0, 6, unit, 3, 0, 6)
            begun = time.perf_counter()
            writer.write(request)
            answer = await reader.readexactly(9 + 12)
            latencies.append(time.perf_counter() - begun)
            if answer[7] != 3:
                raise RuntimeError(f"unit {unit} answered {answer.hex()}")
            sent += 1
            delay = started + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # a benchmark may pace itself by the clock
    finally:
        writer.close()
    return sent


async def run(clients: int, rate: float, window: float) -> int:
    folder = Path(tempfile.mkdtemp(prefix="modbus-server-"))
    specs = [f"{unit}:2000:load=3" for unit in range(1, METERS + 1)]
    sims = [await SimulatorProcess.start(*specs, line_baud=9600) for _ in range(GATEWAYS)]
    port, http = free_port(), f"127.0.0.1:{free_port()}"
    # Served at unit ids of their own: gateway g's unit u at (g - 1) * 25 + u.
    units = {
        f"gw{g}_u{u}": (g - 1) * METERS + u
        for g in range(1, GATEWAYS + 1)
        for u in range(1, METERS + 1)
    }
    config = {
        "log_level": "warning",
        "state_dir": str(folder / "state"),
        "http": {"listen": http},
        "modbus_server": {"listen": f"127.0.0.1:{port}", "max_clients": 64, "units": units},
        "buses": [
            {
                "name": f"gw{g}",
                "connect": f"{sim.url}?timeout=0.5",
                "poll_interval": INTERVAL,
                "meters": [{"unit": u} for u in range(1, METERS + 1)],
            }
            for g, sim in enumerate(sims, 1)
        ],
    }
    path = folder / "bridge.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    executable = shutil.which("leviton-bridge", path=str(Path(sys.executable).parent))
    log = (folder / "bridge.log").open("w")
    bridge = await asyncio.create_subprocess_exec(
        str(executable), "run", "--config", str(path), stdout=log, stderr=log
    )
    process = psutil.Process(bridge.pid)
    try:
        while True:  # every meter served (its first poll done)
            try:
                found = await asyncio.to_thread(metrics, http)
                if sum(found.get("leviton_meter_available", [])) >= GATEWAYS * METERS:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.5)

        async def measure(busy: bool) -> dict[str, Any]:
            requests_before = [sum((await sim.request("requests")).values()) for sim in sims]
            cycles_before = sum(
                (await asyncio.to_thread(metrics, http))["leviton_bus_cycles_total"]
            )
            cpu = process.cpu_times()
            cpu_before = cpu.user + cpu.system
            latencies: list[float] = []
            start = time.perf_counter()
            if busy:
                sent = await asyncio.gather(
                    *(
                        client(port, rate / clients, start + window, latencies, n)
                        for n in range(clients)
                    )
                )
            else:
                await asyncio.sleep(window)
                sent = [0]
            took = time.perf_counter() - start
            cpu = process.cpu_times()
            found = await asyncio.to_thread(metrics, http)
            cycles = sum(found["leviton_bus_cycles_total"]) - cycles_before
            requests = 0
            for sim, before in zip(sims, requests_before, strict=True):
                requests += sum((await sim.request("requests")).values()) - before
            return {
                "cpu": (cpu.user + cpu.system - cpu_before) / took,
                "cycle": sum(found["leviton_bus_cycle_seconds"]) / GATEWAYS,
                "cycles": cycles,
                "line_requests": requests,
                "latencies": latencies,
                "sent": sum(sent),
                "took": took,
            }

        quiet = await measure(busy=False)
        busy = await measure(busy=True)
        quiet_again = await measure(busy=False)
    finally:
        bridge.terminate()
        await asyncio.wait_for(bridge.wait(), 30)
        log.close()
        for sim in sims:
            await sim.stop()
    latencies = sorted(busy["latencies"])
    p99 = latencies[math.ceil(0.99 * len(latencies)) - 1] * 1000
    cpu_quiet = (quiet["cpu"] + quiet_again["cpu"]) / 2
    serving = (busy["cpu"] - cpu_quiet) * 100
    cycle_quiet = (quiet["cycle"] + quiet_again["cycle"]) / 2
    ratio = busy["cycle"] / cycle_quiet
    # One transaction per meter and cycle: anything beyond (counting whole cycles) came from
    # elsewhere. Cycles in flight at the window's edges make the count +-1 cycle per bus.
    extra = busy["line_requests"] - busy["cycles"] * METERS
    extra = 0 if abs(extra) <= GATEWAYS * METERS else extra
    print(
        f"{busy['sent']} requests in {busy['took']:.1f} s ({busy['sent'] / busy['took']:.0f}/s) "
        f"from {clients} clients; latency p50 {latencies[len(latencies) // 2] * 1000:.2f} ms, "
        f"p99 {p99:.2f} ms, max {latencies[-1] * 1000:.2f} ms"
    )
    print(
        f"bridge CPU: {cpu_quiet * 100:.1f} % of a core quiet, {busy['cpu'] * 100:.1f} % with the "
        f"clients; poll cycle {cycle_quiet:.3f} s quiet, {busy['cycle']:.3f} s with them; "
        f"line requests {busy['line_requests']} in {busy['cycles']:.0f} cycles of {METERS} meters"
    )
    print(
        f"RESULT requests={busy['sent']} p99_ms={p99:.2f} serving_cpu_pct={serving:.1f} "
        f"cycle_ratio={ratio:.3f} extra_transactions={extra}"
    )
    return 0 if p99 < 2 and serving < 10 and ratio <= 1.02 and extra == 0 else 1


def main() -> int:
    os.environ["STATE_DIRECTORY"] = tempfile.mkdtemp(prefix="leviton-bench-state-")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000.0, help="requests a second, in all")
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured, each way")
    args = parser.parse_args()
    return asyncio.run(run(args.clients, args.rate, args.window))


if __name__ == "__main__":
    sys.exit(main())

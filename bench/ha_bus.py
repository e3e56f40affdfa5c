"""Benchmark: one poll cycle of a bus in Home Assistant against the bridge's, on the same line.

Run on demand with the project's environment (``make`` builds the Home Assistant ones)::

    .venv/bin/python bench/ha_bus.py [--meters 8] [--baud 9600] [--cycles 5] [--ha 2026.2.3]

A simulator process serves ``--meters`` Series 2000 meters with RTU framing over TCP behind an
emulated RS485 line timed as a real one (``LineSettings``: bytes, t3.5 silences, turnaround).
First the bridge's ``BusPoller`` polls them (``--cycles`` cycles after a first one that
identifies them); then Home Assistant (a real core, in its own environment, through
pytest-homeassistant-custom-component) sets up one config entry per meter on that link and runs
as many passes of the bus's scheduler, the code its timer runs. Both report the seconds from the
first request of a cycle to the last answer. The physical floor is what an ideal master needs
for the same frames on a real line. The last line::

    RESULT meters=... bridge_cycle_s=... ha_cycle_s=... floor_s=... ratio=...

with ``ratio`` = Home Assistant's cycle / the bridge's (target: at most 1.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

TARGET_RATIO: Final = 1.1
ENV_SETTINGS: Final = "LEVITON_HA_BUS_BENCH"
REQUEST_BYTES, ANSWER_BYTES = 8, 17  # a Series 2000 poll: 40001-40006 in one transaction


# -- Home Assistant's side: a test case this script runs with pytest in an HA environment -----

try:
    import pytest

    # Imported while pytest collects this file, before Home Assistant's test harness puts its
    # own (empty) custom_components package first (ha_entries imports it too).
    from ha_entries import set_up_series2000
    from homeassistant.core import HomeAssistant

    from custom_components.leviton_meters.scheduler import DATA_SCHEDULERS
except ImportError:  # the project's environment: only the bridge's side runs here
    pass
else:

    @pytest.fixture(autouse=True)
    def _enable(enable_custom_integrations: None, socket_enabled: None) -> None:
        """Load custom_components/leviton_meters; let it reach the simulator on loopback."""

    async def test_ha_bus_passes(hass: HomeAssistant) -> None:
        settings = json.loads(os.environ[ENV_SETTINGS])
        await set_up_series2000(hass, settings["host"], settings["port"], settings["meters"])
        scheduler = next(iter(hass.data[DATA_SCHEDULERS].values()))
        assert len(scheduler.members) == settings["meters"]
        await scheduler.async_pass()  # warm-up
        seconds = []
        for _ in range(settings["cycles"]):
            started = hass.loop.time()
            await scheduler.async_pass()
            seconds.append(hass.loop.time() - started)
        assert all(member.last_update_success for member in scheduler.members)
        print(f"HA_PASSES {json.dumps(seconds)}")


# -- the bridge's side, and the report --------------------------------------------------------


async def bridge_cycles(url: str, meters: int, cycles: int) -> list[float]:
    from leviton_bridge.config.settings import BusConfig, MeterConfig
    from leviton_bridge.core.poller import BusPoller

    config = BusConfig(
        name="bench",
        connect=f"{url}?timeout=1",
        poll_interval=10,
        meters=tuple(
            MeterConfig(unit=u, name=f"unit {u}", series="2000", bus="bench")
            for u in range(1, meters + 1)
        ),
    )
    poller = BusPoller(config, [])
    await poller.async_prepare()
    try:
        await poller.poll_once()  # identification
        await poller.poll_once()  # warm-up
        reports = [await poller.poll_once() for _ in range(cycles)]
    finally:
        await poller.bus.async_close()
    if not all(a.answered for report in reports for a in report.attempts):
        raise RuntimeError("a meter did not answer the bridge")
    return [report.seconds for report in reports]


def ha_passes(ha: str, host: str, port: int, meters: int, cycles: int) -> list[float]:
    python = ROOT / f".venv-ha-{ha}" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"{python} is missing: `make test` builds it")
    settings = {"host": host, "port": port, "meters": meters, "cycles": cycles}
    done = subprocess.run(
        [str(python), "-m", "pytest", __file__, "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, ENV_SETTINGS: json.dumps(settings)},
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("HA_PASSES "):
            passes: list[float] = json.loads(line.removeprefix("HA_PASSES "))
            return passes
    raise RuntimeError(
        f"Home Assistant's run failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    )


async def run(args: argparse.Namespace) -> int:
    from support.simulator_process import SimulatorProcess

    from leviton_bridge.simulator import LineSettings

    specs = [f"{u}:2000:load={1 + u % 7 * 2.5}" for u in range(1, args.meters + 1)]
    sim = await SimulatorProcess.start(*specs, framing="rtu", line_baud=args.baud)
    try:
        assert sim.address is not None
        bridge = await bridge_cycles(sim.url, args.meters, args.cycles)
        host, port = sim.address
        ha = await asyncio.to_thread(ha_passes, args.ha, host, port, args.meters, args.cycles)
    finally:
        await sim.stop()
    line = LineSettings(baud=args.baud)
    floor = args.meters * line.wire_time(REQUEST_BYTES, ANSWER_BYTES)
    bridge_s, ha_s = statistics.mean(bridge), statistics.mean(ha)
    ratio = ha_s / bridge_s
    print(
        f"{args.meters} Series 2000 meters on one emulated line at {args.baud} baud "
        f"(simulator process, RTU over TCP)"
    )
    print(f"  bridge cycles:          {', '.join(f'{s:.3f}' for s in bridge)} s")
    print(f"  Home Assistant passes:  {', '.join(f'{s:.3f}' for s in ha)} s ({args.ha})")
    print(f"  physical floor:         {floor:.3f} s")
    print(
        f"target: Home Assistant / bridge <= {TARGET_RATIO}: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT MET'}"
    )
    print(
        f"RESULT meters={args.meters} bridge_cycle_s={bridge_s:.3f} ha_cycle_s={ha_s:.3f} "
        f"floor_s={floor:.3f} ratio={ratio:.3f}"
    )
    return 0 if ratio <= TARGET_RATIO else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=8)
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--ha", default="2026.2.3", help="the Home Assistant environment")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

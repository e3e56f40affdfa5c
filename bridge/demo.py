"""``leviton-bridge demo``: simulated meters, read live, with nothing to set up."""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from leviton_driver import Bus, LevitonError, LevitonMeter
from leviton_driver.catalogue import READINGS
from leviton_driver.simulator import MeterSimulator, MeterSpec

from . import render

DEMO_METERS = (
    "1:2000:load=12.5:energy=48210.3",
    "2:1000:load=3.2:energy=9120.7",
    "3:8000-12:load=20",
)


async def run_demo(out: TextIO, *, interval: float = 2.0, cycles: int = 0) -> int:
    """Start the simulator on loopback, identify its meters and show their readings live."""
    simulator = MeterSimulator([MeterSpec.parse(text) for text in DEMO_METERS])
    host, port = await simulator.start_tcp("127.0.0.1", 0)
    bus = Bus(f"tcp://{host}:{port}")
    try:
        meters: list[LevitonMeter] = [await bus.meter(unit) for unit in simulator.meters]
        out.write(render.simulator_text(bus.url, simulator))
        done = 0
        while not cycles or done < cycles:
            started = time.monotonic()
            lines = [f"\n{time.strftime('%H:%M:%S')}  poll {done + 1}"]
            for meter in meters:
                try:
                    snapshot = await meter.read()
                except LevitonError as err:
                    lines.append(f"  unit {meter.unit_id}: {err}")
                    continue
                assert meter.identity is not None
                lines.append(f"  unit {meter.unit_id} ({render.identity_line(meter.identity)})")
                shown = {k: v for k, v in snapshot.readings.items() if v is not None}
                lines.append(
                    "    "
                    + "  ".join(
                        f"{READINGS[k].name}: {render.number(v, READINGS[k].precision)} {READINGS[k].unit or ''}".rstrip()
                        for k, v in shown.items()
                    )
                )
                lines += render.points_table(snapshot.points, indent="    ", limit=3)
                if len(snapshot.points) > 3:
                    lines.append(
                        f"    ... and {len(snapshot.points) - 3} more points (leviton-bridge read shows all)"
                    )
            out.write("\n".join(lines) + "\n")
            out.flush()
            done += 1
            if cycles and done >= cycles:
                break
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        await bus.close()
        await simulator.stop()
    return 0

"""Benchmark: poll Series 2000 meters on one emulated RS485 line, against the physical floor.

Run on demand (it is not a test)::

    .venv/bin/python bench/bus.py [--meters 32] [--cycles 5] [--baud 9600] [--turnaround 0.005]
                                  [--concurrent]

A simulator process (``leviton-bridge simulate``, out of this process as a real RS485 gateway
is) serves ``--meters`` Series 2000 meters (unit ids 1..N) with RTU framing over TCP behind an
emulated line that is timed as a real one: each exchange holds the line for the request's bytes,
the 3.5-character silence that ends it, the meter's turnaround, the answer's bytes and the
silence after it (``LineSettings``), counted from when the request arrived or the line was next
free. One ``Bus`` identifies every meter, polls them all once to warm up, then times
``--cycles`` cycles of ``await meter.async_read()`` for every meter, in bus order as the
project's pollers do (``--concurrent`` gathers each cycle's reads and lets modbus-connection
serialise them on the link).

The physical floor of a cycle is what an ideal master needs on a real line for the very frames
exchanged (their sizes counted on the client's side of the link)::

    sum over transactions of  (q + a) x 10 / baud  +  2 x t3.5  +  turnaround

(``t3.5`` = 3.5 characters, 1.75 ms above 19200 baud). The last line::

    RESULT cycle_s=... wire_s=... ratio=... transactions_per_meter=...

Targets: ``ratio`` at most 1.05, and exactly 1 transaction per meter per poll (the driver
reads the six registers 40001-40006 in one transaction each poll; identity and status registers
are read at identification and then every 10 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.simulator_process import SimulatorProcess

from leviton_bridge.simulator import LineSettings
from leviton_driver import Bus, LevitonError, LevitonMeter
from leviton_driver.connection import PacketTrace
from leviton_driver.series1000 import Series1000Meter

TARGET_RATIO: Final = 1.05
TARGET_TRANSACTIONS: Final = 1


class FrameLog(PacketTrace):
    """The link's packet trace, also keeping the size of every request and of its answer."""

    def __init__(self, framing: str) -> None:
        super().__init__(framing)
        self.frames: list[tuple[int, int]] = []

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if sending and self.sent:
            self.frames.append((len(self.sent), len(self.received)))
        return super().__call__(sending, data)

    def close_last(self) -> None:
        """Count the request in flight (its answer has arrived)."""
        if self.sent:
            self.frames.append((len(self.sent), len(self.received)))
            self.sent = b""


async def poll(meters: list[LevitonMeter], concurrent: bool) -> None:
    if concurrent:
        await asyncio.gather(*(meter.async_read() for meter in meters))
    else:
        for meter in meters:
            await meter.async_read()


async def run(args: argparse.Namespace) -> int:
    line = LineSettings(baud=args.baud, turnaround=args.turnaround)
    specs = [f"{u}:2000:load={1 + u % 7 * 2.5}" for u in range(1, args.meters + 1)]
    sim = await SimulatorProcess.start(
        *specs, framing="rtu", line_baud=args.baud, line_turnaround=args.turnaround
    )
    bus = Bus(f"{sim.url}?timeout=1")
    trace = FrameLog("rtu")
    bus.connection.trace = trace
    try:
        started = time.perf_counter()
        meters = [await bus.async_meter(unit) for unit in range(1, args.meters + 1)]
        identify_s = time.perf_counter() - started
        identify_requests = trace.requests
        await poll(meters, args.concurrent)  # warm-up
        trace.close_last()
        first = len(trace.frames)
        served_before = sum([await sim.requests(u) for u in range(1, args.meters + 1)])
        cycles: list[float] = []
        for _ in range(args.cycles):
            started = time.perf_counter()
            await poll(meters, args.concurrent)
            cycles.append(time.perf_counter() - started)
        trace.close_last()
        served = sum([await sim.requests(u) for u in range(1, args.meters + 1)]) - served_before
    except LevitonError as err:
        print(f"bench/bus.py: FAILED: {err}", file=sys.stderr)
        return 1
    finally:
        await bus.async_close()
        await sim.stop()

    frames = trace.frames[first:]
    n_cycles = len(cycles)
    polls = args.meters * n_cycles
    cycle = sum(cycles) / n_cycles
    wire = sum(line.wire_time(q, a) for q, a in frames) / n_cycles
    ratio = cycle / wire
    per_meter = served / polls
    extra = sorted(
        m.unit_id for m in meters if not isinstance(m, Series1000Meter) or m.poll_peak_register
    )
    polling = "concurrent (gathered)" if args.concurrent else "sequential, in bus order"
    print(
        f"{args.meters} Series 2000 meters on one emulated RS485 line at {args.baud} baud 8N1, "
        f"turnaround {args.turnaround * 1000:.1f} ms, t3.5 {line.gap * 1000:.2f} ms; "
        f"simulator in its own process ({sim.url}); polling {polling}"
    )
    print(
        f"  identification: {identify_s:.2f} s, "
        f"{identify_requests / args.meters:.1f} transactions per meter"
    )
    for n, took in enumerate(cycles, 1):
        print(f"  cycle {n}: {took:.3f} s")
    for (q, a), count in sorted(Counter(frames).items()):
        print(
            f"  {count} transactions of a {q}-byte request and a {a}-byte answer: "
            f"{line.wire_time(q, a) * 1000:.2f} ms each on a real line"
        )
    print(f"  physical floor: {wire:.3f} s a cycle; measured {cycle:.3f} s; ratio {ratio:.3f}")
    print(
        f"  transactions per meter per poll: {per_meter:.2f} (served by the simulator), "
        f"{len(frames) / polls:.2f} (sent by the client)"
    )
    if extra:
        print(f"  units that need more than the 40001-40006 block: {extra}")
    met = ratio <= TARGET_RATIO and per_meter == TARGET_TRANSACTIONS and not extra
    print(
        f"targets: ratio <= {TARGET_RATIO}, {TARGET_TRANSACTIONS} transaction a poll: "
        f"{'met' if met else 'NOT MET'}"
    )
    print(
        f"RESULT cycle_s={cycle:.3f} wire_s={wire:.3f} ratio={ratio:.3f} "
        f"transactions_per_meter={per_meter:.2f}"
    )
    return 0 if met else 1


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/bus.py",
        description="Poll simulated Series 2000 meters on one emulated RS485 line and compare "
        "the cycle time with the physical floor of the same frames.",
    )
    parser.add_argument("--meters", type=positive, default=32, help="meters on the line (32)")
    parser.add_argument("--cycles", type=positive, default=5, help="measured cycles (5)")
    parser.add_argument("--baud", type=positive, default=9600, help="line speed in baud (9600)")
    parser.add_argument(
        "--turnaround", type=float, default=0.005, help="meter turnaround in seconds (0.005)"
    )
    parser.add_argument(
        "--concurrent", action="store_true", help="gather each cycle's reads at once"
    )
    args = parser.parse_args(argv)
    if args.meters > 247:
        parser.error("--meters: a Modbus RTU line has unit ids 1..247")
    if not 0 <= args.turnaround <= 1:
        parser.error("--turnaround: expected seconds in 0..1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: poll Series 2000 meters on one emulated 9600-baud RS485 line.

Run on demand (it is not a test)::

    /tmp/venv313/bin/python bench/bus.py [--meters 32] [--cycles 5] [--baud 9600]
                                         [--turnaround 0.005] [--concurrent]

It starts the in-process simulator with ``--meters`` Series 2000 meters (unit ids 1..N)
behind RTU framing over TCP and an emulated RS485 line, opens one ``Bus`` on it (one bus is
one RS485 line: requests go strictly one at a time), identifies every meter, polls them all
once to warm up, then times ``--cycles`` polling cycles. A cycle is ``await meter.async_read()``
for every meter. By default the meters are read one after the other in bus order, which is
how the project's pollers (``leviton-bridge demo`` and ``read``) run; ``--concurrent``
gathers each cycle's reads at once instead and lets modbus-connection serialise them on the
link.

It prints the time of each cycle and their mean; the theoretical wire time of the very frames
exchanged in the measured cycles; the ratio of the two; and the Modbus transactions per
meter per poll, counted by the simulator (requests received per unit id) and by the client
(requests sent). The last line is machine-readable::

    RESULT cycle_s=... wire_s=... ratio=... transactions_per_meter=...

Targets: ``ratio`` at most 1.15, and exactly 1 transaction per meter per poll (the driver
reads the six registers 40001-40006 in one transaction each poll; identity and status
registers are read at identification and then every 10 minutes).

Wire time of one transaction, for a request of ``q`` and an answer of ``a`` bytes (the sizes of
the frames the simulator actually received and sent; 10 bits a byte for 8N1)::

    (q + a) * 10 / baud  +  2 * 3.5 * 10 / baud  +  turnaround

the middle term being the 3.5-character silences that end the request and the answer.
``wire_s`` is the sum over the counted transactions divided by the number of cycles: what an
ideal master needs per cycle on a real line.

Caveat: the simulator's emulated line sleeps ``(q + a) * 10 / baud + turnaround`` per
exchange, one exchange at a time, but does not model the 3.5-character gaps (7.3 ms a
transaction at 9600 baud, 19% of the wire time of a six-register read). So ``ratio`` sets
our cycle on a line that is a little faster than a real one against an ideal master on a
real line: an ideal master on the simulator would score about 0.81, not 1, and everything
above that floor is overhead (ours, plus the simulator's own timer slack). The report
therefore also breaks the cycle down into the emulated line's nominal time, the time its
sleeps overran, and the rest (driver, pymodbus on both ends, loopback TCP), and gives the
ratio a real line would show with that software time added to the ideal wire time (a
pessimistic bound: a real master can do some of that work during the gaps).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from pymodbus.pdu import ModbusPDU

from leviton_bridge.simulator import LineSettings, MeterSimulator, MeterSpec
from leviton_driver import Bus, LevitonError, LevitonMeter
from leviton_driver.series1000 import Series1000Meter

TARGET_RATIO: Final = 1.15
TARGET_TRANSACTIONS: Final = 1
GAP_CHARACTERS: Final = 3.5
BITS_PER_BYTE: Final = 10  # start bit, 8 data bits, stop bit (8N1)
RTU_FRAMING_BYTES: Final = 4  # unit id and function code before the PDU data, CRC after


@dataclass
class LineLog:
    """What crossed the simulator's line, in order."""

    requests: list[int] = field(default_factory=list)
    """Size of each request frame received, in bytes (unit, function, data, CRC)."""
    kinds: list[str] = field(default_factory=list)
    """Each request's function and quantity, e.g. "0x03 x 6 registers"."""
    answers: list[int] = field(default_factory=list)
    """Size of each answer frame sent, in bytes."""
    charged: list[tuple[int, int]] = field(default_factory=list)
    """The request and answer sizes the simulator's emulated line charged for."""
    nominal_s: float = 0.0
    """Seconds the emulated line should take: the sum of its bytes x 10 / baud + turnaround."""
    slept_s: float = 0.0
    """Seconds the emulated line did take (its ``asyncio.sleep`` calls, measured)."""

    def mark(self) -> Mark:
        return Mark(
            len(self.requests), len(self.answers), len(self.charged), self.nominal_s, self.slept_s
        )


@dataclass(frozen=True)
class Mark:
    """A point in a ``LineLog``, to take what happened between two of them."""

    requests: int
    answers: int
    charged: int
    nominal_s: float
    slept_s: float


@dataclass(frozen=True)
class Window:
    """What crossed the line between two marks."""

    requests: list[int]
    kinds: Counter[str]
    answers: list[int]
    charged: list[tuple[int, int]]
    nominal_s: float
    slept_s: float

    @classmethod
    def between(cls, log: LineLog, start: Mark, end: Mark) -> Window:
        return cls(
            requests=log.requests[start.requests : end.requests],
            kinds=Counter(log.kinds[start.requests : end.requests]),
            answers=log.answers[start.answers : end.answers],
            charged=log.charged[start.charged : end.charged],
            nominal_s=end.nominal_s - start.nominal_s,
            slept_s=end.slept_s - start.slept_s,
        )


class MeasuredSimulator(MeterSimulator):
    """The simulator, recording the frames it serves and the time its emulated line takes."""

    def __init__(self, meters: list[MeterSpec], *, framing: str, line: LineSettings) -> None:
        super().__init__(meters, framing=framing, line=line)
        self.log = LineLog()

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            # Sized from the decoded request, so however TCP splits the bytes, each counts once.
            self.log.requests.append(RTU_FRAMING_BYTES + len(pdu.encode()))
            count = getattr(pdu, "count", 0)
            kind = f"0x{pdu.function_code:02X}"
            self.log.kinds.append(f"{kind} x {count} registers" if count else kind)
        return super()._trace_pdu(sending, pdu)

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        data = super()._trace_packet(sending, data)
        if sending and data:
            self.log.answers.append(len(data))
        return data

    async def _on_line(self, request_bytes: int, answer_bytes: int) -> None:
        if self.line is not None:
            self.log.charged.append((request_bytes, answer_bytes))
            nominal = self.line.wire_time(request_bytes, answer_bytes) + self.line.turnaround
            self.log.nominal_s += nominal
        started = time.perf_counter()
        await super()._on_line(request_bytes, answer_bytes)
        self.log.slept_s += time.perf_counter() - started


def wire_time(request: int, answer: int, line: LineSettings) -> float:
    """Seconds an ideal master needs on a real line for one transaction with these frames."""
    character = BITS_PER_BYTE / line.baud
    return (request + answer) * character + 2 * GAP_CHARACTERS * character + line.turnaround


async def poll(meters: list[LevitonMeter], concurrent: bool) -> None:
    """Read every meter once."""
    if concurrent:
        await asyncio.gather(*(meter.async_read() for meter in meters))
    else:
        for meter in meters:
            await meter.async_read()


@dataclass
class Measurement:
    """The raw results of a run."""

    meters: list[LevitonMeter]
    identify_s: float
    cycles: list[float]
    identification: Window
    measured: Window
    sim_requests: Counter[int]
    client_requests: int


async def measure(args: argparse.Namespace, sim: MeasuredSimulator, bus: Bus) -> Measurement:
    log = sim.log
    start = log.mark()
    started = time.perf_counter()
    meters = [await bus.async_meter(unit) for unit in range(1, args.meters + 1)]
    identify_s = time.perf_counter() - started
    identified = log.mark()
    await poll(meters, args.concurrent)  # warm-up

    sim_before = Counter(sim.requests)
    client_before = bus.connection.trace.requests
    before = log.mark()
    cycles: list[float] = []
    for _ in range(args.cycles):
        started = time.perf_counter()
        await poll(meters, args.concurrent)
        cycles.append(time.perf_counter() - started)
    after = log.mark()
    sim_requests = Counter(sim.requests)
    sim_requests.subtract(sim_before)
    return Measurement(
        meters=meters,
        identify_s=identify_s,
        cycles=cycles,
        identification=Window.between(log, start, identified),
        measured=Window.between(log, before, after),
        sim_requests=+sim_requests,
        client_requests=bus.connection.trace.requests - client_before,
    )


def report(args: argparse.Namespace, url: str, line: LineSettings, m: Measurement) -> list[str]:
    """The readable report, ending with the RESULT line."""
    window = m.measured
    if len(window.requests) != len(window.answers):
        raise LevitonError(
            f"the simulator received {len(window.requests)} requests but sent "
            f"{len(window.answers)} answers in the measured cycles"
        )
    frames = list(zip(window.requests, window.answers, strict=True))
    n_cycles = len(m.cycles)
    polls = len(m.meters) * n_cycles
    sim_total = sum(m.sim_requests.values())
    per_meter = sim_total / polls
    uneven = {
        unit: n
        for unit in range(1, len(m.meters) + 1)
        if (n := m.sim_requests[unit]) != TARGET_TRANSACTIONS * n_cycles
    }
    extra = sorted(
        meter.unit_id
        for meter in m.meters
        if not isinstance(meter, Series1000Meter) or meter.poll_peak_register
    )

    cycle = sum(m.cycles) / n_cycles
    wire = sum(wire_time(q, a, line) for q, a in frames) / n_cycles
    ratio = cycle / wire
    nominal = window.nominal_s / n_cycles
    overrun = (window.slept_s - window.nominal_s) / n_cycles
    software = cycle - window.slept_s / n_cycles
    transactions = len(frames) / n_cycles
    character_ms = BITS_PER_BYTE / line.baud * 1000
    polling = (
        "concurrent: asyncio.gather of all reads each cycle, serialised by modbus-connection"
        if args.concurrent
        else "sequential: one meter.async_read() after the other, in bus order (as the project's "
        "pollers do)"
    )
    identification = m.identification
    per_identify = Counter(identification.kinds)

    out = [
        f"Leviton bus benchmark: {len(m.meters)} Series 2000 meters on one emulated RS485 "
        f"line, {line.baud} baud 8N1, meter turnaround {line.turnaround * 1000:.1f} ms",
        f"  link: {url} (RTU framing over TCP to the in-process simulator)",
        f"  polling: {polling}",
        f"  identification: {m.identify_s:.3f} s for {len(m.meters)} meters, "
        f"{len(identification.requests) / len(m.meters):.1f} transactions per meter ("
        + ", ".join(f"{k}: {n}" for k, n in sorted(per_identify.items()))
        + ")",
        f"  then 1 warm-up cycle and {n_cycles} measured cycles",
        "",
        "cycle times:",
        *(f"  cycle {n}: {t:.3f} s" for n, t in enumerate(m.cycles, 1)),
        f"  mean {cycle:.3f} s (min {min(m.cycles):.3f}, max {max(m.cycles):.3f})",
        "",
        "frames in the measured cycles, as the simulator received and sent them:",
        *(f"  {kind}: {n} requests" for kind, n in sorted(window.kinds.items())),
        *(
            f"  {n} transactions of {q}-byte request + {a}-byte answer: "
            f"{wire_time(q, a, line) * 1000:.2f} ms each on a real line"
            for (q, a), n in sorted(Counter(frames).items())
        ),
        f"  wire time: {wire:.3f} s per cycle = {transactions:.0f} transactions x (bytes x "
        f"{BITS_PER_BYTE} / {line.baud} + 2 x {GAP_CHARACTERS} characters of gap "
        f"({2 * GAP_CHARACTERS * character_ms:.2f} ms) + {line.turnaround * 1000:.1f} ms "
        "turnaround)",
    ]
    if window.charged != frames:
        out.append("  NOTE: the emulated line charged other sizes than the frames on the wire")
    out += [
        "",
        "transactions per meter per poll:",
        f"  simulator: {sim_total} requests for {polls} polls ({len(m.meters)} meters x "
        f"{n_cycles} cycles) = {per_meter:.2f}",
        f"  client:    {m.client_requests} requests sent = {m.client_requests / polls:.2f}",
    ]
    if uneven:
        out.append(f"  units not read exactly once per poll (unit: requests): {uneven}")
    if extra:
        out.append(f"  units that need more than the 40001-40006 block: {extra}")
    out += [
        "",
        "where a cycle goes:",
        f"  emulated line, nominal (bytes x {BITS_PER_BYTE} / baud + turnaround, no gaps): "
        f"{nominal:.3f} s",
        f"  emulated line, sleeps overrunning (asyncio timer rounding and wake-up): "
        f"{overrun * 1000:.1f} ms ({overrun / transactions * 1000:.2f} ms per transaction)",
        f"  everything else (driver, pymodbus client and server, loopback TCP): "
        f"{software * 1000:.1f} ms ({software / transactions * 1000:.2f} ms per transaction)",
        "",
        f"ratio cycle / wire time: {ratio:.3f}",
        f"  floor on this simulator (an ideal master; the emulated line has no gaps): "
        f"{nominal / wire:.3f}",
        f"  excess over the floor: {ratio - nominal / wire:.3f} = {overrun / wire:.3f} "
        f"simulator sleep overrun + {software / wire:.3f} our software",
        f"  cycle / ideal master on the same emulated line: {cycle / nominal:.3f} "
        f"({(cycle - overrun) / nominal:.3f} without the simulator's sleep overrun)",
        f"  estimated real-line ratio (wire time + our software time): "
        f"{(wire + software) / wire:.3f}",
        "  (pessimistic: a real master can do some of that work during the gaps)",
    ]
    ratio_ok = ratio <= TARGET_RATIO
    count_ok = (
        sim_total == m.client_requests == TARGET_TRANSACTIONS * polls and not uneven and not extra
    )
    out += [
        "",
        f"targets: ratio <= {TARGET_RATIO}: {'met' if ratio_ok else 'NOT MET'}; "
        f"exactly {TARGET_TRANSACTIONS} transaction per meter per poll: "
        f"{'met' if count_ok else 'NOT MET'}",
        f"RESULT cycle_s={cycle:.3f} wire_s={wire:.3f} ratio={ratio:.3f} "
        f"transactions_per_meter={per_meter:.2f}",
    ]
    return out


async def run(args: argparse.Namespace) -> int:
    line = LineSettings(baud=args.baud, turnaround=args.turnaround)
    # Loads differ from meter to meter so that the readings do too (they do not affect timing).
    specs = [MeterSpec.parse(f"{u}:2000:load={1 + u % 7 * 2.5}") for u in range(1, args.meters + 1)]
    sim = MeasuredSimulator(specs, framing="rtu", line=line)
    try:
        host, port = await sim.start_tcp("127.0.0.1", 0)
    except OSError as err:
        print(f"bench/bus.py: cannot start the simulator: {err}", file=sys.stderr)
        return 1
    bus = Bus(f"rtu+tcp://{host}:{port}?timeout=1")
    try:
        measurement = await measure(args, sim, bus)
        lines = report(args, bus.url, line, measurement)
    except LevitonError as err:
        print(f"bench/bus.py: FAILED: {err}", file=sys.stderr)
        return 1
    finally:
        await bus.async_close()
        await sim.stop()
    print("\n".join(lines))
    return 0


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
        "the cycle time with the theoretical wire time of the same frames.",
    )
    parser.add_argument("--meters", type=positive, default=32, help="meters on the line (32)")
    parser.add_argument("--cycles", type=positive, default=5, help="measured cycles (5)")
    parser.add_argument("--baud", type=positive, default=9600, help="line speed in baud (9600)")
    parser.add_argument(
        "--turnaround", type=float, default=0.005, help="meter turnaround in seconds (0.005)"
    )
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="gather each cycle's reads at once (default: one after the other, in bus order)",
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

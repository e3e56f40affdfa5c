"""Benchmark: the history of 500 meters (400 Series 2000, 100 Series 8000-24) over 400 days of
15-minute intervals, by fast-forwarding a simulated clock.

Run on demand (it is not a test)::

    .venv/bin/python bench/history.py [--days 400] [--s2000 400] [--s8000 100] [--interval 15]
        [--poll-cycle-cpu 0.105] [--folder DIR]

What it runs, in this one process: every meter's ``MeterLog`` (the history face's own code,
what it does with each poll) fed one reading per meter a second after every boundary (what the
poll that straddles a boundary gives it), the face's cycle (closing the intervals, the batch),
and ``HistoryStore.write`` (one SQLite transaction a boundary, WAL, ``synchronous=FULL``, on
this machine's disk), every day's daily rows and pruning after midnight, as the bridge does
them. Only the polls between boundaries are left out: what they cost the history (keeping the
last reading and the peak) is part of the poll cycle ``bench/scale.py --history`` measures.

It reports:

* ``write_cpu_per_cycle_ms``: the CPU of one boundary (the readings that cross it through the
  meters' logs, the cycle, the transaction), mean and 99th percentile; against the target, 5 %
  of the 500-meter poll cycle's CPU (``--poll-cycle-cpu``: ``bench/scale.py``'s figure);
* ``rollup_cpu_ms``: the daily rows and pruning, once a day (its own transaction);
* ``store_mb_per_meter_year``: the file's size over meters and years (and by kind of meter,
  from the bytes of their rows);
* ``report_s``: ``leviton-bridge report``'s work for one month over every meter (target < 2 s);
* ``chart_query_ms``: what the status page asks for one meter's charts: its last 24 hours of
  intervals and 30 days, read and turned into the API's rows (target < 20 ms; a Series 8000-24,
  the largest);

The last line is machine-readable: ``RESULT write_cpu_per_cycle_ms=... ...``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Final

from leviton_bridge.core.history import (
    boundary_at_or_before,
    intervals_json,
    local_day,
    summaries_json,
)
from leviton_bridge.history.log import OWN, MeterLog, Reading
from leviton_bridge.history.report import month_report
from leviton_bridge.history.store import Batch, HistoryStore

TARGET_WRITE_SHARE: Final = 0.05
TARGET_REPORT_S: Final = 2.0
TARGET_CHART_MS: Final = 20.0
START: Final = int(datetime(2025, 10, 1).timestamp())


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Meter:
    """A simulated meter's totals: energy that grows with a load that changes each hour."""

    def __init__(self, index: int, points: int) -> None:
        self.index = index
        self.points = points
        self.series = OWN if points == 0 else list(range(1, points + 1))
        self.loads = [2.0 + (index + p) % 7 for p in range(max(points, 1))]
        self.totals = [1000.0 * (index + 1) + 10 * p for p in range(max(points, 1))]
        self.last = 0.0

    def read(self, when: float) -> Reading:
        hours = (when - self.last) / 3600 if self.last else 0.0
        self.last = when
        shape = 1.0 + 0.5 * math.sin(when / 86400 * 2 * math.pi)
        pairs = []
        for k in range(len(self.totals)):
            self.totals[k] += self.loads[k] * shape * hours
            pairs.append((math.floor(self.totals[k] * 10) / 10, 0.0))
        peaks = tuple(load * shape for load in self.loads)
        return Reading(when, tuple(pairs), peaks)


def run(args: argparse.Namespace) -> int:
    interval = args.interval * 60
    meters = [Meter(i, 0) for i in range(args.s2000)]
    meters += [Meter(args.s2000 + i, 24) for i in range(args.s8000)]
    ids = [f"gw{m.index // 20 + 1:02d}_u{m.index % 20 + 1}" for m in meters]
    folder = Path(args.folder or tempfile.mkdtemp(prefix="leviton-bench-history-"))
    path = folder / "history.sqlite3"
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        name.unlink(missing_ok=True)
    store = HistoryStore(path, interval, keep_days=args.keep)
    store.open(ids)
    start = boundary_at_or_before(START, interval)
    logs = [MeterLog(meter_id, interval, 15.0, start) for meter_id in ids]
    for log, meter in zip(logs, meters, strict=True):
        log.series = meter.series
        log.open_peaks = [None] * len(meter.series)
        log.add(meter.read(start + 1.0))
    boundaries = args.days * 86400 // interval
    print(
        f"{len(meters)} meters ({args.s2000} Series 2000, {args.s8000} Series 8000-24: "
        f"{args.s2000 + 24 * args.s8000} series), {args.days} days of {args.interval}-minute "
        f"intervals ({boundaries} boundaries) into {path}",
        flush=True,
    )
    cycle_cpu: list[float] = []
    rollup_cpu: list[float] = []
    wall = time.perf_counter()
    for number in range(1, boundaries + 1):
        boundary = start + number * interval
        # The poll that straddles the boundary: every meter read a second after it (what
        # reading a poll costs is the poll cycle's, measured by bench/scale.py).
        readings = [meter.read(boundary + 1.0) for meter in meters]
        began = time.process_time()
        for log, reading in zip(logs, readings, strict=True):
            log.add(reading)
        batch = Batch(until=boundary)
        rows = batch.rows
        for log in logs:
            for row_start, row in log.take().items():
                rows[(log.meter_id, row_start)] = row
        if number == 1:
            batch.meters = {log.meter_id: (log.series or OWN, None) for log in logs}
        written = store.write(batch)
        spent = time.process_time() - began
        cycle_cpu.append(spent - written.rollup_cpu_s)
        if written.rollup_cpu_s:
            rollup_cpu.append(written.rollup_cpu_s)
        if number % (boundaries // 20 or 1) == 0:
            print(
                f"  day {number * interval // 86400:4d}: {statistics.fmean(cycle_cpu[-500:]) * 1000:.2f} ms "
                f"CPU a boundary, file {store.size() / 2**20:.0f} MB, "
                f"{time.perf_counter() - wall:.0f} s so far",
                flush=True,
            )
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    size = store.size()
    years = args.days / 365.25
    by_kind = {}
    for kind, refs in (
        ("s2000", [store.meters[i].ref for i in ids[: args.s2000]]),
        ("s8000", [store.meters[i].ref for i in ids[args.s2000 :]]),
    ):
        if not refs:
            continue
        placeholders = ",".join("?" * len(refs))
        payload, count = store.db.execute(  # type: ignore[union-attr]
            f"SELECT sum(length(data)) + 24 * count(*), count(*) FROM intervals WHERE ref IN ({placeholders})",
            refs,
        ).fetchone()
        by_kind[kind] = (payload or 0) / len(refs) / years
    # The report of the last whole month, over every meter.
    last_day = local_day(start + boundaries * interval) - 1
    month = date.fromordinal(last_day).replace(day=1)
    if date.fromordinal(last_day + 1).day != 1:
        previous = month.replace(day=1).toordinal() - 1
        month = date.fromordinal(previous).replace(day=1)
    reader = HistoryStore(path, interval)
    reader.open_reader()
    names = dict.fromkeys(ids, "meter")
    began, began_cpu = time.perf_counter(), time.process_time()
    lines = month_report(reader, month.year, month.month, names)
    report_s = time.perf_counter() - began
    report_cpu = time.process_time() - began_cpu
    energies = [line.delivered for line in lines if line.delivered is not None]
    # One meter's charts: its last 24 hours of intervals and 30 days.
    end = start + boundaries * interval
    charts: list[float] = []
    for meter_id, count in ((ids[-1], 24), (ids[0], 1)):
        ref = reader.meters[meter_id].ref
        for _ in range(20):
            began = time.perf_counter()
            previous_row, rows = reader.rows(ref, end - 86400, end - interval)
            json_rows = intervals_json(
                rows, previous_row, [(index, index + 1) for index in range(count)], interval
            )
            days = reader.day_summaries(ref, local_day(end) - 29, local_day(end), count)
            json_rows += summaries_json(days, [(index, index + 1) for index in range(count)])
            charts.append((time.perf_counter() - began) * 1000)
            assert len(rows) == 86400 // interval
    reader.close()
    store.close()
    cycle_mean = statistics.fmean(cycle_cpu)
    cycle_p99 = _percentile(cycle_cpu, 0.99)
    share = cycle_mean / args.poll_cycle_cpu
    chart_ms = _percentile(charts, 0.95)
    print(
        f"write CPU a boundary: mean {cycle_mean * 1000:.2f} ms, p99 {cycle_p99 * 1000:.2f} ms, "
        f"{share:.1%} of a {args.poll_cycle_cpu:.3f} s poll cycle (one boundary every "
        f"{interval / 10:.0f} poll cycles of 10 s: {share / (interval / 10):.3%} of the polling's CPU)"
    )
    if rollup_cpu:
        print(
            f"daily rows and pruning, once a day: mean {statistics.fmean(rollup_cpu) * 1000:.0f} ms CPU "
            f"(max {max(rollup_cpu) * 1000:.0f} ms)"
        )
    print(
        f"store: {size / 2**30:.2f} GB for {len(meters)} meters and {years:.2f} years: "
        f"{size / len(meters) / years / 2**20:.2f} MB a meter-year"
        + "".join(
            f"; {kind} about {value / 2**20:.2f} MB a meter-year" for kind, value in by_kind.items()
        )
    )
    print(
        f"report of {month:%B %Y} over {len(lines)} series of {len(ids)} meters: {report_s:.3f} s "
        f"({report_cpu:.3f} s CPU), {len(energies)} energies"
    )
    print(f"one meter's charts (24 h and 30 days, API rows): p95 {chart_ms:.1f} ms")
    met = {
        f"write < {TARGET_WRITE_SHARE:.0%} of a poll cycle": share < TARGET_WRITE_SHARE,
        f"report < {TARGET_REPORT_S:g} s": report_s < TARGET_REPORT_S,
        f"chart < {TARGET_CHART_MS:g} ms": chart_ms < TARGET_CHART_MS,
    }
    print(
        "targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in met.items())
    )
    print(
        f"RESULT write_cpu_per_cycle_ms={cycle_mean * 1000:.2f} write_cpu_p99_ms={cycle_p99 * 1000:.2f} "
        f"write_share_of_poll_cycle={share:.4f} rollup_cpu_ms={statistics.fmean(rollup_cpu or [0]) * 1000:.0f} "
        f"store_mb_per_meter_year={size / len(meters) / years / 2**20:.2f} "
        + " ".join(
            f"store_mb_per_{kind}_year={value / 2**20:.2f}" for kind, value in by_kind.items()
        )
        + f" report_s={report_s:.3f} chart_query_ms={chart_ms:.1f}"
    )
    if not args.folder:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(met.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--s2000", type=int, default=400)
    parser.add_argument("--s8000", type=int, default=100)
    parser.add_argument("--interval", type=int, choices=(5, 15, 30, 60), default=15)
    parser.add_argument("--keep", type=int, default=400, help="days of intervals kept")
    parser.add_argument(
        "--poll-cycle-cpu",
        type=float,
        default=0.105,
        help="CPU seconds of the 500-meter poll cycle (bench/scale.py; the README's lowest)",
    )
    parser.add_argument("--folder", help="keep the store here (default: a temporary folder)")
    return run(parser.parse_args())


if __name__ == "__main__":
    os.environ.setdefault("TZ", os.environ.get("TZ", ""))
    sys.exit(main())

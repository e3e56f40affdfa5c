"""What the status page and ``/metrics`` show beyond the meters' readings: per-bus figures
(transactions per second, failed polls by kind, round trips, cycle time against the poll
interval) and since when each meter has been on- or offline.

Everything here is fed by what the poller already reports (its cycle reports, the link's
``PacketTrace``, ``MeterListener`` calls) and costs a few dictionary operations per meter
update and per cycle; the heavier figures (p99) are worked out only when someone asks.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from leviton_driver.connection import PacketTrace

from ..core.meter_state import CycleReport, MeterState
from ..core.poller import BusPoller

#: Upper bounds (seconds) of the round-trip histogram's buckets; a Modbus answer at 9600 baud
#: takes 10-40 ms on the wire, a gateway adds its own share, and 1 s is the default timeout.
ROUND_TRIP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Transactions per second are counted over about this many seconds of cycles.
RATE_WINDOW_S: Final = 60.0

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class BusFigures:
    """How one bus fares, for people (the page) and programs (the API)."""

    transactions_per_s: float | None
    failed_polls: dict[str, int]
    """Failed polls of its meters by kind (timeout, crc, short, garbled, exception, ...)."""
    round_trip_mean_s: float | None
    round_trip_p99_s: float | None
    """Over the link's latest round trips (up to ``ROUND_TRIP_SAMPLES``)."""
    cycle_s: float | None
    """How long the last poll cycle took (compare with ``poll_interval_s``)."""
    poll_interval_s: float
    cycles: int
    transactions: int


class BusStats:
    """Watches one bus: its cycle reports and its link's round trips."""

    def __init__(self, poller: BusPoller, clock: Clock = time.monotonic) -> None:
        self.poller = poller
        self.clock = clock
        self.bucket_counts = [0] * (len(ROUND_TRIP_BUCKETS) + 1)
        """Round trips per histogram bucket (not cumulative; the last is above every bound)."""
        self.round_trip_sum = 0.0
        self.round_trip_count = 0
        self._trace: PacketTrace | None = None
        self._seen = 0
        self._requests: deque[tuple[float, int]] = deque()
        """(monotonic time, requests sent so far) at the end of recent cycles."""
        self.on_cycle: Callable[[CycleReport], None] | None = None
        """Told of each cycle once its figures are in (the live feed)."""
        poller.cycle_listeners.append(self._cycle)

    @property
    def trace(self) -> PacketTrace:
        return self.poller.bus.connection.trace

    def absorb(self) -> None:
        """Take the round trips the link timed since the last look into the histogram."""
        trace = self.trace
        if trace is not self._trace:  # a new link (or a test's own trace): start over on it
            self._trace, self._seen = trace, 0
        fresh = trace.round_trip_count - self._seen
        if fresh <= 0:
            return
        self._seen = trace.round_trip_count
        samples = trace.round_trips
        for index in range(max(0, len(samples) - fresh), len(samples)):
            seconds = samples[index]
            self.bucket_counts[bisect.bisect_left(ROUND_TRIP_BUCKETS, seconds)] += 1
            self.round_trip_sum += seconds
        self.round_trip_count += min(fresh, len(samples))

    def _cycle(self, report: CycleReport) -> None:
        self.absorb()
        now = self.clock()
        self._requests.append((now, self.trace.requests))
        while len(self._requests) > 2 and now - self._requests[1][0] >= RATE_WINDOW_S:
            self._requests.popleft()
        if self.on_cycle is not None:
            self.on_cycle(report)

    def figures(self) -> BusFigures:
        self.absorb()
        trace = self.trace
        rate = None
        if len(self._requests) >= 2:
            (first_at, first), (last_at, last) = self._requests[0], self._requests[-1]
            if last_at > first_at:
                rate = max(0, last - first) / (last_at - first_at)
        samples = sorted(trace.round_trips)
        failed: Counter[str] = Counter()
        for state in self.poller.states:
            if state.failed_polls:
                failed.update(state.failed_polls)
        report = self.poller.last_cycle
        return BusFigures(
            transactions_per_s=rate,
            failed_polls=dict(sorted(failed.items())),
            round_trip_mean_s=sum(samples) / len(samples) if samples else None,
            round_trip_p99_s=samples[min(len(samples) - 1, int(0.99 * len(samples)))]
            if samples
            else None,
            cycle_s=report.seconds if report is not None else None,
            poll_interval_s=self.poller.config.poll_interval,
            cycles=self.poller.cycles,
            transactions=trace.requests,
        )


class MeterTracker:
    """A ``MeterListener``: since when each meter has been shown on- or offline (wall clock),
    and who to tell that a meter changed (the live feed)."""

    def __init__(self, states: Sequence[MeterState], clock: Clock = time.time) -> None:
        self.clock = clock
        started = clock()
        self._shown: dict[str, bool] = {state.meter_id: state.available for state in states}
        self.since: dict[str, float] = {state.meter_id: started for state in states}
        """Wall-clock time each meter's availability last changed (the bridge's start first)."""
        self.on_change: Callable[[MeterState, bool], None] | None = None
        """Called with (state, identified) for every update (the live feed)."""

    def _note(self, state: MeterState, identified: bool) -> None:
        meter_id = state.meter_id
        if self._shown.get(meter_id) != state.available:
            self._shown[meter_id] = state.available
            self.since[meter_id] = self.clock()
        if self.on_change is not None:
            self.on_change(state, identified)

    def meter_identified(self, state: MeterState) -> None:
        self._note(state, True)

    def meter_updated(self, state: MeterState) -> None:
        self._note(state, False)

    def meter_unavailable(self, state: MeterState) -> None:
        self._note(state, False)

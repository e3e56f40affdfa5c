"""One meter's history as its polls arrive: the interval in progress, and the rows its
boundaries come to.

A meter's series are its own readings (a Series 1000/2000: ``[None]``) or its metering points
(a Series 8000: ``[1, 2, ...]``); they share their reading times, so everything here is decided
once per meter and applied to every series.

**A boundary's total** is taken from the meter's readings around it:

* the last reading at or before the boundary, when it is at most ``tolerance`` seconds before
  it (one and a half poll intervals: the reading of the poll that straddles the boundary);
* else the first reading after it, at most ``tolerance`` after;
* else, when polls were missed around it, interpolated between the last reading before and the
  first after, both real readings of the same series, and marked ``END_ESTIMATED``;
* else, while the meter has not answered since, unknown (``END_UNKNOWN``), until it answers:
  the row is then written again with its interpolated total. Never extrapolated.

**A restart** starts a new series: another meter found at the unit id (another program id or
point count), or a total the glitch guard held back (``meter.suppressed`` grew: that poll
shows the last good totals, not a reading). Nothing is interpolated across it; the interval
holds the old series' tail (from its start to the old series' last reading) and the new one's
first reading, from which its energy counts.

Polls that go back in time (a clock set back) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple

from leviton_driver import Snapshot

from ..core.history import IntervalRow, OpenInterval, Pair, Quality, RestartStart, SeriesEnd
from .store import encode_ends

if TYPE_CHECKING:
    from ..core.meter_state import MeterState

OWN: Final[list[int | None]] = [None]
"""The series of a meter without points: its own readings."""


@dataclass(slots=True)
class _Closed:
    """An interval closed before its end total was known (made a row once it is)."""

    flags: int
    peaks: tuple[float | None, ...]
    restart: tuple[RestartStart, ...] | None = None
    restart_ms: int | None = None
    written: bool = False
    """Written already, its end unknown (what tells it writes the row again)."""

    def row(self, start: int, series: int) -> IntervalRow:
        """The row, its end unknown."""
        peaks = self.peaks
        return IntervalRow(
            start=start,
            flags=self.flags | Quality.END_UNKNOWN,
            series=tuple(
                SeriesEnd(None, None, peaks[i] if i < len(peaks) else None)
                for i in range(max(series, len(peaks)))
            ),
            restart=self.restart,
            restart_read_ms=self.restart_ms,
        )


class Reading(NamedTuple):
    """A real reading of every series of a meter (a tuple: one is made at every poll)."""

    time: float
    totals: tuple[Pair, ...]
    peaks: tuple[float | None, ...]


def series_of(state: MeterState) -> list[int | None] | None:
    """The meter's series, from its description (None before it is known)."""
    meter = state.meter
    if meter is None:
        return None
    return OWN if meter.points == 0 else list(range(1, meter.points + 1))


def reading_of(snapshot: Snapshot, series: list[int | None]) -> Reading:
    """The totals and peak demand of every series in a poll (at every poll of every meter:
    the values are the driver's floats, or None; a NaN a meter garbled is kept, and stored
    as unknown)."""
    if series is OWN or series == OWN:
        readings = snapshot.readings
        delivered = readings.get("energy_delivered")
        received = readings.get("energy_received")
        peak = readings.get("peak_demand")
        return Reading(
            snapshot.time,
            ((_number(delivered), _number(received)),),
            (_number(peak),),
        )
    points = snapshot.points
    totals: list[Pair] = []
    peaks: list[float | None] = []
    for point in series:
        values = points.get(point) if point is not None else None
        if values is None:
            totals.append((None, None))
            peaks.append(None)
            continue
        get = values.get
        totals.append((get("energy_delivered"), get("energy_received")))
        power = get("power")
        peaks.append(None if power is None else power / 1000)
    return Reading(snapshot.time, tuple(totals), tuple(peaks))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _between(before: Pair, after: Pair, weight: float) -> Pair:
    return (
        None
        if before[0] is None or after[0] is None
        else before[0] + (after[0] - before[0]) * weight,
        None
        if before[1] is None or after[1] is None
        else before[1] + (after[1] - before[1]) * weight,
    )


def _minus(a: Pair, b: Pair | None) -> Pair:
    if b is None:
        return (None, None)
    return (
        None if a[0] is None or b[0] is None else a[0] - b[0],
        None if a[1] is None or b[1] is None else a[1] - b[1],
    )


def _higher(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


class MeterLog:
    """One meter's interval in progress and the rows it has closed (see the module)."""

    def __init__(self, meter_id: str, interval_s: int, tolerance_s: float, since: int) -> None:
        self.meter_id = meter_id
        self.interval_s = interval_s
        self.tolerance_s = tolerance_s
        self.series: list[int | None] | None = None
        self.program_id: int | None = None
        self.seen = False
        """The meter has been read (now or by an earlier run): its boundaries get rows."""
        self._prev: Reading | None = None
        self._latest: tuple[Snapshot, list[int | None]] | None = None
        """A poll within the interval in progress whose ``Reading`` is made only when asked
        for (``prev``): most polls are followed by another before anything needs it."""
        self.open_start = since
        self.open_count = 0
        self.open_peaks: list[float | None] = []
        self.open_flags: int = Quality.INTERRUPTED
        """The first interval: the bridge started within it."""
        self.open_restart: tuple[RestartStart, ...] | None = None
        self.open_restart_ms: int | None = None
        self.start_totals: tuple[Pair, ...] | None = None
        """The totals at ``open_start`` (None: not known)."""
        self.unresolved: dict[int, _Closed] = {}
        """Intervals closed with their end total unknown, by start: resolved by the next
        reading (or written unknown by a cycle before it comes)."""
        self.out: dict[int, IntervalRow] = {}
        """Rows to write (new, or resolved since written), by start."""
        self.break_pending = False
        """The next real reading starts a new series."""
        self.suppressed_seen: int | None = None
        self.facts_changed = False
        """Series or program id changed: the store is told."""

    @property
    def prev(self) -> Reading | None:
        """The last real reading of the series as it runs now (None after a restart)."""
        latest = self._latest
        if latest is not None:
            self._latest = None
            self._prev = reading_of(*latest)
        return self._prev

    @prev.setter
    def prev(self, reading: Reading | None) -> None:
        self._latest = None
        self._prev = reading

    # -- what the store knew -------------------------------------------------------------------

    def resume(
        self,
        *,
        series: list[int | None] | None,
        program_id: int | None,
        last: IntervalRow | None,
        seed: Reading | None,
    ) -> None:
        """Continue from an earlier run: the meter's series and program id as stored, its last
        row (when its end is unknown, a reading may still tell it), and its last real reading
        (interpolation may start from it, the same meter once it answers)."""
        self.series, self.program_id = series, program_id
        self.seen = last is not None
        self.prev = seed
        if series is not None:
            self.open_peaks = [None] * len(series)
        if last is None:
            return
        interval = self.interval_s
        if last.end(interval) == self.open_start:
            if not last.end_known:
                self.unresolved[last.start] = _Closed(
                    flags=last.flags,
                    peaks=tuple(end.peak for end in last.series),
                    restart=last.restart,
                    restart_ms=last.restart_read_ms,
                    written=True,
                )
            elif last.series:
                self.start_totals = tuple((s.delivered, s.received) for s in last.series)
        elif last.end(interval) < self.open_start:
            # The bridge was down: the boundary it started after gets a row of its own, so
            # that the first interval has a start total (interpolated once the meter answers).
            self.unresolved[self.open_start - interval] = _Closed(
                flags=Quality.GAP | Quality.INTERRUPTED, peaks=()
            )

    # -- polls ---------------------------------------------------------------------------------

    def identified(self, state: MeterState) -> None:
        """The meter was (re-)identified: another meter, or more or fewer points, restart the
        series."""
        series = series_of(state)
        identity = state.identity
        program_id = identity.program_id if identity is not None else None
        if series is None:
            return
        if self.series is not None and series != self.series:
            self.break_pending = True
        if program_id is not None and self.program_id is not None and program_id != self.program_id:
            self.break_pending = True
        if series != self.series or (program_id is not None and program_id != self.program_id):
            self.facts_changed = True
        if series != self.series:
            self.series = series
            self.open_peaks = [None] * len(series)
        if program_id is not None:
            self.program_id = program_id

    def updated(self, state: MeterState) -> None:
        """A successful poll."""
        snapshot, meter = state.snapshot, state.meter
        if snapshot is None or meter is None:
            return
        suppressed = meter.suppressed
        seen = self.suppressed_seen
        self.suppressed_seen = suppressed
        if seen is not None and suppressed > seen:
            # The guard held a total back: this poll repeats the last good totals.
            self.break_pending = True
            return
        series = self.series
        if series is None:
            self.identified(state)
            series = self.series
            if series is None:
                return
        when = snapshot.time
        if (
            when < self.open_start + self.interval_s
            and self.seen
            and not self.break_pending
            and not self.unresolved
        ):
            latest = self._latest
            last = latest[0].time if latest is not None else None
            if last is None and self._prev is not None:
                last = self._prev.time
            if last is not None and when > last:
                # Within the interval in progress, after a reading: what ``add`` does, without
                # making a ``Reading`` that the next poll would replace (every meter, every
                # poll).
                self.open_count += 1
                self._fold_peaks(snapshot, series)
                self._latest = (snapshot, series)
                return
        self.add(reading_of(snapshot, series))

    def _fold_peaks(self, snapshot: Snapshot, series: list[int | None]) -> None:
        """The interval's peaks with a poll's (as ``reading_of`` and ``add`` take them)."""
        peaks = self.open_peaks
        if series is OWN or series == OWN:
            if len(peaks) != 1:
                peaks = self.open_peaks = [None]
            new = _number(snapshot.readings.get("peak_demand"))
            old = peaks[0]
            if old is None or (new is not None and new > old):
                peaks[0] = new
            return
        if len(peaks) != len(series):
            peaks = self.open_peaks = [None] * len(series)
        points = snapshot.points
        for index, point in enumerate(series):
            values = points.get(point) if point is not None else None
            power = values.get("power") if values is not None else None
            new = None if power is None else power / 1000
            old = peaks[index]
            if old is None or (new is not None and new > old):
                peaks[index] = new

    def add(self, reading: Reading) -> None:
        """A real reading of every series."""
        prev = self.prev
        if prev is not None and reading.time <= prev.time:
            return
        if not self.seen:
            self.seen = True
            self.open_flags |= Quality.RESTART  # the series starts here
            self.break_pending = True
        interval = self.interval_s
        boundary = self.open_start + interval
        if boundary <= reading.time:
            if (
                reading.time < boundary + interval
                and not self.unresolved
                and not self.break_pending
                and self.seen
                and prev is not None
            ):
                self._cross(boundary, reading)  # the poll that straddles one boundary
            else:
                while self.open_start + interval <= reading.time:
                    self.close()
        if self.unresolved:
            self._resolve(reading)
        if self.break_pending:
            self._restart(reading)
        self.open_count += 1
        peaks = self.open_peaks
        if len(peaks) != len(reading.peaks):
            peaks = [None] * len(reading.peaks)
        # The higher of each (a comprehension: this runs at every poll of every meter).
        self.open_peaks = [
            new if old is None or (new is not None and new > old) else old
            for old, new in zip(peaks, reading.peaks, strict=True)
        ]
        self.prev = reading

    def close(self) -> None:
        """Close the interval in progress (its end total unknown until a reading tells it)."""
        start = self.open_start
        if self.seen:
            flags = self.open_flags
            if self.open_count == 0:
                flags |= Quality.GAP
            if self.open_restart is not None:
                flags |= Quality.RESTART
            self.unresolved[start] = _Closed(
                flags, tuple(self.open_peaks), self.open_restart, self.open_restart_ms
            )
        self.open_start = start + self.interval_s
        self.open_count = 0
        self.open_peaks = [None] * len(self.open_peaks)
        self.open_flags = 0
        self.open_restart = None
        self.open_restart_ms = None
        self.start_totals = None

    def _cross(self, boundary: int, reading: Reading) -> None:
        """Close the interval in progress at ``boundary`` with its end total from the readings
        around it (``close`` then ``_resolve``, in one step: every meter does this at every
        boundary)."""
        known = self._end_total(boundary, reading)
        assert known is not None  # a reading on either side of the boundary
        totals, flags, before_ms, after_ms = known
        if self.open_count == 0:
            flags |= Quality.GAP
        if self.open_restart is not None:
            flags |= Quality.RESTART
        peaks = self.open_peaks
        if len(peaks) != len(totals):
            peaks = [*peaks[: len(totals)], *[None] * (len(totals) - len(peaks))]
        start = self.open_start
        self.out[start] = IntervalRow(
            start,
            self.open_flags | flags,
            before_ms,
            after_ms,
            (),
            self.open_restart,
            self.open_restart_ms,
            encode_ends(totals, peaks),
        )
        self.open_start = boundary
        self.open_count = 0
        self.open_peaks = [None] * len(peaks)
        self.open_flags = 0
        self.open_restart = None
        self.open_restart_ms = None
        self.start_totals = totals

    def _resolve(self, reading: Reading) -> None:
        """The end totals of intervals closed unknown, now that a reading after them came."""
        interval = self.interval_s
        for start in sorted(self.unresolved):
            end = start + interval
            if end > reading.time:
                break
            closed = self.unresolved.pop(start)
            known = self._end_total(end, reading)
            if known is None:
                # Stays unknown: the series restarted before anything told it.
                if not closed.written:
                    self.out[start] = closed.row(start, len(self.series or ()))
                continue
            totals, flags, before_ms, after_ms = known
            peaks = closed.peaks
            if len(peaks) != len(totals):
                peaks = (*peaks[: len(totals)], *(None,) * (len(totals) - len(peaks)))
            self.out[start] = IntervalRow(
                start=start,
                flags=closed.flags | flags,
                before_ms=before_ms,
                after_ms=after_ms,
                restart=closed.restart,
                restart_read_ms=closed.restart_ms,
                encoded=encode_ends(totals, peaks),
            )
            if end == self.open_start:
                self.start_totals = totals

    def _end_total(
        self, boundary: int, reading: Reading
    ) -> tuple[tuple[Pair, ...], int, int | None, int | None] | None:
        """A boundary's totals, how they came about, and the readings' offsets (ms)."""
        prev = self.prev
        tolerance = self.tolerance_s
        if prev is not None and boundary - prev.time <= tolerance:
            return prev.totals, 0, round((prev.time - boundary) * 1000), None
        if self.break_pending:
            return None  # the reading after is another series'
        if reading.time - boundary <= tolerance:
            return reading.totals, 0, None, round((reading.time - boundary) * 1000)
        if prev is None:
            return None
        weight = (boundary - prev.time) / (reading.time - prev.time)
        totals = tuple(
            _between(before, after, weight)
            for before, after in zip(prev.totals, reading.totals, strict=False)
        )
        return (
            totals,
            Quality.END_ESTIMATED,
            round((prev.time - boundary) * 1000),
            round((reading.time - boundary) * 1000),
        )

    def _restart(self, reading: Reading) -> None:
        """``reading`` starts a new series in the interval in progress."""
        self.break_pending = False
        prev, start_totals = self.prev, self.start_totals
        tails: list[Pair] = []
        for index in range(len(reading.totals)):
            tail: Pair = (None, None)
            if (
                prev is not None
                and start_totals is not None
                and prev.time >= self.open_start
                and index < len(prev.totals)
                and index < len(start_totals)
            ):
                tail = _minus(prev.totals[index], start_totals[index])
            tails.append(tail)
        self.open_restart = tuple(
            RestartStart(tail=tail, first=first)
            for tail, first in zip(tails, reading.totals, strict=True)
        )
        self.open_restart_ms = round((reading.time - self.open_start) * 1000)
        self.prev = None
        # The old series' unknown ends stay unknown.
        count = len(self.series or ())
        for start, closed in self.unresolved.items():
            if not closed.written:
                self.out[start] = closed.row(start, count)
        self.unresolved.clear()

    # -- what faces see ------------------------------------------------------------------------

    def take(self) -> dict[int, IntervalRow]:
        """The rows to write, handed over (cleared here): the intervals closed since, those
        still waiting for their end total written unknown for now."""
        count = len(self.series or ()) if self.unresolved else 0
        for start, closed in self.unresolved.items():
            if not closed.written and start not in self.out:
                self.out[start] = closed.row(start, count)
                closed.written = True
        out, self.out = self.out, {}
        return out

    def open_interval(self) -> OpenInterval | None:
        if self.series is None or not self.seen:
            return None
        prev = self.prev
        words: list[str] = []
        if self.open_flags & Quality.INTERRUPTED:
            words.append("interrupted")
        if self.open_restart is not None:
            words.append("restart")
        start_totals = self.start_totals
        if self.open_restart is not None:
            # Energy so far: the old series' tail and the new one's reading since its first.
            start_totals = tuple(
                _minus(part.first, part.tail if part.tail[0] is not None else (0.0, 0.0))
                for part in self.open_restart
            )
        return OpenInterval(
            start=self.open_start,
            start_totals=start_totals,
            latest=prev.totals if prev is not None else None,
            latest_at=prev.time if prev is not None else None,
            peak=tuple(self.open_peaks),
            words=tuple(words),
        )


__all__ = ["OWN", "MeterLog", "Reading", "reading_of", "series_of"]

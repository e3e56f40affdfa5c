"""What the interval history is, for every face that shows it: rows, quality, sums, and the
read-only view the history face lends the others.

The history face (``leviton_bridge.history``) owns the store: it writes one row per meter at
every interval boundary and registers a ``HistoryView`` with the core (``BridgeCore.history``).
The status page (its API and charts) and the BACnet/IP device (its trend logs) read the history
only through that view, so that no face imports another; the command line's monthly report
reads the store's file with the same rules.

A row is one meter's interval ``[start, start + interval)``, with, per series (the meter's own
readings, or each Series 8000 metering point), the totals at the interval's **end** (energy
delivered and received) and the peak demand read in the interval. Its energy is the difference
of two boundary totals (``interval_values``); what is known and how well is ``Quality``:

* ``END_ESTIMATED``: the total at the end was interpolated between two real readings of the
  same meter (the readings around the boundary were missing); never extrapolated;
* ``GAP``: no reading of the meter in the interval: its energy is unknown (null), never 0;
* ``RESTART``: the series starts or starts again in the interval: the first reading of a meter,
  another meter found at the unit id, or a total the glitch guard held back. Nothing is
  interpolated across it; the interval's energy is the old series' tail and the new one's head;
* ``END_UNKNOWN``: the total at the end is not known yet: the meter did not answer around the
  boundary; it is interpolated once the same meter answers again;
* ``INTERRUPTED``: the bridge did not run during part of the interval (all of it, with ``GAP``);
  boundaries while the bridge was down have no row: they read as interrupted gaps.

Sums over longer spans (an hour, a day, a month: ``Fold``) are computed from the boundary
totals, not by adding interval energies: the energy across a gap is still known from the totals
on either side of it, only not how it spread over the gap's intervals. Days and months are the
host's local time (``TZ``, else ``/etc/localtime``), as a property manager's billing month is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple, Protocol

from .codec import iso


class Quality:
    """What a row knows, and how (see the module docstring): bits of a row's ``flags``. Plain
    integers, not an ``IntFlag``: a cycle and a day's sums test them hundreds of thousands of
    times, and an enum's arithmetic costs ten times an int's."""

    END_ESTIMATED: Final = 1
    GAP: Final = 2
    RESTART: Final = 4
    END_UNKNOWN: Final = 8
    INTERRUPTED: Final = 16


MISSING: Final = Quality.GAP | Quality.END_UNKNOWN | Quality.INTERRUPTED
"""A boundary the bridge was not running at (it has no row)."""

Pair = tuple[float | None, float | None]
"""Energy delivered and received (kWh), each None when unknown."""


class SeriesEnd(NamedTuple):
    """One series at a row's end boundary (a tuple: a row of a Series 8000-24 makes 24)."""

    delivered: float | None
    """Total energy delivered at the end (kWh)."""
    received: float | None
    peak: float | None
    """The highest demand read in the interval (kW): a Series 1000/2000's peak-demand register,
    a Series 8000 point's power."""


class RestartStart(NamedTuple):
    """How a series restarted in an interval (per series)."""

    tail: Pair
    """The old series' energy from the interval's start to its last reading (nothing where its
    total at the start was not known)."""
    first: Pair
    """The new series' first reading: its energy in the interval counts from here."""


class IntervalRow(NamedTuple):
    """One meter's interval, as stored (a tuple: a cycle makes one for every meter)."""

    start: int
    """Seconds since the epoch; the interval is ``[start, start + interval)``."""
    flags: int
    """``Quality`` bits."""
    before_ms: int | None = None
    """The reading the end total was taken from, or the one before it for an interpolated end:
    milliseconds from the end boundary (0 or less)."""
    after_ms: int | None = None
    """The reading after the end boundary (an interpolated end, or one read just after)."""
    series: tuple[SeriesEnd, ...] = ()
    restart: tuple[RestartStart, ...] | None = None
    restart_read_ms: int | None = None
    """When the restarted series was first read: milliseconds from the interval's start."""
    encoded: bytes | None = None
    """The series as the history file keeps them, when whoever made the row made that instead
    of ``series`` (the history face's own rows, written and never read: a Series 8000-24
    would make 24 tuples at every boundary for nothing). Rows read back have ``series``."""

    @property
    def end_known(self) -> bool:
        return not self.flags & Quality.END_UNKNOWN and (
            bool(self.series) or self.encoded is not None
        )

    def end(self, interval_s: int) -> int:
        return self.start + interval_s


def missing_row(start: int) -> IntervalRow:
    """A boundary the bridge was not running at."""
    return IntervalRow(start=start, flags=MISSING)


# -- time: intervals, local days and months ----------------------------------------------------


def boundary_at_or_before(epoch: float, interval_s: int) -> int:
    """The last interval boundary at or before ``epoch`` (boundaries are multiples of the
    interval since the epoch: aligned to the clock)."""
    return int(epoch // interval_s) * interval_s


def local_day(epoch: float) -> int:
    """The local date (as an ordinal: ``date.toordinal``) ``epoch`` falls on."""
    return datetime.fromtimestamp(epoch).date().toordinal()


def day_start(day: int) -> int:
    """Local midnight starting ``day`` (a date ordinal), in seconds since the epoch."""
    local = date.fromordinal(day)
    return int(datetime(local.year, local.month, local.day).timestamp())


def month_span(year: int, month: int) -> tuple[int, int]:
    """The first and last day (ordinals) of a local month."""
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first.toordinal(), following.toordinal() - 1


def local_zone_name() -> str:
    """How the README and the report name the local time zone."""
    return time.strftime("%Z") or "local time"


# -- one interval's values ---------------------------------------------------------------------

QUALITY_WORDS: Final = ("estimated", "gap", "restart", "incomplete", "interrupted")


def quality_words(row: IntervalRow, previous: IntervalRow | None) -> list[str]:
    """How an interval's values came about, in words (empty: read at both boundaries)."""
    words: list[str] = []
    start_estimated = previous is not None and previous.flags & Quality.END_ESTIMATED
    if row.flags & Quality.END_ESTIMATED or start_estimated:
        words.append("estimated")
    if row.flags & Quality.GAP:
        words.append("gap")
    if row.flags & Quality.RESTART:
        words.append("restart")
    start_unknown = not row.flags & Quality.RESTART and (previous is None or not previous.end_known)
    if not row.end_known or (start_unknown and not row.flags & Quality.GAP):
        words.append("incomplete")
    if row.flags & Quality.INTERRUPTED:
        words.append("interrupted")
    return words


def quality_text(words: Sequence[str]) -> str:
    """One word for JSON and CSV: ``good``, or the words joined with ``+``."""
    return "+".join(words) if words else "good"


def _difference(end: float | None, start: float | None) -> float | None:
    if end is None or start is None:
        return None
    return end - start


@dataclass(slots=True)
class IntervalValue:
    """One series' interval, as faces show it."""

    start: int
    end: int
    delivered: float | None
    """Energy delivered in the interval (kWh); None when unknown (a gap, an unknown boundary)."""
    received: float | None
    delivered_total: float | None
    """Total delivered at the end of the interval."""
    received_total: float | None
    peak: float | None
    quality: list[str]
    read_at: float | None
    """When the reading behind the end total was taken (None: interpolated or unknown)."""
    open: bool = False
    """The interval in progress: its values so far."""

    @property
    def average_power(self) -> float | None:
        """kW over the interval (its energy over its length; for the interval in progress, over
        the time so far is not known here: the energy over the whole length)."""
        if self.delivered is None:
            return None
        return self.delivered * 3600 / (self.end - self.start)


def row_words(rows: Sequence[IntervalRow], previous: IntervalRow | None) -> list[list[str]]:
    """Each row's quality words (the same for every series of the meter)."""
    words: list[list[str]] = []
    for row in rows:
        words.append(quality_words(row, previous))
        previous = row
    return words


def interval_values(
    rows: Sequence[IntervalRow],
    previous: IntervalRow | None,
    index: int,
    interval_s: int,
    words: Sequence[list[str]] | None = None,
) -> list[IntervalValue]:
    """Series ``index`` of each row (in time order, ``previous`` the row before the first);
    ``words``: ``row_words`` of the rows, when the caller asks for several series."""
    values: list[IntervalValue] = []
    if words is None:
        words = row_words(rows, previous)
    for position, row in enumerate(rows):
        end = row.end(interval_s)
        series = row.series[index] if index < len(row.series) else None
        delivered = received = None
        if series is not None and row.end_known and not row.flags & Quality.GAP:
            if row.flags & Quality.RESTART:
                if row.restart is not None and index < len(row.restart):
                    restart = row.restart[index]
                    delivered, received = _add(
                        _zero(restart.tail),
                        _sub((series.delivered, series.received), restart.first),
                    )
            elif (
                previous is not None
                and previous.end_known
                and previous.start + interval_s == row.start
                and index < len(previous.series)
            ):
                before = previous.series[index]
                delivered = _difference(series.delivered, before.delivered)
                received = _difference(series.received, before.received)
        read_at = None
        if row.end_known and not row.flags & Quality.END_ESTIMATED:
            offset = row.before_ms if row.before_ms is not None else row.after_ms
            read_at = end + offset / 1000 if offset is not None else None
        values.append(
            IntervalValue(
                start=row.start,
                end=end,
                delivered=delivered,
                received=received,
                delivered_total=series.delivered if series and row.end_known else None,
                received_total=series.received if series and row.end_known else None,
                peak=series.peak if series else None,
                quality=words[position],
                read_at=read_at,
            )
        )
        previous = row
    return values


# -- sums over spans: hours, days, months ------------------------------------------------------


@dataclass(slots=True)
class Known:
    """A known boundary total of every series, and where it came from."""

    time: int
    """The boundary (seconds since the epoch); a restarted series' first reading's time."""
    totals: tuple[Pair, ...]
    read_at: float | None
    """The reading behind it: the one taken at the boundary, or for an interpolated total the
    real reading nearest inside the span (after it for a start, before it for an end)."""
    estimated: bool = False


def _add(a: Pair, b: Pair) -> Pair:
    return (
        None if a[0] is None or b[0] is None else a[0] + b[0],
        None if a[1] is None or b[1] is None else a[1] + b[1],
    )


def _sub(a: Pair, b: Pair) -> Pair:
    return (
        None if a[0] is None or b[0] is None else a[0] - b[0],
        None if a[1] is None or b[1] is None else a[1] - b[1],
    )


def _max(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(slots=True)
class Summary:
    """A span of a meter's history, per series: its energy from the boundary totals, the first
    and last known totals, the peak demand, and what the span's quality was.

    ``break_before_first``: the series restarted inside the span before its first known total
    (a span before it cannot be joined to it by their totals); ``break_after_last``: it
    restarted after its last known total."""

    start: int
    end: int
    energy: list[Pair]
    peak: list[float | None]
    first: Known | None = None
    last: Known | None = None
    words: set[str] = field(default_factory=set)
    break_before_first: bool = False
    break_after_last: bool = False
    complete_start: bool = False
    """The total at ``start`` itself is known."""
    complete_end: bool = False

    @property
    def series(self) -> int:
        return len(self.energy)

    def quality(self) -> list[str]:
        """The span's quality words, in a fixed order (``incomplete``: a boundary of the span
        is not known, so its energy counts from the first to the last known total)."""
        words = set(self.words)
        if not (self.complete_start and self.complete_end):
            words.add("incomplete")
        return [
            word for word in (*QUALITY_WORDS, "estimated start", "estimated end") if word in words
        ]


class Fold:
    """Adds rows (or summaries of shorter spans) in time order into one ``Summary``.

    Energy is counted per run of the series without a restart, from the run's first known
    total to its last (the totals in between cancel out), so that a row costs a comparison
    and its peaks: a day of a Series 8000-24 is 96 rows of 24 series, every day, every meter.
    """

    def __init__(self, start: int, end: int, series: int, interval_s: int) -> None:
        self.interval_s = interval_s
        self.summary = Summary(
            start=start, end=end, energy=[(0.0, 0.0)] * series, peak=[None] * series
        )
        self._anchor: Known | None = None
        """The first known total of the run the series is in now (None before the first, and
        after a restart nothing anchors)."""
        self._last_row: IntervalRow | None = None
        """The run's last row with a known end, not counted yet."""
        self._last: Known | None = None
        """The run's last known total, counted."""

    def _grow(self, count: int) -> None:
        summary = self.summary
        while summary.series < count:
            summary.energy.append((0.0, 0.0))
            summary.peak.append(None)

    def _count_to(self, totals: tuple[Pair, ...]) -> None:
        """Energy from the anchor to ``totals`` (the same run); they anchor now."""
        anchor = self._anchor
        if anchor is None:
            return
        energy = self.summary.energy
        for index, pair in enumerate(totals):
            if index < len(anchor.totals):
                energy[index] = _add(energy[index], _zero(_sub(pair, anchor.totals[index])))

    def _settle(self) -> Known | None:
        """Count the run's rows not counted yet; the run's last known total."""
        row = self._last_row
        if row is not None:
            self._last_row = None
            known = _known_end(row, self.interval_s, start_side=False)
            self._count_to(known.totals)
            self._anchor = self._last = self.summary.last = known
        return self._last

    def begin(self, previous: IntervalRow | None) -> None:
        """The row ending at the span's start: its end total is the span's start total."""
        summary = self.summary
        if (
            previous is None
            or not previous.end_known
            or previous.start + self.interval_s != summary.start
        ):
            return
        known = _known_end(previous, self.interval_s, start_side=True)
        self._grow(len(known.totals))
        self._anchor = self._last = summary.first = known
        summary.complete_start = True

    def add(self, row: IntervalRow) -> None:
        """The next interval of the span."""
        summary = self.summary
        series = row.series
        if len(series) > summary.series:
            self._grow(len(series))
        flags = row.flags
        if flags & (Quality.GAP | Quality.INTERRUPTED | Quality.RESTART | Quality.END_ESTIMATED):
            words = summary.words
            if flags & Quality.GAP:
                words.add("gap")
            if flags & Quality.INTERRUPTED:
                words.add("interrupted")
            if flags & Quality.END_ESTIMATED and not flags & Quality.END_UNKNOWN:
                words.add("estimated")
        peaks = summary.peak
        for index, series_end in enumerate(series):
            peak = series_end.peak
            if peak is not None:
                highest = peaks[index]
                if highest is None or peak > highest:
                    peaks[index] = peak
        if flags & Quality.RESTART:
            self._restart(row)
        if flags & Quality.END_UNKNOWN or not series:
            return
        if self._anchor is None and self._last_row is None:
            if summary.first is None:
                summary.first = _known_end(row, self.interval_s, start_side=True)
            end = _known_end(row, self.interval_s, start_side=False)
            self._anchor = self._last = summary.last = end
            return
        self._last_row = row

    def _restart(self, row: IntervalRow) -> None:
        summary = self.summary
        summary.words.add("restart")
        self._settle()
        restart = row.restart
        if self._anchor is not None and restart is not None:
            energy = summary.energy
            for index, part in enumerate(restart):
                if index < len(energy):
                    energy[index] = _add(energy[index], _zero(part.tail))
        self._anchor = self._last = None
        if restart is not None:
            read_ms = row.restart_read_ms or 0
            self._anchor = Known(
                time=row.start + read_ms // 1000,
                totals=tuple(part.first for part in restart),
                read_at=row.start + read_ms / 1000,
            )
        if summary.first is None:
            summary.first = self._anchor
            summary.break_before_first = True

    def join(self, other: Summary) -> None:
        """The summary of the next span (a day after a day)."""
        summary = self.summary
        self._settle()
        self._grow(other.series)
        summary.words |= other.words - {"incomplete", "estimated start", "estimated end"}
        for index in range(other.series):
            summary.peak[index] = _max(summary.peak[index], other.peak[index])
        if other.first is not None:
            if not other.break_before_first:
                self._count_to(other.first.totals)
            if summary.first is None:
                summary.first = other.first
                summary.break_before_first = other.break_before_first
                summary.complete_start = other.complete_start and other.start == summary.start
        for index in range(other.series):
            summary.energy[index] = _add(summary.energy[index], other.energy[index])
        if other.last is not None:
            summary.last = self._last = other.last
            self._anchor = None if other.break_after_last else other.last
        elif other.break_before_first or other.break_after_last:
            self._anchor = None

    def finish(self) -> Summary:
        summary = self.summary
        self._settle()
        last, first = summary.last, summary.first
        summary.break_after_last = last is not None and self._anchor is not last
        summary.complete_end = (
            last is not None and not summary.break_after_last and last.time == summary.end
        )
        if first is not None and first.time != summary.start:
            summary.complete_start = False
        if summary.complete_start and first is not None and first.estimated:
            summary.words.add("estimated start")
        if summary.complete_end and last is not None and last.estimated:
            summary.words.add("estimated end")
        if "estimated start" in summary.words or "estimated end" in summary.words:
            summary.words.add("estimated")
        return summary


def _zero(pair: Pair) -> Pair:
    """Unknown parts of an energy count as nothing known (the span is flagged instead)."""
    return (pair[0] or 0.0, pair[1] or 0.0)


def _known_end(row: IntervalRow, interval_s: int, *, start_side: bool) -> Known:
    """The row's end total as a ``Known``: the reading behind it is the one taken at the
    boundary, or, for an interpolated total, the real reading on the side of the span."""
    end = row.end(interval_s)
    estimated = bool(row.flags & Quality.END_ESTIMATED)
    if estimated:
        offset = row.after_ms if start_side else row.before_ms
    else:
        offset = row.before_ms if row.before_ms is not None else row.after_ms
    return Known(
        time=end,
        totals=tuple((series.delivered, series.received) for series in row.series),
        read_at=end + offset / 1000 if offset is not None else None,
        estimated=estimated,
    )


def fold_rows(
    rows: Iterable[IntervalRow],
    previous: IntervalRow | None,
    *,
    start: int,
    end: int,
    series: int,
    interval_s: int,
) -> Summary:
    """The summary of a span from its interval rows (``previous``: the row ending at ``start``)."""
    fold = Fold(start, end, series, interval_s)
    fold.begin(previous)
    for row in rows:
        fold.add(row)
    return fold.finish()


def join_summaries(summaries: Iterable[Summary], *, start: int, end: int, series: int) -> Summary:
    """The summary of consecutive spans (days into a month)."""
    fold = Fold(start, end, series, 1)
    for summary in summaries:
        fold.join(summary)
    return fold.finish()


# -- the view the history face lends the other faces ---------------------------------------------


class HistoryUnavailable(Exception):
    """The store cannot be read now (say why, in words)."""


@dataclass(frozen=True, slots=True)
class OpenInterval:
    """A meter's interval in progress, from the readings so far (nothing of it is stored)."""

    start: int
    start_totals: tuple[Pair, ...] | None
    """The totals at its start (None: not known)."""
    latest: tuple[Pair, ...] | None
    """The totals last read."""
    latest_at: float | None
    peak: tuple[float | None, ...]
    words: tuple[str, ...] = ()


class HistoryView(Protocol):
    """What the history face lends the other faces (``BridgeCore.history``): read only."""

    @property
    def interval_s(self) -> int: ...

    @property
    def cycles(self) -> int:
        """Boundaries written so far (a page fetches its charts again when this grows)."""

    def series(self, meter_id: str) -> list[int | None] | None:
        """The meter's series: ``[None]`` (its own readings) or its metering points; None when
        the history has nothing of it yet."""

    def span(self, meter_id: str) -> tuple[int, int] | None:
        """The start of the meter's first stored interval and of its last closed one."""

    def open_interval(self, meter_id: str) -> OpenInterval | None: ...

    async def intervals(
        self, meter_id: str, first_start: int, last_start: int
    ) -> tuple[IntervalRow | None, list[IntervalRow]]:
        """The rows starting in ``[first_start, last_start]``, one per boundary (a boundary the
        bridge did not run at reads as ``missing_row``), and the row before them."""

    async def days(self, meter_id: str, first_day: int, last_day: int) -> list[Summary]:
        """One summary per local day in ``[first_day, last_day]`` that has any row."""


# -- what faces show -----------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _iso(epoch: float | None) -> str | None:
    """``codec.iso``, remembered: one request shows the same boundaries for every series."""
    return iso(epoch)


def _rounded(value: float | None, places: int = 4) -> float | None:
    """Values are kept finite (NaN is how the file says unknown, read back as None)."""
    return None if value is None else round(value, places)


def value_json(value: IntervalValue, point: int | None) -> dict[str, Any]:
    """One interval of one series, as ``/api/meters/{id}/history`` shows it."""
    return {
        "point": point,
        "start": _iso(value.start),
        "end": _iso(value.end),
        "energy_delivered": _rounded(value.delivered),
        "energy_received": _rounded(value.received),
        "delivered_total": _rounded(value.delivered_total),
        "received_total": _rounded(value.received_total),
        "peak_demand": _rounded(value.peak),
        "average_power": _rounded(value.average_power),
        "quality": "open" if value.open else quality_text(value.quality),
        "read_at": _iso(value.read_at),
    }


class SpanShown(NamedTuple):
    """What every series of a span shows alike (worked out once for all of them)."""

    start: str | None
    end: str | None
    hours: float
    quality: str
    read_at: str | None
    first_read: str | None


def span_shown(summary: Summary) -> SpanShown:
    return SpanShown(
        start=_iso(summary.start),
        end=_iso(summary.end),
        hours=(summary.end - summary.start) / 3600,
        quality=quality_text(summary.quality()),
        read_at=_iso(summary.last.read_at) if summary.last else None,
        first_read=_iso(summary.first.read_at) if summary.first else None,
    )


def summary_json(
    summary: Summary, index: int, point: int | None, shown: SpanShown | None = None
) -> dict[str, Any]:
    """A longer step (hour, day, month) of one series, as the API shows it (``shown``: the
    span's ``span_shown``, when the caller shows several series of it)."""
    if shown is None:
        shown = span_shown(summary)
    delivered, received = summary.energy[index] if index < summary.series else (None, None)
    first, last = summary.first, summary.last
    known = first is not None
    first_pair = first.totals[index] if first and index < len(first.totals) else (None, None)
    last_pair = last.totals[index] if last and index < len(last.totals) else (None, None)
    return {
        "point": point,
        "start": shown.start,
        "end": shown.end,
        "energy_delivered": _rounded(delivered) if known else None,
        "energy_received": _rounded(received) if known else None,
        "delivered_total": _rounded(last_pair[0]),
        "received_total": _rounded(last_pair[1]),
        "peak_demand": _rounded(summary.peak[index] if index < summary.series else None),
        "average_power": _rounded(delivered / shown.hours)
        if known and delivered is not None
        else None,
        "quality": shown.quality,
        "read_at": shown.read_at,
        "start_total": _rounded(first_pair[0]),
        "first_read": shown.first_read,
    }


def summaries_json(
    spans: Sequence[Summary], series: Sequence[tuple[int, int | None]]
) -> list[dict[str, Any]]:
    """``summary_json`` of every span for each ``(index, point)``, series by series."""
    shown = [span_shown(span) for span in spans]
    return [
        summary_json(span, index, point, common)
        for index, point in series
        for span, common in zip(spans, shown, strict=True)
    ]


def intervals_json(
    rows: Sequence[IntervalRow],
    previous: IntervalRow | None,
    series: Sequence[tuple[int, int | None]],
    interval_s: int,
) -> list[dict[str, Any]]:
    """``value_json`` of ``interval_values`` for each ``(index, point)`` of ``series``, series by
    series: the same, made faster by working out once per row what every series shares (its
    times, quality and whether its start is known). A Series 8000-24's day is 2,304 rows."""
    frames: list[tuple[IntervalRow, str | None, str | None, str, str | None, int]] = []
    words = row_words(rows, previous)
    before = previous
    for row, quality in zip(rows, words, strict=True):
        end = row.start + interval_s
        read_at: float | None = None
        known = row.end_known
        if known and not row.flags & Quality.END_ESTIMATED:
            offset = row.before_ms if row.before_ms is not None else row.after_ms
            read_at = end + offset / 1000 if offset is not None else None
        # How the interval's energy is found: 0 unknown, 1 from the restart, 2 from the row
        # before (its end total is this one's start).
        how = 0
        if known and not row.flags & Quality.GAP:
            if row.flags & Quality.RESTART:
                how = 1 if row.restart is not None else 0
            elif before is not None and before.end_known and before.start + interval_s == row.start:
                how = 2
        frames.append((row, _iso(row.start), _iso(end), quality_text(quality), _iso(read_at), how))
        before = row
    hours = interval_s / 3600
    out: list[dict[str, Any]] = []
    for index, point in series:
        starts = previous.series if previous is not None else ()
        for row, shown_start, shown_end, shown, read, how in frames:
            ends = row.series
            this = ends[index] if index < len(ends) else None
            delivered = received = None
            if this is not None and how:
                if how == 2:
                    if index < len(starts):
                        first = starts[index]
                        if this.delivered is not None and first.delivered is not None:
                            delivered = this.delivered - first.delivered
                        if this.received is not None and first.received is not None:
                            received = this.received - first.received
                elif row.restart is not None and index < len(row.restart):
                    part = row.restart[index]
                    delivered, received = _add(
                        _zero(part.tail), _sub((this.delivered, this.received), part.first)
                    )
            known = this is not None and row.end_known
            # Totals are the meter's own figures (tenths of a kWh): rounded only where they
            # were interpolated. Differences and float32 peaks are rounded to 4 places.
            rough = row.flags & Quality.END_ESTIMATED
            out.append(
                {
                    "point": point,
                    "start": shown_start,
                    "end": shown_end,
                    "energy_delivered": None if delivered is None else round(delivered, 4),
                    "energy_received": None if received is None else round(received, 4),
                    "delivered_total": None
                    if not known or this is None
                    else (_rounded(this.delivered) if rough else this.delivered),
                    "received_total": None
                    if not known or this is None
                    else (_rounded(this.received) if rough else this.received),
                    "peak_demand": _rounded(this.peak) if this is not None else None,
                    "average_power": None if delivered is None else round(delivered / hours, 4),
                    "quality": shown,
                    "read_at": read,
                }
            )
            starts = ends
    return out


CSV_COLUMNS: Final = (
    "meter",
    "point",
    "start",
    "end",
    "energy_delivered_kwh",
    "energy_received_kwh",
    "delivered_total_kwh",
    "received_total_kwh",
    "peak_demand_kw",
    "average_power_kw",
    "quality",
    "read_at",
)
_CSV_KEYS: Final = (
    "energy_delivered",
    "energy_received",
    "delivered_total",
    "received_total",
    "peak_demand",
    "average_power",
)


def csv_cells(meter_id: str, row: dict[str, Any]) -> list[str]:
    """A JSON row of the API as CSV cells (an unknown value is an empty cell)."""
    return [
        meter_id,
        "" if row["point"] is None else str(row["point"]),
        row["start"],
        row["end"],
        *("" if row[key] is None else repr(row[key]) for key in _CSV_KEYS),
        row["quality"],
        row["read_at"] or "",
    ]


def chunks(first: int, last: int, step: int) -> Iterator[int]:
    """``first``, ``first + step``, ... up to ``last`` included."""
    return iter(range(first, last + 1, step))


__all__ = [
    "CSV_COLUMNS",
    "MISSING",
    "Fold",
    "HistoryUnavailable",
    "HistoryView",
    "IntervalRow",
    "IntervalValue",
    "Known",
    "OpenInterval",
    "Quality",
    "RestartStart",
    "SeriesEnd",
    "Summary",
    "boundary_at_or_before",
    "csv_cells",
    "day_start",
    "fold_rows",
    "interval_values",
    "intervals_json",
    "join_summaries",
    "local_day",
    "missing_row",
    "month_span",
    "quality_text",
    "quality_words",
    "row_words",
    "summaries_json",
    "summary_json",
    "value_json",
]

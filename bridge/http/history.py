"""``GET /api/meters/{id}/history``: a meter's intervals, hours, days or months, as JSON or CSV.

Read from the history the core lends (``BridgeCore.history``, the history face's view):

* ``step=interval`` (the default): each interval, with the totals at its end, its energy, its
  peak demand, its average power and its quality; the interval in progress last, marked
  ``open`` (its values so far);
* ``step=hour``, ``day``, ``month``: each span's energy from the boundary totals (so the energy
  across a gap is counted: only how it spread over the gap is not known), its peak, its first
  and last totals and reading times, and its quality;
* ``from`` and ``to``: ISO 8601 dates (``2026-11-01``: local midnight) or times
  (``2026-11-01T06:00:00Z``, or without an offset: local); ``to`` is excluded. By default the
  last 24 hours (intervals, hours), 30 days, or 12 months;
* ``point=N``: one Series 8000 metering point (default: every series of the meter);
* ``format=csv`` (or ``Accept: text/csv``): CSV, one row per series and step.

Days and months are the bridge host's local time.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from ..core.codec import iso
from ..core.history import (
    CSV_COLUMNS,
    HistoryView,
    IntervalValue,
    Summary,
    boundary_at_or_before,
    csv_cells,
    day_start,
    fold_rows,
    intervals_json,
    join_summaries,
    local_day,
    local_zone_name,
    summaries_json,
    value_json,
)

if TYPE_CHECKING:
    from ..core.history import IntervalRow, OpenInterval

STEPS: Final = ("interval", "hour", "day", "month")
MAX_ROWS: Final = 20_000
"""Steps a request may ask for (per series): a year of 15-minute intervals is 35,040."""


class Refused(Exception):
    """The request cannot be answered as asked (a 400, in words)."""


def parse_time(text: str, what: str) -> float:
    """An ISO 8601 date (local midnight) or time (local without an offset)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return float(day_start(day.toordinal()))
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(
            f"{what}={text[:40]!r} is not an ISO 8601 date or time (2026-11-01, "
            "2026-11-01T06:00:00Z)"
        ) from None
    return when.timestamp()


def _months(first: float, last: float) -> list[tuple[int, int]]:
    """The local months (first day, last day as ordinals) from the one holding ``first`` to the
    one holding ``last``."""
    start = date.fromordinal(local_day(first)).replace(day=1)
    end = date.fromordinal(local_day(last))
    months: list[tuple[int, int]] = []
    while start <= end:
        following = (start + timedelta(days=32)).replace(day=1)
        months.append((start.toordinal(), following.toordinal() - 1))
        start = following
    return months


class HistoryRequest:
    """One request's parameters, checked."""

    def __init__(self, view: HistoryView, query: dict[str, str], now: float) -> None:
        step = query.get("step", "interval")
        if step not in STEPS:
            raise Refused(f"step={step[:20]!r}: expected one of {', '.join(STEPS)}")
        self.step = step
        interval = view.interval_s
        default_span = {"interval": 86400, "hour": 86400}.get(step)
        if "to" in query:
            to = parse_time(query["to"], "to")
        elif step in ("interval", "hour"):
            to = float(boundary_at_or_before(now, interval) + interval)
        else:
            to = float(day_start(local_day(now) + 1))
        if "from" in query:
            start = parse_time(query["from"], "from")
        elif default_span is not None:
            start = to - default_span
        elif step == "day":
            start = float(day_start(local_day(to - 1) - 29))
        else:
            month = date.fromordinal(local_day(to - 1)).replace(day=1)
            year_ago = date(month.year - 1, month.month, 1) + timedelta(days=31)
            start = float(day_start(year_ago.replace(day=1).toordinal()))
        if start >= to:
            raise Refused("from must be before to")
        self.start, self.to = start, to
        length = {"interval": interval, "hour": 3600, "day": 86400, "month": 28 * 86400}[step]
        if (to - start) / length > MAX_ROWS:
            raise Refused(
                f"{(to - start) / length:.0f} {step}s asked; at most {MAX_ROWS} a request: ask "
                "for a shorter span or a longer step"
            )
        point = query.get("point")
        self.point: int | None = None
        if point is not None:
            if not point.isdigit():
                raise Refused(f"point={point[:20]!r}: expected a metering point number")
            self.point = int(point)


async def history_rows(
    view: HistoryView, meter_id: str, request: HistoryRequest, now: float
) -> tuple[list[int | None], list[dict[str, Any]]]:
    """The series shown and their rows (JSON objects, oldest first, series by series)."""
    series = view.series(meter_id) or []
    if request.point is not None:
        if request.point not in series:
            raise Refused(f"point={request.point}: this meter has no such metering point")
        indexes = [series.index(request.point)]
    else:
        indexes = list(range(len(series)))
    step = request.step
    rows: list[dict[str, Any]] = []
    if step in ("interval", "hour"):
        interval = view.interval_s
        first = -(-int(request.start) // interval) * interval
        last = int(request.to) - interval
        if step == "hour":
            first = -(-int(request.start) // 3600) * 3600
        previous, stored = (
            await view.intervals(meter_id, first, last) if last >= first else (None, [])
        )
        opened = view.open_interval(meter_id)
        shown = [(index, series[index]) for index in indexes]
        if step == "interval":
            every = intervals_json(stored, previous, shown, interval)
            count = len(stored)
            for number, (index, point) in enumerate(shown):
                rows += every[number * count : (number + 1) * count]
                if opened is not None and first <= opened.start <= last:
                    rows.append(value_json(open_value(opened, index, interval), point))
            return [point for _index, point in shown], rows
        hours = _hours(stored, previous, first, int(request.to), interval, len(series))
        return [point for _index, point in shown], summaries_json(hours, shown)
    first_day = local_day(request.start)
    last_day = local_day(request.to - 1)
    days = await view.days(meter_id, first_day, last_day)
    spans: list[Summary]
    if step == "day":
        spans = days
    else:
        spans = []
        for month_first, month_last in _months(request.start, request.to - 1):
            inside = [
                d for d in days if day_start(month_first) <= d.start < day_start(month_last + 1)
            ]
            if inside:
                spans.append(
                    join_summaries(
                        inside,
                        start=day_start(month_first),
                        end=day_start(month_last + 1),
                        series=len(series),
                    )
                )
    shown = [(index, series[index]) for index in indexes]
    return [point for _index, point in shown], summaries_json(spans, shown)


def _hours(
    rows: list[IntervalRow],
    previous: IntervalRow | None,
    first: int,
    to: int,
    interval: int,
    series: int,
) -> list[Summary]:
    """The hours of ``rows`` (each from its own intervals and the row before them)."""
    summaries: list[Summary] = []
    at = 0
    for hour in range(first, to, 3600):
        inside: list[IntervalRow] = []
        while at < len(rows) and rows[at].start < hour + 3600:
            if rows[at].start >= hour:
                inside.append(rows[at])
            else:
                previous = rows[at]
            at += 1
        if inside:
            summaries.append(
                fold_rows(
                    inside,
                    previous,
                    start=hour,
                    end=hour + 3600,
                    series=series,
                    interval_s=interval,
                )
            )
            previous = inside[-1]
    return summaries


def open_value(opened: OpenInterval, index: int, interval: int) -> IntervalValue:
    """The interval in progress, so far."""
    delivered = received = None
    latest = opened.latest[index] if opened.latest and index < len(opened.latest) else None
    start = (
        opened.start_totals[index]
        if opened.start_totals and index < len(opened.start_totals)
        else None
    )
    if latest is not None and start is not None:
        if latest[0] is not None and start[0] is not None:
            delivered = latest[0] - start[0]
        if latest[1] is not None and start[1] is not None:
            received = latest[1] - start[1]
    return IntervalValue(
        start=opened.start,
        end=opened.start + interval,
        delivered=delivered,
        received=received,
        delivered_total=latest[0] if latest else None,
        received_total=latest[1] if latest else None,
        peak=opened.peak[index] if index < len(opened.peak) else None,
        quality=list(opened.words),
        read_at=opened.latest_at,
        open=True,
    )


def history_json(
    meter_id: str,
    name: str,
    view: HistoryView,
    request: HistoryRequest,
    series: list[int | None],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "meter": meter_id,
        "name": name,
        "step": request.step,
        "interval_minutes": view.interval_s // 60,
        "from": iso(request.start),
        "to": iso(request.to),
        "time_zone": local_zone_name(),
        "points": series,
        "rows": rows,
    }


def history_csv(meter_id: str, rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(csv_cells(meter_id, row))
    return out.getvalue()


__all__ = ["HistoryRequest", "Refused", "history_csv", "history_json", "history_rows"]

"""The monthly report (``leviton-bridge report --month 2026-11``): what each meter, and each
Series 8000 metering point, delivered and received in a local month, from the totals at the
month's boundaries. This is what a property manager bills from.

* **From the boundary totals**: the energy is the total at the end of the month less the total
  at its start (for a meter swapped or a total held back in the month, the sum over the series
  it ran as: ``core.history.join_summaries``), so the energy of intervals the meter was offline
  in is counted all the same.
* **Where each total comes from**: the time of the reading behind it (for an interpolated
  total, the real reading on the month's side of it), and flags: ``estimated start`` /
  ``estimated end`` (a boundary total interpolated between two real readings), ``restart``
  (another meter, or a total held back: the series restarted in the month), ``incomplete`` (a
  boundary total is not known, so the energy counts from the first to the last known total:
  the times say which), ``gap`` and ``interrupted`` (intervals without a reading, or while the
  bridge did not run: their energy is counted from the totals around them).

It reads the history file, read-only: the bridge may be running.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from ..core.codec import iso
from ..core.history import day_start, join_summaries, local_zone_name, month_span
from .store import HistoryStore

COLUMNS: Final = (
    "meter",
    "name",
    "point",
    "energy_delivered_kwh",
    "energy_received_kwh",
    "start_delivered_total_kwh",
    "start_read_at",
    "end_delivered_total_kwh",
    "end_read_at",
    "peak_demand_kw",
    "flags",
)


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One series' month."""

    meter_id: str
    name: str
    point: int | None
    delivered: float | None
    received: float | None
    start_total: float | None
    start_read: float | None
    end_total: float | None
    end_read: float | None
    peak: float | None
    flags: list[str] = field(default_factory=list)


def month_report(
    store: HistoryStore, year: int, month: int, meters: dict[str, str]
) -> list[ReportLine]:
    """Every series of ``meters`` (id: name, in the order given) in a local month."""
    first_day, last_day = month_span(year, month)
    start, end = day_start(first_day), day_start(last_day + 1)
    lines: list[ReportLine] = []
    for meter_id, name in meters.items():
        info = store.meters.get(meter_id)
        series = info.series if info is not None and info.series else None
        if info is None or series is None:
            lines.append(
                ReportLine(
                    meter_id, name, None, None, None, None, None, None, None, None, ["no data"]
                )
            )
            continue
        days = store.day_summaries(info.ref, first_day, last_day, len(series))
        summary = join_summaries(days, start=start, end=end, series=len(series))
        # What bears on the month's figure: its boundaries, restarts, what is not known; and,
        # for information, gaps and interruptions. (A boundary inside the month interpolated
        # does not: the month's energy is its end total less its start total.)
        words = [word for word in summary.quality() if word != "estimated"]
        for index, point in enumerate(series):
            known = summary.first is not None and index < summary.series
            energy = summary.energy[index] if known else (None, None)
            first = (
                summary.first.totals[index]
                if summary.first and index < len(summary.first.totals)
                else (None, None)
            )
            last = (
                summary.last.totals[index]
                if summary.last and index < len(summary.last.totals)
                else (None, None)
            )
            lines.append(
                ReportLine(
                    meter_id=meter_id,
                    name=name,
                    point=point,
                    delivered=energy[0],
                    received=energy[1],
                    start_total=first[0],
                    start_read=summary.first.read_at if summary.first else None,
                    end_total=last[0],
                    end_read=summary.last.read_at if summary.last else None,
                    peak=summary.peak[index] if index < summary.series else None,
                    flags=list(words) if known else ["no data"],
                )
            )
    return lines


def _number(value: float | None, places: int = 1) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _local(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def report_text(lines: list[ReportLine], year: int, month: int) -> str:
    """The report for people: a table, then what the flags mean."""
    title = date(year, month, 1).strftime("%B %Y")
    rows = [
        (
            "meter",
            "point",
            "delivered kWh",
            "received kWh",
            "from (read at)",
            "to (read at)",
            "peak kW",
            "flags",
        )
    ]
    for line in lines:
        rows.append(
            (
                f"{line.name} ({line.meter_id})",
                "" if line.point is None else str(line.point),
                _number(line.delivered),
                _number(line.received),
                f"{_number(line.start_total)} ({_local(line.start_read)})"
                if line.start_total is not None
                else "",
                f"{_number(line.end_total)} ({_local(line.end_read)})"
                if line.end_total is not None
                else "",
                _number(line.peak, 2),
                ", ".join(line.flags) if line.flags else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {1, 2, 3, 6}
    text = [
        f"Energy in {title} ({local_zone_name()}), from the totals at the month's boundaries",
        "",
    ]
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        text.append("  ".join(cells).rstrip())
    flagged = {flag for line in lines for flag in line.flags}
    notes = {
        "estimated start": "estimated start/end: that boundary's total was interpolated between two real readings (the time is the real one)",
        "restart": "restart: another meter, or a total the meter's glitch guard held back; energy is summed over the series",
        "incomplete": "incomplete: a boundary total is not known; the energy counts between the times shown",
        "gap": "gap: intervals without a reading; their energy is counted from the totals around them",
        "interrupted": "interrupted: the bridge did not run for a while; counted from the totals around it",
    }
    shown = [
        note
        for flag, note in notes.items()
        if flag in flagged or (flag == "estimated start" and "estimated end" in flagged)
    ]
    if shown:
        text += ["", *shown]
    return "\n".join(text) + "\n"


def report_csv(lines: list[ReportLine]) -> str:
    """The report as CSV (times ISO 8601 in UTC; an unknown value is an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in lines:
        writer.writerow(
            [
                line.meter_id,
                line.name,
                "" if line.point is None else line.point,
                _number(line.delivered, 3),
                _number(line.received, 3),
                _number(line.start_total, 3),
                iso(line.start_read) or "",
                _number(line.end_total, 3),
                iso(line.end_read) or "",
                _number(line.peak, 3),
                "+".join(line.flags) if line.flags else "good",
            ]
        )
    return out.getvalue()


__all__ = ["COLUMNS", "ReportLine", "month_report", "report_csv", "report_text"]

"""A history writer that a test kills with SIGKILL at any moment. Run with the project's
Python::

    python tests/history/writer.py PATH

It opens the store at PATH (continuing where it stands), then writes one cycle after another
as fast as it can, each a boundary of ``METERS`` meters (a fifth of them with 24 series, as a
Series 8000-24), and prints ``committed <until>`` after each transaction has committed. Every
value is a function of the meter and the boundary (``expected_total``), so that what survives
can be checked.
"""

from __future__ import annotations

import sys
from typing import Final

from leviton_bridge.core.history import IntervalRow, SeriesEnd
from leviton_bridge.history.store import Batch, HistoryStore

INTERVAL: Final = 300
FIRST: Final = 1_795_000_200
METERS: Final = 40


def meter_id(index: int) -> str:
    return f"lab_u{index + 1}"


def series_count(index: int) -> int:
    return 24 if index % 5 == 0 else 1


def expected_total(index: int, start: int, series: int) -> float:
    """The delivered total of a series at the end of the interval starting at ``start``."""
    return index * 1000.0 + series * 10.0 + (start - FIRST) / INTERVAL * 0.1


def row(index: int, start: int) -> IntervalRow:
    return IntervalRow(
        start=start,
        flags=0,
        before_ms=-150,
        series=tuple(
            SeriesEnd(expected_total(index, start, s), 0.0, 1.5) for s in range(series_count(index))
        ),
    )


def main(path: str) -> int:
    store = HistoryStore(path, INTERVAL)
    store.open([meter_id(i) for i in range(METERS)])
    start = store.until if store.until is not None else FIRST
    while True:
        batch = Batch(until=start + INTERVAL)
        for index in range(METERS):
            batch.rows[(meter_id(index), start)] = row(index, start)
        store.write(batch)
        print(f"committed {batch.until}", flush=True)
        start += INTERVAL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

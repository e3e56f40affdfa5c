"""A meter's log takes most polls without making a ``Reading`` (the poll within the interval in
progress only folds its peaks and is kept); what it writes must be what it writes when every
poll is made a ``Reading`` and added."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest

from leviton_bridge.history.log import OWN, MeterLog, reading_of
from leviton_driver import Snapshot

if TYPE_CHECKING:
    from leviton_bridge.core.meter_state import MeterState

INTERVAL = 300
START = 1_800_000_000 - 1_800_000_000 % INTERVAL


def _power(rng: random.Random) -> float | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08:
        return math.nan
    return rng.uniform(-500, 5000)


def _snapshots(points: int, seed: int) -> list[Snapshot]:
    """Polls every 4-15 s, now and then a silence of up to 20 minutes, a poll repeated or
    from the past (a clock set back), totals that grow, peaks that come and go."""
    rng = random.Random(seed)
    when = START + 1.0
    delivered = [100.0 + p for p in range(max(points, 1))]
    out: list[Snapshot] = []
    for _ in range(1500):
        roll = rng.random()
        if roll < 0.02:
            when += rng.uniform(300, 1200)
        elif roll < 0.03:
            when -= rng.uniform(0, 30)
        elif roll > 0.04:
            when += rng.uniform(4, 15)
        delivered = [total + rng.uniform(0, 0.01) for total in delivered]
        if points == 0:
            readings: dict[str, float | int | None] = {
                "energy_delivered": delivered[0],
                "energy_received": 1.0,
                "peak_demand": _power(rng),
            }
            out.append(Snapshot(time=when, readings=readings))
        else:
            out.append(
                Snapshot(
                    time=when,
                    readings={},
                    points={
                        p: {
                            "energy_delivered": delivered[p - 1],
                            "energy_received": 0.5,
                            "power": _power(rng),
                        }
                        for p in range(1, points + 1)
                        if p != 3 or rng.random() > 0.1  # a point missing from a poll
                    },
                )
            )
    return out


def _rows(log: MeterLog) -> dict[int, str]:
    """The rows a cycle takes, as text (a NaN peak is unequal to itself, not to its text)."""
    return {start: repr(row) for start, row in log.take().items()}


@pytest.mark.parametrize("points", [0, 8, 24])
@pytest.mark.parametrize("seed", range(4))
def test_a_log_writes_the_same_rows_however_it_takes_its_polls(points: int, seed: int) -> None:
    series = OWN if points == 0 else list(range(1, points + 1))
    polled = MeterLog("m", INTERVAL, 15.0, START)
    added = MeterLog("m", INTERVAL, 15.0, START)
    for log in (polled, added):
        log.series = series
        log.open_peaks = [None] * len(series)
    meter = SimpleNamespace(suppressed=0, points=points)
    written_polled: dict[int, str] = {}
    written_added: dict[int, str] = {}
    for number, snapshot in enumerate(_snapshots(points, seed)):
        state = cast("MeterState", SimpleNamespace(snapshot=snapshot, meter=meter))
        polled.updated(state)
        added.add(reading_of(snapshot, series))
        if number % 37 == 0:  # a cycle now and then takes the rows closed so far
            written_polled.update(_rows(polled))
            written_added.update(_rows(added))
            assert repr(polled.open_interval()) == repr(added.open_interval())
    written_polled.update(_rows(polled))
    written_added.update(_rows(added))
    assert len(written_added) > 50
    assert written_polled == written_added
    assert repr(polled.open_interval()) == repr(added.open_interval())
    assert repr(polled.prev) == repr(added.prev)

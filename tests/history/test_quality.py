"""Nothing invented: a boundary's total is a reading taken at it, or interpolated between two
real readings of the same meter and marked; an interval the meter was offline throughout is a
gap; a swapped meter or a total the guard held back restarts the series; a bridge that did not
run leaves interrupted boundaries. The bridge polls simulated meters on a held clock, so every
total the meter showed is known to the test."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from leviton_bridge.core.codec import iso
from leviton_bridge.core.history import interval_values, intervals_json, value_json
from leviton_bridge.simulator import MeterSimulator, MeterSpec
from tests.support import PATIENCE, until
from tests.support.statuspage import HeldClock

from .conftest import INTERVAL, HistorySite, site_config, start_site

Lab = tuple[MeterSimulator, str, HeldClock]


def register(energy: float) -> float:
    """A Series 2000's total as it shows it: tenths of a kWh, rounded down."""
    return int(energy * 10 + 1e-9) / 10


async def api(site: HistorySite, meter: str = "lab_u1", **query: Any) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as http:
        answer = await http.get(f"{site.page}/api/meters/{meter}/history", params=query)
        assert answer.status == 200, await answer.text()
        rows: list[dict[str, Any]] = (await answer.json())["rows"]
        return rows


def by_start(rows: list[dict[str, Any]], point: int | None = None) -> dict[str, dict[str, Any]]:
    return {row["start"]: row for row in rows if row["point"] == point}


async def same_rows_both_ways(site: HistorySite, meter: str, first: int, last: int) -> None:
    """The API's fast rows (``intervals_json``) are ``value_json`` of ``interval_values``."""
    previous, rows = await site.history.intervals(meter, first, last)
    series = site.history.series(meter) or []
    fast = intervals_json(rows, previous, list(enumerate(series)), INTERVAL)
    plain = [
        value_json(value, point)
        for index, point in enumerate(series)
        for value in interval_values(rows, previous, index, INTERVAL)
    ]
    assert fast == plain


async def offline(site: HistorySite, unit: int, answering: bool) -> None:
    state = next(s for s in site.bridge.states if s.config.unit == unit)
    await until(
        lambda: state.available == answering, f"unit {unit} {'back' if answering else 'offline'}"
    )


async def test_a_boundary_is_read_at_it_or_interpolated_between_real_readings(
    lab: Lab, running: list[HistorySite]
) -> None:
    sim, url, clock = lab
    site = await start_site(site_config(url, {"unit": 1}), sim, clock)
    running.append(site)
    meter = sim.meters[1]
    b0 = site.next_boundary()
    b1, b2 = b0 + INTERVAL, b0 + 2 * INTERVAL
    await site.at(b0)
    at_b0 = register(meter.energy_delivered())
    # Around b1 the polls are missing: read 100 s before it and 100 s after it only.
    await site.at(b1 - 100)
    before = register(meter.energy_delivered())
    await site.at(b1 + 100)
    after = register(meter.energy_delivered())
    await site.at(b2)
    at_b2 = register(meter.energy_delivered())
    await site.written(b2)
    rows = by_start(await api(site, **{"from": iso(b0), "to": iso(b2)}))
    first, second = rows[iso(b0)], rows[iso(b1)]
    estimated = before + (after - before) * 0.5
    assert first["delivered_total"] == pytest.approx(estimated, abs=1e-4)
    assert first["read_at"] is None  # interpolated: no reading behind it
    assert first["quality"] == "estimated"
    assert first["energy_delivered"] == pytest.approx(estimated - at_b0, abs=1e-4)
    assert second["quality"] == "estimated"  # its start was interpolated
    assert second["delivered_total"] == at_b2
    assert second["read_at"] == iso(b2)  # read at the boundary itself
    assert second["energy_delivered"] == pytest.approx(at_b2 - estimated, abs=1e-4)
    # Read at both ends: good, and the energy is what the meter counted.
    b3 = b2 + INTERVAL
    await site.at(b3)
    await site.written(b3)
    third = by_start(await api(site, **{"from": iso(b2), "to": iso(b3)}))[iso(b2)]
    assert third["quality"] == "good"
    assert third["energy_delivered"] == pytest.approx(
        register(meter.energy_delivered()) - at_b2, abs=1e-6
    )


async def test_an_interval_offline_throughout_is_a_gap_its_energy_still_counted_from_the_totals(
    lab: Lab, running: list[HistorySite]
) -> None:
    sim, url, clock = lab
    site = await start_site(site_config(url, {"unit": 1}, {"unit": 2}), sim, clock)
    running.append(site)
    meter = sim.meters[1]
    b0 = site.next_boundary()
    b1, b2, b3 = (b0 + k * INTERVAL for k in (1, 2, 3))
    await site.at(b0)
    at_b0 = register(meter.energy_delivered())
    await site.at(b1 - 50)
    last = register(meter.energy_delivered())
    undo = sim.silence(1)
    await offline(site, 1, answering=False)
    await site.at(b1 + 10)
    await site.at(b2 - 10)  # the second meter is read; the first is not
    await site.move_clock(b2 + 50)
    undo()
    await offline(site, 1, answering=True)
    back = register(meter.energy_delivered())
    await site.at(b3)
    at_b3 = register(meter.energy_delivered())
    await site.written(b3)
    rows = by_start(await api(site, **{"from": iso(b0), "to": iso(b3)}))
    gap = rows[iso(b1)]
    assert "gap" in gap["quality"]
    assert gap["energy_delivered"] is None  # never 0
    assert rows[iso(b0)]["quality"] == "estimated"
    # b1 and b2 interpolated between the real readings at b1 - 50 and b2 + 50.
    span = (b2 + 50) - (b1 - 50)
    at_b1 = last + (back - last) * 50 / span
    assert rows[iso(b0)]["delivered_total"] == pytest.approx(at_b1, abs=1e-4)
    assert rows[iso(b0)]["energy_delivered"] == pytest.approx(at_b1 - at_b0, abs=1e-4)
    assert gap["delivered_total"] == pytest.approx(
        last + (back - last) * (span - 50) / span, abs=1e-4
    )
    # The day counts the energy across the gap, from the totals around it: from the meter's
    # first reading to its last.
    day = [row for row in await api(site, step="day") if row["point"] is None][-1]
    assert "gap" in day["quality"]
    await same_rows_both_ways(site, "lab_u1", b0 - INTERVAL, b3 - INTERVAL)
    await same_rows_both_ways(site, "lab_u2", b0 - INTERVAL, b3 - INTERVAL)
    first_reading = day["start_total"]
    assert day["energy_delivered"] == pytest.approx(
        day["delivered_total"] - first_reading, abs=1e-6
    )
    assert day["delivered_total"] == at_b3


async def test_a_swapped_meter_restarts_the_series(lab: Lab, running: list[HistorySite]) -> None:
    sim, url, clock = lab
    site = await start_site(site_config(url, {"unit": 1}), sim, clock)
    running.append(site)
    old = sim.meters[1]
    b0 = site.next_boundary()
    b1, b2 = b0 + INTERVAL, b0 + 2 * INTERVAL
    await site.at(b0)
    at_b0 = register(old.energy_delivered())
    await site.at(b0 + 100)
    tail = register(old.energy_delivered()) - at_b0
    new = sim.replace(MeterSpec.parse("1:2000:load=6:energy=50:program=777"))
    state = site.bridge.states[0]
    await until(
        lambda: state.identity is not None and state.identity.program_id == 777, "the new meter"
    )
    await site.at(b0 + 101)  # the new meter read, a second later
    first = register(new.energy_delivered())
    await site.at(b1)
    at_b1 = register(new.energy_delivered())
    await site.at(b2)
    at_b2 = register(new.energy_delivered())
    await site.written(b2)
    rows = by_start(await api(site, **{"from": iso(b0), "to": iso(b2)}))
    swapped = rows[iso(b0)]
    assert "restart" in swapped["quality"]
    assert swapped["delivered_total"] == at_b1  # the new meter's, read at b1
    # The old meter's energy until it was last read, and the new one's since it first was.
    assert swapped["energy_delivered"] == pytest.approx(tail + at_b1 - first, abs=1e-6)
    assert rows[iso(b1)]["quality"] == "good"
    assert rows[iso(b1)]["energy_delivered"] == pytest.approx(at_b2 - at_b1, abs=1e-6)
    # Nothing interpolated across the swap; the day sums both series.
    day = [row for row in await api(site, step="day") if row["point"] is None][-1]
    assert "restart" in day["quality"]
    await same_rows_both_ways(site, "lab_u1", b0 - INTERVAL, b1)


async def test_a_total_held_back_by_the_guard_restarts_the_series(
    lab: Lab, running: list[HistorySite]
) -> None:
    sim, url, clock = lab
    site = await start_site(site_config(url, {"unit": 1}), sim, clock)
    running.append(site)
    meter = sim.meters[1]
    b0 = site.next_boundary()
    b1 = b0 + INTERVAL
    await site.at(b0)
    at_b0 = register(meter.energy_delivered())
    await site.at(b0 + 100)
    before = meter.energy_delivered()
    snapshot = site.bridge.states[0].snapshot
    assert snapshot is not None
    held = site.bridge.states[0].meter
    assert held is not None
    suppressed = held.suppressed
    meter.set_energy(0.0)  # a meter answering 0: the guard holds the total back
    await until(lambda: held.suppressed > suppressed, "a total held back")
    meter.set_energy(before)
    await site.at(b0 + 101)  # read again, a second later
    await site.at(b1)
    at_b1 = register(meter.energy_delivered())
    await site.written(b1)
    row = by_start(await api(site, **{"from": iso(b0), "to": iso(b1)}))[iso(b0)]
    assert "restart" in row["quality"]
    assert row["delivered_total"] == at_b1
    assert row["energy_delivered"] == pytest.approx(at_b1 - at_b0, abs=1e-6)


async def test_a_bridge_that_did_not_run_leaves_interrupted_boundaries(
    lab: Lab, running: list[HistorySite], tmp_path: Any
) -> None:
    sim, url, clock = lab
    config = site_config(url, {"unit": 1}, path=str(tmp_path / "history.sqlite3"))
    site = await start_site(config, sim, clock)
    running.append(site)
    meter = sim.meters[1]
    b0 = site.next_boundary()
    await site.at(b0)
    at_b0 = register(meter.energy_delivered())
    await site.at(b0 + INTERVAL)
    at_b1 = register(meter.energy_delivered())
    await site.written(b0 + INTERVAL)
    await site.close()
    # Three boundaries pass with the bridge stopped.
    clock.now += 3 * INTERVAL + 60
    again = await start_site(
        site_config(url, {"unit": 1}, path=config["history"]["path"]), sim, clock
    )
    running.append(again)
    b5 = b0 + 5 * INTERVAL
    await again.at(b5)
    at_b5 = register(meter.energy_delivered())
    await again.written(b5)
    rows = by_start(await api(again, **{"from": iso(b0), "to": iso(b5)}))
    assert rows[iso(b0)]["quality"] == "good"
    assert rows[iso(b0)]["energy_delivered"] == pytest.approx(at_b1 - at_b0, abs=1e-6)
    for k in (2, 3):
        assert "interrupted" in rows[iso(b0 + k * INTERVAL)]["quality"]
        assert rows[iso(b0 + k * INTERVAL)]["energy_delivered"] is None
    joined = rows[iso(b0 + 4 * INTERVAL)]
    assert "interrupted" in joined["quality"]  # the bridge started within it
    # The energy while it was down is still counted between the totals around it.
    hours = await api(again, step="day")
    day = [row for row in hours if row["point"] is None][-1]
    assert "interrupted" in day["quality"]
    assert day["delivered_total"] == at_b5
    assert day["energy_delivered"] == pytest.approx(at_b5 - day["start_total"], abs=1e-6)


async def test_a_meter_back_after_days_offline_brings_every_row(
    lab: Lab, running: list[HistorySite]
) -> None:
    """Three days of a meter's boundaries arrive at once when it answers again: every one is
    written (gaps, their totals interpolated), none dropped as if the file could not take them."""
    sim, url, clock = lab
    site = await start_site(site_config(url, {"unit": 1}), sim, clock)
    running.append(site)
    meter = sim.meters[1]
    b0 = site.next_boundary()
    await site.at(b0)
    at_b0 = register(meter.energy_delivered())
    undo = sim.silence(1)
    await offline(site, 1, answering=False)
    days = 3 * 86400
    await site.move_clock(b0 + days + 60)
    undo()
    await offline(site, 1, answering=True)
    back = register(meter.energy_delivered())
    last = b0 + days + INTERVAL
    await site.at(last)
    await site.written(last)
    _previous, rows = await site.history.intervals("lab_u1", b0, last - INTERVAL)
    assert [row.start for row in rows] == list(range(b0, last, INTERVAL))
    # Read at b0 (its interval has a reading) and 60 s after b0 + 3 days: the intervals
    # between are gaps, their ends interpolated between those two readings.
    assert all(row.flags & 2 for row in rows[1:-1])
    assert not any(row.flags & 16 for row in rows)  # written, not missing (interrupted)
    assert not rows[0].flags & 2
    assert rows[-2].series[0].delivered == pytest.approx(
        at_b0 + (back - at_b0) * days / (days + 60), abs=1e-4
    )
    assert site.history.dropped_rows == 0

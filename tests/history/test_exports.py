"""What a property manager bills from: ``leviton-bridge report`` and the history API's JSON and
CSV are equal to what the simulated meters counted, across a month's boundary (local time),
for a Series 2000 and for every point of a Series 8000."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from leviton_bridge.core.codec import iso
from leviton_bridge.history.report import COLUMNS
from leviton_bridge.simulator import MeterSimulator
from tests.support import PATIENCE
from tests.support.simulator_process import bridge_executable
from tests.support.statuspage import HeldClock

from .conftest import EPOCH, INTERVAL, HistorySite, site_config, start_site

Lab = tuple[MeterSimulator, str, HeldClock]
MONTH_END = int(datetime(2026, 12, 1).timestamp())
"""Local midnight starting December 2026."""


def register(energy: float) -> float:
    return int(energy * 10 + 1e-9) / 10


async def report(config: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        bridge_executable(),
        "report",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE)
    assert process.returncode == 0, err.decode()
    return out.decode()


def points_of(site: HistorySite) -> dict[int, float]:
    """The Series 8000's points' totals as last read."""
    snapshot = site.bridge.states[1].snapshot
    assert snapshot is not None
    return {
        point: float(values["energy_delivered"] or 0) for point, values in snapshot.points.items()
    }


async def test_the_report_and_the_api_equal_what_the_meters_counted(
    lab: Lab, running: list[HistorySite], tmp_path: Path
) -> None:
    sim, url, clock = lab
    clock.now = MONTH_END - 2 * INTERVAL - 30 - EPOCH  # November's last ten minutes
    config = site_config(
        url,
        {"unit": 1, "name": "Unit 1A"},
        {"unit": 2, "name": "Tenant panel"},
        path=str(tmp_path / "history.sqlite3"),
    )
    site = await start_site(config, sim, clock)
    running.append(site)
    meter = sim.meters[1]
    first = register(meter.energy_delivered())
    first_points = points_of(site)
    first_read = site.wall()
    totals: dict[int, float] = {}
    points: dict[int, dict[int, float]] = {}
    for boundary in (MONTH_END - INTERVAL, MONTH_END, MONTH_END + INTERVAL):
        await site.at(boundary)
        totals[boundary] = register(meter.energy_delivered())
        points[boundary] = points_of(site)
        await site.written(boundary)
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps(config))

    # The report: November from the meter's first reading to the month's end, read at it.
    text = await report(path, "--month", "2026-11", "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS)
    unit = rows[0]
    assert (unit["meter"], unit["name"], unit["point"]) == ("lab_u1", "Unit 1A", "")
    assert float(unit["energy_delivered_kwh"]) == pytest.approx(totals[MONTH_END] - first, abs=1e-6)
    assert float(unit["start_delivered_total_kwh"]) == first
    assert float(unit["end_delivered_total_kwh"]) == totals[MONTH_END]
    assert unit["end_read_at"] == iso(MONTH_END)
    assert datetime.fromisoformat(unit["start_read_at"]).timestamp() == pytest.approx(
        first_read, abs=0.01
    )
    # The series began in the month (restart; the month's start total is not known:
    # incomplete), in an interval the bridge started within (interrupted); the next one had no
    # reading (gap). The boundary between them was interpolated, which does not bear on the
    # month's figure (its end total less its start total): not flagged.
    assert unit["flags"].split("+") == ["gap", "restart", "incomplete", "interrupted"]
    panel = [row for row in rows if row["meter"] == "lab_u2"]
    assert [int(row["point"]) for row in panel] == list(range(1, 9))
    for row in panel:
        point = int(row["point"])
        counted = points[MONTH_END][point] - first_points[point]
        assert float(row["energy_delivered_kwh"]) == pytest.approx(counted, abs=1e-3), point
    # December so far: from the month's first total, read at midnight.
    december = list(csv.DictReader(io.StringIO(await report(path, "--month", "2026-12", "--csv"))))
    assert float(december[0]["energy_delivered_kwh"]) == pytest.approx(
        totals[MONTH_END + INTERVAL] - totals[MONTH_END], abs=1e-6
    )
    assert december[0]["start_read_at"] == iso(MONTH_END)
    assert december[0]["flags"] == "incomplete"  # the month is not over
    # The table for people says the same.
    table = await report(path, "--month", "2026-11")
    assert "Energy in November 2026" in table
    assert f"{totals[MONTH_END] - first:.1f}" in table
    assert "restart:" in table

    # The API: JSON and CSV of the same rows, each interval what the meter counted.
    query = {"from": iso(MONTH_END - INTERVAL), "to": iso(MONTH_END + INTERVAL)}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as http:
        answer = await http.get(f"{site.page}/api/meters/lab_u1/history", params=query)
        data: dict[str, Any] = await answer.json()
        answer = await http.get(
            f"{site.page}/api/meters/lab_u1/history", params={**query, "format": "csv"}
        )
        assert answer.headers["Content-Type"].startswith("text/csv")
        table_rows = list(csv.DictReader(io.StringIO(await answer.text())))
        months = await (
            await http.get(
                f"{site.page}/api/meters/lab_u2/history",
                params={"step": "month", "from": "2026-11-01", "to": "2027-01-01"},
            )
        ).json()
    assert [row["start"] for row in data["rows"]] == [iso(MONTH_END - INTERVAL), iso(MONTH_END)]
    for row in data["rows"]:
        start = datetime.fromisoformat(row["start"]).timestamp()
        end = start + INTERVAL
        assert row["energy_delivered"] == pytest.approx(
            totals[int(end)] - totals[int(start)], abs=1e-6
        )
        assert row["quality"] == "good"
    assert len(table_rows) == len(data["rows"])
    for cells, row in zip(table_rows, data["rows"], strict=True):
        assert cells["start"] == row["start"]
        assert cells["quality"] == row["quality"]
        assert float(cells["energy_delivered_kwh"]) == row["energy_delivered"]
        assert float(cells["delivered_total_kwh"]) == row["delivered_total"]
        assert cells["read_at"] == row["read_at"]
    november = [
        row
        for row in months["rows"]
        if row["start"].startswith("2026-11")
        or row["start"] == iso(int(datetime(2026, 11, 1).timestamp()))
    ]
    by_point = {
        row["point"]: row
        for row in months["rows"]
        if row["start"] == iso(int(datetime(2026, 11, 1).timestamp()))
    }
    assert november
    for point in range(1, 9):
        counted = points[MONTH_END][point] - first_points[point]
        assert by_point[point]["energy_delivered"] == pytest.approx(counted, abs=1e-3)


async def test_metrics_show_what_the_history_writes(lab: Lab, running: list[HistorySite]) -> None:
    sim, url, clock = lab
    site = await start_site(site_config(url, {"unit": 1}, {"unit": 2}), sim, clock)
    running.append(site)
    first = site.next_boundary()
    for boundary in (first, first + INTERVAL):
        await site.at(boundary)
        await site.written(boundary)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as http:
        text = await (await http.get(f"{site.page}/metrics")).text()
    figures = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("leviton_history_")
    }
    assert figures["leviton_history_writing"] == 1.0
    assert figures["leviton_history_rows_written_total"] >= 4  # two meters, two boundaries
    assert figures["leviton_history_cycles_total"] >= 2
    assert 0 < figures["leviton_history_write_seconds"] < PATIENCE
    assert figures["leviton_history_store_bytes"] > 4096
    assert figures["leviton_history_write_errors_total"] == 0
    assert figures["leviton_history_last_write_error_timestamp_seconds"] == 0
    assert not any(name.startswith("leviton_history_last_write_error_info") for name in figures)


async def test_the_api_adds_hours_from_the_totals_and_refuses_in_words(
    lab: Lab, running: list[HistorySite]
) -> None:
    sim, url, clock = lab
    site = await start_site(site_config(url, {"unit": 1}, {"unit": 2}), sim, clock)
    running.append(site)
    meter = sim.meters[1]
    first = (int(site.wall()) // 3600 + 1) * 3600  # the next whole hour
    totals: dict[int, float] = {}
    for boundary in range(first, first + 3600 + INTERVAL, INTERVAL):
        await site.at(boundary)
        totals[boundary] = register(meter.energy_delivered())
    await site.written(first + 3600)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as http:
        base = f"{site.page}/api/meters/lab_u1/history"
        query = {"step": "hour", "from": iso(first), "to": iso(first + 3600)}
        hours = (await (await http.get(base, params=query)).json())["rows"]
        assert len(hours) == 1
        assert hours[0]["energy_delivered"] == pytest.approx(
            totals[first + 3600] - totals[first], abs=1e-6
        )
        assert hours[0]["quality"] == "good"
        assert hours[0]["start_total"] == totals[first]
        panel = f"{site.page}/api/meters/lab_u2/history"
        one = (await (await http.get(panel, params={"point": "3"})).json())["rows"]
        assert {row["point"] for row in one} == {3}
        for params, status, words in (
            ({"step": "week"}, 400, "expected one of interval, hour, day, month"),
            ({"from": "yesterday"}, 400, "not an ISO 8601 date or time"),
            ({"point": "30"}, 400, "no such metering point"),
            ({"from": "2020-01-01", "to": "2026-01-01"}, 400, "at most 20000 a request"),
            ({"from": "2026-11-02", "to": "2026-11-01"}, 400, "from must be before to"),
        ):
            answer = await http.get(panel, params=params)
            assert answer.status == status, params
            assert words in (await answer.json())["error"], params
        answer = await http.get(f"{site.page}/api/meters/nobody/history")
        assert answer.status == 404


async def test_without_a_history_section_there_is_none(
    lab: Lab, running: list[HistorySite]
) -> None:
    sim, url, clock = lab
    config = site_config(url, {"unit": 1})
    del config["history"]
    site = await start_site(config, sim, clock)
    running.append(site)
    assert site.bridge.face("history") is None
    assert site.bridge.core.history is None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as http:
        answer = await http.get(f"{site.page}/api/meters/lab_u1/history")
        assert answer.status == 404
        assert "no history: section" in (await answer.json())["error"]

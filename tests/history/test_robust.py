"""The history never stops the bridge and loses nothing it committed: ``kill -9`` at any
moment, a full disk, a read-only folder, a file that is not a store, two bridges on one file.
Real SQLite files, a real tmpfs (full: ENOSPC; read-only: EROFS), real HTTP."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from leviton_bridge.daemon import Bridge, parse
from leviton_bridge.history.store import HistoryStore
from leviton_driver import ConfigurationError
from tests.support import PATIENCE
from tests.support.statuspage import HeldClock

from . import writer
from .conftest import INTERVAL, DiskBridge, HistorySite, MeterSimulator, site_config, start_site

WRITER = writer.__file__
REPOSITORY = str(Path(__file__).resolve().parents[2])

Lab = tuple[MeterSimulator, str, HeldClock]


def set_aside(folder: Path) -> list[Path]:
    """Files moved aside in ``folder``."""
    return [p for p in folder.iterdir() if p.name.startswith("history.sqlite3.corrupt-")]


# -- kill -9 -------------------------------------------------------------------------------------


async def test_kill_9_at_any_moment_keeps_every_committed_interval(tmp_path: Path) -> None:
    """A writer killed with SIGKILL while it writes as fast as it can, five times over: the
    file opens every time, passes SQLite's integrity check, and holds every cycle the writer
    said was committed, value for value."""
    path = tmp_path / "history.sqlite3"
    rng = random.Random(19)
    committed = 0
    for _round in range(5):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            WRITER,
            str(path),
            stdout=asyncio.subprocess.PIPE,
            cwd=REPOSITORY,
        )
        assert process.stdout is not None
        for _ in range(rng.randrange(3, 40)):
            line = (await process.stdout.readline()).decode()
            assert line.startswith("committed "), line
            committed = max(committed, int(line.split()[1]))
        os.kill(process.pid, signal.SIGKILL)  # most likely inside the next transaction
        assert await asyncio.wait_for(process.wait(), PATIENCE) == -signal.SIGKILL
        check = sqlite3.connect(path)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        check.close()
        store = HistoryStore(path, writer.INTERVAL)
        store.open()  # the killed writer's lock is gone with it
        try:
            assert store.until is not None
            assert store.until >= committed
            for index in range(writer.METERS):
                ref = store.meters[writer.meter_id(index)].ref
                _previous, rows = store.rows(ref, writer.FIRST, committed - writer.INTERVAL)
                assert [r.start for r in rows] == list(
                    range(writer.FIRST, committed, writer.INTERVAL)
                )
                for stored in rows:
                    for series, end in enumerate(stored.series):
                        assert end.delivered == writer.expected_total(index, stored.start, series)
        finally:
            store.close()


# -- a full disk ------------------------------------------------------------------------------------


async def page_health(page: str) -> tuple[int, str, int, str]:
    """(/healthz status, text, /readyz status, /metrics text) of a status page."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PATIENCE)) as http:
        healthz = await http.get(f"{page}/healthz")
        readyz = await http.get(f"{page}/readyz")
        metrics = await http.get(f"{page}/metrics")
        return healthz.status, await healthz.text(), readyz.status, await metrics.text()


async def test_a_full_disk_costs_a_line_and_a_health_note_and_writing_resumes(
    tmp_path: Path, disk_bridges: list[DiskBridge]
) -> None:
    bridge = DiskBridge(tmp_path, "1m")
    disk_bridges.append(bridge)
    await bridge.start()
    totals: dict[str, float] = {}
    state = await bridge.ask(boundary=0)
    totals["0"] = state["total"]
    assert state["until"] == 0
    assert state["problem"] is None
    assert (await bridge.ask(fill=True))["filled"] > 0
    # Two boundaries pass on a full disk: polling goes on, the rows wait in memory.
    for k in (1, 2):
        state = await bridge.ask(boundary=k)
        totals[str(k)] = state["total"]
        assert state["read_at"] == k  # read at the boundary: polling goes on
    assert "database or disk is full" in state["problem"], state
    assert "history.sqlite3 cannot be written" in state["problem"]
    assert state["until"] == 0
    assert state["queued"] >= 2
    full = [line for line in state["log"] if "disk is full" in line]
    assert len(full) == 1, state["log"]  # one line, however many cycles fail
    assert full[0].startswith("WARNING")
    assert "polling and the other faces go on" in full[0]
    healthz, text, readyz, metrics = await page_health(bridge.page)
    assert healthz == 200  # alive: nothing restarts the bridge for it
    assert "degraded: History is down" in text
    assert "disk is full" in text
    assert readyz == 503
    assert "leviton_history_writing 0.0" in metrics
    assert 'leviton_history_last_write_error_info{error="' in metrics
    # Space again: the next boundary writes everything that waited.
    await bridge.ask(free=True)
    state = await bridge.ask(boundary=3)
    totals["3"] = state["total"]
    assert state["problem"] is None
    assert state["until"] == 3
    assert any("is written again" in line for line in state["log"])
    rows = (await bridge.ask(rows=[1, 3]))["rows"]
    assert rows == {k: totals[k] for k in ("1", "2", "3")}
    healthz, text, readyz, _metrics = await page_health(bridge.page)
    assert (healthz, readyz) == (200, 200)
    assert "History is down" not in text


# -- a read-only folder ---------------------------------------------------------------------------------


async def test_a_read_only_path_costs_a_line_and_writing_begins_once_writable(
    tmp_path: Path, disk_bridges: list[DiskBridge]
) -> None:
    bridge = DiskBridge(tmp_path, "4m", read_only=True)
    disk_bridges.append(bridge)
    state = await bridge.start()
    assert "Read-only file system" in state["problem"], state
    assert any("Read-only file system" in line for line in state["log"])
    healthz, text, readyz, _metrics = await page_health(bridge.page)
    assert healthz == 200
    assert "degraded: History is down" in text
    assert readyz == 503
    state = await bridge.ask(boundary=0)
    assert state["until"] is None  # nothing could be written
    total = state["total"]
    await bridge.ask(remount="rw")
    state = await bridge.ask(boundary=1)
    assert state["problem"] is None
    assert state["until"] == 1
    rows = (await bridge.ask(rows=[1, 1]))["rows"]
    assert rows == {"1": state["total"]}
    assert total < state["total"]


# -- a file that is not a store --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["garbage", "other program", "truncated", "another interval"])
async def test_a_file_that_is_not_a_store_is_moved_aside(
    lab: Lab,
    running: list[HistorySite],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    sim, url, clock = lab
    path = tmp_path / "history.sqlite3"
    if kind == "garbage":
        path.write_bytes(b"this is not a SQLite file " * 400)
    elif kind == "other program":
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE notes(text)")
        other.commit()
        other.close()
    elif kind == "another interval":
        store = HistoryStore(path, 3 * INTERVAL)  # written with history.interval 15
        store.open(["lab_u1"])
        store.close()
    else:
        store = HistoryStore(path, INTERVAL)
        store.open(["lab_u1"])
        store.close()
        data = path.read_bytes()
        path.write_bytes(data[:100] + b"\xff" * 200 + data[300:])  # the schema page, damaged
    original = path.read_bytes()
    site = await start_site(site_config(url, {"unit": 1}, path=str(path)), sim, clock)
    running.append(site)
    first = site.next_boundary()
    await site.at(first)
    await site.written(first)
    aside = set_aside(tmp_path)
    assert len(aside) == 1
    assert aside[0].read_bytes() == original  # kept, as it was
    lines = [r.getMessage() for r in caplog.records if "moved aside" in r.getMessage()]
    assert len(lines) == 1
    assert str(aside[0]) in lines[0]
    assert site.history.problem is None
    await site.close()


# -- one bridge a file ---------------------------------------------------------------------------------------


async def test_two_bridges_on_one_file_are_refused(
    lab: Lab, running: list[HistorySite], tmp_path: Path
) -> None:
    sim, url, clock = lab
    path = tmp_path / "history.sqlite3"
    config = site_config(url, {"unit": 1}, path=str(path))
    site = await start_site(config, sim, clock)
    running.append(site)
    second = dict(site_config(url, {"unit": 1}, path=str(path)), state_dir=str(tmp_path / "other"))
    with pytest.raises(
        ConfigurationError,
        match=rf"history.path {path}: another bridge writes it \(process {os.getpid()}\); give "
        "each bridge a history file of its own",
    ):
        await Bridge(parse(second, "test")).run(asyncio.Event())
    # The first goes on writing.
    first = site.next_boundary()
    await site.at(first)
    await site.written(first)
    assert site.history.problem is None
    await site.close()

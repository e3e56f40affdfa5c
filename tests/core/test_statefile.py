"""The state file (``core.statefile``): the totals last shown, kept atomically; a state
directory one bridge at a time; a file that cannot be written or read costs a line, never the
bridge."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from leviton_bridge.core.statefile import (
    SavedTotals,
    StateDir,
    StateDirError,
    TotalsFile,
    TotalsKeeper,
)
from leviton_bridge.daemon import Bridge, parse
from leviton_driver import ConfigurationError
from tests.support import free_port, until
from tests.support.inprocess import StartSimulator


def test_the_file_round_trips_and_is_replaced_whole(tmp_path: Path) -> None:
    file = TotalsFile(tmp_path)
    saved = {
        "lab_u1": SavedTotals(40001, 1765000000.5, {(None, "energy_delivered"): 3002.0}),
        "lab_u3": SavedTotals(None, 1765000001.0, {(3, "energy_delivered"): 12.5}),
    }
    file.save(saved)
    assert file.load() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["totals.json"]  # nothing left aside
    data = json.loads(file.path.read_text())
    assert data["meters"]["lab_u3"]["totals"] == {"3/energy_delivered": 12.5}


def test_a_file_that_is_not_ours_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = TotalsFile(tmp_path)
    file.path.write_text("{not json", encoding="utf-8")
    assert file.load() == {}
    assert [p.name.startswith("totals.corrupt-") for p in tmp_path.iterdir()] == [True]
    assert "moved aside" in caplog.text
    file.path.write_text(json.dumps({"meters": {"x": {"totals": {"nonsense": 1}}}}))
    assert file.load() == {}  # saved_at missing: not ours either


def test_merging_two_sources_keeps_the_higher_totals() -> None:
    older = SavedTotals(7, 100.0, {(None, "energy_delivered"): 10.0, (None, "energy_received"): 3})
    newer = SavedTotals(7, 200.0, {(None, "energy_delivered"): 9.5})
    merged = newer.merged(older)
    assert merged.totals == {(None, "energy_delivered"): 10.0, (None, "energy_received"): 3}
    other = SavedTotals(8, 300.0, {(None, "energy_delivered"): 1.0})
    assert other.merged(older) is other  # another meter's: the newer wins whole


def test_one_bridge_a_state_directory(tmp_path: Path) -> None:
    first, second = StateDir(str(tmp_path)), StateDir(str(tmp_path))
    first.acquire()
    try:
        with pytest.raises(
            StateDirError, match=rf"another bridge uses it \(process {os.getpid()}\)"
        ):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # free again
    second.release()
    (tmp_path / "file").write_text("x")
    with pytest.raises(StateDirError, match="cannot be used"):
        StateDir(str(tmp_path / "file" / "below")).acquire()


async def test_a_read_only_folder_costs_a_line_and_writing_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A folder where the new file would be written stands in for a read-only one (whoever
    # runs the tests, root included).
    blocker = tmp_path / "totals.json.new"
    blocker.mkdir()
    keeper = TotalsKeeper(tmp_path, interval=0.0)
    keeper.meters["lab_u1"] = SavedTotals(1, 1.0, {(None, "energy_delivered"): 5.0})
    keeper._dirty = True
    await keeper._flush()
    assert keeper.problem is not None
    assert "cannot be written" in keeper.problem
    assert "totals are kept in memory" in caplog.text
    blocker.rmdir()  # space again
    await keeper._flush()
    assert keeper.problem is None
    assert TotalsFile(tmp_path).load()["lab_u1"].totals == {(None, "energy_delivered"): 5.0}


async def test_a_restart_without_a_broker_starts_from_the_file(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    """BACnet alone (no MQTT to read back): the state file holds the totals; a meter that
    answers 0 right after the restart is held at its last total."""
    sim, url = await start_simulator("1:2000:load=0:energy=2008")
    data: dict[str, Any] = {
        "buses": [
            {
                "name": "lab",
                "connect": f"{url}?timeout=0.3",
                "poll_interval": 0.1,
                "meters": [{"unit": 1}],
            }
        ],
        "bacnet": {"address": "127.0.0.1/32:0", "device_instance": 7},  # a free port below
        "state_dir": str(tmp_path),
    }
    # The BACnet face needs a port: any free one.

    data["bacnet"]["address"] = f"127.0.0.1/32:{free_port(socket.SOCK_DGRAM)}"
    first = Bridge(parse(data, "test"))
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await until(lambda: first.core.totals.saves >= 1, "the totals written")
    stop.set()
    await task
    assert TotalsFile(tmp_path).load()["lab_u1"].totals[(None, "energy_delivered")] == 2008.0

    sim.meters[1].set_energy(0.0)  # the meter glitches as the bridge comes back
    second = Bridge(parse(data, "test"))
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    try:
        state = second.states[0]
        await until(lambda: state.snapshot is not None, "the first read after the restart")
        assert state.snapshot is not None
        assert state.snapshot.readings["energy_delivered"] == 2008.0
        with pytest.raises(ConfigurationError, match="another bridge uses it"):
            await Bridge(parse(data, "test")).run(asyncio.Event())
    finally:
        stop.set()
        await task

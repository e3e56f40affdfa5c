"""Fixtures of the history tests: the bridge with a history (and its status page) in the
test's own event loop, polling simulated meters on a held clock that tests move from boundary
to boundary; and the bridge on a small filesystem of its own (a tmpfs in a private mount
namespace: ``diskbridge.py``) for the full and read-only disks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leviton_bridge.core.meter_state import CycleReport
from leviton_bridge.daemon import Bridge, parse
from leviton_bridge.history.face import HistoryFace
from leviton_bridge.simulator import MeterSimulator
from leviton_driver import Clocks
from tests.support import PATIENCE, free_port, until
from tests.support.inprocess import StartSimulator, start_simulator
from tests.support.statuspage import HeldClock

__all__ = ["start_simulator"]

INTERVAL = 300
"""The tests keep 5-minute intervals."""
EPOCH = 1_795_000_000 - 1000
"""The meters' wall clock is EPOCH + the held clock."""


@dataclass
class HistorySite:
    """A running bridge with a history, its simulated meters and their clock."""

    bridge: Bridge
    sim: MeterSimulator
    clock: HeldClock
    page: str
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def history(self) -> HistoryFace:
        face = self.bridge.face("history")
        assert isinstance(face, HistoryFace)
        return face

    def wall(self) -> float:
        return EPOCH + self.clock.now

    def next_boundary(self) -> int:
        return (int(self.wall()) // INTERVAL + 1) * INTERVAL

    async def polled(self, cycles: int = 2) -> None:
        poller = self.bridge.pollers[0]
        await poller.wait_for_cycle(poller.cycles + cycles)

    async def move_clock(self, wall: float) -> None:
        """Move the meters' clock to ``wall`` between two poll cycles."""
        await move_clock(self.bridge, self.clock, wall)

    async def at(self, wall: float) -> None:
        """Move the meters' clock to ``wall``; wait until they have been read there."""
        await self.move_clock(wall)
        await self.polled()

    async def written(self, boundary: int) -> None:
        """Wait until every row before ``boundary`` is in the file."""
        face = self.history
        await face.changes.wait_until(
            lambda: face.store.until is not None and face.store.until >= boundary
        )

    async def failed(self) -> str:
        """Wait until writing fails; the problem, in words."""
        face = self.history
        await face.changes.wait_until(lambda: face.problem is not None)
        assert face.problem is not None
        return face.problem

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.shield(self.task), PATIENCE)


async def move_clock(bridge: Bridge, clock: HeldClock, wall: float) -> None:
    """Move the meters' clock to ``wall`` at the end of a poll cycle, when no read is in
    flight: a read answered before the move but stamped after it would be a reading of the
    old moment at the new one (on a held clock that jumps minutes; milliseconds on a real
    one)."""
    poller = bridge.pollers[0]
    moved = asyncio.Event()

    def move(_report: CycleReport) -> None:
        if not moved.is_set():
            clock.now = wall - EPOCH
            moved.set()

    poller.cycle_listeners.append(move)
    try:
        await asyncio.wait_for(moved.wait(), PATIENCE)
    finally:
        poller.cycle_listeners.remove(move)


def site_config(url: str, *meters: dict[str, Any], **history: Any) -> dict[str, Any]:
    return {
        "buses": [
            {
                "name": "lab",
                "connect": f"{url}?timeout=0.2",
                "poll_interval": 0.1,
                "offline_after": 1,
                "meters": list(meters),
            }
        ],
        "bacnet": {"address": f"127.0.0.1/32:{free_port(socket.SOCK_DGRAM)}", "device_instance": 7},
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "history": {"interval": INTERVAL // 60, **history},
    }


async def start_site(config: dict[str, Any], sim: MeterSimulator, clock: HeldClock) -> HistorySite:
    bridge = Bridge(parse(config, "test"))
    clocks = Clocks(monotonic=clock, wall=lambda: EPOCH + clock.now)
    for poller in bridge.pollers:
        poller.meter_clocks = clocks
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    started = asyncio.create_task(bridge.started.wait())
    await asyncio.wait([started, task], return_when=asyncio.FIRST_COMPLETED, timeout=PATIENCE)
    if task.done():
        started.cancel()
        task.result()
    assert bridge.started.is_set()
    http = config["http"]["listen"]
    site = HistorySite(bridge, sim, clock, f"http://{http}", stop, task)
    await until(
        lambda: all(state.snapshot is not None for state in bridge.states), "every meter read"
    )
    return site


@pytest.fixture
async def lab(start_simulator: StartSimulator) -> tuple[MeterSimulator, str, HeldClock]:
    """Simulated meters on a held clock: a Series 2000 at 12 kW and a Series 8000-8."""
    clock = HeldClock()
    sim, url = await start_simulator("1:2000:load=12:energy=1000", "2:8000-8:load=8", clock=clock)
    return sim, url, clock


@pytest.fixture
async def running() -> AsyncIterator[list[HistorySite]]:
    """Sites started by a test, stopped when it ends."""
    sites: list[HistorySite] = []
    yield sites
    for site in sites:
        if not site.task.done():
            with contextlib.suppress(Exception):
                await site.close()


# -- the bridge on a small filesystem -------------------------------------------------------------

_MOUNT = """
mount -t tmpfs -o "size=$2,mode=0777" tmpfs "$1" || exit 1
if [ "$3" = ro ]; then mount -o remount,ro "$1" || exit 1; fi
exec "$4" "$5" "$1"
"""


class DiskBridge:
    """The bridge with its history on a tmpfs of its own (``diskbridge.py``, in a private
    mount namespace: ``unshare --mount --map-root-user``, so no root is needed and the
    machine's mounts are untouched), driven over its standard input."""

    def __init__(self, folder: Path, size: str, *, read_only: bool = False) -> None:
        unshare = shutil.which("unshare")
        assert unshare is not None, "unshare (util-linux) is needed for the disk tests"
        mount_point = folder / "disk"
        mount_point.mkdir()
        self.log = (folder / "diskbridge.log").open("w")
        self.process = subprocess.Popen(
            [
                unshare,
                "--mount",
                "--map-root-user",
                "--propagation",
                "private",
                "sh",
                "-c",
                _MOUNT,
                "sh",
                str(mount_point),
                size,
                "ro" if read_only else "rw",
                sys.executable,
                str(Path(__file__).with_name("diskbridge.py")),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        self.log_path = folder / "diskbridge.log"
        self.ready: dict[str, Any] = {}

    async def start(self) -> dict[str, Any]:
        self.ready = await self._answer()
        assert self.ready.get("ready"), self.ready
        return self.ready

    async def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), PATIENCE)
        if not line:
            raise AssertionError(
                "the bridge on its own tmpfs stopped (are user namespaces allowed? unshare "
                f"--mount --map-root-user):\n{self.log_path.read_text()}"
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return await self._answer()

    @property
    def page(self) -> str:
        return str(self.ready["page"])

    async def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                await self.ask(stop=True)
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                await asyncio.to_thread(self.process.wait, PATIENCE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
async def disk_bridges() -> AsyncIterator[list[DiskBridge]]:
    started: list[DiskBridge] = []
    yield started
    for bridge in started:
        await bridge.close()

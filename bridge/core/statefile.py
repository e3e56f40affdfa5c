"""What the bridge keeps on disk across a restart: the totals it last showed, per meter.

A meter's energy total never goes backwards on any face, also across a restart (a crash, a
``kill -9``, a watchdog restart) during a glitch: the glitch guards are seeded at start with
the totals last shown (``BridgeCore.prepare``), so that a meter answering 0 right after the
restart is held back at its last total instead of being published as a drop (which Home
Assistant's Energy dashboard reads as a meter reset, and the old total's return as a spike).

* ``StateDir``: the bridge's state directory (``state_dir``), held with a lock so that two
  bridges never share one: the second is refused with a clear error.
* ``TotalsFile``: ``totals.json`` in it, replaced atomically (written aside, fsync'd, renamed,
  the folder fsync'd): a crash at any moment leaves the old file or the new one, never half.
* ``TotalsKeeper``: hears every poll (a ``MeterListener``) and writes what changed at most
  every ``SAVE_INTERVAL_S``, and at shutdown. A file that cannot be written (a full disk, a
  read-only folder) costs a log line and a health note; the bridge goes on, and writing resumes
  by itself.

Each meter's entry names its program id: totals seed only the meter they came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from leviton_driver import Snapshot
from leviton_driver.catalogue import READINGS

from .meter_state import MeterState

_LOGGER = logging.getLogger(__name__)

SAVE_INTERVAL_S: Final = 2.0
"""At most this often, the totals that changed are written (a few milliseconds each time)."""
FILE_VERSION: Final = 1
TOTALS: Final = frozenset(key for key, reading in READINGS.items() if reading.total)

TotalKey = tuple[int | None, str]


class StateDirError(Exception):
    """The state directory cannot be had (another bridge holds it, or it cannot be made)."""


def total_name(point: int | None, key: str) -> str:
    return key if point is None else f"{point}/{key}"


def parse_total_name(name: str) -> TotalKey | None:
    point, _, key = name.rpartition("/")
    if key not in TOTALS:
        return None
    if not point:
        return None, key
    return (int(point), key) if point.isdigit() else None


def snapshot_totals(snapshot: Snapshot) -> dict[TotalKey, float]:
    """The totals of a poll (as the guards accepted them)."""
    totals: dict[TotalKey, float] = {
        (None, key): float(value)
        for key, value in snapshot.readings.items()
        if key in TOTALS and isinstance(value, int | float)
    }
    for point, values in snapshot.points.items():
        for key, value in values.items():
            if key in TOTALS and isinstance(value, int | float):
                totals[(point, key)] = float(value)
    return totals


@dataclass(slots=True)
class SavedTotals:
    """One meter's totals as last shown, and which meter they were."""

    program_id: int | None
    saved_at: float
    """Wall-clock time they were shown (seeds the guards' rate check)."""
    totals: dict[TotalKey, float] = field(default_factory=dict)

    def merged(self, other: SavedTotals) -> SavedTotals:
        """The higher of each total (the newer source wins where they disagree on the meter)."""
        newer, older = (self, other) if self.saved_at >= other.saved_at else (other, self)
        if older.program_id not in (None, newer.program_id):
            return newer
        totals = dict(older.totals)
        for key, value in newer.totals.items():
            totals[key] = max(value, totals.get(key, value))
        return SavedTotals(newer.program_id or older.program_id, newer.saved_at, totals)


class StateDir:
    """The bridge's state directory, locked for this bridge while it runs."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._lock: int | None = None

    def acquire(self) -> None:
        """Make the folder and lock it; ``StateDirError`` (in words) when it cannot be had."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / "bridge.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StateDirError(
                f"state_dir {self.path}: cannot be used ({err.strerror or err}); give a folder "
                "this user can write (state_dir: in the configuration, or $STATE_DIRECTORY)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateDirError(
                f"state_dir {self.path}: another bridge uses it"
                + (f" (process {holder})" if holder else "")
                + "; give each bridge a state_dir of its own"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd

    def release(self) -> None:
        fd, self._lock = self._lock, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return os.pread(fd, 32, 0).decode().strip()
    return ""


class TotalsFile:
    """``totals.json``: every meter's totals as last shown, replaced atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "totals.json"

    def load(self) -> dict[str, SavedTotals]:
        """What was saved (nothing when there is no file; a file that cannot be read is said
        and moved aside, never a reason not to start)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as err:
            _LOGGER.warning("%s cannot be read (%s); totals start from the meters", self.path, err)
            return {}
        try:
            data = json.loads(raw)
            meters = data["meters"]
            assert isinstance(meters, dict)
            return {str(meter_id): _entry(entry) for meter_id, entry in meters.items()}
        except (ValueError, KeyError, TypeError, AssertionError):
            aside = self.path.with_suffix(f".corrupt-{int(time.time())}")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            _LOGGER.warning(
                "%s is not a totals file this bridge wrote; moved aside to %s", self.path, aside
            )
            return {}

    def save(self, meters: Mapping[str, SavedTotals]) -> None:
        """Write the file anew, atomically (``OSError`` when it cannot be written)."""
        data: dict[str, Any] = {
            "version": FILE_VERSION,
            "meters": {
                meter_id: {
                    "program_id": saved.program_id,
                    "saved_at": saved.saved_at,
                    "totals": {total_name(*key): value for key, value in saved.totals.items()},
                }
                for meter_id, saved in meters.items()
            },
        }
        text = json.dumps(data, separators=(",", ":")).encode()
        aside = self.path.with_name(self.path.name + ".new")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(aside, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _entry(entry: Any) -> SavedTotals:
    totals: dict[TotalKey, float] = {}
    for name, value in entry["totals"].items():
        key = parse_total_name(str(name))
        if key is not None and isinstance(value, int | float) and not isinstance(value, bool):
            totals[key] = float(value)
    program_id = entry.get("program_id")
    return SavedTotals(
        program_id=program_id if isinstance(program_id, int) else None,
        saved_at=float(entry["saved_at"]),
        totals=totals,
    )


class TotalsKeeper:
    """Keeps ``totals.json`` current from the polls (a ``MeterListener``)."""

    def __init__(self, folder: Path, *, interval: float = SAVE_INTERVAL_S) -> None:
        self.file = TotalsFile(folder)
        self.interval = interval
        self.meters: dict[str, SavedTotals] = {}
        self.problem: str | None = None
        """Why the file could not be written last time (None once it could)."""
        self.saves = 0
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def load(self) -> dict[str, SavedTotals]:
        self.meters = self.file.load()
        return dict(self.meters)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="save totals")

    async def stop(self) -> None:
        """Write what is left (the bridge is stopping)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush()

    def note(self, state: MeterState) -> None:
        snapshot = state.snapshot
        if snapshot is None:
            return
        totals = snapshot_totals(snapshot)
        if not totals:
            return
        identity = state.identity
        program_id = identity.program_id if identity is not None else None
        known = self.meters.get(state.meter_id)
        if known is not None and known.program_id == program_id and known.totals == totals:
            return
        self.meters[state.meter_id] = SavedTotals(program_id, snapshot.time, totals)
        self._dirty = True
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            await asyncio.sleep(self.interval)

    async def _flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        meters = dict(self.meters)
        try:
            await asyncio.to_thread(self.file.save, meters)
        except OSError as err:
            self._dirty = True  # tried again with the next change
            problem = f"{self.file.path} cannot be written ({err.strerror or err})"
            if problem != self.problem:
                _LOGGER.warning("%s; totals are kept in memory and written once it can", problem)
            self.problem = problem
            return
        if self.problem is not None:
            _LOGGER.info("%s is written again", self.file.path)
            self.problem = None
        self.saves += 1

    # -- MeterListener ---------------------------------------------------------------------

    def meter_identified(self, state: MeterState) -> None:
        return None

    def meter_updated(self, state: MeterState) -> None:
        self.note(state)

    def meter_unavailable(self, state: MeterState) -> None:
        return None

"""The history's SQLite file: one row per meter per interval, daily rows, one transaction a cycle.

Why this layout:

* **Rows in time order.** ``intervals`` is keyed by ``(start, meter)`` (``WITHOUT ROWID``): a
  cycle appends its rows at the end of the table, so it writes a handful of pages, not one per
  meter. A meter's span is read by looking up each boundary's key (``_ROWS``): 96 lookups for a
  day, well under a millisecond.
* **One row per meter.** A Series 8000's metering points share their reading times, their
  quality and their restarts, so a row holds every series of a meter (a blob of each series'
  totals at the interval's end and its peak demand); the energy of an interval is the
  difference of two rows' totals, and a restart's own energy sits in ``restarts``.
* **Days.** ``days`` holds each complete local day's summary (``core.history.Summary``), written
  once the day is over, so that a month is 30 rows a meter; intervals are kept ``keep`` days,
  days ten years.
* **Durable.** WAL, ``synchronous=FULL``: a committed cycle survives ``kill -9`` and a power
  cut; one transaction a cycle, so a cycle is written whole or not at all.
* **One writer.** ``<file>.lock`` is locked (``flock``) while a bridge writes the file: a second
  bridge is refused (``StoreLocked``). The lock is a file of its own: closing any descriptor of
  the database file would drop SQLite's own locks on it.
* **A file that is not a store** (not SQLite, damaged, another program's, written with another
  interval) is moved aside (``<file>.corrupt-<time>``) with a log line, and a new one started.

Every read and write here is blocking: the face runs them in threads of their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from ..config.settings import HISTORY_DAYS_KEPT
from ..core.history import (
    IntervalRow,
    Known,
    RestartStart,
    SeriesEnd,
    Summary,
    day_start,
    fold_rows,
    local_day,
    missing_row,
)

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
APPLICATION_ID: Final = 0x4C564831
"""``PRAGMA application_id``: "LVH1", so that a SQLite file of another program is told apart."""
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meters(ref INTEGER PRIMARY KEY, meter_id TEXT NOT NULL UNIQUE, "
    "series TEXT, program_id INTEGER, first_start INTEGER)",
    "CREATE TABLE IF NOT EXISTS intervals(start INTEGER NOT NULL, ref INTEGER NOT NULL, "
    "flags INTEGER NOT NULL, before_ms INTEGER, after_ms INTEGER, data BLOB, "
    "PRIMARY KEY(start, ref)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS restarts(start INTEGER NOT NULL, ref INTEGER NOT NULL, "
    "read_ms INTEGER, data BLOB NOT NULL, PRIMARY KEY(start, ref)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS days(day INTEGER NOT NULL, ref INTEGER NOT NULL, "
    "state INTEGER NOT NULL, first_time INTEGER, first_read REAL, last_time INTEGER, "
    "last_read REAL, data BLOB NOT NULL, PRIMARY KEY(day, ref)) WITHOUT ROWID",
)
_ROWS: Final = (
    "WITH RECURSIVE b(t) AS (SELECT ? UNION ALL SELECT t + ? FROM b WHERE t + ? <= ?) "
    "SELECT b.t, i.flags, i.before_ms, i.after_ms, i.data, r.read_ms, r.data FROM b "
    "LEFT JOIN intervals i ON i.start = b.t AND i.ref = ? "
    "LEFT JOIN restarts r ON r.start = b.t AND r.ref = ? ORDER BY b.t"
)
"""A meter's rows at each boundary from the first to the last start: one key lookup each."""
_DAYS: Final = (
    "WITH RECURSIVE d(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM d WHERE n < ?) "
    "SELECT d.n, y.state, y.first_time, y.first_read, y.last_time, y.last_read, y.data FROM d "
    "LEFT JOIN days y ON y.day = d.n AND y.ref = ?"
)
"""A meter's daily rows: one key lookup a day (the table is in day order, every meter's)."""
_INSERT: Final = "INSERT OR REPLACE INTO intervals VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_RESTART: Final = "INSERT OR REPLACE INTO restarts VALUES (?, ?, ?, ?)"
DAY_S: Final = 86400
CORRUPT: Final = ("malformed", "not a database", "file is encrypted", "file is not a database")


class StoreLocked(Exception):
    """Another bridge writes this file."""


class StoreError(Exception):
    """The file cannot be opened, read or written now (in words)."""


# -- what a row holds, as bytes ------------------------------------------------------------------


@cache
def _series_struct(count: int) -> struct.Struct:
    """Each series' total delivered, total received (kWh, 64-bit) and peak demand (kW, 32-bit)
    at a row's end; NaN where unknown."""
    return struct.Struct("<" + "ddf" * count)


@cache
def _restart_struct(count: int) -> struct.Struct:
    return struct.Struct("<" + "dddd" * count)


@cache
def _day_struct(count: int) -> struct.Struct:
    """Each series' first and last known totals, its energy and its peak over a day."""
    return struct.Struct("<" + "ddddddf" * count)


_NAN: Final = math.nan


def _f(value: float | None) -> float:
    return _NAN if value is None else value


def _v(value: float) -> float | None:
    return None if value != value else value  # NaN: unknown


def encode_series(series: Sequence[SeriesEnd]) -> bytes:
    return _series_struct(len(series)).pack(
        *[_NAN if value is None else value for end in series for value in end]
    )


def encode_ends(
    totals: Sequence[tuple[float | None, float | None]], peaks: Sequence[float | None]
) -> bytes:
    """``encode_series`` of the series' totals and peaks, without making the series first."""
    return _series_struct(len(totals)).pack(
        *[
            _NAN if value is None else value
            for (delivered, received), peak in zip(totals, peaks, strict=True)
            for value in (delivered, received, peak)
        ]
    )


def decode_series(blob: bytes | None) -> tuple[SeriesEnd, ...]:
    if not blob:
        return ()
    values = [None if v != v else v for v in _series_struct(len(blob) // 20).unpack(blob)]
    new = tuple.__new__  # the named tuple without its constructor's Python call
    return tuple([new(SeriesEnd, values[i : i + 3]) for i in range(0, len(values), 3)])


def encode_restart(parts: Sequence[RestartStart]) -> bytes:
    values: list[float] = []
    for part in parts:
        values += (_f(part.tail[0]), _f(part.tail[1]), _f(part.first[0]), _f(part.first[1]))
    return _restart_struct(len(parts)).pack(*values)


def decode_restart(blob: bytes) -> tuple[RestartStart, ...]:
    values = _restart_struct(len(blob) // 32).unpack(blob)
    return tuple(
        RestartStart(
            tail=(_v(values[i]), _v(values[i + 1])), first=(_v(values[i + 2]), _v(values[i + 3]))
        )
        for i in range(0, len(values), 4)
    )


def row_of(record: tuple[Any, ...]) -> IntervalRow | None:
    """An ``intervals`` row joined with its ``restarts`` row (``_ROWS``); None when absent."""
    start, flags, before_ms, after_ms, data, read_ms, restart = record
    if flags is None:
        return None
    return IntervalRow(
        start=start,
        flags=flags,
        before_ms=before_ms,
        after_ms=after_ms,
        series=decode_series(data),
        restart=decode_restart(restart) if restart else None,
        restart_read_ms=read_ms,
    )


# -- days ------------------------------------------------------------------------------------------

_WORD_BITS: Final = {"estimated": 1, "gap": 2, "restart": 4, "interrupted": 16}
_BREAK_BEFORE: Final = 32
_BREAK_AFTER: Final = 64
_COMPLETE_START: Final = 128
_COMPLETE_END: Final = 256
_FIRST_ESTIMATED: Final = 512
_LAST_ESTIMATED: Final = 1024


def encode_day(
    summary: Summary,
) -> tuple[int, int | None, float | None, int | None, float | None, bytes]:
    """A day's summary as a ``days`` row (without its day and meter)."""
    state = sum(bit for word, bit in _WORD_BITS.items() if word in summary.words)
    first, last = summary.first, summary.last
    state |= _BREAK_BEFORE if summary.break_before_first else 0
    state |= _BREAK_AFTER if summary.break_after_last else 0
    state |= _COMPLETE_START if summary.complete_start else 0
    state |= _COMPLETE_END if summary.complete_end else 0
    state |= _FIRST_ESTIMATED if first is not None and first.estimated else 0
    state |= _LAST_ESTIMATED if last is not None and last.estimated else 0
    values: list[float] = []
    for index in range(summary.series):
        first_pair = first.totals[index] if first and index < len(first.totals) else (None, None)
        last_pair = last.totals[index] if last and index < len(last.totals) else (None, None)
        energy = summary.energy[index]
        values += (
            _f(first_pair[0]),
            _f(first_pair[1]),
            _f(last_pair[0]),
            _f(last_pair[1]),
            _f(energy[0]),
            _f(energy[1]),
            _f(summary.peak[index]),
        )
    return (
        state,
        first.time if first else None,
        first.read_at if first else None,
        last.time if last else None,
        last.read_at if last else None,
        _day_struct(summary.series).pack(*values),
    )


def decode_day(day: int, record: Sequence[Any]) -> Summary:
    state, first_time, first_read, last_time, last_read, data = record
    values = _day_struct(len(data) // 52).unpack(data)
    count = len(values) // 7
    rows = [values[i * 7 : i * 7 + 7] for i in range(count)]
    summary = Summary(
        start=day_start(day),
        end=day_start(day + 1),
        energy=[(_v(r[4]), _v(r[5])) for r in rows],
        peak=[_v(r[6]) for r in rows],
        words={word for word, bit in _WORD_BITS.items() if state & bit},
        break_before_first=bool(state & _BREAK_BEFORE),
        break_after_last=bool(state & _BREAK_AFTER),
        complete_start=bool(state & _COMPLETE_START),
        complete_end=bool(state & _COMPLETE_END),
    )
    if first_time is not None:
        summary.first = Known(
            time=first_time,
            totals=tuple((_v(r[0]), _v(r[1])) for r in rows),
            read_at=first_read,
            estimated=bool(state & _FIRST_ESTIMATED),
        )
    if last_time is not None:
        summary.last = Known(
            time=last_time,
            totals=tuple((_v(r[2]), _v(r[3])) for r in rows),
            read_at=last_read,
            estimated=bool(state & _LAST_ESTIMATED),
        )
    if summary.complete_start and summary.first is not None and summary.first.estimated:
        summary.words.add("estimated start")
    if summary.complete_end and summary.last is not None and summary.last.estimated:
        summary.words.add("estimated end")
    return summary


# -- the file ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class MeterInfo:
    """What the store knows of a meter (the ``meters`` table)."""

    ref: int
    meter_id: str
    series: list[int | None] | None = None
    program_id: int | None = None
    first_start: int | None = None


@dataclass(slots=True)
class Batch:
    """What one cycle writes: rows closed or resolved since the last one, and meter facts."""

    until: int
    """Every row starting before this boundary has been written once this batch is."""
    rows: dict[tuple[str, int], IntervalRow] = field(default_factory=dict)
    """By (meter id, start): new rows and rows whose end became known (written over)."""
    meters: dict[str, tuple[list[int | None], int | None]] = field(default_factory=dict)
    """Meter id: its series and program id, as last identified."""

    def merge(self, later: Batch) -> None:
        """Add a later batch (one not written yet) to this one."""
        self.until = max(self.until, later.until)
        self.rows.update(later.rows)
        self.meters.update(later.meters)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Written:
    """What a write did."""

    rows: int
    cycle_cpu_s: float
    """CPU time of the cycle's transaction (this thread's)."""
    rollup_cpu_s: float = 0.0
    """CPU time of the daily rows written after it (once a day)."""


def _is_corrupt(err: sqlite3.DatabaseError) -> bool:
    text = str(err).lower()
    return any(words in text for words in CORRUPT)


def _why(err: BaseException) -> str:
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err)


class StoreLock:
    """``<file>.lock``, held (``flock``) while a bridge writes the file."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """``StoreLocked`` when another bridge holds it; ``OSError`` when it cannot be made."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 32, 0).decode().strip()
            os.close(fd)
            raise StoreLocked(
                f"history.path {self.path.with_suffix('')}: another bridge writes it"
                + (f" (process {holder})" if holder else "")
                + "; give each bridge a history file of its own"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def move_aside(path: Path, why: str) -> Path:
    """Move a file that is not a usable store (and its WAL) aside; say so."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    path.replace(aside)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        with contextlib.suppress(OSError):
            if suffix == "-wal":
                extra.replace(aside.with_name(aside.name + suffix))
            else:
                extra.unlink()
    _LOGGER.warning(
        "history: %s is not a history store this bridge can use (%s); moved aside to %s, "
        "a new one is started",
        path,
        why,
        aside,
    )
    return aside


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    else:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection


class HistoryStore:
    """One connection to the history file: the writer's (``open``) or a reader's
    (``open_reader``). Not thread-safe: each is used by one thread at a time."""

    def __init__(self, path: str | Path, interval_s: int, *, keep_days: int = 400) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self.keep_days = keep_days
        self.lock = StoreLock(self.path)
        self.db: sqlite3.Connection | None = None
        self.meters: dict[str, MeterInfo] = {}
        self._refs: dict[int, MeterInfo] = {}
        self.until: int | None = None
        """Every row starting before this has been written (the last cycle's boundary)."""
        self.rolled_up_until: int | None = None
        """Days before this one (an ordinal) have their daily rows."""
        self._unrolled: set[tuple[int, int]] = set()
        """(meter, day) pairs with rows written since their daily row was (a day over is
        rolled up at the next write)."""
        self.readonly = False

    # -- opening ---------------------------------------------------------------------------------

    def open(self, meter_ids: Iterable[str] = ()) -> None:
        """Open (or make) the file to write: lock it, check it is a store of this interval
        (else move it aside and start anew), know every meter. ``StoreLocked`` when another
        bridge writes it; ``StoreError`` (in words) when it cannot be opened now."""
        if self.db is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock.acquire()
        except OSError as err:
            raise StoreError(f"{self.path} cannot be written ({_why(err)})") from None
        try:
            self._open_checked()
            self._know(meter_ids)
            self._unrolled = self._unrolled_since()
        except StoreError:
            self.close()
            raise

    def _open_checked(self) -> None:
        for _attempt in range(3):
            try:
                db = _connect(self.path, readonly=False)
            except sqlite3.Error as err:
                raise StoreError(f"{self.path} cannot be opened ({err})") from None
            try:
                problem = self._prepare(db)
            except sqlite3.DatabaseError as err:
                db.close()
                if _is_corrupt(err):
                    move_aside(self.path, str(err))
                    continue
                raise StoreError(f"{self.path} cannot be written ({err})") from None
            if problem is not None:
                db.close()
                move_aside(self.path, problem)
                continue
            self.db = db
            return
        raise StoreError(f"{self.path}: a new store could not be started")

    def _prepare(self, db: sqlite3.Connection) -> str | None:
        """Make or check the schema; a reason when the file is not a store to write on."""
        application = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if tables and application != APPLICATION_ID:
            return "another program's SQLite file"
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            if not tables:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for statement in _SCHEMA:
                db.execute(statement)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("interval_s", self.interval_s), ("created", time.time())],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            return f"schema version {version}, this bridge writes {SCHEMA_VERSION}"
        stored = meta.get("interval_s", self.interval_s)
        if stored != self.interval_s:
            return (
                f"its intervals last {int(stored) // 60} minutes and history.interval is "
                f"{self.interval_s // 60}"
            )
        self._load(db, meta)
        return None

    def _load(self, db: sqlite3.Connection, meta: dict[str, Any]) -> None:
        self.meters = {}
        self._refs = {}
        for ref, meter_id, series, program_id, first_start in db.execute(
            "SELECT ref, meter_id, series, program_id, first_start FROM meters"
        ):
            self.meters[meter_id] = MeterInfo(
                ref, meter_id, json.loads(series) if series else None, program_id, first_start
            )
        until = db.execute("SELECT max(start) FROM intervals").fetchone()[0]
        self.until = until + self.interval_s if until is not None else None
        rolled = meta.get("rolled_up_until")
        self.rolled_up_until = int(rolled) if rolled is not None else None

    def _know(self, meter_ids: Iterable[str]) -> None:
        new = [meter_id for meter_id in meter_ids if meter_id not in self.meters]
        if not new:
            return
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            for meter_id in new:
                ref = db.execute("INSERT INTO meters(meter_id) VALUES (?)", (meter_id,)).lastrowid
                assert ref is not None
                self.meters[meter_id] = MeterInfo(ref, meter_id)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def open_reader(self) -> None:
        """Open the file to read (it must exist): what the faces' queries and the report use."""
        if self.db is not None:
            return
        if not self.path.exists():
            raise StoreError(f"{self.path} does not exist (yet)")
        try:
            db = _connect(self.path, readonly=True)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as err:
            raise StoreError(f"{self.path} cannot be read ({err})") from None
        stored = meta.get("interval_s")
        if stored is not None:
            self.interval_s = int(stored)
        self._load(db, meta)
        self.db = db
        self.readonly = True

    def refresh(self) -> None:
        """Know what the writer added since (a reader)."""
        db = self._db()
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        self._load(db, meta)

    def close(self) -> None:
        db, self.db = self.db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self.lock.release()

    def _db(self) -> sqlite3.Connection:
        if self.db is None:
            raise StoreError(f"{self.path} is not open")
        return self.db

    def size(self) -> int:
        """Bytes on disk: the file and its WAL."""
        total = 0
        for name in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):
                total += name.stat().st_size
        return total

    # -- writing ---------------------------------------------------------------------------------

    def write(self, batch: Batch) -> Written:
        """Write a cycle in one transaction; then, once a day, the daily rows of the days that
        ended and the pruning of what is older than kept. ``StoreError`` (in words) when it
        cannot (nothing of the cycle is then written)."""
        started = time.thread_time()
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                days = self._write_rows(db, batch)
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            raise self._failed(err) from None
        self.until = max(self.until or batch.until, batch.until)
        cycle = time.thread_time() - started
        rollup = 0.0
        try:
            rollup = self._roll_up(days)
        except sqlite3.DatabaseError as err:
            raise self._failed(err) from None
        return Written(rows=len(batch.rows), cycle_cpu_s=cycle, rollup_cpu_s=rollup)

    def _failed(self, err: sqlite3.DatabaseError) -> StoreError:
        """A failed write, in words; a file found damaged is moved aside for a new one."""
        if _is_corrupt(err):
            self.close()
            with contextlib.suppress(OSError):
                move_aside(self.path, str(err))
            return StoreError(f"{self.path} was damaged ({err}); a new store is started")
        return StoreError(f"{self.path} cannot be written ({err})")

    def _write_rows(self, db: sqlite3.Connection, batch: Batch) -> set[tuple[int, int]]:
        """The batch's rows and meter facts; the (meter, day) pairs they touch."""
        interval = self.interval_s
        for meter_id, (series, program_id) in batch.meters.items():
            info = self._meter(db, meter_id)
            if info.series != series or info.program_id != program_id:
                db.execute(
                    "UPDATE meters SET series = ?, program_id = ? WHERE ref = ?",
                    (json.dumps(series), program_id, info.ref),
                )
                info.series, info.program_id = series, program_id
        rows: list[tuple[Any, ...]] = []
        restarts: list[tuple[Any, ...]] = []
        touched: set[tuple[int, int]] = set()
        firsts: dict[int, int] = {}
        days: dict[int, tuple[int, int]] = {}
        for (meter_id, start), row in batch.rows.items():
            info = self._meter(db, meter_id)
            ref = info.ref
            data = row.encoded if row.encoded is not None else encode_series(row.series)
            rows.append((start, ref, row.flags, row.before_ms, row.after_ms, data))
            if row.restart is not None:
                restarts.append((start, ref, row.restart_read_ms, encode_restart(row.restart)))
            if info.first_start is None or start < info.first_start:
                info.first_start = start
                firsts[ref] = start
            # The day it starts in, and the one its end starts (the same but at midnight).
            pair = days.get(start)
            if pair is None:
                pair = days[start] = (local_day(start), local_day(start + interval))
            touched.add((ref, pair[0]))
            touched.add((ref, pair[1]))
        db.executemany(_INSERT, rows)
        if restarts:
            db.executemany(_INSERT_RESTART, restarts)
        if firsts:
            db.executemany(
                "UPDATE meters SET first_start = ? WHERE ref = ?",
                [(start, ref) for ref, start in firsts.items()],
            )
        return touched

    def _meter(self, db: sqlite3.Connection, meter_id: str) -> MeterInfo:
        info = self.meters.get(meter_id)
        if info is None:
            ref = db.execute("INSERT INTO meters(meter_id) VALUES (?)", (meter_id,)).lastrowid
            assert ref is not None
            info = self.meters[meter_id] = MeterInfo(ref, meter_id)
        return info

    def _roll_up(self, touched: set[tuple[int, int]]) -> float:
        """Daily rows, in a transaction of their own: every meter's day once it is over (every
        row of it written), a day already over again when a row of it changed (an end total
        known later), and, once a day, pruning what is older than kept."""
        if self.until is None:
            return 0.0
        self._unrolled |= touched
        open_day = local_day(self.until)  # the day the next row starts in: not over yet
        new_day = self.rolled_up_until != open_day
        due: dict[int, set[int]] = {}
        for ref, day in self._unrolled:
            if day < open_day:
                due.setdefault(day, set()).add(ref)
        if not due and not new_day:
            return 0.0
        started = time.thread_time()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            records = []
            for day, refs in sorted(due.items()):
                for ref, summary in self._days_from_rows(day, refs).items():
                    records.append((day, ref, *encode_day(summary)))
            db.executemany("INSERT OR REPLACE INTO days VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
            if new_day:
                self._prune(db, open_day)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('rolled_up_until', ?)", (open_day,))
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self._unrolled = {(ref, day) for ref, day in self._unrolled if day >= open_day}
        if new_day:
            self.rolled_up_until = open_day
        return time.thread_time() - started

    def _unrolled_since(self) -> set[tuple[int, int]]:
        """At opening: the days over whose rows may have no daily row yet (the run before
        stopped before it rolled them up): the last few days before the next row's."""
        if self.until is None:
            return set()
        open_day = local_day(self.until)
        since = self.rolled_up_until if self.rolled_up_until is not None else open_day - 1
        days = range(max(since, open_day - 3), open_day)
        return {
            (info.ref, day)
            for info in self.meters.values()
            if info.first_start is not None
            for day in days
        }

    def _days_from_rows(self, day: int, refs: set[int]) -> dict[int, Summary]:
        """The summaries of one day of several meters from their intervals (each meter's rows
        by key: measured faster than one read of the whole day grouped in Python)."""
        summaries: dict[int, Summary] = {}
        for ref in sorted(refs):
            summary = self._day_from_rows(ref, day)
            if summary is not None:
                summaries[ref] = summary
        return summaries

    def _prune(self, db: sqlite3.Connection, today: int) -> None:
        assert self.until is not None
        cutoff = self.until - self.keep_days * DAY_S
        db.execute("DELETE FROM intervals WHERE start < ?", (cutoff,))
        db.execute("DELETE FROM restarts WHERE start < ?", (cutoff,))
        db.execute("DELETE FROM days WHERE day < ?", (today - HISTORY_DAYS_KEPT,))

    # -- reading ---------------------------------------------------------------------------------

    def _by_ref(self, ref: int) -> MeterInfo | None:
        by_ref = self._refs
        if len(by_ref) != len(self.meters):
            by_ref = self._refs = {info.ref: info for info in self.meters.values()}
        return by_ref.get(ref)

    def ref(self, meter_id: str) -> int | None:
        info = self.meters.get(meter_id)
        return info.ref if info is not None else None

    def rows(
        self, ref: int, first_start: int, last_start: int, *, fill_from: int | None = None
    ) -> tuple[IntervalRow | None, list[IntervalRow]]:
        """The rows starting in ``[first_start, last_start]`` and the row before them. A
        boundary without a row (the bridge did not run) reads as missing from ``fill_from``
        (the meter's first row) on, and is left out before it."""
        interval = self.interval_s
        first = first_start - interval
        records = (
            self._db().execute(_ROWS, (first, interval, interval, last_start, ref, ref)).fetchall()
        )
        previous: IntervalRow | None = None
        rows: list[IntervalRow] = []
        for record in records:
            row = row_of(record)
            if record[0] == first:
                previous = row
                continue
            if row is None:
                if fill_from is None or record[0] < fill_from:
                    continue
                row = missing_row(record[0])
            rows.append(row)
        return previous, rows

    def last_rows(self, ref: int, before: int, count: int) -> Iterator[IntervalRow]:
        """The meter's rows starting before ``before``, newest first, at most ``count``
        boundaries back (boundaries without a row skipped)."""
        interval = self.interval_s
        last = before - interval
        first = last - (count - 1) * interval
        _previous, rows = self.rows(ref, first, last)
        return reversed(rows)

    def day_summaries(
        self, ref: int, first_day: int, last_day: int, series: int, *, until: int | None = None
    ) -> list[Summary]:
        """One summary per day in ``[first_day, last_day]`` that has rows: the daily rows
        written, and for the days without one (today, a day not rolled up yet) from the
        intervals."""
        db = self._db()
        stored = {
            day: decode_day(day, record)
            for day, *record in db.execute(_DAYS, (first_day, last_day, ref))
            if record[-1] is not None
        }
        until = until if until is not None else self.until
        info = self._by_ref(ref)
        first_start = info.first_start if info is not None else None
        summaries: list[Summary] = []
        for day in range(first_day, last_day + 1):
            summary = stored.get(day)
            if (
                summary is None
                and until is not None
                and first_start is not None
                and day_start(day + 1) > first_start
                and day_start(day) < until
            ):
                summary = self._day_from_rows(ref, day, series=series, until=until)
            if summary is not None:
                summaries.append(summary)
        return summaries

    def _day_from_rows(
        self, ref: int, day: int, *, series: int = 0, until: int | None = None
    ) -> Summary | None:
        start, end = day_start(day), day_start(day + 1)
        interval = self.interval_s
        last = min(end, until if until is not None else end) - interval
        first = start - start % interval if start % interval else start
        if last < first:
            return None
        info = self._by_ref(ref)
        fill_from = info.first_start if info is not None else None
        previous, rows = self.rows(ref, first, last, fill_from=fill_from)
        if not rows and previous is None:
            return None
        count = max([series, *(len(row.series) for row in rows)])
        if previous is not None:
            count = max(count, len(previous.series))
        return fold_rows(rows, previous, start=start, end=end, series=count, interval_s=interval)


__all__ = [
    "Batch",
    "HistoryStore",
    "MeterInfo",
    "StoreError",
    "StoreLocked",
    "Written",
    "decode_day",
    "decode_series",
    "encode_day",
    "encode_ends",
    "encode_series",
    "move_aside",
]

"""The history face: hears every poll, writes every meter's interval at every boundary, and
lends the store to the other faces.

* **When a cycle runs.** At each interval boundary, once every meter that answers has been
  read past it (its total at the boundary is then known), or ``settle`` seconds after it for
  the meters that have not: their rows are written with the end total unknown, and written
  again once they answer. One transaction a cycle, in a thread of its own.
* **It never stops the bridge.** A file that cannot be written (a full disk, a read-only
  folder, a lost mount) costs a log line when it starts failing, one when it works again, and
  makes the face *down* (so ``/healthz`` notes it and ``/readyz`` says not ready: someone should
  free the disk, but polling and the other faces go on, so nothing restarts). The rows wait in
  memory (two days of them at most; older ones are dropped, and the log says so) and are
  written once the file can be: at the next boundary, or within ``RETRY_S``.
* **One bridge a file.** A second bridge on the same file is refused at start, naming the
  process that holds it.
* **The clock** is the meters' wall clock (``BusPoller.meter_clocks``), the one their readings
  are timed with: tests and the demo move it.

The face is the ``core.history.HistoryView`` the status page and the BACnet/IP device read
(registered as ``BridgeCore.history``): queries run in a thread of their own, on a read-only
connection (WAL: they never wait for a write).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar

from leviton_driver import ConfigurationError

from ..config.settings import HistoryConfig
from ..core.faces import FaceStatus, Figure
from ..core.history import (
    HistoryUnavailable,
    IntervalRow,
    OpenInterval,
    Quality,
    Summary,
    boundary_at_or_before,
)
from ..core.meter_state import Changes, MeterState
from .log import MeterLog, Reading
from .store import Batch, HistoryStore, StoreError, StoreLocked, Written

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..core.bridge import BridgeCore

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_S: Final = 10.0
"""Seconds between tries while the file cannot be written (real time)."""
TICK_S: Final = 1.0
"""How often the face looks at the clock when no poll arrives (real time)."""
KEEP_QUEUED_S: Final = 2 * 86400
"""While the file cannot be written, as many rows wait as this many seconds of boundaries make
for every meter."""
SEED_ROWS: Final = 192
"""Rows looked back at start for a meter's last real reading (two days of 15 minutes)."""


class HistoryFace:
    """The interval store as a face (see the module's docstring)."""

    def __init__(self, core: BridgeCore, config: HistoryConfig) -> None:
        self.core = core
        self.config = config
        self._interval_s = config.interval_s
        self.store = HistoryStore(config.path, config.interval_s, keep_days=config.keep)
        self.reader = HistoryStore(config.path, config.interval_s, keep_days=config.keep)
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="history-write")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="history-read")
        self.logs: dict[str, MeterLog] = {}
        polls = [bus.poll_interval for bus in core.config.buses] or [10.0]
        self.settle = min(config.interval_s / 2, 1.5 * max(polls) + 5)
        """Seconds after a boundary the cycle waits at most for meters to be read past it."""
        self._tolerance = {
            state.meter_id: max(1.5 * state.bus.poll_interval, 0.2) for state in core.states
        }
        self.next_boundary: int | None = None
        self._waiting: set[str] = set()
        """Meters that answer and are not read past ``next_boundary`` yet (``_arm``)."""
        self.queued: Batch | None = None
        """Rows not written yet (the next cycle's, or those a failing file could not take)."""
        self._writing: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._reader_cycles = -1
        self.started = False
        self.since: float | None = None
        self.problem: str | None = "not started"
        # figures
        self._cycles = 0
        self.rows_written = 0
        self.write_seconds = 0.0
        self.write_cpu_seconds = 0.0
        self.rollup_cpu_seconds = 0.0
        self.store_bytes = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.dropped_rows = 0
        self.changes = Changes()
        """Notified after every write, and every failure (tests wait on it)."""
        core.history = self

    # -- the clock ---------------------------------------------------------------------------

    def now(self) -> float:
        """The meters' wall clock (the one their readings are timed with)."""
        pollers = self.core.pollers
        return pollers[0].meter_clocks.wall() if pollers else time.time()

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the file's lock (``ConfigurationError`` when another bridge writes it), open it
        (a file that cannot be opened now only makes the face down), and resume every
        meter's series where the last run left it."""
        try:
            self.store.lock.acquire()
        except StoreLocked as err:
            raise ConfigurationError(str(err)) from None
        except OSError:
            pass  # the folder cannot be written now: said when opening fails below
        interval = self._interval_s
        since = boundary_at_or_before(self.now(), interval)
        self.next_boundary = since + interval
        for state in self.core.states:
            self.logs[state.meter_id] = MeterLog(
                state.meter_id, interval, self._tolerance[state.meter_id], since
            )
        try:
            resumed = await self._in_writer(self._open_and_resume)
        except StoreLocked as err:
            raise ConfigurationError(str(err)) from None
        except StoreError as err:
            self._failing(str(err))
        else:
            for meter_id, facts in resumed.items():
                self.logs[meter_id].resume(**facts)
            self.problem = None
            _LOGGER.info(
                "history: %s, %d-minute intervals, kept %d days",
                self.config.path,
                interval // 60,
                self.config.keep,
            )
        self.since = time.time()
        self.started = True
        self._arm(self.next_boundary)
        self._ticker = asyncio.create_task(self._tick(), name="history clock")

    async def stop(self) -> None:
        """Write what the last cycle left (the interval in progress is not written: the next
        run marks it interrupted), and let go of the file."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await self._writing
        if self.queued is not None and self.problem is None:
            with contextlib.suppress(Exception):
                await self._write()
        self.started = False
        await self._in_writer(self.store.close)
        await asyncio.get_running_loop().run_in_executor(self._reader_pool, self.reader.close)
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        if self.core.history is self:
            self.core.history = None

    def _open_and_resume(self) -> dict[str, dict[str, Any]]:
        """In the writer's thread: open the file, and what each meter's last rows say."""
        store = self.store
        store.open(self.logs)
        interval = self._interval_s
        facts: dict[str, dict[str, Any]] = {}
        for meter_id in self.logs:
            info = store.meters.get(meter_id)
            if info is None:
                continue
            last: IntervalRow | None = None
            seed: Reading | None = None
            if info.first_start is not None and store.until is not None:
                # The last few rows tell almost always; a meter silent for a while, more.
                rows = list(store.last_rows(info.ref, store.until, 4))
                if not any(row.end_known for row in rows):
                    rows = list(store.last_rows(info.ref, store.until, SEED_ROWS))
                for row in rows:
                    if last is None:
                        last = row
                    if not row.end_known:
                        continue
                    if row.flags & Quality.END_ESTIMATED:
                        break  # the reading after it is not kept: nothing to start from
                    offset = row.before_ms if row.before_ms is not None else row.after_ms
                    seed = Reading(
                        time=row.end(interval) + (offset or 0) / 1000,
                        totals=tuple((s.delivered, s.received) for s in row.series),
                        peaks=(),
                    )
                    break
            facts[meter_id] = {
                "series": info.series,
                "program_id": info.program_id,
                "last": last,
                "seed": seed,
            }
        return facts

    async def _in_writer(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer_pool, call)

    # -- MeterListener -------------------------------------------------------------------------

    def meter_identified(self, state: MeterState) -> None:
        log = self.logs.get(state.meter_id)
        if log is not None:
            log.identified(state)

    def meter_updated(self, state: MeterState) -> None:
        log = self.logs.get(state.meter_id)
        if log is None:
            return
        seen = log.seen
        log.updated(state)
        waiting = self._waiting
        boundary = self.next_boundary or 0
        if not seen and log.seen and log.open_start < boundary:
            waiting.add(state.meter_id)  # read for the first time: the cycle waits for it too
        if state.meter_id in waiting and log.open_start >= boundary:
            waiting.discard(state.meter_id)
            if not waiting:
                self._maybe_cycle()

    def meter_unavailable(self, state: MeterState) -> None:
        self._waiting.discard(state.meter_id)
        if not self._waiting:
            self._maybe_cycle()

    # -- cycles --------------------------------------------------------------------------------

    def _arm(self, boundary: int) -> None:
        """The meters the cycle at ``boundary`` waits for: those that answer, until each has
        been read past it (a set, so that each poll costs a lookup, not a look at every
        meter)."""
        waiting: set[str] = set()
        for meter_id, log in self.logs.items():
            state = self.core.state(meter_id)
            if log.seen and state is not None and state.available and log.open_start < boundary:
                waiting.add(meter_id)
        self._waiting = waiting

    def _due(self, now: float) -> int | None:
        """The boundary to write up to now (None: not yet). Every boundary before the latest
        one has had its ``settle`` time (settle is at most half an interval); the next one is
        due once every meter that answers has been read past it, or once its settle time is
        over."""
        boundary = self.next_boundary
        if boundary is None or not self.started or now < boundary:
            return None
        interval = self._interval_s
        latest = boundary_at_or_before(now, interval)
        if now >= latest + self.settle:
            return latest
        if latest > boundary:
            return latest - interval
        return None if self._waiting else latest

    def _maybe_cycle(self) -> None:
        until = self._due(self.now())
        if until is None:
            return
        batch = Batch(until=until)
        for meter_id, log in self.logs.items():
            while log.open_start < until:
                log.close()
            for start, row in log.take().items():
                batch.rows[(meter_id, start)] = row
            if log.facts_changed and log.series is not None:
                batch.meters[meter_id] = (log.series, log.program_id)
                log.facts_changed = False
        self.next_boundary = until + self._interval_s
        self._arm(self.next_boundary)
        self._queue(batch)
        self._kick()

    def _queue(self, batch: Batch) -> None:
        """Queue a cycle's rows. While the file cannot be written, keep as many rows as two
        days of boundaries make (the newest: memory stays bounded however long the disk stays
        full); a meter back after a month offline brings a month of rows at once, which a
        file that can be written takes whole."""
        if self.queued is None:
            self.queued = batch
        else:
            self.queued.merge(batch)
        if self.problem is None:
            return
        queued = self.queued
        room = max(1, len(self.logs)) * KEEP_QUEUED_S // self._interval_s
        if len(queued.rows) <= room:
            return
        old = sorted(queued.rows, key=lambda key: key[1])[: len(queued.rows) - room]
        for key in old:
            del queued.rows[key]
        self.dropped_rows += len(old)
        _LOGGER.warning(
            "history: %d rows dropped, the oldest of those waiting for %s (%s): at most %d "
            "days of rows wait in memory",
            len(old),
            self.config.path,
            self.problem,
            KEEP_QUEUED_S // 86400,
        )

    def _kick(self) -> None:
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write(), name="history write")

    async def _write(self) -> None:
        """Write what is queued, and what is queued meanwhile, until a write fails (the next
        cycle, or the retry, tries again) or nothing is left."""
        while self.queued is not None:
            batch, self.queued = self.queued, None
            started = time.monotonic()
            try:
                written = await self._in_writer(functools.partial(self._write_batch, batch))
            except (StoreLocked, StoreError) as err:
                self._requeue(batch)
                self._failing(str(err))
                return
            except Exception as err:  # a bug must not stop the history for good
                self._requeue(batch)
                _LOGGER.exception("history: writing failed")
                self._failing(f"{type(err).__name__}: {err}")
                return
            self.write_seconds = time.monotonic() - started
            self.write_cpu_seconds = written.cycle_cpu_s
            self.rollup_cpu_seconds = written.rollup_cpu_s
            self.rows_written += written.rows
            self._cycles += 1
            if self.problem is not None:
                _LOGGER.info("history: %s is written again", self.config.path)
                self.problem = None
                self.since = time.time()
            self.changes.notify()

    def _write_batch(self, batch: Batch) -> Written:
        """In the writer's thread: open the file if it is not (it could not be before), write."""
        store = self.store
        if store.db is None:
            store.open(self.logs)
        try:
            return store.write(batch)
        finally:
            self.store_bytes = store.size()

    def _requeue(self, batch: Batch) -> None:
        if self.queued is not None:
            batch.merge(self.queued)
        self.queued = batch

    def _failing(self, problem: str) -> None:
        self.write_errors += 1
        self.last_error = problem
        self.last_error_at = time.time()
        if problem != self.problem:
            _LOGGER.warning(
                "history: %s; polling and the other faces go on, the intervals wait in memory "
                "and are written once it can be",
                problem,
            )
            self.since = time.time()
        self.problem = problem
        self._retry_at = time.monotonic() + RETRY_S
        self.changes.notify()

    async def _tick(self) -> None:
        """Look at the clock when no poll does (every meter silent), and try a failing file
        again now and then."""
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._maybe_cycle()
                if (
                    self.problem is not None
                    and self.queued is not None
                    and time.monotonic() >= self._retry_at
                ):
                    self._retry_at = time.monotonic() + RETRY_S
                    self._kick()
            except Exception:
                _LOGGER.exception("history: a cycle failed")

    def retry_now(self) -> None:
        """Try a failing file again at once (what the retry timer does every ``RETRY_S``)."""
        self._kick()

    # -- status ------------------------------------------------------------------------------

    def status(self) -> FaceStatus:
        writing = self.started and self.problem is None
        queued = len(self.queued) if self.queued is not None else 0
        figures = [
            Figure("leviton_history_writing", "1 while the history file is written", writing),
            Figure(
                "leviton_history_rows_written",
                "Interval rows written (a meter's interval; written again when its end became "
                "known later)",
                self.rows_written,
                counter=True,
            ),
            Figure(
                "leviton_history_cycles",
                "Cycles written (one a boundary)",
                self._cycles,
                counter=True,
            ),
            Figure(
                "leviton_history_write_seconds",
                "How long the last cycle's write took (its transaction, in its thread)",
                self.write_seconds,
            ),
            Figure(
                "leviton_history_write_cpu_seconds",
                "CPU time of the last cycle's transaction",
                self.write_cpu_seconds,
            ),
            Figure(
                "leviton_history_store_bytes",
                "Size of the history file and its write-ahead log",
                self.store_bytes,
            ),
            Figure("leviton_history_queued_rows", "Rows waiting to be written", queued),
            Figure(
                "leviton_history_write_errors",
                "Cycles the file could not take (a full disk, a read-only folder, ...)",
                self.write_errors,
                counter=True,
            ),
            Figure(
                "leviton_history_last_write_error_timestamp_seconds",
                "When writing last failed (0: never)",
                self.last_error_at or 0.0,
            ),
            Figure(
                "leviton_history_dropped_rows",
                "Rows dropped after waiting too long for a file that could not take them",
                self.dropped_rows,
                counter=True,
            ),
        ]
        if self.last_error is not None:
            figures.append(
                Figure(
                    "leviton_history_last_write_error_info",
                    "The last write error, in words (always 1)",
                    1,
                    labels={"error": self.last_error[:200]},
                )
            )
        summary = (
            f"{'writing' if writing else 'not writing'} {self.config.path} every "
            f"{self._interval_s // 60} min"
        )
        return FaceStatus(
            key="history",
            title="History",
            up=writing,
            since=self.since,
            summary=summary,
            problem=None if writing else self.problem,
            details={
                "path": self.config.path,
                "interval_minutes": self._interval_s // 60,
                "keep_days": self.config.keep,
                "rows_written": self.rows_written,
                "queued_rows": queued,
                "store_bytes": self.store_bytes,
                "last_write_error": self.last_error,
            },
            figures=figures,
        )

    # -- HistoryView: what the other faces read --------------------------------------------------

    @property
    def interval_s(self) -> int:
        return self._interval_s

    @property
    def cycles(self) -> int:
        return self._cycles

    def series(self, meter_id: str) -> list[int | None] | None:
        log = self.logs.get(meter_id)
        if log is not None and log.seen and log.series is not None:
            return list(log.series)
        info = self.store.meters.get(meter_id)
        return list(info.series) if info is not None and info.series else None

    def span(self, meter_id: str) -> tuple[int, int] | None:
        info = self.store.meters.get(meter_id)
        until = self.store.until
        if info is None or info.first_start is None or until is None:
            return None
        last = until - self._interval_s
        return (info.first_start, last) if last >= info.first_start else None

    def open_interval(self, meter_id: str) -> OpenInterval | None:
        log = self.logs.get(meter_id)
        return log.open_interval() if log is not None else None

    async def _read(self, call: Callable[[HistoryStore], T]) -> T:
        def run() -> T:
            reader = self.reader
            try:
                if reader.db is None:
                    reader.open_reader()
                    self._reader_cycles = self._cycles
                elif self._reader_cycles != self._cycles:
                    reader.refresh()
                    self._reader_cycles = self._cycles
                return call(reader)
            except StoreError as err:
                raise HistoryUnavailable(str(err)) from None
            except Exception as err:
                reader.close()
                raise HistoryUnavailable(f"{self.config.path} cannot be read ({err})") from None

        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, run)

    async def intervals(
        self, meter_id: str, first_start: int, last_start: int
    ) -> tuple[IntervalRow | None, list[IntervalRow]]:
        def query(reader: HistoryStore) -> tuple[IntervalRow | None, list[IntervalRow]]:
            info = reader.meters.get(meter_id)
            if info is None or reader.until is None:
                return None, []
            last = min(last_start, reader.until - self._interval_s)
            if last < first_start:
                return None, []
            return reader.rows(info.ref, first_start, last, fill_from=info.first_start)

        return await self._read(query)

    async def days(self, meter_id: str, first_day: int, last_day: int) -> list[Summary]:
        series = len(self.series(meter_id) or [None])

        def query(reader: HistoryStore) -> list[Summary]:
            info = reader.meters.get(meter_id)
            if info is None:
                return []
            return reader.day_summaries(info.ref, first_day, last_day, series)

        return await self._read(query)


__all__ = ["HistoryFace"]

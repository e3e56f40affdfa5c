"""Polling every configured meter: buses concurrently, each bus one request at a time.

A meter that stops answering is backed off (tried every 2nd, 4th, ... cycle, at most every
``MAX_BACKOFF_CYCLES``), so it costs its bus at most one timeout per cycle and the other meters
keep their rate. Publishers (MQTT, BACnet) subscribe as ``MeterListener``s.

What each cycle did is reported as a ``CycleReport`` (which meters were tried, whether they
answered, how many requests each try cost the bus, which were backed off): to the
``BusPoller.cycle_listeners``, as ``BusPoller.last_cycle``, and to coroutines waiting in
``BusPoller.wait_for_cycle``. A status page (and the tests) watch polling through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from leviton_driver import (
    IDENTITY_CHECK_INTERVAL_S,
    Bus,
    DemandResetResult,
    ExceptionResponseError,
    LevitonError,
    LevitonMeter,
    MeterError,
    MeterTimeoutError,
    async_configured_meter,
    async_load_profile,
    async_probe_meter,
    no_answer_error,
)

from .meter_state import Attempt, Changes, CycleReport, MeterListener, MeterState, ResetOutcome
from .settings import BusConfig

_LOGGER = logging.getLogger(__name__)

MAX_BACKOFF_CYCLES: Final = 32
#: Seconds after a successful reset during which another command for that meter is coalesced.
RESET_COALESCE_S: Final = 5.0
#: Exception codes (illegal function, illegal address) that say the register map is not the
#: one this meter has: another kind of meter answers at the unit id.
_OTHER_MAP_CODES: Final = frozenset({1, 2})


class BusPoller:
    """Polls the meters of one bus, one after another, every poll interval; runs peak-demand
    resets between two polls."""

    def __init__(
        self,
        config: BusConfig,
        listeners: Sequence[MeterListener],
        warned_profiles: set[str | None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.bus = Bus(config.connect)
        self.listeners = listeners
        self.warned_profiles = warned_profiles if warned_profiles is not None else set()
        """Provisional profiles already warned about (shared by the pollers of one bridge)."""
        self.states = [MeterState(config=meter, bus=config) for meter in config.meters]
        self.clock = clock
        self.cycles = 0
        """Cycles started."""
        self.last_cycle: CycleReport | None = None
        """The report of the last cycle that finished."""
        self.cycle_listeners: list[Callable[[CycleReport], None]] = []
        """Called with each cycle's report when it finishes (on the event loop; must not block)."""
        self._cycle_done = Changes()
        self._prepared = False
        self._running = False
        self._resets: deque[tuple[MeterState, asyncio.Future[DemandResetResult]]] = deque()
        self._reset_queued = asyncio.Event()

    async def async_prepare(self) -> None:
        """Make the meters the configuration names by their series, so that the publishers
        can show them before they answer (nothing is sent). Once; ``run`` does it if nobody
        did before."""
        if self._prepared:
            return
        self._prepared = True
        for state in self.states:
            try:
                state.meter = await self._configured_meter(state)
            except LevitonError as err:  # a profile that cannot be read: said at each poll
                state.last_error = str(err)

    async def _configured_meter(self, state: MeterState) -> LevitonMeter | None:
        config = state.config
        return await async_configured_meter(
            self.bus.unit(config.unit),
            unit_id=config.unit,
            where=self.bus.url,
            series=config.series,
            profile_path=config.profile,
            trace=self.bus.connection.trace,
        )

    async def run(self) -> None:
        """Poll until cancelled. Resets asked for meanwhile run between two polls, and at once
        while the bus waits for its next cycle."""
        self._running = True
        try:
            await self.async_prepare()
            while True:
                started = self.clock()
                try:
                    await self.poll_once()
                except Exception:  # a bug must not stop the polling of this bus for good
                    _LOGGER.exception("polling %s failed; trying again next cycle", self.bus.url)
                await self._idle_until(started + self.config.poll_interval)
        finally:
            self._running = False
            for _state, future in self._resets:
                future.cancel()
            self._resets.clear()
            await self.bus.async_close()

    async def _idle_until(self, deadline: float) -> None:
        """Wait for the next cycle, running the resets that arrive meanwhile (while the wait
        lasts: the bus is free then)."""
        while True:
            while self._resets and self.clock() < deadline:
                await self._run_next_reset()
            remaining = deadline - self.clock()
            if remaining <= 0:
                return
            self._reset_queued.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reset_queued.wait(), remaining)

    async def poll_once(self) -> CycleReport:
        """Poll every meter that is not backed off, once, and run at most one waiting reset
        (after the poll during which it arrived); report the cycle."""
        self.cycles += 1
        started = self.clock()
        attempts: list[Attempt] = []
        backed_off: list[str] = []
        reset_ran = False
        for state in self.states:
            if state.skip_cycles > 0:
                state.skip_cycles -= 1
                backed_off.append(state.meter_id)
                continue
            before = self.bus.connection.trace.requests
            answered = await self.poll_meter(state)
            attempts.append(
                Attempt(
                    meter_id=state.meter_id,
                    answered=answered,
                    requests=self.bus.connection.trace.requests - before,
                )
            )
            if self._resets and not reset_ran:
                # One reset a cycle (more while the bus idles between cycles): resets of many
                # meters at once delay each meter's next poll by one reset at most, rather
                # than starving the bus.
                reset_ran = True
                await self._run_next_reset()
        report = CycleReport(
            bus=self.config.name,
            number=self.cycles,
            attempts=tuple(attempts),
            backed_off=tuple(backed_off),
            seconds=self.clock() - started,
        )
        self.last_cycle = report
        for listener in self.cycle_listeners:
            listener(report)
        self._cycle_done.notify()
        return report

    async def wait_for_cycle(self, number: int) -> CycleReport:
        """Wait until cycle ``number`` (counted from 1) has finished; the last cycle's report."""
        await self._cycle_done.wait_until(
            lambda: self.last_cycle is not None and self.last_cycle.number >= number
        )
        assert self.last_cycle is not None
        return self.last_cycle

    # -- one meter ---------------------------------------------------------------------------

    async def poll_meter(self, state: MeterState) -> bool:
        """Read one meter (identifying it first where needed); whether it answered."""
        async with state.lock:
            try:
                meter = await self._verified_meter(state)
                # One more try within the poll while the meter is shown online (a lost frame
                # is not an outage); once it shows offline, a try costs one request.
                state.snapshot = await meter.async_read(retry=state.available)
            except LevitonError as err:
                self._failed(state, err)
                return False
            self._answered(state, meter)
        for listener in self.listeners:
            listener.meter_updated(state)
        return True

    async def _verified_meter(self, state: MeterState) -> LevitonMeter:
        """The meter to read: identified, and still the one at its unit id.

        A meter can be swapped for another at the same unit id while the bridge runs. Cheap
        checks (``async_check_identity``: one or two requests) run every
        ``IDENTITY_CHECK_INTERVAL_S``, after two failed polls in a row (a swap takes the meter
        off the bus for longer than a lost frame does) and after an implausible total was held
        back (another meter's lower total); a full
        identification runs after every offline period and after an exception 01/02 answer
        (another kind of meter). A silent meter costs one request either way.
        """
        meter = state.meter
        if meter is None or meter.identity is None:
            return await self._identify(state)
        if state.identify_again:
            return await self._identify_again(state, meter, None)
        if state.check_identity or (
            self.clock() - state.identity_checked_at >= IDENTITY_CHECK_INTERVAL_S
        ):
            check = await meter.async_check_identity()
            state.identity_checked_at = self.clock()
            state.check_identity = False
            if not check.same:
                return await self._identify_again(state, meter, check.change)
        return meter

    def _answered(self, state: MeterState, meter: LevitonMeter) -> None:
        state.read_at = self.clock()
        came_back = not state.available
        state.available = True
        if state.failures and state.failures < state.bus.offline_after:
            _LOGGER.debug(
                "%s answers again after %d failed poll(s)", state.config.name, state.failures
            )
        state.failures = 0
        state.skip_cycles = 0
        state.last_error = None
        if came_back and state.errors:
            _LOGGER.info("%s answers again", state.config.name)
        if meter.suppressed > state.suppressed_seen:
            # A total lower than the last one was held back: a glitch, or another meter
            # with a lower total at this unit id. The next poll checks which.
            state.suppressed_seen = meter.suppressed
            state.check_identity = True

    async def _identify(self, state: MeterState) -> LevitonMeter:
        """Identify the meter; a silent one costs one request (and one timeout)."""
        config = state.config
        await self.bus.async_connect()
        meter = state.meter
        if meter is None:
            meter = await self._probe(state)
        else:
            try:
                await meter.async_ping()
            except MeterTimeoutError as err:
                raise no_answer_error(self.bus.url, config.unit) from err
            await meter.async_identify()
        self._adopt(state, meter)
        return meter

    async def _probe(self, state: MeterState) -> LevitonMeter:
        """A new meter object for the unit id, identified: one request if nothing answers."""
        config = state.config
        profile = await async_load_profile(config.profile) if config.profile else None
        meter = await async_probe_meter(
            self.bus.unit(config.unit),
            unit_id=config.unit,
            where=self.bus.url,
            profile=profile,
            trace=self.bus.connection.trace,
        )
        if meter is None:
            raise no_answer_error(self.bus.url, config.unit)
        return meter

    async def _identify_again(
        self, state: MeterState, known: LevitonMeter, change: str | None
    ) -> LevitonMeter:
        """Identify afresh; keep ``known`` (and its totals' guards) if it is the same meter,
        else adopt the new one and say so, once."""
        config = state.config
        await self.bus.async_connect()
        if config.series == "auto":
            fresh = await self._probe(state)
        else:
            configured = await self._configured_meter(state)
            assert configured is not None
            try:
                await configured.async_ping()
            except MeterTimeoutError as err:
                raise no_answer_error(self.bus.url, config.unit) from err
            await configured.async_identify()
            fresh = configured
        state.identify_again = False
        state.check_identity = False
        state.identity_checked_at = self.clock()
        difference = fresh.differs_from(known)
        if difference is None:
            return known
        _LOGGER.warning(
            "%s: another meter answers at unit %s on %s (%s); its readings start afresh",
            config.name,
            config.unit,
            self.bus.url,
            difference if change is None else change,
        )
        state.snapshot = None
        state.suppressed_seen = 0
        state.last_reset = None
        self._adopt(state, fresh)
        return fresh

    def _adopt(self, state: MeterState, meter: LevitonMeter) -> None:
        """Take ``meter`` (identified) as the one at the state's unit id; tell the listeners."""
        config = state.config
        state.meter = meter
        state.identity_checked_at = self.clock()
        state.suppressed_seen = meter.suppressed
        identity = meter.identity
        _LOGGER.info(
            "%s: unit %s on %s is a Leviton %s%s",
            config.name,
            config.unit,
            self.bus.url,
            meter.model_label,
            f" ({identity.model})" if identity and identity.model else "",
        )
        for note in identity.notes if identity else ():
            # The provisional Series 8000 map gives wrong readings on a real meter: say it loud,
            # once per profile rather than once per meter.
            if identity is not None and identity.provisional_profile and "PROVISIONAL" in note:
                if identity.profile not in self.warned_profiles:
                    self.warned_profiles.add(identity.profile)
                    _LOGGER.warning("%s (first seen on %s)", note, config.name)
                continue
            _LOGGER.info("%s: %s", config.name, note)
        for listener in self.listeners:
            listener.meter_identified(state)

    def _failed(self, state: MeterState, err: LevitonError) -> None:
        """Count a failed poll; after ``offline_after`` in a row the meter is offline and
        backed off (tried every 2nd, 4th, ... cycle, at most every ``MAX_BACKOFF_CYCLES``)."""
        offline_after = state.bus.offline_after
        state.errors += 1
        state.failed_polls[getattr(err, "kind", "other")] += 1  # for the status page
        state.failures += 1
        state.last_error = str(err)
        if state.failures >= 2:
            state.check_identity = True
        if isinstance(err, ExceptionResponseError) and err.code in _OTHER_MAP_CODES:
            state.identify_again = True  # a register map this meter should have is refused
        if not isinstance(err, MeterError) and state.meter is not None:
            state.meter.identity = None  # e.g. a profile problem: identify again next time
        if state.failures < offline_after:
            _LOGGER.debug(
                "%s: %s (failed poll %d of %d before it shows offline)",
                state.config.name,
                err,
                state.failures,
                offline_after,
            )
            return
        state.skip_cycles = min(2 ** (state.failures - offline_after), MAX_BACKOFF_CYCLES) - 1
        state.identify_again = state.meter is not None and state.meter.identity is not None
        if state.available or state.failures == offline_after:
            state.available = False
            _LOGGER.warning("%s: %s (retrying with backoff)", state.config.name, err)
            for listener in self.listeners:
                listener.meter_unavailable(state)

    # -- peak-demand reset -----------------------------------------------------------------

    async def reset_peak_demand(self, state: MeterState) -> ResetOutcome:
        """Reset a meter's peak demand: between two polls while the poller runs (at once
        otherwise). A command that arrives while a reset of that meter runs, or within
        ``RESET_COALESCE_S`` of one that succeeded, gets that reset's result, marked
        coalesced: a burst of commands is one reset."""
        running = state.reset_running
        if running is not None and not running.done():
            return ResetOutcome(await asyncio.shield(running), coalesced=True)
        if state.last_reset is not None:
            finished, result = state.last_reset
            if self.clock() - finished < RESET_COALESCE_S:
                return ResetOutcome(result, coalesced=True)
        future: asyncio.Future[DemandResetResult] = asyncio.get_running_loop().create_future()
        state.reset_running = future
        if self._running:
            self._resets.append((state, future))
            self._reset_queued.set()
        else:
            await self._run_reset(state, future)
        return ResetOutcome(await asyncio.shield(future), coalesced=False)

    async def _run_next_reset(self) -> None:
        state, future = self._resets.popleft()
        await self._run_reset(state, future)

    async def _run_reset(
        self, state: MeterState, future: asyncio.Future[DemandResetResult]
    ) -> None:
        if future.done():
            return
        try:
            async with state.lock:
                meter = state.meter
                if meter is None or meter.identity is None:
                    meter = await self._identify(state)
                result = await meter.async_reset_peak_demand()
                state.snapshot = meter.last
                state.read_at = self.clock()
                state.available = True
                state.failures = 0
        except Exception as err:  # the caller reports it; the poller goes on
            future.set_exception(err)
            future.exception()  # retrieved: coalesced commands may have gone
            return
        state.last_reset = (self.clock(), result)
        future.set_result(result)
        for listener in self.listeners:
            listener.meter_updated(state)

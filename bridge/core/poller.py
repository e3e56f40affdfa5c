"""Polling every configured meter: buses concurrently, each bus one request at a time.

How each meter is watched (retry within a poll, failed polls before it shows offline, backoff
of a silent meter, identity checks, a swapped meter) is the driver's ``MeterSupervisor``: this
poller only runs the bus and tells the faces (``MeterListener``s) what each poll came to.

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
    Bus,
    Clocks,
    DemandResetResult,
    LevitonError,
    LevitonMeter,
    MeterSupervisor,
    SupervisionSettings,
    Verdict,
    async_configured_meter,
    async_identify_meter,
    async_load_profile,
)

from ..config.settings import BusConfig, MeterConfig, default_meter_name
from .faces import MeterListener
from .meter_state import Attempt, Changes, CycleReport, MeterState

_LOGGER = logging.getLogger(__name__)

#: Seconds after a successful reset during which another command for that meter is coalesced.
RESET_COALESCE_S: Final = 5.0


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
        self.clock = clock
        self.meter_clocks = Clocks()
        """The clocks the meters read time from (tests and the demo give their own)."""
        self.settings = SupervisionSettings(offline_after=config.offline_after)
        """How the meters are watched: the driver's defaults, and this bus's ``offline_after``."""
        self.states = [
            MeterState(config=meter, bus=config, supervisor=self._supervisor(meter))
            for meter in config.meters
        ]
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

    def _supervisor(self, config: MeterConfig) -> MeterSupervisor:
        async def identify() -> LevitonMeter:
            await self.bus.async_connect()
            profile = await async_load_profile(config.profile) if config.profile else None
            return await async_identify_meter(
                self.bus.unit(config.unit),
                unit_id=config.unit,
                where=self.bus.url,
                series=config.series,
                profile=profile,
                trace=self.bus.connection.trace,
                clocks=self.meter_clocks,
            )

        # Log lines name the meter, its bus and its unit id (two buses may both have a unit 1);
        # a meter without a name of its own is called that already.
        name = config.name
        if name != default_meter_name(self.config.name, config.unit):
            name = f"{name} (bus {self.config.name}, unit {config.unit})"
        return MeterSupervisor(
            name=name,
            identify=identify,
            settings=self.settings,
            interval=self.config.poll_interval,
            clock=lambda: self.clock(),  # tests step the poller's clock after it is made
        )

    async def async_prepare(self) -> None:
        """Make the meters the configuration names by their series, so that the faces can
        show them before they answer (nothing is sent). Once; ``run`` does it if nobody did
        before."""
        if self._prepared:
            return
        self._prepared = True
        for state in self.states:
            config = state.config
            try:
                state.supervisor.meter = await async_configured_meter(
                    self.bus.unit(config.unit),
                    unit_id=config.unit,
                    where=self.bus.url,
                    series=config.series,
                    profile_path=config.profile,
                    trace=self.bus.connection.trace,
                    clocks=self.meter_clocks,
                )
            except LevitonError as err:  # a profile that cannot be read: said at each poll
                state.supervisor.last_error = str(err)

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
            if not state.supervisor.due():
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
        """Read one meter (the supervisor identifies it first, or again, where its policy
        says); tell the listeners what came of it; whether it answered."""
        async with state.lock:
            outcome = await state.supervisor.async_poll()
            if outcome.replaced is not None:
                state.snapshot = None  # the old meter's: its totals never mix with the new one's
                state.last_reset = None
            if outcome.verdict is Verdict.READ:
                state.snapshot = outcome.snapshot
                state.read_at = self.clock()
        if outcome.identified:
            self._identified(state)
        if outcome.verdict is Verdict.READ:
            for listener in self.listeners:
                listener.meter_updated(state)
            return True
        if outcome.went_offline:
            for listener in self.listeners:
                listener.meter_unavailable(state)
        return False

    def _identified(self, state: MeterState) -> None:
        """Say what answers at the unit id (a provisional register map once per profile, loud);
        tell the listeners."""
        config, meter = state.config, state.meter
        identity = meter.identity if meter is not None else None
        if meter is None or identity is None:
            return
        _LOGGER.info(
            "%s: unit %s on %s is a Leviton %s%s",
            config.name,
            config.unit,
            self.bus.url,
            meter.model_label,
            f" ({identity.model})" if identity.model else "",
        )
        for note in identity.notes:
            # The provisional Series 8000 map gives wrong readings on a real meter: say it loud,
            # once per profile rather than once per meter.
            if identity.provisional_profile and "PROVISIONAL" in note:
                if identity.profile not in self.warned_profiles:
                    self.warned_profiles.add(identity.profile)
                    _LOGGER.warning("%s (first seen on %s)", note, config.name)
                continue
            _LOGGER.info("%s: %s", config.name, note)
        for listener in self.listeners:
            listener.meter_identified(state)

    # -- peak-demand reset -----------------------------------------------------------------

    async def reset_peak_demand(self, state: MeterState) -> tuple[DemandResetResult, bool]:
        """Reset a meter's peak demand: between two polls while the poller runs (at once
        otherwise). A command that arrives while a reset of that meter runs, or within
        ``RESET_COALESCE_S`` of one that succeeded, gets that reset's result, marked
        coalesced: a burst of commands is one reset. Returns (result, coalesced); raises the
        driver's error when the reset failed."""
        running = state.reset_running
        if running is not None and not running.done():
            return await asyncio.shield(running), True
        if state.last_reset is not None:
            finished, result = state.last_reset
            if self.clock() - finished < RESET_COALESCE_S:
                return result, True
        future: asyncio.Future[DemandResetResult] = asyncio.get_running_loop().create_future()
        state.reset_running = future
        if self._running:
            self._resets.append((state, future))
            self._reset_queued.set()
        else:
            await self._run_reset(state, future)
        return await asyncio.shield(future), False

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
                supervisor = state.supervisor
                result = await supervisor.async_reset_peak_demand()
                meter = supervisor.meter
                state.snapshot = meter.last if meter is not None else state.snapshot
                state.read_at = self.clock()
        except Exception as err:  # the caller reports it; the poller goes on
            future.set_exception(err)
            future.exception()  # retrieved: coalesced commands may have gone
            return
        state.last_reset = (self.clock(), result)
        future.set_result(result)
        for listener in self.listeners:
            listener.meter_updated(state)

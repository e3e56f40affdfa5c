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
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from leviton_driver import (
    Bus,
    DemandResetResult,
    Identity,
    LevitonError,
    LevitonMeter,
    MeterError,
    MeterTimeoutError,
    Snapshot,
    async_configured_meter,
    async_load_profile,
    async_probe_meter,
    no_answer_error,
)

from .settings import BusConfig, MeterConfig

_LOGGER = logging.getLogger(__name__)

MAX_BACKOFF_CYCLES: Final = 32


@dataclass(eq=False)
class MeterState:
    """What the bridge knows of one configured meter."""

    config: MeterConfig
    bus: BusConfig
    meter: LevitonMeter | None = None
    """The meter: from its configured series at start (not yet identified), or once it has
    answered when the series is ``auto``. Its description is what every publisher shows."""
    snapshot: Snapshot | None = None
    available: bool = False
    last_error: str | None = None
    failures: int = 0
    skip_cycles: int = 0
    read_at: float | None = None
    """Monotonic time of the last successful read (for the publish lag)."""
    errors: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def meter_id(self) -> str:
        return self.config.meter_id

    @property
    def identity(self) -> Identity | None:
        return self.meter.identity if self.meter is not None else None

    @property
    def can_reset_demand(self) -> bool:
        """As the meter says (a meter that never answered, of series ``auto``: not yet)."""
        return self.meter is not None and self.meter.can_reset_demand


class Changes:
    """Lets coroutines wait for a condition on state that plain (synchronous) code changes.

    The code that changes the state calls ``notify()`` (on the event loop); ``wait_until``
    checks its condition again after every notification. Costs nothing while nobody waits.
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def wait_until(self, check: Callable[[], bool]) -> None:
        """Return once ``check()`` holds (at once if it holds now)."""
        while not check():
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One try at a meter within a poll cycle."""

    meter_id: str
    answered: bool
    requests: int
    """Requests sent on the bus while the meter was tried: each unanswered one cost the bus a
    timeout. (A command running on another meter of the bus at the same time counts too.)"""


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleReport:
    """What one poll cycle of a bus did."""

    bus: str
    number: int
    """The cycle's number, from 1 for the poller's first cycle."""
    attempts: tuple[Attempt, ...]
    """The meters tried, in polling order."""
    backed_off: tuple[str, ...]
    """The meters not tried this cycle: a silent meter is tried every 2nd, 4th, ... cycle."""
    seconds: float
    """How long the cycle took (to compare with the poll interval)."""

    def attempt(self, meter_id: str) -> Attempt | None:
        """The try at ``meter_id`` in this cycle (None: it was not tried)."""
        return next((a for a in self.attempts if a.meter_id == meter_id), None)


class MeterListener(Protocol):
    """Receives what the poller learns. Called on the event loop; must not block."""

    def meter_identified(self, state: MeterState) -> None: ...

    def meter_updated(self, state: MeterState) -> None: ...

    def meter_unavailable(self, state: MeterState) -> None: ...


class BusPoller:
    """Polls the meters of one bus, one after another, every poll interval."""

    def __init__(
        self,
        config: BusConfig,
        listeners: Sequence[MeterListener],
        warned_profiles: set[str | None] | None = None,
    ) -> None:
        self.config = config
        self.bus = Bus(config.connect)
        self.listeners = listeners
        self.warned_profiles = warned_profiles if warned_profiles is not None else set()
        """Provisional profiles already warned about (shared by the pollers of one bridge)."""
        self.states = [MeterState(config=meter, bus=config) for meter in config.meters]
        self.cycles = 0
        """Cycles started."""
        self.last_cycle: CycleReport | None = None
        """The report of the last cycle that finished."""
        self.cycle_listeners: list[Callable[[CycleReport], None]] = []
        """Called with each cycle's report when it finishes (on the event loop; must not block)."""
        self._cycle_done = Changes()
        self._prepared = False

    async def async_prepare(self) -> None:
        """Make the meters the configuration names by their series, so that the publishers
        can show them before they answer (nothing is sent). Once; ``run`` does it if nobody
        did before."""
        if self._prepared:
            return
        self._prepared = True
        for state in self.states:
            config = state.config
            try:
                state.meter = await async_configured_meter(
                    self.bus.unit(config.unit),
                    unit_id=config.unit,
                    where=self.bus.url,
                    series=config.series,
                    profile_path=config.profile,
                    trace=self.bus.connection.trace,
                )
            except LevitonError as err:  # a profile that cannot be read: said at each poll
                state.last_error = str(err)

    async def run(self) -> None:
        """Poll until cancelled."""
        try:
            await self.async_prepare()
            while True:
                started = time.monotonic()
                try:
                    await self.poll_once()
                except Exception:  # a bug must not stop the polling of this bus for good
                    _LOGGER.exception("polling %s failed; trying again next cycle", self.bus.url)
                elapsed = time.monotonic() - started
                await asyncio.sleep(max(0.0, self.config.poll_interval - elapsed))
        finally:
            await self.bus.async_close()

    async def poll_once(self) -> CycleReport:
        """Poll every meter that is not backed off, once; report the cycle."""
        self.cycles += 1
        started = time.monotonic()
        attempts: list[Attempt] = []
        backed_off: list[str] = []
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
        report = CycleReport(
            bus=self.config.name,
            number=self.cycles,
            attempts=tuple(attempts),
            backed_off=tuple(backed_off),
            seconds=time.monotonic() - started,
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

    async def poll_meter(self, state: MeterState) -> bool:
        """Read one meter (identifying it first where needed); whether it answered."""
        async with state.lock:
            try:
                meter = state.meter
                if meter is None or meter.identity is None:
                    meter = await self._identify(state)
                # One more try within the poll while it answers; a silent meter costs one.
                state.snapshot = await meter.async_read(retry=state.available)
            except LevitonError as err:
                self._failed(state, err)
                return False
            state.read_at = time.monotonic()
            came_back = not state.available
            state.available = True
            state.failures = 0
            state.last_error = None
            if came_back and state.errors:
                _LOGGER.info("%s answers again", state.config.name)
        for listener in self.listeners:
            listener.meter_updated(state)
        return True

    async def _identify(self, state: MeterState) -> LevitonMeter:
        """Identify the meter; a silent one costs one request (and one timeout)."""
        config = state.config
        await self.bus.async_connect()
        meter = state.meter
        if meter is None:
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
        else:
            try:
                await meter.async_ping()
            except MeterTimeoutError as err:
                raise no_answer_error(self.bus.url, config.unit) from err
            await meter.async_identify()
        state.meter = meter
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
        return meter

    def _failed(self, state: MeterState, err: LevitonError) -> None:
        state.errors += 1
        state.failures += 1
        state.last_error = str(err)
        state.skip_cycles = min(2 ** (state.failures - 1), MAX_BACKOFF_CYCLES) - 1
        was_available = state.available or state.failures == 1
        state.available = False
        if was_available:
            _LOGGER.warning("%s: %s (retrying with backoff)", state.config.name, err)
            for listener in self.listeners:
                listener.meter_unavailable(state)
        if not isinstance(err, MeterError) and state.meter is not None:
            state.meter.identity = None  # e.g. a profile problem: identify again next time

    async def reset_peak_demand(self, state: MeterState) -> DemandResetResult:
        """Reset a meter's peak demand now (between polls; the bus lock orders the requests)."""
        async with state.lock:
            meter = state.meter
            if meter is None or meter.identity is None:
                meter = await self._identify(state)
            result = await meter.async_reset_peak_demand()
            state.snapshot = meter.last
            state.read_at = time.monotonic()
            state.available = True
        for listener in self.listeners:
            listener.meter_updated(state)
        return result

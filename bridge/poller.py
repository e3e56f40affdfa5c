"""Polling every configured meter: buses concurrently, each bus one request at a time.

A meter that stops answering is backed off (tried every 2nd, 4th, ... cycle, at most every
``MAX_BACKOFF_CYCLES``), so it costs its bus at most one timeout per cycle and the other meters
keep their rate. Publishers (MQTT, BACnet) subscribe as ``MeterListener``s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from modbus_connection import ModbusError, ModbusTimeoutError

from leviton_driver import (
    Bus,
    LevitonError,
    LevitonMeter,
    MeterError,
    NoModbusMeterError,
    Series1000Meter,
    Snapshot,
)
from leviton_driver.meter import DemandResetResult, Identity
from leviton_driver.profile import load_profile

from .config import BusConfig, MeterConfig

_LOGGER = logging.getLogger(__name__)

MAX_BACKOFF_CYCLES: Final = 32


@dataclass(eq=False)
class MeterState:
    """What the bridge knows of one configured meter."""

    config: MeterConfig
    bus: BusConfig
    meter: LevitonMeter | None = None
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
        """Series 1000/2000 (or not yet identified, as configured)."""
        if self.meter is not None:
            return isinstance(self.meter, Series1000Meter)
        return self.config.series in ("auto", "1000", "2000")


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

    async def run(self) -> None:
        """Poll until cancelled."""
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.poll_once()
                except Exception:  # a bug must not stop the polling of this bus for good
                    _LOGGER.exception("polling %s failed; trying again next cycle", self.bus.url)
                elapsed = time.monotonic() - started
                await asyncio.sleep(max(0.0, self.config.poll_interval - elapsed))
        finally:
            await self.bus.close()

    async def poll_once(self) -> None:
        self.cycles += 1
        for state in self.states:
            if state.skip_cycles > 0:
                state.skip_cycles -= 1
                continue
            await self.poll_meter(state)

    async def poll_meter(self, state: MeterState) -> None:
        async with state.lock:
            try:
                if state.meter is None:
                    await self._answers(state)
                    await self._identify(state)
                assert state.meter is not None
                state.snapshot = await state.meter.read()
            except LevitonError as err:
                self._failed(state, err)
                return
            except ModbusError as err:  # not translated by the driver: still only this meter
                self._failed(state, LevitonError(f"{state.config.name}: {err}"))
                return
            state.read_at = time.monotonic()
            came_back = not state.available
            state.available = True
            state.failures = 0
            state.last_error = None
            if came_back and state.errors:
                _LOGGER.info("%s answers again", state.config.name)
        for listener in self.listeners:
            listener.meter_updated(state)

    async def _answers(self, state: MeterState) -> None:
        """One small request before identifying a meter: silence then costs one timeout.

        Identification asks several questions and tolerates silence to some (gateways that drop
        function 0x11), so a meter that does not answer would cost its bus two timeouts a try.
        Any answer, even a Modbus exception, lets identification go ahead.
        """
        await self.bus.connect()
        try:
            await self.bus.unit(state.config.unit).read_holding_registers(0, 1)
        except ModbusTimeoutError:
            if self.bus.connection.trace.diagnose() is None:
                raise NoModbusMeterError(
                    self.bus.url,
                    state.config.unit,
                    "nothing answers Modbus at this unit id (no answer to a read of register "
                    "40001). Check the unit id, wiring (A to A, B to B), line settings and "
                    "termination; Series 1000/2000 meters built before 2011-02-26 have no "
                    "Modbus at all",
                ) from None
        except ModbusError:
            pass  # an answer of some kind: identification tells what it is

    async def _identify(self, state: MeterState) -> None:
        config = state.config
        profile = await asyncio.to_thread(load_profile, config.profile) if config.profile else None
        state.meter = await self.bus.meter(config.unit, series=config.series, profile=profile)
        identity = state.meter.identity
        _LOGGER.info(
            "%s: unit %s on %s is a Leviton Series %s%s",
            config.name,
            config.unit,
            self.bus.url,
            identity.series if identity else "?",
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
        if not isinstance(err, MeterError):
            state.meter = None  # e.g. a profile problem: identify again next time

    async def reset_peak_demand(self, state: MeterState) -> DemandResetResult:
        """Reset a meter's peak demand now (between polls; the bus lock orders the requests)."""
        async with state.lock:
            if state.meter is None:
                await self._identify(state)
            assert state.meter is not None
            result = await state.meter.reset_peak_demand()
            state.snapshot = state.meter.last
            state.read_at = time.monotonic()
            state.available = True
        for listener in self.listeners:
            listener.meter_updated(state)
        return result

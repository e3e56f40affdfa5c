"""What the bridge knows of each meter, and what a poll cycle did: the state the poller keeps
and every face reads.

``MeterState`` is one configured meter (its ``supervisor``, from the driver, keeps how the
meter fares: availability, failures, identity); ``CycleReport`` (with its ``Attempt``s) one
poll cycle of a bus; ``Changes`` lets a coroutine wait for a condition on state that plain
code changes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from leviton_driver import DemandResetResult, Identity, LevitonMeter, MeterSupervisor, Snapshot

from ..config.settings import BusConfig, MeterConfig
from . import codec


@dataclass(eq=False)
class MeterState:
    """What the bridge knows of one configured meter."""

    config: MeterConfig
    bus: BusConfig
    supervisor: MeterSupervisor
    """How the meter is watched (the driver's one policy) and how it fares."""
    snapshot: Snapshot | None = None
    """The last poll's readings (None before the first, and after another meter replaced
    the one identified here)."""
    read_at: float | None = None
    """Monotonic time of the last successful read (for the publish lag)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reset_running: asyncio.Future[DemandResetResult] | None = None
    last_reset: tuple[float, DemandResetResult] | None = None
    """(monotonic time, result) of the last successful peak-demand reset."""
    _encoded_points: tuple[Snapshot, str] | None = field(default=None, repr=False)

    def points_json(self) -> str | None:
        """The last poll's metering points as JSON (``codec.points_text``), None for a meter
        without points. Encoded once per poll for every face that sends them (the MQTT state,
        the status page's stream): 24 points of six values on each of many meters are most of
        what the bridge encodes."""
        snapshot = self.snapshot
        if snapshot is None or not snapshot.points:
            return None
        cached = self._encoded_points
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        text = codec.points_text(snapshot)
        self._encoded_points = (snapshot, text)
        return text

    @property
    def meter_id(self) -> str:
        return self.config.meter_id

    @property
    def meter(self) -> LevitonMeter | None:
        """The meter: from its configured series at start (not yet identified), or once it has
        answered when the series is ``auto``. Its description is what every face shows. A
        different meter found at the unit id replaces it."""
        return self.supervisor.meter

    @property
    def identity(self) -> Identity | None:
        meter = self.supervisor.meter
        return meter.identity if meter is not None else None

    @property
    def available(self) -> bool:
        return self.supervisor.available

    @property
    def last_error(self) -> str | None:
        return self.supervisor.last_error

    @property
    def failures(self) -> int:
        """Polls in a row that failed (0 after any answer)."""
        return self.supervisor.failures

    @property
    def failed_polls(self) -> Counter[str]:
        """Failed polls by the kind of their error (timeout, crc, ...)."""
        return self.supervisor.failed_polls

    @property
    def can_reset_demand(self) -> bool:
        """As the meter says (a meter that never answered, of series ``auto``: not yet)."""
        meter = self.supervisor.meter
        return meter is not None and meter.can_reset_demand


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

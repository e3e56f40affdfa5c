"""What the bridge knows of each meter, and what a poll cycle did: the state the poller keeps
and every publisher (MQTT, BACnet, the status page) reads.

``MeterState`` is one configured meter; ``CycleReport`` (with its ``Attempt``s) one poll
cycle of a bus; ``MeterListener`` is what a publisher implements to hear from the poller;
``ResetOutcome`` is what a peak-demand command did; ``Changes`` lets a coroutine wait for a
condition on state that plain code changes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from leviton_driver import DemandResetResult, Identity, LevitonMeter, Snapshot

from .settings import BusConfig, MeterConfig


@dataclass(frozen=True, slots=True)
class ResetOutcome:
    """What a peak-demand command did: the reset's result, and whether this command started
    it or was folded into one that was running or had just finished (``coalesced``)."""

    result: DemandResetResult
    coalesced: bool

    def as_dict(self) -> dict[str, Any]:
        """The answer the MQTT result topic and the status page's API give."""
        done = self.result
        return {
            "ok": True,
            "coalesced": self.coalesced,
            "reset_count_before": done.count_before,
            "reset_count_after": done.count_after,
            "peak_demand_before": done.peak_demand_before,
            "peak_demand_after": done.peak_demand_after,
        }


@dataclass(eq=False)
class MeterState:
    """What the bridge knows of one configured meter."""

    config: MeterConfig
    bus: BusConfig
    meter: LevitonMeter | None = None
    """The meter: from its configured series at start (not yet identified), or once it has
    answered when the series is ``auto``. Its description is what every publisher shows. A
    different meter found at the unit id replaces it (see ``BusPoller``)."""
    snapshot: Snapshot | None = None
    available: bool = False
    last_error: str | None = None
    failures: int = 0
    """Polls in a row that failed (0 after any answer)."""
    skip_cycles: int = 0
    read_at: float | None = None
    """Monotonic time of the last successful read (for the publish lag)."""
    errors: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    identity_checked_at: float = 0.0
    """Monotonic time of the last identification or identity check."""
    check_identity: bool = False
    """A cheap identity check is due before the next read (after a failure, a held-back total)."""
    identify_again: bool = False
    """A full identification is due (after an offline period, an exception 01/02)."""
    suppressed_seen: int = 0
    """The meter's count of held-back implausible totals when last looked at."""
    reset_running: asyncio.Future[DemandResetResult] | None = None
    last_reset: tuple[float, DemandResetResult] | None = None
    """(monotonic time, result) of the last successful peak-demand reset."""
    # -- for the status page and /metrics ---------------------------------------------------
    failed_polls: Counter[str] = field(default_factory=Counter)
    """Failed polls by the kind of their error (``MeterError.kind``: timeout, crc, ...)."""
    _encoded_points: tuple[Snapshot, str] | None = field(default=None, repr=False)

    def points_json(self) -> str | None:
        """The last poll's metering points as JSON, ``{"1": {"energy_delivered": ...}, ...}``
        (None for a meter without points). Encoded once per poll for every face that sends
        them (the MQTT state, the status page's stream): 24 points of six values on each of
        many meters are most of what the bridge encodes."""
        snapshot = self.snapshot
        if snapshot is None or not snapshot.points:
            return None
        cached = self._encoded_points
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        text = json.dumps(
            {str(point): values for point, values in snapshot.points.items()},
            separators=(",", ":"),
        )
        self._encoded_points = (snapshot, text)
        return text

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

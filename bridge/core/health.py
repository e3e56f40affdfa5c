"""Whether the bridge is alive, and whether it is ready: what ``/healthz`` and ``/readyz``
answer and what the systemd watchdog is fed with.

* **Liveness** (``check``; ``/healthz``, the systemd watchdog, the container's HEALTHCHECK):
  the core polls. The bridge has started and is not stopping, every bus's polling task runs,
  and every bus finishes a poll cycle now and then (``stalled_after``). Only this restarts the
  process: a restart cures a stuck poller, not a broker that is away.
* **Readiness** (``readiness``; ``/readyz``): alive, and every configured face is up (MQTT
  connected, the BACnet/IP device serving, ...). A face that is down makes the bridge
  *degraded*: said in ``/healthz``'s notes, on the page and by ``/readyz`` (503), never by a
  restart, so that one face's outage (a broker away for an hour) costs nothing of the faces
  that work (BACnet keeps its COV subscriptions, polling goes on).

A meter that does not answer is neither: the page and the metrics show it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from .faces import FaceStatus
from .poller import BusPoller

#: A bus that has not finished a poll cycle for this long (at least; see ``stalled_after``) is
#: stuck: every request has a timeout, so a cycle always ends.
STALL_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class Health:
    """A verdict, with the reasons (problems make it fail; notes do not)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self, *, good: str = "ok", bad: str = "unhealthy") -> str:
        """One line per reason: what ``/healthz`` (``/readyz``) answers."""
        if self.ok:
            return "\n".join([good, *self.notes]) + "\n"
        return "\n".join([bad, *self.problems, *self.notes]) + "\n"


class Watched(Protocol):
    """What health looks at: the core's pollers, their tasks, and the faces' statuses."""

    started: asyncio.Event
    pollers: list[BusPoller]
    tasks: list[asyncio.Task[None]]

    def statuses(self) -> list[FaceStatus]: ...

    def notes(self) -> list[str]: ...


class HealthMonitor:
    """Looks at the core and says whether it is alive (``check``) and ready (``readiness``)."""

    def __init__(self, core: Watched, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.core = core
        self.clock = clock
        """Monotonic seconds (tests step it instead of waiting)."""
        self.stopping = False
        self._progress: dict[str, tuple[int, float]] = {}
        """Per bus: its finished cycles when last looked at, and since when it has had them."""

    def stalled_after(self, poll_interval: float) -> float:
        """Seconds without a finished cycle after which a bus counts as stuck."""
        return max(STALL_S, 5 * poll_interval)

    def check(self) -> Health:
        """Liveness: the core polls. Faces that are down are notes (degraded)."""
        core = self.core
        health = Health()
        if self.stopping:
            health.problems.append("stopping")
            return health
        if not core.started.is_set():
            health.problems.append("starting")
            return health
        now = self.clock()
        for poller, task in zip(core.pollers, core.tasks, strict=False):
            name = poller.config.name
            if task.done():
                health.problems.append(f"bus {name}: {_ended(task)}")
                continue
            cycles = poller.last_cycle.number if poller.last_cycle is not None else 0
            seen = self._progress.get(name)
            if seen is None or seen[0] != cycles:
                self._progress[name] = (cycles, now)
                continue
            limit = self.stalled_after(poller.config.poll_interval)
            if now - seen[1] > limit:
                health.problems.append(
                    f"bus {name}: no poll cycle has finished for {now - seen[1]:.0f} s "
                    f"(more than {limit:.0f} s)"
                )
        for status in core.statuses():
            if not status.up:
                why = f": {status.problem}" if status.problem else ""
                health.notes.append(f"degraded: {status.title} is down{why}")
        health.notes.extend(core.notes())
        return health

    def readiness(self) -> Health:
        """Readiness: alive, and every configured face up."""
        live = self.check()
        if not live.ok:
            return live
        ready = Health()
        for status in self.core.statuses():
            if not status.up:
                why = f": {status.problem}" if status.problem else ""
                ready.problems.append(f"{status.title} is down{why}")
        return ready


def _ended(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return "its polling task was cancelled"
    error = task.exception()
    if error is not None:
        return f"its polling task failed ({type(error).__name__}: {error})"
    return "its polling task ended"

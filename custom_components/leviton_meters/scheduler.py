"""Polling every meter of one bus in one pass.

Each config entry has its own coordinator (its entities listen to it), but a coordinator's own
timer would fire at its own offset: the meters of a bus would be read at scattered moments,
leaving the line idle in between while the requests still go one at a time. So the coordinators
of one link run no timer of their own; the link's ``BusScheduler`` reads their meters back to
back every poll interval, and each coordinator hands its snapshot to its entities.

A meter whose poll interval is longer than the bus's shortest is read every so many passes
(its interval divided by the shortest, rounded). The scheduler measures how long each meter
takes to read; the sum is what the line needs for one pass over the bus, which the options form
shows as the shortest poll interval that makes sense.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, MIN_SCAN_INTERVAL

if TYPE_CHECKING:
    from .coordinator import LevitonCoordinator

_LOGGER = logging.getLogger(__name__)

DATA_SCHEDULERS: HassKey[dict[Hashable, BusScheduler]] = HassKey(f"{DOMAIN}_schedulers")
#: Headroom over one measured pass when advising the shortest poll interval.
PASS_HEADROOM: Final = 1.2


class BusScheduler:
    """Reads the meters of one link back to back, every poll interval."""

    def __init__(self, hass: HomeAssistant, key: Hashable, where: str) -> None:
        self.hass = hass
        self.key = key
        self.where = where
        self.members: list[LevitonCoordinator] = []
        self.passes = 0
        """Passes started."""
        self.skipped = 0
        """Ticks that came while the previous pass still ran (the line is too slow for it)."""
        self.last_pass_seconds: float | None = None
        """How long the last pass that read every meter took."""
        self._period = timedelta(seconds=MIN_SCAN_INTERVAL)
        self._unsubscribe: CALLBACK_TYPE | None = None
        self._running: asyncio.Task[None] | None = None

    # -- members -----------------------------------------------------------------------------

    def add(self, coordinator: LevitonCoordinator) -> None:
        if coordinator not in self.members:
            self.members.append(coordinator)
            self._restart()

    def remove(self, coordinator: LevitonCoordinator) -> None:
        if coordinator in self.members:
            self.members.remove(coordinator)
        if self.members:
            self._restart()
            return
        self._stop()
        schedulers = self.hass.data.get(DATA_SCHEDULERS, {})
        if schedulers.get(self.key) is self:
            del schedulers[self.key]

    def pass_seconds(self) -> float | None:
        """Seconds one pass over every meter of the bus needs, from each meter's last read
        (None until every meter has been read once)."""
        durations = [member.read_seconds for member in self.members]
        if not durations or any(d is None for d in durations):
            return self.last_pass_seconds
        return sum(d for d in durations if d is not None)

    def shortest_interval(self) -> int:
        """The shortest poll interval, in whole seconds, that the line can carry for these
        meters (``MIN_SCAN_INTERVAL`` when nothing is measured yet)."""
        needed = self.pass_seconds()
        if needed is None:
            return MIN_SCAN_INTERVAL
        return max(MIN_SCAN_INTERVAL, math.ceil(needed * PASS_HEADROOM))

    # -- the timer ---------------------------------------------------------------------------

    def _restart(self) -> None:
        self._stop()
        seconds = min(member.poll_interval.total_seconds() for member in self.members)
        self._period = timedelta(seconds=seconds)
        for member in self.members:
            member.every = max(1, round(member.poll_interval.total_seconds() / seconds))
        self._unsubscribe = async_track_time_interval(
            self.hass,
            self._tick,
            self._period,
            name=f"{DOMAIN} bus {self.where}",
            cancel_on_shutdown=True,
        )

    def _stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @callback
    def _tick(self, _now: datetime) -> None:
        if self._running is not None and not self._running.done():
            self.skipped += 1
            _LOGGER.debug("%s: a pass is still running; this one is skipped", self.where)
            return
        self._running = self.hass.async_create_background_task(
            self.async_pass(), name=f"{DOMAIN} pass over {self.where}"
        )

    async def async_pass(self) -> None:
        """Read every meter that is due, one after another."""
        self.passes += 1
        number = self.passes
        # due() last: it counts down a silent meter's backoff only on the passes it is due.
        due = [member for member in self.members if number % member.every == 0 and member.due()]
        loop = self.hass.loop
        started = loop.time()
        for member in due:
            if member in self.members:  # not unloaded meanwhile
                await member.async_refresh()
        if len(due) == len(self.members):
            self.last_pass_seconds = loop.time() - started


def async_scheduler_for(hass: HomeAssistant, key: Hashable, where: str) -> BusScheduler:
    """The scheduler of the link ``key`` (made with its first meter)."""
    schedulers = hass.data.setdefault(DATA_SCHEDULERS, {})
    scheduler = schedulers.get(key)
    if scheduler is None:
        scheduler = schedulers[key] = BusScheduler(hass, key, where)
    return scheduler


def scheduler_of(hass: HomeAssistant, key: Hashable) -> BusScheduler | None:
    return hass.data.get(DATA_SCHEDULERS, {}).get(key)


def describe_bus(scheduler: BusScheduler | None) -> dict[str, Any]:
    """Figures for the options form and diagnostics."""
    if scheduler is None:
        return {"meters": 0, "pass_seconds": None, "shortest_interval": MIN_SCAN_INTERVAL}
    needed = scheduler.pass_seconds()
    return {
        "meters": len(scheduler.members),
        "pass_seconds": needed,
        "shortest_interval": scheduler.shortest_interval(),
        "passes": scheduler.passes,
        "skipped_passes": scheduler.skipped,
    }

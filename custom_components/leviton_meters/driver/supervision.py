"""How a meter is watched: one policy for every host that polls meters.

The bridge's bus poller and Home Assistant's coordinator both poll through a
``MeterSupervisor``; they differ only in the settings they pass and in what they do with each
poll's ``PollOutcome`` (publish it; hand it to entities). The policy, once:

* **Retry within a poll.** A read that gets no answer or a damaged one (a lost frame) is tried
  once more within the poll while the meter is shown online; once it shows offline, a try costs
  one request (one timeout on a silent line).
* **Availability.** After ``offline_after`` failed polls in a row (3) the meter shows offline;
  fewer failures keep the last values (a lost frame is not an outage). An offline meter is
  tried every 2nd, 4th, 8th ... poll, at most ``max_backoff`` seconds apart, so that a dead
  meter costs its bus little and the others keep their rate.
* **Identity.** A meter can be swapped for another at the same unit id. A cheap identity read
  (``LevitonMeter.async_check_identity``) runs every ``identity_check_interval`` seconds (600),
  after two failed polls in a row (a swap takes the meter off the bus for longer than a lost
  frame does) and after an energy total was held back (another meter's lower total). A full
  identification runs again after every offline period and after an exception 01/02 answer
  (a register map this meter has is refused: another kind of meter answers).
* **Another meter.** When a different meter answers, ``adopt_other_meter`` decides: the new
  meter replaces the old one and its readings start afresh (the bridge), or nothing is read
  and every poll reports ``OTHER_METER`` until the old meter is back (Home Assistant, which
  asks its user first).
* **Seeded totals.** Totals shown before a restart seed the glitch guards of the meter they
  came from (same program id), also when it is identified later, so that a total never goes
  backwards across a restart; a higher value read wins, and a rise beyond the meter's rating
  since they were shown is caught as a glitch.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from .errors import ExceptionResponseError, LevitonError, MeterError
from .meter import DemandResetResult, LevitonMeter, Snapshot

_LOGGER = logging.getLogger(__name__)

#: Exception codes (illegal function, illegal address) that say the register map is not the
#: one this meter has: another kind of meter answers at the unit id.
OTHER_MAP_CODES: Final = frozenset({1, 2})

TotalKey = tuple[int | None, str]
"""A total's place: (metering point or None for the meter's own, reading key)."""


@dataclass(frozen=True, kw_only=True)
class SupervisionSettings:
    """How a host wants its meters watched. The defaults are the project's, for every host."""

    offline_after: int = 3
    """Failed polls in a row before the meter shows offline (unavailable)."""
    identity_check_interval: float = 600.0
    """Seconds between two cheap identity checks of a meter that answers."""
    max_backoff: float = 300.0
    """At most this many seconds between two tries of an offline meter ..."""
    max_backoff_polls: int = 32
    """... and at most this many polls."""
    adopt_other_meter: bool = True
    """Whether a different meter found at the unit id replaces the one identified there."""
    log_availability: bool = True
    """Whether the supervisor logs a meter going offline and coming back (once each)."""


DEFAULT_SETTINGS: Final = SupervisionSettings()


class Verdict(StrEnum):
    """What one poll of a meter came to."""

    READ = "read"
    """The meter answered: ``PollOutcome.snapshot`` holds its readings."""
    FAILED = "failed"
    """No usable answer, but the meter still shows online (fewer than ``offline_after``)."""
    OFFLINE = "offline"
    """No usable answer, and the meter shows offline."""
    OTHER_METER = "other_meter"
    """Another meter answers at the unit id and was not adopted: nothing was read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherMeter:
    """A different meter found where one was identified."""

    change: str
    """What differs, in words ("program id 40001 became 51234")."""
    program_id: int | None
    """What the meter answering now reports (None where it reports none)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PollOutcome:
    """One poll of a meter, as the supervisor saw it."""

    verdict: Verdict
    snapshot: Snapshot | None = None
    error: LevitonError | None = None
    identified: bool = False
    """A meter was identified and adopted during this poll (the first time, or one that
    replaced another): its description (readings, points, model) may have changed."""
    replaced: OtherMeter | None = None
    """When a different meter was adopted in place of the old one: what differs."""
    other: OtherMeter | None = None
    """When ``verdict`` is ``OTHER_METER``: the meter that answers instead."""
    went_offline: bool = False
    """This poll made the meter show offline."""
    came_back: bool = False
    """This poll made a meter that showed offline show online again."""


MeterFactory = Callable[[], Awaitable[LevitonMeter]]
"""Makes a fresh, identified meter for the unit id (or raises ``LevitonError``: nothing answers,
not a Leviton meter, ...). The host's recipe: link, series, profile, options."""


@dataclass(eq=False)
class MeterSupervisor:
    """Watches one meter at one unit id; ``async_poll`` once per poll cycle."""

    name: str
    """How log lines name the meter: its name, and where it is (bus, unit id)."""
    identify: MeterFactory
    meter: LevitonMeter | None = None
    """The meter identified at the unit id (or made from its configured series and not
    identified yet; None for series ``auto`` before it first answers)."""
    settings: SupervisionSettings = DEFAULT_SETTINGS
    interval: float = 10.0
    """The host's poll interval in seconds (backoff is counted in polls)."""
    clock: Callable[[], float] = time.monotonic
    # -- what the supervisor knows of the meter ---------------------------------------------
    available: bool = False
    """Whether the meter shows online (it answered, and has not failed ``offline_after``
    polls in a row since)."""
    failures: int = 0
    """Polls in a row that failed (0 after any answer)."""
    failed_polls: Counter[str] = field(default_factory=Counter)
    """Failed polls by the kind of their error (``MeterError.kind``: timeout, crc, ...)."""
    last_error: str | None = None
    """The last failed poll's error, in words (None after an answer)."""
    other: OtherMeter | None = None
    """A meter found at the unit id that was not adopted, while it answers there."""
    _skip: int = 0
    _identity_checked_at: float | None = None
    _check_identity: bool = False
    _identify_again: bool = False
    _suppressed_seen: int = 0
    _seeds: dict[TotalKey, float] = field(default_factory=dict)
    _seed_program_id: int | None = None
    _seed_shown_at: float | None = None

    # -- polling ---------------------------------------------------------------------------

    def due(self) -> bool:
        """Whether to poll the meter this cycle (an offline meter is backed off); call once a
        cycle, before ``async_poll``."""
        if self._skip > 0:
            self._skip -= 1
            return False
        return True

    async def async_poll(self) -> PollOutcome:
        """Read the meter once (identifying it first, or again, where the policy says)."""
        identified = False
        replaced: OtherMeter | None = None
        try:
            meter, identified, replaced, other = await self._verified_meter()
            if other is not None:
                return PollOutcome(verdict=Verdict.OTHER_METER, other=other)
            # One more try within the poll while the meter shows online: a lost frame is
            # not an outage. Once it shows offline, a try costs one request.
            snapshot = await meter.async_read(retry=self.available)
        except LevitonError as err:
            return self._failed(err, identified=identified, replaced=replaced)
        came_back = self._answered(meter)
        return PollOutcome(
            verdict=Verdict.READ,
            snapshot=snapshot,
            identified=identified,
            replaced=replaced,
            came_back=came_back,
        )

    async def async_reset_peak_demand(self) -> DemandResetResult:
        """Reset the meter's peak demand (identifying it first if needed); an answer is an
        answer: the meter shows online after it."""
        if self.other is not None:
            raise LevitonError(
                f"{self.name}: another meter answers at its unit id ({self.other.change}); "
                "not reset"
            )
        meter = self.meter
        if meter is None or meter.identity is None:
            meter = await self._first_identification()
        result = await meter.async_reset_peak_demand()
        self._answered(meter)
        return result

    # -- seeded totals -----------------------------------------------------------------------

    def seed_totals(
        self,
        totals: Mapping[TotalKey, float],
        *,
        program_id: int | None = None,
        shown_at: float | None = None,
    ) -> None:
        """Totals shown before a restart: the glitch guards start from them, so that a total
        never goes backwards (the higher of what several sources say wins). ``program_id``
        names the meter they came from: they seed only that meter (None: whichever is
        identified here). ``shown_at`` (seconds since the epoch) is when they were shown, so
        that a rise beyond the meter's rating since then is still caught."""
        if program_id is not None and self._seed_program_id not in (None, program_id):
            self._seeds = {}  # another meter's: these replace them
            self._seed_shown_at = None
        merged = dict(self._seeds)
        for key, value in totals.items():
            merged[key] = max(value, merged.get(key, value))
        self._seeds = merged
        self._seed_program_id = program_id if program_id is not None else self._seed_program_id
        if shown_at is not None:
            known = self._seed_shown_at
            self._seed_shown_at = shown_at if known is None else min(known, shown_at)
        meter = self.meter
        if meter is not None and meter.identity is not None:
            self._apply_seeds(meter)

    def _apply_seeds(self, meter: LevitonMeter) -> None:
        if not self._seeds:
            return
        identity = meter.identity
        wanted = self._seed_program_id
        if (
            wanted is not None
            and identity is not None
            and identity.program_id not in (None, wanted)
        ):
            _LOGGER.info(
                "%s: the totals shown before the restart were program id %s's, not this "
                "meter's (%s); not used",
                self.name,
                wanted,
                identity.program_id,
            )
            self._seeds = {}
            return
        when = None
        if self._seed_shown_at is not None:
            when = meter.clock() - max(0.0, meter.wall_clock() - self._seed_shown_at)
        for (point, key), value in self._seeds.items():
            meter.seed_total(point, key, value, when)
        # Kept for a meter identified again later (its guards may be new), until another
        # meter replaces it.

    # -- the policy ------------------------------------------------------------------------

    async def _verified_meter(
        self,
    ) -> tuple[LevitonMeter, bool, OtherMeter | None, OtherMeter | None]:
        """The meter to read: identified, and still the one at its unit id. Returns (meter,
        identified now, meter it replaced, meter found but not adopted)."""
        meter = self.meter
        if meter is None or meter.identity is None:
            return await self._first_identification(), True, None, None
        if self._identify_again:
            return await self._identify_afresh(meter, None)
        if (
            self.other is not None
            or self._check_identity
            or self._identity_checked_at is None
            or self.clock() - self._identity_checked_at >= self.settings.identity_check_interval
        ):
            if self._identity_checked_at is None:
                self._identity_checked_at = self.clock()  # identified before we watched it
            else:
                check = await meter.async_check_identity()
                self._identity_checked_at = self.clock()
                self._check_identity = False
                if not check.same:
                    seen = OtherMeter(change=check.change or "", program_id=check.program_id)
                    if self.other is not None:
                        return meter, False, None, self.other  # still there: known already
                    return await self._identify_afresh(meter, seen)
                if self.other is not None:
                    _LOGGER.info("%s: the meter identified here answers again", self.name)
                    self.other = None
        return meter, False, None, None

    async def _first_identification(self) -> LevitonMeter:
        meter = await self.identify()
        self._adopt(meter)
        return meter

    async def _identify_afresh(
        self, known: LevitonMeter, seen: OtherMeter | None
    ) -> tuple[LevitonMeter, bool, OtherMeter | None, OtherMeter | None]:
        """Identify afresh: keep ``known`` (and its totals' guards) if it is the same meter;
        otherwise adopt the new one, or report it, as the settings say."""
        fresh = await self.identify()
        self._identify_again = False
        self._check_identity = False
        self._identity_checked_at = self.clock()
        difference = fresh.differs_from(known)
        if difference is None:
            if self.other is not None:
                _LOGGER.info("%s: the meter identified here answers again", self.name)
                self.other = None
            return known, False, None, None
        program_id = fresh.identity.program_id if fresh.identity is not None else None
        found = OtherMeter(
            change=seen.change if seen is not None and seen.change else difference,
            program_id=program_id,
        )
        if not self.settings.adopt_other_meter:
            if self.other != found:
                _LOGGER.warning(
                    "%s: another meter answers at its unit id (%s); not read until it is "
                    "accepted or the meter identified there is back",
                    self.name,
                    found.change,
                )
            self.other = found
            return known, False, None, found
        _LOGGER.warning(
            "%s: another meter answers at its unit id (%s); its readings start afresh",
            self.name,
            found.change,
        )
        self._seeds = {}  # they were the old meter's
        self.other = None
        self._adopt(fresh)
        return fresh, True, found, None

    def _adopt(self, meter: LevitonMeter) -> None:
        meter.label = self.name
        self.meter = meter
        self._identity_checked_at = self.clock()
        self._check_identity = False
        self._identify_again = False
        self._suppressed_seen = meter.suppressed
        self._apply_seeds(meter)

    def _answered(self, meter: LevitonMeter) -> bool:
        came_back = not self.available and self.failures >= self.settings.offline_after
        if came_back and self.settings.log_availability:
            _LOGGER.info("%s answers again", self.name)
        elif self.failures:
            _LOGGER.debug("%s answers again after %d failed poll(s)", self.name, self.failures)
        self.available = True
        self.failures = 0
        self._skip = 0
        self.last_error = None
        if meter.suppressed > self._suppressed_seen:
            # A total lower than the last one was held back: a glitch, or another meter
            # with a lower total at this unit id. The next poll checks which.
            self._suppressed_seen = meter.suppressed
            self._check_identity = True
        return came_back

    def _failed(
        self, err: LevitonError, *, identified: bool, replaced: OtherMeter | None
    ) -> PollOutcome:
        """Count a failed poll; after ``offline_after`` in a row the meter shows offline and
        is backed off."""
        offline_after = self.settings.offline_after
        self.failed_polls[getattr(err, "kind", "other")] += 1
        self.failures += 1
        self.last_error = str(err)
        meter = self.meter
        if self.failures >= 2:
            self._check_identity = True
        if isinstance(err, ExceptionResponseError) and err.code in OTHER_MAP_CODES:
            self._identify_again = True  # a register map this meter should have is refused
        if not isinstance(err, MeterError) and meter is not None:
            meter.identity = None  # e.g. a profile problem: identify again next time
        if self.failures < offline_after:
            _LOGGER.debug(
                "%s: %s (failed poll %d of %d before it shows offline)",
                self.name,
                err,
                self.failures,
                offline_after,
            )
            return PollOutcome(
                verdict=Verdict.FAILED, error=err, identified=identified, replaced=replaced
            )
        settings = self.settings
        most = max(
            1,
            min(
                settings.max_backoff_polls,
                math.floor(settings.max_backoff / max(self.interval, 1e-3)),
            ),
        )
        self._skip = min(2 ** (self.failures - offline_after), most) - 1
        # After an offline period, identify in full: it may be another meter now.
        self._identify_again = meter is not None and meter.identity is not None
        went_offline = self.available or self.failures == offline_after
        self.available = False
        if went_offline and self.settings.log_availability:
            _LOGGER.warning("%s: %s (retrying with backoff)", self.name, err)
        return PollOutcome(
            verdict=Verdict.OFFLINE,
            error=err,
            identified=identified,
            replaced=replaced,
            went_offline=went_offline,
        )

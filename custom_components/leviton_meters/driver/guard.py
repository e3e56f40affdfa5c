"""Plausibility of energy totals, and power derived from them.

A meter's energy total never goes down and cannot rise faster than its rating allows. A read
that says otherwise (a zero from a meter that was mid-update, a bit flip on a noisy RS485 line,
a gateway answering for the wrong unit) is a glitch: publishing it would wreck the Energy
dashboard's statistics. ``TotalGuard`` keeps the last good value instead, counts what it
suppressed and logs it once per run of glitches.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Final

_LOGGER = logging.getLogger(__name__)

#: Rating used when the model number does not tell: a 1200 A CT on a 600 V three-phase service.
DEFAULT_MAX_KW: Final = 1250.0
#: Slack for the meter's own resolution (0.1 kWh) and for clock jitter between polls.
RESOLUTION_SLACK: Final = 0.2


@dataclass
class TotalGuard:
    """Accepts a monotonic energy total only when it is plausible."""

    name: str
    max_kw: float = DEFAULT_MAX_KW
    last: float | None = None
    last_time: float | None = None
    suppressed: int = 0
    _in_glitch: bool = field(default=False, repr=False)

    def seed(self, value: float, when: float | None = None) -> None:
        """Start from a known good value (one restored after a restart)."""
        self.last = value
        self.last_time = when

    def check(self, value: float | None, now: float) -> float | None:
        """Return the value to publish: ``value`` if plausible, else the last good one."""
        if value is None:
            return self.last
        reason = self._implausible(value, now)
        if reason is None:
            if self._in_glitch:
                _LOGGER.info("%s: readings plausible again at %s", self.name, value)
            self._in_glitch = False
            self.last = value
            self.last_time = now
            return value
        self.suppressed += 1
        if not self._in_glitch:
            _LOGGER.warning(
                "%s: ignored implausible reading %s (%s); keeping %s. Further ignored "
                "readings are counted, not logged, until a plausible one arrives",
                self.name,
                value,
                reason,
                self.last,
            )
        self._in_glitch = True
        return self.last

    def _implausible(self, value: float, now: float) -> str | None:
        if value < 0:
            return "negative"
        last = self.last
        if last is None:
            return None
        if value < last:
            return "zero" if value == 0 else f"lower than the last reading {last}"
        if self.last_time is None:
            return None
        hours = max(now - self.last_time, 0.0) / 3600
        allowed = self.max_kw * hours * 1.25 + RESOLUTION_SLACK
        if value - last > allowed:
            return (
                f"a rise of {value - last:.1f} in {hours * 3600:.0f} s exceeds the meter's rating"
            )
        return None


@dataclass
class DerivedPower:
    """Average power from a 0.1 kWh-resolution energy total.

    The total steps in 0.1 kWh increments, so power from two arbitrary reads is coarse (0.1 kWh
    over 5 minutes is 1.2 kW). Timing the steps themselves is better: between the first and the
    last step seen inside the window, exactly (steps x 0.1) kWh flowed, so the result is exact but
    for when each step was noticed (one poll interval at each end). With no step for longer than
    the last gap, the power is at most 0.1 kWh over the time since the last step, so the value
    decays towards zero when the load stops.

    The total may also be a net one that goes down as well as up (energy delivered minus energy
    received): each step of either total is a step of the net, and the result is then signed,
    positive while the net rises (import), negative while it falls (export); the decay bounds
    its magnitude.
    """

    window_s: float = 900.0
    resolution_kwh: float = 0.1
    _steps: deque[tuple[float, float]] = field(default_factory=deque, repr=False)
    _last_energy: float | None = None
    _last_update: float | None = None
    _poll_gap: float = 0.0

    def update(self, energy: float | None, now: float) -> float | None:
        """Feed a (guarded) total, or a net of two; return the average power in kW, None
        until known."""
        if self._last_update is not None:
            self._poll_gap = now - self._last_update
        self._last_update = now
        if energy is None:
            return self.value(now)
        if self._last_energy is None:
            self._last_energy = energy
            return None
        if energy != self._last_energy:
            self._steps.append((now, energy))
            self._last_energy = energy
        while len(self._steps) > 2 and now - self._steps[0][0] > self.window_s:
            self._steps.popleft()
        return self.value(now)

    def value(self, now: float) -> float | None:
        if len(self._steps) < 2:
            return None
        (t0, e0), (t1, e1) = self._steps[0], self._steps[-1]
        if t1 <= t0:
            return None
        power = (e1 - e0) / ((t1 - t0) / 3600)
        since_last = now - t1
        if since_last > 0:
            bound = self.resolution_kwh / (since_last / 3600)
            power = max(-bound, min(power, bound))
        return round(power, 3)

    def resolution_kw(self, now: float) -> float | None:
        """Uncertainty of ``value`` in kW, None until known.

        Each step is noticed up to one poll interval late, so the span between the first and
        last step is known to within a poll interval: the relative error is poll / span.
        """
        power = self.value(now)
        if power is None:
            return None
        span = self._steps[-1][0] - self._steps[0][0]
        return round(power * self._poll_gap / span, 3)

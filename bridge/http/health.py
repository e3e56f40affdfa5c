"""Whether the bridge is healthy: what ``/healthz`` answers and what the systemd watchdog
is fed with.

Healthy means: the bridge has started and is not stopping; every bus's polling task runs; the
MQTT publisher (when configured) is connected, or has been without its broker for less than
``MQTT_GRACE_S`` (it is retrying within its reconnect backoff, which grows to 60 s); the
BACnet/IP device (when configured) is serving. A meter that does not answer is not a health
problem of the bridge: the page and the metrics show it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..daemon import Bridge

#: Seconds without a broker after which MQTT counts as down: paho retries after 1, 2, 4 ...
#: up to 60 s, so by then at least one more attempt has failed.
MQTT_GRACE_S: Final = 90.0


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict, with the reasons (problems make it unhealthy; notes do not)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """One line per reason: what ``/healthz`` answers."""
        if self.ok:
            return "\n".join(["ok", *self.notes]) + "\n"
        return "\n".join(["unhealthy", *self.problems, *self.notes]) + "\n"


class HealthMonitor:
    """Looks at a bridge and says whether it is healthy (``check``)."""

    def __init__(self, bridge: Bridge, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.bridge = bridge
        self.clock = clock
        """Monotonic seconds (tests step it past the grace period instead of waiting)."""
        self.grace = MQTT_GRACE_S
        self.stopping = False

    def check(self) -> Health:
        bridge = self.bridge
        health = Health()
        if self.stopping:
            health.problems.append("stopping")
            return health
        if not bridge.started.is_set():
            health.problems.append("starting")
            return health
        for poller, task in zip(bridge.pollers, bridge.tasks, strict=False):
            if task.done():
                health.problems.append(f"bus {poller.config.name}: {_ended(task)}")
        self._check_mqtt(health)
        if bridge.config.bacnet is not None and (
            bridge.bacnet is None or bridge.bacnet.app is None
        ):
            health.problems.append("BACnet/IP: the device is not serving")
        return health

    def _check_mqtt(self, health: Health) -> None:
        config, publisher = self.bridge.config.mqtt, self.bridge.mqtt
        if config is None:
            return
        if publisher is None:
            health.problems.append("MQTT: the publisher is not running")
            return
        since = publisher.disconnected_since
        if since is None:
            return
        down = max(0.0, self.clock() - since)
        why = publisher.connect_problem or "the connection was lost"
        if down > self.grace:
            health.problems.append(
                f"MQTT broker {config.url}: no connection for {down:.0f} s, longer than the "
                f"reconnect backoff allows ({why})"
            )
        else:
            health.notes.append(
                f"MQTT broker {config.url}: reconnecting for {down:.0f} s ({why}); unhealthy "
                f"after {self.grace:.0f} s"
            )


def _ended(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return "its polling task was cancelled"
    error = task.exception()
    if error is not None:
        return f"its polling task failed ({type(error).__name__}: {error})"
    return "its polling task ended"

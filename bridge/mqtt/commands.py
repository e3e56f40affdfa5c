"""Commands that arrive over MQTT: a peak-demand reset per meter (``PRESS``).

A command runs once per message: retained commands are never acted on, and the command topic
is cleared after every command (an empty retained message), so that an old command a client
published with retain never fires again after a restart. The reset goes through the core's
one reset path; its ``ResetOutcome`` is published on the meter's result topic.

Anything else on a command topic is refused, and a flood of it costs next to nothing: one
log line per meter and minute with a count, and at most one refusal (its result and the
topic's clear) per meter every ``REFUSAL_EVERY_S``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..core.codec import dumps, iso
from ..core.ratelimit import PeerWarnings
from .mapping import PRESS, Topics

if TYPE_CHECKING:
    from ..core.bridge import BridgeCore

_LOGGER = logging.getLogger(__name__)

Publish = Callable[..., bool]
REFUSAL_EVERY_S: Final = 1.0
"""At most one refusal answered (result and clear) per meter in this many seconds."""


class Commands:
    """Takes command messages, runs them, publishes their results."""

    def __init__(
        self,
        core: BridgeCore,
        topics: Topics,
        publish: Publish,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.topics = topics
        self.publish = publish
        self.clock = clock
        self.tasks: set[asyncio.Task[None]] = set()
        self.warnings = PeerWarnings(_LOGGER, "MQTT", window=60.0)
        self.refused = 0
        """Commands refused (answered or not)."""
        self._refused_at: dict[str, float] = {}

    def handle(self, topic: str, payload: bytes, retained: bool) -> bool:
        """Take a message if it is a command (True), else leave it (False)."""
        meter_id = self.topics.meter_id_of_command(topic)
        if meter_id is None:
            return False
        if not payload:
            return True  # an empty message: a retained command being cleared
        if retained:
            # A retained command would fire again on every restart: never act on one, and
            # clear it (each is one message the broker keeps: cheap to clear, however many).
            self.refused += 1
            self.publish(topic, "", retain=True)
            self.warnings.warn(
                meter_id[:80],
                "retained command",
                "ignored a retained command on %s (send commands without retain); cleared it",
                topic,
            )
            return True
        text = payload.decode(errors="replace").strip()
        problem = None
        if self.core.state(meter_id) is None:
            problem = f"unknown meter {meter_id!r}"
        elif text != PRESS:
            problem = f"expected {PRESS}, got {text[:40]!r}"
        if problem is not None:
            self._refuse(topic, meter_id, problem)
            return True
        # A command published with retain while we are subscribed arrives with retain=0, but
        # the broker keeps it and would hand it over again at every restart: clear the topic
        # after every command (an empty retained message clears nothing else).
        self.publish(topic, "", retain=True)
        task = asyncio.get_running_loop().create_task(self._reset(meter_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    def _refuse(self, topic: str, meter_id: str, problem: str) -> None:
        """Say no: in the log once a minute per meter (with a count), and on the result topic
        (with the topic cleared) at most once every ``REFUSAL_EVERY_S`` per meter."""
        self.refused += 1
        self.warnings.warn(
            meter_id[:80], "refused command", "refused a command on %s: %s", topic, problem
        )
        now = self.clock()
        last = self._refused_at.get(meter_id)
        if last is not None and now - last < REFUSAL_EVERY_S:
            return
        if len(self._refused_at) >= 4096:
            self._refused_at.clear()  # topics of unknown meters: bounded
        self._refused_at[meter_id] = now
        self.publish(topic, "", retain=True)
        self._result(meter_id, {"ok": False, "error": problem})

    async def _reset(self, meter_id: str) -> None:
        outcome = await self.core.reset_peak_demand(meter_id, "mqtt")
        if outcome.refusal is not None:
            _LOGGER.warning(
                "peak-demand reset on %s refused: %s",
                self.topics.reset_command(meter_id),
                outcome.error,
            )
        self._result(meter_id, outcome.as_dict())

    def _result(self, meter_id: str, result: dict[str, Any]) -> None:
        result["time"] = iso(time.time())
        self.publish(self.topics.reset_result(meter_id), dumps(result, compact=True))

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()

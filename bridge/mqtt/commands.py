"""Commands that arrive over MQTT: a peak-demand reset per meter (``PRESS``).

A command runs once per message: retained commands are never acted on, and the command topic
is cleared after every command (an empty retained message), so that an old command a client
published with retain never fires again after a restart. The reset goes through the core's
one reset path; its ``ResetOutcome`` is published on the meter's result topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.codec import dumps, iso
from .mapping import PRESS, Topics

if TYPE_CHECKING:
    from ..core.bridge import BridgeCore

_LOGGER = logging.getLogger(__name__)

Publish = Callable[..., bool]


class Commands:
    """Takes command messages, runs them, publishes their results."""

    def __init__(self, core: BridgeCore, topics: Topics, publish: Publish) -> None:
        self.core = core
        self.topics = topics
        self.publish = publish
        self.tasks: set[asyncio.Task[None]] = set()

    def handle(self, topic: str, payload: bytes, retained: bool) -> bool:
        """Take a message if it is a command (True), else leave it (False)."""
        meter_id = self.topics.meter_id_of_command(topic)
        if meter_id is None:
            return False
        if not payload:
            return True  # an empty message: a retained command being cleared
        # A command published with retain while we are subscribed arrives with retain=0, but
        # the broker keeps it and would hand it over again at every restart: clear the topic
        # after every command (an empty retained message clears nothing else).
        self.publish(topic, "", retain=True)
        if retained:
            # A retained command would fire again on every restart: never act on one.
            _LOGGER.warning(
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
            _LOGGER.warning("peak-demand reset on %s refused: %s", topic, problem)
            self._result(meter_id, {"ok": False, "error": problem})
            return True
        task = asyncio.get_running_loop().create_task(self._reset(meter_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

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

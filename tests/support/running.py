"""The bridge running in the test's own event loop (``run_bridge``), as ``leviton-bridge run``
runs it, until the test ends: the MQTT, BACnet and status-page tests share it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from leviton_bridge.core.poller import BusPoller
from leviton_bridge.daemon import Bridge, parse
from leviton_bridge.mqtt.face import MqttFace

from . import PATIENCE


@dataclass
class RunningBridge:
    bridge: Bridge
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    @property
    def mqtt(self) -> MqttFace:
        face = self.bridge.mqtt
        assert isinstance(face, MqttFace)
        return face

    @property
    def poller(self) -> BusPoller:
        """The poller of the first (usually the only) bus."""
        return self.bridge.pollers[0]

    @property
    def url(self) -> str:
        """The status page's address (an ``http:`` section)."""
        assert self.bridge.status is not None
        return self.bridge.status.url

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(asyncio.shield(self.task), PATIENCE)


RunBridge = Callable[..., Awaitable[RunningBridge]]


@pytest.fixture
async def run_bridge() -> AsyncIterator[RunBridge]:
    """``await run_bridge(config[, prepare])``: the bridge running in this loop until the test
    ends; ``prepare(bridge)`` runs before it starts. A bridge that fails to start fails the
    test with its own error."""
    running: list[RunningBridge] = []

    async def start(
        config: dict[str, Any], prepare: Callable[[Bridge], None] | None = None
    ) -> RunningBridge:
        bridge = Bridge(parse(config, "test"))
        if prepare is not None:
            prepare(bridge)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        handle = RunningBridge(bridge, stop, task)
        running.append(handle)
        started = asyncio.create_task(bridge.started.wait())
        await asyncio.wait({task, started}, timeout=PATIENCE, return_when="FIRST_COMPLETED")
        if task.done():
            started.cancel()
            await task  # it failed: show why
        assert bridge.started.is_set(), "the bridge did not start"
        return handle

    yield start
    for handle in running:
        if not handle.task.done():
            await handle.stop()

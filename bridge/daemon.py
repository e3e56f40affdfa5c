"""``leviton-bridge run``: poll every configured meter and publish it, until stopped.

With an ``http:`` section the status page (``http.server``) starts first, so that a port
that cannot be had stops the bridge before anything else runs. Under systemd
(``$NOTIFY_SOCKET``) the bridge says ``READY=1`` once everything runs and feeds the watchdog
while ``health`` says it is healthy (``http.systemd``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress
from typing import TYPE_CHECKING

from .http.health import HealthMonitor
from .http.systemd import Supervisor
from .meter_state import MeterListener, MeterState, ResetOutcome
from .mqtt import MqttPublisher
from .poller import BusPoller
from .settings import BridgeConfig

if TYPE_CHECKING:
    from .bacnet import BacnetPublisher
    from .http.server import StatusServer

_LOGGER = logging.getLogger(__name__)


class Bridge:
    """The pollers of every bus and the publishers they feed."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.listeners: list[MeterListener] = []
        warned: set[str | None] = set()  # say "provisional map" once per bridge, not per meter
        self.pollers = [BusPoller(bus, self.listeners, warned) for bus in config.buses]
        self._poller_of = {id(state): poller for poller in self.pollers for state in poller.states}
        self.mqtt: MqttPublisher | None = None
        self.bacnet: BacnetPublisher | None = None
        self.status: StatusServer | None = None
        """The status page, while it runs (an ``http:`` section)."""
        self.tasks: list[asyncio.Task[None]] = []
        """The polling task of each bus, in the order of ``pollers``."""
        self.health = HealthMonitor(self)
        self.started = asyncio.Event()

    @property
    def states(self) -> list[MeterState]:
        return [state for poller in self.pollers for state in poller.states]

    async def reset_peak_demand(self, state: MeterState) -> ResetOutcome:
        return await self._poller_of[id(state)].reset_peak_demand(state)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then say offline and close every link."""
        # The meters named by their series exist before the publishers start, so that these
        # show them from the start (BACnet objects, MQTT discovery), answered or not.
        for poller in self.pollers:
            await poller.async_prepare()
        if self.config.http is not None:
            from .http.server import StatusServer

            self.status = StatusServer(self, self.config.http)
            await self.status.start()
        try:
            await self._run(stop)
        finally:
            if self.status is not None:
                await self.status.stop()

    async def _run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        if self.config.mqtt is not None:
            self.mqtt = MqttPublisher(
                self.config.mqtt, self.config.meters, loop, self.reset_peak_demand
            )
            self.listeners.append(self.mqtt)
            self.mqtt.start()
        if self.config.bacnet is not None:
            from .bacnet import BacnetPublisher

            self.bacnet = BacnetPublisher(self.config.bacnet, self.states, self.reset_peak_demand)
            self.listeners.append(self.bacnet)
            await self.bacnet.start()
        tasks = self.tasks = [
            asyncio.create_task(poller.run(), name=f"poll {poller.config.name}")
            for poller in self.pollers
        ]
        self.started.set()
        _LOGGER.info(
            "bridge running: %d bus(es), %d meter(s)%s",
            len(self.pollers),
            len(self.config.meters),
            f", MQTT {self.config.mqtt.url}" if self.config.mqtt else "",
        )
        supervisor = Supervisor(self.health)
        supervisor.ready(f"polling {len(self.config.meters)} meter(s)")
        try:
            await stop.wait()
        finally:
            self.health.stopping = True
            await supervisor.stopping()
            if self.mqtt is not None:
                # Offline first: nothing published after it can contradict it.
                await self.mqtt.announce_offline()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            if self.mqtt is not None:
                await self.mqtt.stop()
            if self.bacnet is not None:
                await self.bacnet.stop()
            _LOGGER.info("bridge stopped")


async def run_until_signalled(config: BridgeConfig) -> None:
    """Run the bridge until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await Bridge(config).run(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

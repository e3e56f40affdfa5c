"""``leviton-bridge run``: the core and the configured faces, started in order, until stopped.

The daemon is the one place that knows every face: it builds the core (``core.BridgeCore``),
then each face its configuration asks for, attaches them, and starts them in order: the status
page first (a port that cannot be had stops the bridge before anything else runs), then the
history (before BACnet/IP, whose trend logs read it), then MQTT, then BACnet/IP, then the
Modbus TCP server. They stop in reverse, after polling has stopped. A new face is a new package
and a line in ``_faces``.

Faces may refuse a configuration that the schema alone cannot judge (BACnet instance numbers
that clash): ``check`` collects those problems with the file's own, for ``check-config`` and
``run`` alike.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ConfigError, load_config, parse_config
from .config.settings import BridgeConfig
from .core.bridge import BridgeCore
from .core.faces import Face
from .core.health import HealthMonitor
from .core.meter_state import MeterState
from .core.poller import BusPoller

_LOGGER = logging.getLogger(__name__)


def check(config: BridgeConfig) -> BridgeConfig:
    """Raise ``ConfigError`` with what a configured face cannot serve (every problem)."""
    problems: list[str] = []
    if config.bacnet is not None:
        from .bacnet.mapping import check_config

        problems += [f"bacnet: {problem}" for problem in check_config(config)]
    if problems:
        raise ConfigError(config.source, problems)
    return config


def load(path: str | Path) -> BridgeConfig:
    """``config.load_config``, and what the configured faces say of it (``check``)."""
    return check(load_config(path))


def parse(data: Any, source: str) -> BridgeConfig:
    """``config.parse_config``, and what the configured faces say of it (``check``)."""
    return check(parse_config(data, source))


class Bridge:
    """The core and the faces of one configuration."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.core = BridgeCore(config)
        self.faces: list[Face] = []
        """The faces started, in order (while the bridge runs)."""

    # -- what tests and the demo look at -----------------------------------------------------

    @property
    def pollers(self) -> list[BusPoller]:
        return self.core.pollers

    @property
    def states(self) -> list[MeterState]:
        return self.core.states

    @property
    def health(self) -> HealthMonitor:
        return self.core.health

    @property
    def started(self) -> asyncio.Event:
        return self.core.started

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return self.core.tasks

    def face(self, key: str) -> Any:
        """The running face whose status key is ``key`` (``mqtt``, ``bacnet``, ``http``), or
        None."""
        return next((face for face in self.faces if face.status().key == key), None)

    @property
    def mqtt(self) -> Any:
        return self.face("mqtt")

    @property
    def bacnet(self) -> Any:
        return self.face("bacnet")

    @property
    def status(self) -> Any:
        """The status page, while it runs."""
        return self.face("http")

    # -- running -----------------------------------------------------------------------------

    def _faces(self) -> list[Callable[[], Face]]:
        """How to make each configured face, in the order they start."""
        config, core = self.config, self.core
        makers: list[Callable[[], Face]] = []
        if config.http is not None:
            http = config.http

            def status_page() -> Face:
                from .http.face import StatusPage

                return StatusPage(core, http)

            makers.append(status_page)
        if config.history is not None:
            history = config.history

            def history_face() -> Face:
                from .history.face import HistoryFace

                return HistoryFace(core, history)

            makers.append(history_face)
        if config.mqtt is not None:
            mqtt = config.mqtt

            def mqtt_face() -> Face:
                from .mqtt.face import MqttFace

                return MqttFace(core, mqtt, asyncio.get_running_loop())

            makers.append(mqtt_face)
        if config.bacnet is not None:
            bacnet = config.bacnet

            def bacnet_face() -> Face:
                from .bacnet.face import BacnetFace

                return BacnetFace(core, bacnet)

            makers.append(bacnet_face)
        if config.modbus_server is not None:
            modbus_server = config.modbus_server

            def modbus_server_face() -> Face:
                from .modbus_server.face import ModbusServerFace

                return ModbusServerFace(core, modbus_server)

            makers.append(modbus_server_face)
        return makers

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then stop polling and every face, in reverse order."""
        # The meters named by their series exist before the faces start, so that these show
        # them from the start (BACnet objects, MQTT discovery), answered or not.
        try:
            await self.core.prepare()
            for make in self._faces():
                face = make()
                self.core.attach(face)
                self.faces.append(face)
                await face.start()
            await self.core.run(stop)
        finally:
            for face in reversed(self.faces):
                try:
                    await face.stop()
                except Exception:  # stop the others all the same
                    _LOGGER.exception("stopping %s failed", face.status().title)
            await self.core.close()
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

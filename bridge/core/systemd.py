"""systemd supervision without a library: ``sd_notify`` over ``$NOTIFY_SOCKET``.

Under ``Type=notify`` the bridge says ``READY=1`` once it runs (buses polling, publishers
started, the status page listening); with ``WatchdogSec=`` systemd sets ``$WATCHDOG_USEC`` and
the bridge sends ``WATCHDOG=1`` every half of it while ``HealthMonitor`` says it is healthy.
While it is not, it sends ``STATUS=`` with the reasons instead, so that systemd restarts it
once the watchdog time runs out (``Restart=on-failure`` counts a watchdog timeout).
``STOPPING=1`` goes out when it stops. Outside systemd (no ``$NOTIFY_SOCKET``) all of this
does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from .health import HealthMonitor

_LOGGER = logging.getLogger(__name__)


def sd_notify(message: str, address: str | None = None) -> bool:
    """Send ``message`` (``KEY=value`` lines) to systemd at ``address`` (default:
    ``$NOTIFY_SOCKET``); False when not under systemd or the socket is gone (never raises:
    supervision must not stop the bridge)."""
    address = address or os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as err:
        _LOGGER.debug("sd_notify to %s failed: %s", address, err)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between two ``WATCHDOG=1`` (half of ``$WATCHDOG_USEC``), None when systemd
    asks for none (or asks it of another process, ``$WATCHDOG_PID``)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


class Supervisor:
    """Tells systemd the bridge is ready, feeds its watchdog while healthy, says stopping."""

    def __init__(self, health: HealthMonitor) -> None:
        self.health = health
        self.address = os.environ.get("NOTIFY_SOCKET")
        """systemd's socket, as the bridge was started with it."""
        self._task: asyncio.Task[None] | None = None
        self._status: str | None = None

    def ready(self, status: str) -> None:
        if not self.address or not sd_notify(f"READY=1\nSTATUS={status}", self.address):
            return
        interval = watchdog_interval()
        if interval is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._watchdog(interval), name="systemd watchdog"
            )

    async def _watchdog(self, interval: float) -> None:
        healthy = True
        while True:
            health = self.health.check()
            if health.ok:
                status = "; ".join(["running", *health.notes])
                message = "WATCHDOG=1"
            else:
                status = "unhealthy: " + "; ".join(health.problems)
                message = ""
                if healthy:
                    _LOGGER.warning("%s: not feeding the systemd watchdog", status)
            healthy = health.ok
            if status != self._status:
                self._status = status
                message = f"{message}\nSTATUS={status}".strip()
            if message:
                sd_notify(message, self.address)
            await asyncio.sleep(interval)

    async def stopping(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.address:
            sd_notify("STOPPING=1", self.address)

"""The bridge's core: the pollers of every bus, the meters they watch, the faces they feed.

``BridgeCore`` polls (one ``BusPoller`` per bus, concurrently), tells every attached face what
it learns, runs every peak-demand reset through one path (``reset_peak_demand``, whichever
face asked), and says whether it is alive (``HealthMonitor``, the systemd watchdog). It imports
no face: the daemon attaches them (``attach``) in the order it starts them.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Final

from leviton_driver import ConfigurationError, LevitonError

from ..config.settings import BridgeConfig
from .faces import Face, FaceStatus, MeterListener, Refusal, ResetOutcome
from .health import HealthMonitor
from .history import HistoryView
from .meter_state import MeterState
from .poller import BusPoller
from .statefile import SavedTotals, StateDir, StateDirError, TotalsKeeper
from .systemd import Supervisor

_LOGGER = logging.getLogger(__name__)

ORIGINS: Final = {
    "mqtt": "MQTT",
    "bacnet": "BACnet",
    "http": "the status page",
    "modbus_server": "a Modbus client",
}
"""How a reset's log line names the face it came from (others: the face's key)."""


class BridgeCore:
    """The pollers of every bus and the faces they feed."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.listeners: list[MeterListener] = []
        """What hears from the pollers: every attached face (and whatever a test adds)."""
        self.faces: list[Face] = []
        warned: set[str | None] = set()  # say "provisional map" once per bridge, not per meter
        self.pollers = [BusPoller(bus, self.listeners, warned) for bus in config.buses]
        self._states = {state.meter_id: state for poller in self.pollers for state in poller.states}
        self._poller_of = {id(state): poller for poller in self.pollers for state in poller.states}
        self.tasks: list[asyncio.Task[None]] = []
        """The polling task of each bus, in the order of ``pollers``."""
        self.health = HealthMonitor(self)
        self.started = asyncio.Event()
        """Set once every bus polls and every face has started."""
        self.state_dir = StateDir(config.state_dir)
        self.totals = TotalsKeeper(self.state_dir.path)
        """The totals last shown, kept on disk: the guards start from them after a restart."""
        self.listeners.append(self.totals)
        self.history: HistoryView | None = None
        """The interval history, read only: set by the history face when one is configured
        (the status page and the BACnet device read it through this, never the face)."""

    # -- what faces read ---------------------------------------------------------------------

    @property
    def states(self) -> list[MeterState]:
        return list(self._states.values())

    def state(self, meter_id: str) -> MeterState | None:
        return self._states.get(meter_id)

    def statuses(self) -> list[FaceStatus]:
        """Every attached face's status, in the order they started."""
        return [face.status() for face in self.faces]

    def notes(self) -> list[str]:
        """What the core cannot do now but goes on without (health shows them)."""
        if self.totals.problem is not None:
            return [f"totals are not saved: {self.totals.problem}"]
        return []

    def seed(self, meter_id: str, saved: SavedTotals) -> None:
        """Totals a meter showed before this start (the state file, a face's own record):
        its glitch guards start from the higher of every source, for that meter only."""
        state = self._states.get(meter_id)
        if state is None or not saved.totals:
            return
        state.supervisor.seed_totals(
            saved.totals, program_id=saved.program_id, shown_at=saved.saved_at
        )

    def attach(self, face: Face) -> None:
        """Feed ``face`` from the pollers (before it starts: it may show meters at once)."""
        self.faces.append(face)
        self.listeners.append(face)

    # -- one reset path ----------------------------------------------------------------------

    async def reset_peak_demand(self, meter_id: str, origin: str) -> ResetOutcome:
        """Reset a meter's peak demand, asked on the face ``origin`` (``mqtt``, ``bacnet``,
        ...): between two polls of its bus, a burst of commands folded into one reset. Never
        raises: a refusal or a failure is an outcome, logged once here."""
        state = self._states.get(meter_id)
        if state is None:
            return ResetOutcome(
                error=f"unknown meter {meter_id[:80]!r}", refusal=Refusal.UNKNOWN_METER
            )
        if not state.can_reset_demand:
            if state.identity is None and state.meter is None:
                return ResetOutcome(
                    error="the meter has not answered yet", refusal=Refusal.NOT_ANSWERED
                )
            return ResetOutcome(
                error="this meter has no documented peak-demand reset", refusal=Refusal.NO_RESET
            )
        name = state.config.name
        where = ORIGINS.get(origin, origin)
        try:
            result, coalesced = await self._poller_of[id(state)].reset_peak_demand(state)
        except LevitonError as err:
            _LOGGER.warning("%s: peak-demand reset from %s failed: %s", name, where, err)
            return ResetOutcome(error=str(err))
        except Exception as err:  # said on the face that asked; the bridge goes on
            _LOGGER.exception("%s: peak-demand reset from %s failed", name, where)
            return ResetOutcome(error=f"{type(err).__name__}: {err}")
        if not coalesced:
            _LOGGER.info(
                "%s: peak demand reset from %s (%s kW -> %s kW, counter %s -> %s)",
                name,
                where,
                result.peak_demand_before,
                result.peak_demand_after,
                result.count_before,
                result.count_after,
            )
        return ResetOutcome(result=result, coalesced=coalesced)

    # -- running -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Take the state directory (``ConfigurationError`` when another bridge holds it),
        seed the totals last shown, and make the meters the configuration names by their
        series (nothing is sent), so that the faces show them from the start."""
        try:
            self.state_dir.acquire()
        except StateDirError as err:
            raise ConfigurationError(str(err)) from None
        for meter_id, saved in (await asyncio.to_thread(self.totals.load)).items():
            self.seed(meter_id, saved)
        for poller in self.pollers:
            await poller.async_prepare()

    async def close(self) -> None:
        """Write the totals last shown, and let go of the state directory."""
        await self.totals.stop()
        self.state_dir.release()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (the faces are attached and started); say ready to
        systemd and feed its watchdog while the core polls."""
        tasks = self.tasks = [
            asyncio.create_task(poller.run(), name=f"poll {poller.config.name}")
            for poller in self.pollers
        ]
        self.totals.start()
        self.started.set()
        faces = ", ".join(status.title for status in self.statuses())
        _LOGGER.info(
            "bridge running: %d bus(es), %d meter(s)%s",
            len(self.pollers),
            len(self._states),
            f"; {faces}" if faces else "",
        )
        supervisor = Supervisor(self.health)
        supervisor.ready(f"polling {len(self._states)} meter(s)")
        try:
            await stop.wait()
        finally:
            self.health.stopping = True
            await supervisor.stopping()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task

"""Server-sent events: an open status page stays current without reloading.

A page opens ``/api/events`` and gets one ``snapshot`` event (everything it shows), then
``update`` events: the meters that changed and the buses that finished a cycle since the last
one, gathered for ``BATCH_S`` so that a bus of many meters is one event, not one per meter.
Every ``TICK_S`` without news a ``bridge`` event carries the faces' state and health (and
keeps proxies from closing the stream).

A Series 8000's metering points (24 rows of six values, the bulk of what changes) go only to
the pages that show them: a page names those meters in ``?points=ID,ID`` (``all`` for every
meter), and opens its stream again when its reader opens or closes a meter's points.

Nothing is built while no page is open: the listeners return at once. What changed is encoded
once for every open page (a meter's points once per poll, for the pages that show them and
the MQTT state alike). A page that
does not keep up (``MAX_BACKLOG`` events waiting) is dropped; its browser reconnects by itself
and starts from a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..core.codec import dumps, iso
from ..core.meter_state import CycleReport, MeterState
from . import views
from .stats import BusStats, MeterTracker

if TYPE_CHECKING:
    from ..core.bridge import BridgeCore

BATCH_S: Final = 0.5
TICK_S: Final = 5.0
MAX_BACKLOG: Final = 64
RETRY_MS: Final = 2000
"""How soon a browser reconnects after the stream broke."""


class Encoded(str):
    """JSON text already encoded, to be placed as it is (``encode``)."""


def encode(data: dict[str, Any]) -> str:
    """A JSON object whose values may be ``Encoded`` text (placed as is)."""
    plain = {key: value for key, value in data.items() if not isinstance(value, Encoded)}
    text = dumps(plain, compact=True)
    encoded = [f"{dumps(key)}:{value}" for key, value in data.items() if isinstance(value, Encoded)]
    if not encoded:
        return text
    return text[:-1] + ("," if plain else "") + ",".join(encoded) + "}"


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {encode(data)}\n\n".encode()


class Subscriber:
    """One open page: the events waiting to be written to it, and whose points it shows."""

    def __init__(self, points: frozenset[str] | None = frozenset()) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_BACKLOG + 1)
        self.points = points
        """The meters whose metering points the page shows (None: every meter's)."""

    def shows_points(self, meter_id: str) -> bool:
        return self.points is None or meter_id in self.points

    def send(self, data: bytes | None) -> None:
        """Queue an event; ``None`` (or a full backlog) ends the stream."""
        if data is not None and self.queue.qsize() < MAX_BACKLOG:
            self.queue.put_nowait(data)
            return
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


def parse_points(text: str | None) -> frozenset[str] | None:
    """``?points=``: meter ids separated by commas, or ``all`` (None)."""
    if text is None or not text.strip():
        return frozenset()
    if text.strip() == "all":
        return None
    return frozenset(part.strip() for part in text.split(",")[:1000] if part.strip())


def _with_points(
    name: str,
    text: str,
    subscriber: Subscriber,
    states: list[MeterState],
) -> bytes:
    """An event of the JSON object ``text``, with the points of those ``states`` that
    ``subscriber`` shows (each meter's encoded once per poll, whoever asks)."""
    shown = [state for state in states if subscriber.shows_points(state.meter_id)]
    parts = []
    for state in shown:
        encoded = state.points_json()  # the MQTT state's, encoded once per poll
        if encoded is not None:
            parts.append(f"{dumps(state.meter_id)}:{encoded}")
    if parts:
        text = f'{text[:-1]},"points":{{{",".join(parts)}}}}}'
    return f"event: {name}\ndata: {text}\n\n".encode()


class LiveFeed:
    """Gathers what changed and sends it to every open page."""

    def __init__(
        self,
        core: BridgeCore,
        tracker: MeterTracker,
        stats: list[BusStats],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.tracker = tracker
        self.stats = {s.poller.config.name: s for s in stats}
        self.clock = clock
        self.subscribers: set[Subscriber] = set()
        self._meters: dict[str, MeterState] = {}
        self._identified: set[str] = set()
        self._buses: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        tracker.on_change = self.meter_changed
        for bus_stats in stats:
            bus_stats.on_cycle = self.bus_cycled

    # -- what changed (called on the event loop by the tracker and the bus statistics) ---------

    def meter_changed(self, state: MeterState, identified: bool) -> None:
        if not self.subscribers:
            return
        self._meters[state.meter_id] = state
        if identified:
            self._identified.add(state.meter_id)
        self._schedule()

    def bus_cycled(self, report: CycleReport) -> None:
        if not self.subscribers:
            return
        self._buses.add(report.bus)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_S, self._flush)

    def _flush(self) -> None:
        self._timer = None
        meters, self._meters = self._meters, {}
        identified, self._identified = self._identified, set()
        buses, self._buses = self._buses, set()
        if not self.subscribers:
            return
        tracker = self.tracker
        update: dict[str, Any] = {
            "now": iso(self.clock()),
            "history": self.history_cycles(),
            "meters": Encoded(
                "[" + ",".join(views.meter_live_json(s, tracker) for s in meters.values()) + "]"
            ),
            "buses": [views.bus_json(self.stats[name]) for name in buses if name in self.stats],
        }
        if identified:
            update["identified"] = [views.meter_static(meters[i]) for i in identified]
        with_points = [
            state for state in meters.values() if state.snapshot and state.snapshot.points
        ]
        text = encode(update)
        plain: bytes | None = None
        for subscriber in list(self.subscribers):
            if any(subscriber.shows_points(state.meter_id) for state in with_points):
                subscriber.send(_with_points("update", text, subscriber, with_points))
                continue
            if plain is None:
                plain = f"event: update\ndata: {text}\n\n".encode()
            subscriber.send(plain)

    # -- pages -------------------------------------------------------------------------------

    def snapshot(self, subscriber: Subscriber) -> bytes:
        """Everything the subscriber's page shows, as its first event."""
        tracker = self.tracker
        states = self.core.states
        data = {
            "now": iso(self.clock()),
            "history": self.history_cycles(),
            "catalogue": views.catalogue(),
            "bridge": self.bridge_state(),
            "buses": [views.bus_json(s) for s in self.stats.values()],
            "meters": [
                {**views.meter_static(state), **views.meter_live(state, tracker)}
                for state in states
            ],
        }
        return f"retry: {RETRY_MS}\n".encode() + _with_points(
            "snapshot", encode(data), subscriber, states
        )

    def history_cycles(self) -> int | None:
        """Boundaries the history has written (a page draws its charts again when this grows);
        None without a history."""
        history = self.core.history
        return history.cycles if history is not None else None

    def bridge_state(self) -> dict[str, Any]:
        return views.bridge_json(self.core.statuses(), self.core.health.check())

    def subscribe(self, points: frozenset[str] | None = frozenset()) -> Subscriber:
        subscriber = Subscriber(points)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def close(self) -> None:
        """End every stream (the server stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for subscriber in list(self.subscribers):
            subscriber.send(None)
        self.subscribers.clear()

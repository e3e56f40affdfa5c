"""Clearing Home Assistant discovery that this bridge published and no longer wants.

The bridge subscribes to every device discovery topic. A discovery message whose state topic
is one of this bridge's (``<base>/<meter>/state``) is ours: when that meter is no longer
configured, it is cleared with an empty retained message, and so are the meter's retained
state and availability; a metering point the meter no longer has (another profile, another
meter) is cleared once the meter says how many points it has; an id this bridge no longer
uses (another base topic prefix) is cleared too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from ..core.meter_state import MeterState
from .mapping import Topics

_LOGGER = logging.getLogger(__name__)


class DiscoveryCleanup:
    """Clears our stale discovery, as it shows up on the broker."""

    def __init__(
        self,
        topics: Topics,
        configured: set[str],
        state_of: Callable[[str], MeterState | None],
        publish: Callable[..., bool],
    ) -> None:
        self.topics = topics
        self.configured = configured
        self.state_of = state_of
        self.publish = publish
        self._point_topics: dict[str, dict[int, str]] = {}
        """Discovery topics of metering points found on the broker, per meter: checked once
        the meter says how many points it has."""
        self._cleared: set[str] = set()

    def reconnected(self) -> None:
        """A new connection: the broker hands every retained discovery message again."""
        self._cleared.clear()

    def seen(self, topic: str, payload: bytes) -> None:
        """A discovery message on the broker: clear it if it is ours and no longer wanted."""
        if not payload:
            return
        try:
            config = json.loads(payload)
        except ValueError:
            return
        meter_id = self.topics.meter_id_of_state(
            config.get("state_topic") if isinstance(config, dict) else None
        )
        if meter_id is None:
            return  # not one of this bridge's
        if meter_id not in self.configured:
            self._clear_meter(meter_id, topic)
            return
        object_id = topic.split("/")[-2]
        meter_object_id = self.topics.object_id(meter_id)
        if object_id == meter_object_id:
            return
        point = object_id.removeprefix(f"{meter_object_id}_p")
        if object_id.startswith(f"{meter_object_id}_p") and point.isdigit():
            self._point_topics.setdefault(meter_id, {})[int(point)] = topic
            self.clear_stale_points(meter_id)
            return
        # Ours (its state topic says so) under an id this bridge no longer uses.
        _LOGGER.info("clearing discovery of %s, which this bridge no longer uses", object_id)
        self.publish(topic, "", retain=True)

    def _clear_meter(self, meter_id: str, topic: str) -> None:
        _LOGGER.info("clearing %s: meter %s is no longer configured", topic, meter_id)
        self.publish(topic, "", retain=True)
        if meter_id not in self._cleared:
            self._cleared.add(meter_id)
            self.publish(self.topics.state(meter_id), "", retain=True)
            self.publish(self.topics.availability(meter_id), "", retain=True)

    def clear_stale_points(self, meter_id: str) -> None:
        """Clear the discovery of points the meter does not have (once it says how many)."""
        state = self.state_of(meter_id)
        if state is None or state.meter is None or state.identity is None:
            return  # checked again once the meter is identified
        points = state.meter.points
        for point, topic in list(self._point_topics.get(meter_id, {}).items()):
            if point > points:
                _LOGGER.info("clearing %s: %s has %d points", topic, state.config.name, points)
                self.publish(topic, "", retain=True)
            del self._point_topics[meter_id][point]

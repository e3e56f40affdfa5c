"""The MQTT mapping: every topic and payload the bridge publishes, generated from the catalogue.

Topics (``base`` is ``mqtt.base_topic``, default ``leviton``; ``meter`` is the meter's id from
the configuration, ``<bus>_u<unit>``):

* ``base/bridge/status``: ``online`` / ``offline``, retained; the bridge's last will.
* ``base/meter/availability``: ``online`` / ``offline``, retained: does the meter answer.
* ``base/meter/state``: one JSON object per poll, retained, in the bridge's one JSON form
  (``core.codec.state_text``): ``{"readings": {...}, "points": {"1": {...}}, "time": "..."}``.
* ``base/meter/reset_peak_demand/set``: send ``PRESS`` to reset peak demand (Series 1000/2000).
  Executed once per message; retained ones are ignored (and cleared): an old command never replays.
* ``base/meter/reset_peak_demand/result``: JSON result of each reset, not retained.
* ``base/meter/availability`` and ``base/bridge/status`` are published when they change (and
  again on every connection); every entity needs both to be ``online``.

Home Assistant discovery uses device discovery, one retained message per device at
``<discovery_prefix>/device/<object_id>/config``: a meter is one device; a Series 8000 metering
point is its own device under the meter (``via_device``). The object id, which is also the
device identifier and the start of every unique id, is ``leviton_<meter>`` (``leviton_<meter>_p<n>``
for a metering point) with the default base topic, ``leviton_<base>_<meter>`` with another one.

A discovery message whose state topic is ``base/<meter>/state`` belongs to this bridge: when
``<meter>`` is no longer configured (or the point no longer exists) it is cleared with an empty
retained message, and so are the meter's retained state and availability. So every bridge
sharing a broker needs its own ``base_topic``.
"""

from __future__ import annotations

from typing import Any, Final

from leviton_driver import LevitonMeter
from leviton_driver.catalogue import Reading

from ..config.settings import MqttConfig, slug
from ..core.meter_state import MeterState

ONLINE: Final = "online"
OFFLINE: Final = "offline"
PRESS: Final = "PRESS"
ORIGIN: Final = {
    "name": "leviton-bridge",
    "sw": "0.1.0",
    "url": "https://github.com/leviton-meters/leviton-meters",
}


class Topics:
    """Topic names for one bridge configuration."""

    def __init__(self, config: MqttConfig) -> None:
        self.base = config.base_topic
        self.discovery_prefix = config.discovery_prefix
        self.bridge_status = f"{self.base}/bridge/status"
        self.homeassistant_status = f"{self.discovery_prefix}/status"
        base = slug(self.base)
        self.id_prefix = "leviton_" if base == "leviton" else f"leviton_{base}_"
        self.discovery_wildcard = f"{self.discovery_prefix}/device/+/config"
        self.command_wildcard = f"{self.base}/+/reset_peak_demand/set"

    def availability(self, meter_id: str) -> str:
        return f"{self.base}/{meter_id}/availability"

    def state(self, meter_id: str) -> str:
        return f"{self.base}/{meter_id}/state"

    def reset_command(self, meter_id: str) -> str:
        return f"{self.base}/{meter_id}/reset_peak_demand/set"

    def reset_result(self, meter_id: str) -> str:
        return f"{self.base}/{meter_id}/reset_peak_demand/result"

    def object_id(self, meter_id: str, point: int | None = None) -> str:
        """Discovery object id (also the device identifier) of a meter or a metering point."""
        return f"{self.id_prefix}{meter_id}" + (f"_p{point}" if point is not None else "")

    def discovery(self, object_id: str) -> str:
        return f"{self.discovery_prefix}/device/{object_id}/config"

    def meter_id_of_command(self, topic: str) -> str | None:
        return self._meter_id(topic, ["reset_peak_demand", "set"])

    def meter_id_of_state(self, topic: Any) -> str | None:
        """The meter whose state topic this is, None if it is not one of this bridge's."""
        return self._meter_id(topic, ["state"]) if isinstance(topic, str) else None

    def _meter_id(self, topic: str, tail: list[str]) -> str | None:
        parts = topic.split("/")
        base = self.base.split("/")
        if parts[: len(base)] != base or parts[len(base) + 1 :] != tail:
            return None
        meter_id = parts[len(base)]
        return meter_id if meter_id and meter_id != "bridge" else None


def _component(reading: Reading, value_template: str, unique_id: str) -> dict[str, Any]:
    component: dict[str, Any] = {
        "platform": "sensor",
        "name": reading.name,
        "unique_id": unique_id,
        "value_template": value_template,
        "suggested_display_precision": reading.precision,
    }
    if reading.unit:
        component["unit_of_measurement"] = reading.unit
    if reading.device_class:
        component["device_class"] = reading.device_class
    if reading.state_class:
        component["state_class"] = reading.state_class
    if reading.entity_category:
        component["entity_category"] = reading.entity_category
    if not reading.enabled_by_default:
        component["enabled_by_default"] = False  # a diagnostic few chart: as the component does
    return component


def _device(state: MeterState, meter: LevitonMeter, identifier: str) -> dict[str, Any]:
    """The meter as a device: what it says about itself. The program id is a diagnostic
    sensor, not the serial number (Leviton only correlates the two)."""
    device: dict[str, Any] = {
        "identifiers": [identifier],
        "manufacturer": "Leviton",
        "name": state.config.name,
        "model": meter.model_label,
    }
    identity = meter.identity
    if identity is not None:
        if identity.model:
            device["model_id"] = identity.model
        if identity.hardware_version:
            device["hw_version"] = identity.hardware_version
        if identity.software_version:
            device["sw_version"] = identity.software_version
    return device


def _common(topics: Topics, meter_id: str) -> dict[str, Any]:
    return {
        "origin": ORIGIN,
        "state_topic": topics.state(meter_id),
        "availability": [
            {"topic": topics.bridge_status},
            {"topic": topics.availability(meter_id)},
        ],
        "availability_mode": "all",
        "qos": 1,
    }


def discovery_messages(topics: Topics, state: MeterState) -> dict[str, dict[str, Any]]:
    """Discovery topic -> payload for a meter (and its metering points), from the meter's own
    description; none for a meter of series ``auto`` that has never answered."""
    meter = state.meter
    if meter is None:
        return {}
    meter_id = state.meter_id
    object_id = topics.object_id(meter_id)
    components: dict[str, Any] = {
        reading.key: _component(
            reading, f"{{{{ value_json.readings.{reading.key} }}}}", f"{object_id}_{reading.key}"
        )
        for reading in meter.readings()
    }
    if meter.can_reset_demand:
        components["reset_peak_demand"] = {
            "platform": "button",
            "name": "Reset peak demand",
            "unique_id": f"{object_id}_reset_peak_demand",
            "command_topic": topics.reset_command(meter_id),
            "payload_press": PRESS,
            "entity_category": "config",
            "qos": 2,  # exactly once, end to end
        }
    messages = {
        topics.discovery(object_id): {
            "device": _device(state, meter, object_id),
            **_common(topics, meter_id),
            "components": components,
        }
    }
    for point in range(1, meter.points + 1):
        point_id = topics.object_id(meter_id, point)
        messages[topics.discovery(point_id)] = {
            "device": {
                "identifiers": [point_id],
                "manufacturer": "Leviton",
                "model": meter.point_model_label,
                "name": f"{state.config.name} point {point}",
                "via_device": object_id,
            },
            **_common(topics, meter_id),
            "components": {
                reading.key: _component(
                    reading,
                    f"{{{{ value_json.points['{point}'].{reading.key} }}}}",
                    f"{point_id}_{reading.key}",
                )
                for reading in meter.point_readings()
            },
        }
    return messages

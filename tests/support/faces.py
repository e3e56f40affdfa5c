"""What the bridge's faces show for one meter: the MQTT discovery components and the BACnet
objects, as keys comparable with Home Assistant's entities. Run with the project's Python:

    .venv/bin/python tests/support/faces.py URL UNIT [PROFILE]

It identifies the meter at ``UNIT`` on ``URL`` (through the profile when given), builds the MQTT
discovery messages and the BACnet objects with the bridge's own mappings, and prints one JSON
object ``{"mqtt": [...], "bacnet": [...]}`` of keys: ``meter/<reading>``, ``point<n>/<reading>``
and ``meter/reset_peak_demand`` for the reset button or object. ``tests/ha`` compares them with
the entities Home Assistant creates for the same meter.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def _identified_already() -> Any:
    raise AssertionError("the meter was identified before it was watched")


async def faces(url: str, unit: int, profile_path: str | None) -> dict[str, list[str]]:
    from leviton_bridge.bacnet import mapping as bacnet_mapping
    from leviton_bridge.config.settings import BusConfig, MeterConfig, MqttConfig
    from leviton_bridge.core.meter_state import MeterState
    from leviton_bridge.mqtt import mapping as mqtt_mapping
    from leviton_driver import Bus, MeterSupervisor, async_load_profile

    bus = Bus(url)
    try:
        profile = await async_load_profile(profile_path) if profile_path else None
        meter = await bus.async_meter(unit, profile=profile)
    finally:
        await bus.async_close()
    config = MeterConfig(unit=unit, name="Meter", bus="lab")
    state = MeterState(
        config=config,
        bus=BusConfig(name="lab", connect=url, poll_interval=10, meters=(config,)),
        supervisor=MeterSupervisor(name="Meter", identify=_identified_already, meter=meter),
    )
    mqtt: set[str] = set()
    topics = mqtt_mapping.Topics(MqttConfig(url="mqtt://b", host="b", port=1883, tls=False))
    meter_object = topics.object_id(state.meter_id)
    for payload in mqtt_mapping.discovery_messages(topics, state).values():
        device: Any = payload["device"]["identifiers"][0]
        where = "meter" if device == meter_object else "point" + device.rsplit("_p", 1)[-1]
        mqtt.update(f"{where}/{key}" for key in payload["components"])
    bacnet = {
        f"{'meter' if spec.point == 0 else f'point{spec.point}'}/{spec.key}"
        for spec in bacnet_mapping.meter_objects(config, meter)
    }
    return {"mqtt": sorted(mqtt), "bacnet": sorted(bacnet)}


def main(argv: list[str]) -> int:
    url, unit = argv[0], int(argv[1])
    profile = argv[2] if len(argv) > 2 else None
    print(json.dumps(asyncio.run(faces(url, unit, profile))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

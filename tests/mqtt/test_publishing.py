"""What the bridge publishes: retained discovery, state that matches the meters, availability.

The bridge runs in the test's loop against a real mosquitto and simulated meters; a test client
subscribed to ``#`` records what reaches the broker, and a newcomer's view shows what is retained.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import pytest

from leviton_bridge.core.codec import state_text
from leviton_bridge.core.meter_state import CycleReport
from leviton_bridge.daemon import Bridge
from leviton_driver import Clocks
from leviton_driver.catalogue import (
    READINGS,
    SERIES_1000_READINGS,
    SERIES_8000_METER_READINGS,
    SERIES_8000_POINT_READINGS,
)
from tests.support.inprocess import StartSimulator

from .conftest import (
    Broker,
    RunBridge,
    bridge_config,
    bus,
    publish,
    refused_command,
    retained,
)

SPEC_2000 = "1:2000:model=2N208-021:load=12:energy=5000:peak=9.5:resets=3"
SPEC_1000 = "2:1000:load=2:energy=800"
SPEC_8000 = "3:8000-8:load=16:energy=1600"
PREFIX = "homeassistant/device"


def _object_ids(points: int = 8) -> set[str]:
    return {"leviton_lab_u1", "leviton_lab_u2", "leviton_lab_u3"} | {
        f"leviton_lab_u3_p{n}" for n in range(1, points + 1)
    }


async def test_discovery_is_retained_and_complete(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, url = await start_simulator(SPEC_2000, SPEC_1000, SPEC_8000)
    watcher = await watch(mosquitto)
    await run_bridge(
        bridge_config(mosquitto, bus("lab", url, {"unit": 1, "name": "Workshop"}, 2, 3))
    )
    await watcher.wait_for("leviton/lab_u3/state")
    seen = await retained(mosquitto)
    discovery = {
        topic.split("/")[2]: message.json()
        for topic, message in seen.items()
        if topic.startswith(f"{PREFIX}/")
    }
    assert set(discovery) == _object_ids()
    assert seen["leviton/bridge/status"].payload == "online"
    for meter in ("lab_u1", "lab_u2", "lab_u3"):
        assert seen[f"leviton/{meter}/availability"].payload == "online"
        assert seen[f"leviton/{meter}/state"].json()["readings"]

    unique_ids: list[str] = []
    for object_id, config in discovery.items():
        meter_id = object_id.removeprefix("leviton_").split("_p")[0]
        # Origin, availability (bridge and meter, both needed) and the one state topic.
        assert config["origin"]["name"] == "leviton-bridge"
        assert config["origin"]["sw"]
        assert config["origin"]["url"].startswith("https://")
        assert config["state_topic"] == f"leviton/{meter_id}/state"
        assert config["availability"] == [
            {"topic": "leviton/bridge/status"},
            {"topic": f"leviton/{meter_id}/availability"},
        ]
        assert config["availability_mode"] == "all"
        device = config["device"]
        assert device["identifiers"] == [object_id]
        assert device["manufacturer"] == "Leviton"
        for key, component in config["components"].items():
            unique_ids.append(component["unique_id"])
            assert component["unique_id"] == f"{object_id}_{key}"
            if component["platform"] == "button":
                continue
            assert component["platform"] == "sensor"
            reading = READINGS[key]
            assert component["name"] == reading.name
            assert component.get("device_class") == reading.device_class
            assert component.get("state_class") == reading.state_class
            assert component.get("unit_of_measurement") == reading.unit
            assert component.get("entity_category") == reading.entity_category
            # Diagnostics come disabled, as the component's own do.
            assert component.get("enabled_by_default", True) == reading.enabled_by_default
            assert component["suggested_display_precision"] == reading.precision
    assert len(unique_ids) == len(set(unique_ids)), "unique ids repeat"

    # Series 2000: what the meter says about itself, every reading, and the reset button.
    workshop = discovery["leviton_lab_u1"]
    assert workshop["device"] == {
        "identifiers": ["leviton_lab_u1"],
        "manufacturer": "Leviton",
        "name": "Workshop",
        "model": "Series 2000",
        "model_id": "2N208-021",
        "hw_version": "3.2",
        "sw_version": "3.2",
    }
    sensors = [k for k, c in workshop["components"].items() if c["platform"] == "sensor"]
    assert sensors == [r.key for r in SERIES_1000_READINGS]
    assert workshop["components"]["demand_reset_count"]["entity_category"] == "diagnostic"
    assert workshop["components"]["uptime"]["entity_category"] == "diagnostic"
    # The program id is a diagnostic sensor of its own (not the serial number, which Leviton
    # only correlates with it).
    assert workshop["components"]["program_id"] == {
        "platform": "sensor",
        "name": "Program id",
        "unique_id": "leviton_lab_u1_program_id",
        "value_template": "{{ value_json.readings.program_id }}",
        "suggested_display_precision": 0,
        "entity_category": "diagnostic",
        "enabled_by_default": False,
    }
    assert workshop["components"]["reset_peak_demand"] == {
        "platform": "button",
        "name": "Reset peak demand",
        "unique_id": "leviton_lab_u1_reset_peak_demand",
        "command_topic": "leviton/lab_u1/reset_peak_demand/set",
        "payload_press": "PRESS",
        "entity_category": "config",
        "qos": 2,
    }
    assert discovery["leviton_lab_u2"]["device"]["model"] == "Series 1000"
    assert discovery["leviton_lab_u2"]["device"]["name"] == "lab unit 2"

    # Series 8000: the meter (voltages, no reset) and each point as its own device under it.
    panel = discovery["leviton_lab_u3"]
    # The simulator uses the provisional Series 8000 register map, and the device says so.
    assert panel["device"]["model"] == "Series 8000 (provisional register map)"
    assert panel["device"]["model_id"] == sim.meters[3].model
    assert "serial_number" not in panel["device"]
    # Its 0x11 answer gives a program id, so it has that sensor too.
    assert list(panel["components"]) == [r.key for r in SERIES_8000_METER_READINGS]
    for point in range(1, 9):
        config = discovery[f"leviton_lab_u3_p{point}"]
        assert config["device"]["via_device"] == "leviton_lab_u3"
        assert config["device"]["model"] == "Series 8000 metering point (provisional register map)"
        assert config["device"]["name"] == f"lab unit 3 point {point}"
        assert list(config["components"]) == [r.key for r in SERIES_8000_POINT_READINGS]
        assert (
            config["components"]["power"]["value_template"]
            == f"{{{{ value_json.points['{point}'].power }}}}"
        )
    assert any(
        r.levelno == logging.WARNING and "register map is PROVISIONAL" in r.getMessage()
        for r in caplog.records
        if r.name == "leviton_bridge.core.poller"
    )


class TickingWall:
    """A wall clock that moves one second at each look: when a read happened is which look it
    took, whatever the machine's own clock does meanwhile."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


async def test_state_matches_the_meters_one_message_per_poll(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    sim, url = await start_simulator(SPEC_2000, SPEC_1000, SPEC_8000)
    watcher = await watch(mosquitto)
    cycles: list[CycleReport] = []
    reads: dict[int, dict[str, str]] = {}
    """Cycle number -> meter -> the state message its read in that cycle should give."""

    wall = TickingWall()

    def prepare(bridge: Bridge) -> None:
        poller = bridge.pollers[0]
        poller.meter_clocks = Clocks(wall=wall)

        def remember(report: CycleReport) -> None:
            cycles.append(report)
            reads[report.number] = {
                s.meter_id: state_text(s.snapshot, s.points_json())
                for s in poller.states
                if s.snapshot
            }

        poller.cycle_listeners.append(remember)

    running = await run_bridge(
        bridge_config(mosquitto, bus("lab", url, 1, 2, 3, interval=0.3)), prepare
    )
    await watcher.wait_for("leviton/lab_u3/state")
    poller = running.poller
    meter_ids = [state.meter_id for state in poller.states]

    # Values as the simulator holds them, in what the next cycle reads.
    energy_before = {unit: sim.meters[unit].energy_delivered() for unit in (1, 2)}
    wall_before = wall.now
    start = poller.cycles + 1  # not begun yet
    await poller.wait_for_cycle(start)
    wall_after = wall.now
    energy_after = {unit: sim.meters[unit].energy_delivered() for unit in (1, 2)}
    assert [(a.meter_id, a.answered) for a in cycles[start - 1].attempts] == [
        ("lab_u1", True),
        ("lab_u2", True),
        ("lab_u3", True),
    ]
    read = {}
    for meter_id in meter_ids:
        # the message of this very read
        message = await watcher.wait_for(
            f"leviton/{meter_id}/state", lambda m, p=reads[start][meter_id]: m.payload == p
        )
        read[meter_id] = message.json()

    state = read["lab_u1"]
    meter = sim.meters[1]
    readings = state["readings"]
    # energy_delivered: read between the two looks at the simulator, at 0.1 kWh resolution
    assert energy_before[1] - 0.11 <= readings["energy_delivered"] <= energy_after[1] + 0.11
    assert readings["energy_received"] == 0.0
    assert readings["peak_demand"] == 9.5
    assert readings["demand_reset_count"] == 3
    assert readings["program_id"] == meter.program_id
    assert set(readings) == {r.key for r in SERIES_1000_READINGS}
    # "time" is when the meter was read, by the meters' wall clock (to the millisecond)
    assert wall_before < _epoch(state["time"]) <= wall_after

    state = read["lab_u2"]
    assert energy_before[2] - 0.11 <= state["readings"]["energy_delivered"]
    assert state["readings"]["energy_delivered"] <= energy_after[2] + 0.11
    assert state["readings"]["peak_demand"] == 2.0

    state = read["lab_u3"]
    assert state["readings"] == {
        "voltage_a": 120.1,
        "voltage_b": 119.8,
        "voltage_c": 120.4,
        "program_id": sim.meters[3].program_id,
    }
    panel = sim.meters[3]
    assert set(state["points"]) == {str(n) for n in range(1, 9)}
    for point, values in state["points"].items():
        load = panel.point_load(int(point))
        assert values["power"] == round(load * 1000)
        assert values["reactive_power"] == round(load * 300)
        assert values["energy_received"] == 0.0
        assert set(values) == {r.key for r in SERIES_8000_POINT_READINGS}
    assert sum(v["power"] for v in state["points"].values()) == sum(
        round(panel.point_load(n) * 1000) for n in range(1, 9)
    )

    # One JSON state message per meter per poll: between the message of one cycle's read and
    # that of a read five cycles later come exactly the four of the cycles in between.
    await poller.wait_for_cycle(start + 5)
    for meter_id in meter_ids:
        for report in cycles[start : start + 5]:  # cycles start + 1 ... start + 5
            attempt = report.attempt(meter_id)
            assert attempt is not None
            assert attempt.answered
        first, last = reads[start][meter_id], reads[start + 5][meter_id]
        topic = f"leviton/{meter_id}/state"
        await watcher.wait_for(topic, lambda m, p=last: m.payload == p)
        payloads = [m.payload for m in watcher.all(topic)]
        between = payloads[payloads.index(first) : payloads.index(last)]
        assert len(between) == 5, (meter_id, between)
        assert len(set(between)) == 5, "a poll was published twice"
        # Availability only when it changes: it said online once, and nothing since.
        assert [m.payload for m in watcher.all(f"leviton/{meter_id}/availability")] == ["online"]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def test_home_assistant_birth_republishes_everything(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    _sim, url = await start_simulator(SPEC_2000, SPEC_8000)
    watcher = await watch(mosquitto)
    # One poll cycle, at start: whatever follows the birth is the answer to it.
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 3, interval=3600)))
    await watcher.wait_for("leviton/lab_u3/state")
    since = watcher.mark()
    await publish(mosquitto, "homeassistant/status", "online", qos=1)
    for object_id in ("leviton_lab_u1", "leviton_lab_u3", "leviton_lab_u3_p8"):
        await watcher.wait_for(f"{PREFIX}/{object_id}/config", since=since)
    await watcher.wait_for("leviton/bridge/status", lambda m: m.payload == "online", since=since)
    await watcher.wait_for("leviton/lab_u1/state", since=since)
    await watcher.wait_for("leviton/lab_u1/availability", since=since)
    # "offline" from Home Assistant asks for nothing (the bridge has handled it once it has
    # answered a command sent after it).
    since = watcher.mark()
    await publish(mosquitto, "homeassistant/status", "offline", qos=1)
    await refused_command(mosquitto, watcher)
    assert watcher.all(f"{PREFIX}/leviton_lab_u1/config", since=since) == []
    assert watcher.all("leviton/lab_u1/state", since=since) == []
    assert running.poller.cycles == 1, "a poll, not the birth, published the state"


async def test_removed_meters_and_points_are_cleared(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    _sim_a, url_a = await start_simulator(SPEC_2000, SPEC_1000, "3:8000-12")
    # Left over from elsewhere: another program's device, and another bridge's (its own base).
    foreign = {
        f"{PREFIX}/zigbee_lamp/config": {"state_topic": "zigbee2mqtt/lamp", "components": {}},
        f"{PREFIX}/leviton_other_lab_u2/config": {
            "state_topic": "other/lab_u2/state",
            "components": {},
        },
    }
    for topic, payload in foreign.items():
        await publish(mosquitto, topic, json.dumps(payload), retain=True)
    # Left over from this bridge under an id it no longer uses (same state topic).
    await publish(
        mosquitto,
        f"{PREFIX}/leviton_leviton_lab_u1/config",
        json.dumps({"state_topic": "leviton/lab_u1/state", "components": {}}),
        retain=True,
    )
    watcher = await watch(mosquitto)
    first = await run_bridge(bridge_config(mosquitto, bus("lab", url_a, 1, 2, 3)))
    await watcher.wait_for("leviton/lab_u3/state")
    await watcher.wait_for(f"{PREFIX}/leviton_leviton_lab_u1/config", lambda m: m.payload == "")
    before = await retained(mosquitto)
    assert {t.split("/")[2] for t in before if t.startswith(PREFIX)} == _object_ids(12) | {
        "zigbee_lamp",
        "leviton_other_lab_u2",
    }
    await first.stop()

    # The meter at unit 3 now has 8 points, and unit 2 is gone from the configuration.
    _sim_b, url_b = await start_simulator(SPEC_2000, "3:8000-8")
    since = watcher.mark()
    await run_bridge(bridge_config(mosquitto, bus("lab", url_b, 1, 3)))
    await watcher.wait_for(f"{PREFIX}/leviton_lab_u3_p12/config", lambda m: m.payload == "")
    await watcher.wait_for(f"{PREFIX}/leviton_lab_u2/config", lambda m: m.payload == "")
    # with the meter's retained state and availability
    await watcher.wait_for("leviton/lab_u2/state", lambda m: m.payload == "", since=since)
    await watcher.wait_for("leviton/lab_u2/availability", lambda m: m.payload == "", since=since)
    await watcher.wait_for("leviton/lab_u3/state", since=since)
    after = await retained(mosquitto)
    assert {t.split("/")[2] for t in after if t.startswith(PREFIX)} == (
        _object_ids(8) - {"leviton_lab_u2"}
    ) | {"zigbee_lamp", "leviton_other_lab_u2"}
    assert "leviton/lab_u2/state" not in after
    assert "leviton/lab_u2/availability" not in after
    assert after["leviton/lab_u1/availability"].payload == "online"
    for topic, payload in foreign.items():
        assert after[topic].json() == payload

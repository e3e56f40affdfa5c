"""What the broker's other clients can cost the bridge: a flood of garbage commands or of Home
Assistant births costs a line a minute and one republish, not one each; a broker that was away
is reconnected within seconds, however long it was gone; nothing grows with what is published."""

from __future__ import annotations

import asyncio
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from leviton_bridge.mqtt import face as mqtt_face
from tests.support import PATIENCE
from tests.support.inprocess import StartSimulator

from .conftest import Broker, RunBridge, Watcher, bridge_config, bus, refused_command

SET = "leviton/lab_u1/reset_peak_demand/set"
RESULT = "leviton/lab_u1/reset_peak_demand/result"


async def _flood(broker: Broker, topic: str, payloads: list[str]) -> None:
    """Publish every payload (QoS 1) from one client, as fast as the broker takes them."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{broker.port}")
    broker.prepare(client)
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for payload in payloads]
        for info in infos:
            await asyncio.to_thread(info.wait_for_publish, PATIENCE)
    finally:
        client.disconnect()
        client.loop_stop()


async def test_a_flood_of_garbage_commands_costs_a_line_a_minute(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, url = await start_simulator("1:2000:load=0", "2:2000:load=0")
    watcher: Watcher = await watch(mosquitto)
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 2, interval=0.2)))
    await watcher.wait_for("leviton/lab_u1/state")
    cycles = running.poller.cycles
    since = watcher.mark()
    await _flood(mosquitto, SET, [f"garbage {n}" for n in range(2000)])
    await refused_command(mosquitto, watcher, "lab_u2")  # a barrier: every message handled
    face = running.mqtt
    # mosquitto queues at most 1,000 messages for a client that is behind (max_queued_messages)
    # and drops the rest: what reached the bridge is a flood all the same.
    refused = face.commands.refused - 1  # the barrier
    assert 1000 <= refused <= 2000
    lines = [
        r
        for r in caplog.records
        if r.name.startswith("leviton_bridge.mqtt") and "refused" in r.getMessage()
    ]
    assert len([r for r in lines if "lab_u1" in r.getMessage()]) == 1  # the rest are counted
    results = watcher.all(RESULT, since=since)
    # At most one refusal answered a second: far fewer than the commands (the bridge handles
    # far more than a hundred a second).
    assert 1 <= len(results) <= 1 + refused // 100
    clears = [m for m in watcher.all(SET, since=since) if m.payload == ""]
    assert len(clears) == len(results)
    assert sim.meters[1].reset_count == 0
    assert running.poller.cycles > cycles  # polling went on


async def test_a_storm_of_births_is_one_republish(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mqtt_face, "REPUBLISH_DELAY_S", (1.0, 1.0))
    _sim, url = await start_simulator("1:2000:load=0", "3:8000-8:load=0")
    watcher: Watcher = await watch(mosquitto)
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 3)))
    await watcher.wait_for("homeassistant/device/leviton_lab_u3_p8/config")
    face = running.mqtt
    since = watcher.mark()
    await _flood(mosquitto, "homeassistant/status", ["online"] * 200)
    await watcher.wait_until(lambda: face.births == 200, "every birth heard")
    await watcher.wait_for("homeassistant/device/leviton_lab_u3_p8/config", since=since)
    # Births still arriving when the first republish went out may ask for one more.
    assert 1 <= face.republished <= 2
    await refused_command(mosquitto, watcher)  # a barrier: the republish is all through
    configs = watcher.all("homeassistant/device/leviton_lab_u1/config", since=since)
    assert len(configs) == face.republished


async def test_the_broker_is_tried_again_within_seconds(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge
) -> None:
    """However long the broker stays away, the bridge tries it every ``RECONNECT_MAX_S``:
    six failed attempts come within the test's patience (they took 31 s when the backoff grew
    to a minute)."""
    _sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1)))
    face = running.mqtt
    await face.wait_until(lambda: face.connections >= 1)
    mosquitto.stop()
    await face.wait_until(lambda: face.connect_failures >= 6)
    mosquitto.start()
    await face.wait_until(lambda: face.connections >= 2)


async def test_nothing_grows_with_what_is_published(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge
) -> None:
    """Every container the MQTT face keeps is as large after 40 polls as after 10: nothing is
    kept per message published (a list of publish lags once grew by 8 MB an hour)."""
    _sim, url = await start_simulator("1:2000:load=3", "3:8000-8:load=3")
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 3, interval=0.1)))
    face = running.mqtt

    def sizes() -> dict[str, int]:
        found = {}
        for owner in (face, face.link, face.commands, face.cleanup):
            for name, value in vars(owner).items():
                if hasattr(value, "__len__") and not isinstance(value, str | bytes):
                    found[f"{type(owner).__name__}.{name}"] = len(value)
        return found

    await running.poller.wait_for_cycle(10)
    published = face.published
    before = sizes()
    await running.poller.wait_for_cycle(40)
    assert face.published > published + 30
    assert sizes() == before

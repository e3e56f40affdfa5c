"""The bridge's life: last will after kill -9, clean SIGTERM, broker down at start or restarted."""

from __future__ import annotations

import logging
import signal
from typing import Any

import pytest

from leviton_bridge.core.codec import state_text
from tests.support.inprocess import StartSimulator

from .conftest import (
    Broker,
    RunBridge,
    StartBridgeProcess,
    StartBroker,
    bridge_config,
    bus,
    retained,
)

SPECS = ("1:2000:load=12:energy=5000", "3:8000-8:load=16")
STATUS = "leviton/bridge/status"


async def test_last_will_after_kill_9(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    bridge_process: StartBridgeProcess,
    watch: Any,
) -> None:
    _sim, url = await start_simulator(*SPECS)
    watcher = await watch(mosquitto)
    bridge = bridge_process(bridge_config(mosquitto, bus("lab", url, 1, 3)))
    await watcher.wait_for(STATUS, lambda m: m.payload == "online")
    await watcher.wait_for("leviton/lab_u3/state")
    since = watcher.mark()
    bridge.signal(signal.SIGKILL)
    assert await bridge.exit_code() == -signal.SIGKILL
    # Nobody said goodbye: the broker publishes the will.
    await watcher.wait_for(STATUS, lambda m: m.payload == "offline", since=since)
    seen = await retained(mosquitto)
    assert seen[STATUS].payload == "offline"
    # Discovery stays; every entity also needs the bridge status, so all are unavailable now.
    assert "homeassistant/device/leviton_lab_u1/config" in seen
    assert seen["leviton/lab_u1/availability"].payload == "online"


async def test_sigterm_says_offline_first_and_exits_cleanly(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    bridge_process: StartBridgeProcess,
    watch: Any,
) -> None:
    _sim, url = await start_simulator(*SPECS)
    watcher = await watch(mosquitto)
    bridge = bridge_process(bridge_config(mosquitto, bus("lab", url, 1, 3, interval=0.2)))
    await watcher.wait_for(STATUS, lambda m: m.payload == "online")
    await watcher.wait_for("leviton/lab_u3/state")
    # Stop it while it polls: right after it has read the first meter of a cycle.
    await watcher.wait_for("leviton/lab_u1/state", since=watcher.mark())
    since = watcher.mark()
    bridge.signal(signal.SIGTERM)
    assert await bridge.exit_code() == 0, bridge.log
    offline = await watcher.wait_for(STATUS, lambda m: m.payload == "offline", since=since)
    after = watcher.all(since=since)
    topics = [m.topic for m in after]
    # Each meter and then the bridge say offline, and nothing is published after that.
    assert topics[-3:] == ["leviton/lab_u1/availability", "leviton/lab_u3/availability", STATUS]
    assert [m.payload for m in after[-3:]] == ["offline"] * 3
    assert after[-1] == offline
    assert "bridge stopped" in bridge.log
    assert "Traceback" not in bridge.log
    seen = await retained(mosquitto)
    assert seen[STATUS].payload == "offline"
    assert seen["leviton/lab_u1/availability"].payload == "offline"


async def test_broker_restart_republishes_everything(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    _sim, url = await start_simulator(*SPECS)
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 3, interval=0.3)))
    watcher = await watch(mosquitto)
    await watcher.wait_for("leviton/lab_u3/state")
    before = await retained(mosquitto)
    assert len(before) == 15  # status, 2 x (availability, state), 1 + 1 + 8 discovery

    # Broker gone for a while (its retained messages with it: persistence is off).
    publisher, poller = running.mqtt, running.poller
    mosquitto.stop()
    failures = publisher.connect_failures
    # The bridge notices, tries to reconnect (and fails), and keeps polling meanwhile.
    await publisher.wait_until(lambda: publisher.connect_failures > failures)
    await poller.wait_for_cycle(poller.cycles + 5)
    assert not running.task.done(), "the bridge gave up"
    assert not publisher.connected.is_set()
    since = watcher.mark()
    mosquitto.start()

    # It connects again and publishes everything again (the watcher reconnects too, and gets
    # what it missed as retained messages).
    await watcher.wait_until(
        lambda: {m.topic for m in watcher.all(since=since) if m.payload} >= set(before),
        "every topic again",
    )
    seen = await retained(mosquitto)
    assert set(seen) == set(before), sorted(set(before) ^ set(seen))
    assert seen[STATUS].payload == "online"
    for topic, message in before.items():
        if topic.startswith("homeassistant/"):
            assert seen[topic].json() == message.json()
    await watcher.wait_for("leviton/lab_u1/state", since=watcher.mark())
    assert not running.task.done()


async def test_broker_down_at_start(
    start_broker: StartBroker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = start_broker(running=False)
    sim, url = await start_simulator(*SPECS)
    # One poll cycle, at start, while the broker is down.
    running = await run_bridge(bridge_config(broker, bus("lab", url, 1, 3, interval=3600)))
    publisher = running.mqtt
    await running.poller.wait_for_cycle(1)
    # It polls meanwhile, and says once (not at every retry) why it cannot publish.
    await publisher.wait_until(lambda: publisher.connect_failures >= 2)
    assert not running.task.done()
    assert all(state.snapshot is not None for state in running.bridge.states)
    assert publisher.published == 0
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("leviton_bridge.mqtt") and r.levelno == logging.WARNING
    ]
    assert warnings == [
        f"MQTT broker {broker.url}: cannot connect: connection refused (is the broker running, "
        "and on this port?); retrying with backoff"
    ]
    broker.start()
    watcher = await watch(broker)
    await watcher.wait_for(STATUS, lambda m: m.payload == "online")
    # The state it had read meanwhile comes as soon as it connects, with the discovery.
    await watcher.wait_for("homeassistant/device/leviton_lab_u3_p8/config")
    await watcher.wait_for("leviton/lab_u3/state")
    assert running.poller.cycles == 1, "a second poll ran: the state may be its"
    seen = await retained(broker)
    for bridge_state in running.bridge.states:
        assert bridge_state.snapshot is not None
        message = seen[f"leviton/{bridge_state.meter_id}/state"]
        assert message.payload == state_text(bridge_state.snapshot, bridge_state.points_json())
    energy = seen["leviton/lab_u1/state"].json()["readings"]["energy_delivered"]
    assert 5000 <= energy <= sim.meters[1].energy_delivered() + 0.11
    assert "homeassistant/device/leviton_lab_u3_p8/config" in seen

"""Energy totals never go backwards across a restart, even a ``kill -9`` while the meters'
totals glitch: the bridge is killed at random moments, 50 times, and every total it published
is checked in order, as Home Assistant's Energy dashboard would read them."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.mqtt.conftest import Watcher
from tests.support.bridge_process import BridgeProcess
from tests.support.inprocess import StartSimulator
from tests.support.mosquitto import Broker

RESTARTS = 50
GLITCH = 0.3
"""A third of the reads glitch: 0, or a thousand times the total."""
SPIKE_KWH = 0.5
"""More than this between two published totals of one meter is a spike: at the simulated
loads (30 kW at most) the meters count less than that over the whole test."""
METERS = (
    "1:2000:load=30:energy=3000",
    "2:2000:load=0:energy=2008",
    "3:8000-8:load=16:energy=1600",
)


def totals_of(payload: Any) -> dict[str, float]:
    """Every energy total in a state message, by name (``energy_delivered``, ``3/...``)."""
    found = {
        key: float(value)
        for key, value in payload["readings"].items()
        if key.startswith(("energy_", "reactive_energy_")) and value is not None
    }
    for point, values in payload.get("points", {}).items():
        for key, value in values.items():
            if key.startswith(("energy_", "reactive_energy_")) and value is not None:
                found[f"{point}/{key}"] = float(value)
    return found


async def test_totals_never_go_backwards_across_kill_9(
    tmp_path: Path, mosquitto: Broker, start_simulator: StartSimulator, watch: Any
) -> None:
    sim, url = await start_simulator(*METERS)
    watcher: Watcher = await watch(mosquitto, "leviton/+/state")
    config = {
        "buses": [
            {
                "name": "lab",
                "connect": f"{url}?timeout=0.3",
                "poll_interval": 0.1,
                "meters": [{"unit": 1}, {"unit": 2}, {"unit": 3}],
            }
        ],
        "mqtt": {"url": mosquitto.url},
        "state_dir": str(tmp_path / "state"),
        "log_level": "warning",
    }
    moments = random.Random(20261206)
    for restart in range(RESTARTS):
        bridge = BridgeProcess.start(config, tmp_path, name=f"bridge-{restart % 2}")
        try:
            since = watcher.mark()
            # Killed after a random number of its states (0: as soon as it has one meter's).
            wanted = moments.randint(1, 9)
            await watcher.wait_until(
                lambda since=since, wanted=wanted: len(watcher.all(since=since)) >= wanted,
                f"{wanted} states from bridge {restart}",
            )
            if restart == 0:
                # The first start ever has nothing to start from: the meters glitch from now on.
                for meter in sim.meters.values():
                    meter.spec.glitch = GLITCH
        finally:
            bridge.kill()
    published: dict[tuple[str, str], list[float]] = defaultdict(list)
    for message in watcher.all():
        if message.payload:
            for name, value in totals_of(message.json()).items():
                published[(message.topic, name)].append(value)
    assert {topic for topic, _name in published} == {
        "leviton/lab_u1/state",
        "leviton/lab_u2/state",
        "leviton/lab_u3/state",
    }
    backwards = [
        (where, before, after)
        for where, values in published.items()
        for before, after in itertools.pairwise(values)
        if after < before
    ]
    spikes = [
        (where, before, after)
        for where, values in published.items()
        for before, after in itertools.pairwise(values)
        if after - before > SPIKE_KWH
    ]
    assert (backwards, spikes) == ([], [])
    assert sum(len(values) for values in published.values()) > RESTARTS
    glitched = sum(meter.glitches_served for meter in sim.meters.values())
    assert glitched > RESTARTS  # the meters did glitch, many times

"""One JSON form of a meter (``core.codec``): its rules, and the four outputs that use it (the
MQTT state, ``/api/meters``, the page's live events and ``read --json``), each checked against
the codec for the same meters."""

from __future__ import annotations

import asyncio
import io
import json
import math
from datetime import datetime
from typing import Any

import aiohttp

from leviton_bridge.cli import main
from leviton_bridge.core import codec
from leviton_driver import Identity, Series, Snapshot
from tests.mqtt.conftest import retained
from tests.support.inprocess import StartSimulator
from tests.support.mosquitto import Broker
from tests.support.running import RunBridge
from tests.support.statuspage import bridge_config

METERS = ("1:2000:load=0:energy=1234.5", "3:8000-8:load=0")


def test_the_rules() -> None:
    snapshot = Snapshot(
        time=1764547199.5,
        readings={"energy_delivered": 12.3, "derived_power": None, "peak_demand": math.nan},
        points={1: {"power": math.inf, "energy_delivered": 4.5}},
    )
    data = json.loads(codec.state_text(snapshot, codec.points_text(snapshot)))
    assert data == {
        "readings": {"energy_delivered": 12.3, "derived_power": None, "peak_demand": None},
        "time": "2025-11-30T23:59:59.500+00:00",
        "points": {"1": {"power": None, "energy_delivered": 4.5}},
    }
    assert json.loads(codec.dumps(codec.snapshot_json(snapshot))) == data
    identity = Identity(unit_id=1, series=Series.S2000, program_id=7)
    assert codec.meter_json(identity, snapshot)["series"] == "2000"
    assert codec.iso(None) is None


def _is_iso(text: Any) -> bool:
    return isinstance(text, str) and datetime.fromisoformat(text).utcoffset() is not None


async def _read_json(url: str, unit: int) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(
        main, ["read", "--connect", url, "--unit", str(unit), "--json"], out, err
    )
    assert code == 0, err.getvalue()
    data: dict[str, Any] = json.loads(out.getvalue())
    return data


async def _first_event(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url + "api/events?points=all") as stream:
        async for line in stream.content:
            if line.startswith(b"data: "):
                data: dict[str, Any] = json.loads(line[6:])
                return data
    raise AssertionError("no event")


async def test_every_output_is_the_codecs(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    _sim, url = await start_simulator(*METERS)
    running = await run_bridge(bridge_config(mosquitto, url, 1, 3))
    poller = running.poller
    await poller.wait_for_cycle(2)
    states = {state.meter_id: state for state in poller.states}
    assert all(state.snapshot is not None for state in states.values())
    # Hold the snapshots still while the outputs are read: the poller runs on.
    snapshots = {meter_id: state.snapshot for meter_id, state in states.items()}
    published = await retained(mosquitto, "leviton/+/state")
    async with http.get(running.url + "api/meters") as answer:
        api = {meter["id"]: meter for meter in await answer.json()}
    event = await _first_event(http, running.url)
    live = {meter["id"]: meter for meter in event["meters"]}
    for meter_id, state in states.items():
        snapshot = snapshots[meter_id]
        assert snapshot is not None
        expected = codec.snapshot_json(snapshot)
        # 1. MQTT: the codec's form, of whichever poll was published last (the exact text is
        #    checked in tests/mqtt/test_lifecycle.py).
        mqtt = published[f"leviton/{meter_id}/state"].json()
        assert set(mqtt) == set(expected)
        assert set(mqtt["readings"]) == set(expected["readings"])
        assert _is_iso(mqtt["time"])
        # 2. /api/meters: the codec's identity and poll, with the bridge's own keys beside.
        shown = api[meter_id]
        assert state.identity is not None
        assert {k: shown[k] for k in codec.identity_json(state.identity)} == codec.identity_json(
            state.identity
        )
        assert set(shown["readings"]) == set(expected["readings"])
        assert _is_iso(shown["time"])
        assert _is_iso(shown["last_read"])
        assert ("points" in shown) == ("points" in expected)
        # 3. The page's live events: the same readings, the same time format.
        assert set(live[meter_id]["readings"]) == set(expected["readings"])
        assert _is_iso(live[meter_id]["read"])
        assert _is_iso(event["now"])
        if "points" in expected:
            assert set(event["points"][meter_id]) == set(expected["points"])
            assert set(shown["points"]) == set(expected["points"])
            assert set(mqtt["points"]) == set(expected["points"])
    # 4. read --json: the codec's meter_json of its own read, with the same keys and rules.
    for unit, meter_id in ((1, "lab_u1"), (3, "lab_u3")):
        read = await _read_json(url, unit)
        state = states[meter_id]
        snapshot = snapshots[meter_id]
        assert state.identity is not None
        assert snapshot is not None
        assert set(read) == set(codec.meter_json(state.identity, snapshot))
        assert set(read["readings"]) == set(codec.snapshot_json(snapshot)["readings"])
        assert _is_iso(read["time"])
    # Unknown is null everywhere: derived power needs energy steps, which a still load has not.
    assert published["leviton/lab_u1/state"].json()["readings"]["derived_power"] is None
    assert api["lab_u1"]["readings"]["derived_power"] is None
    assert live["lab_u1"]["readings"]["derived_power"] is None
    assert (await _read_json(url, 1))["readings"]["derived_power"] is None

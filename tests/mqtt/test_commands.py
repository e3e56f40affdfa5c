"""Peak-demand reset through MQTT: once per command, never from a retained one, result published."""

from __future__ import annotations

from typing import Any

from support.inprocess import StartSimulator

from .conftest import Broker, RunBridge, Watcher, bridge_config, bus, publish

SET = "leviton/lab_u1/reset_peak_demand/set"
RESULT = "leviton/lab_u1/reset_peak_demand/result"


async def _press(broker: Broker, watcher: Watcher, *, qos: int = 2) -> dict[str, Any]:
    """Press the reset button of unit 1; its result."""
    since = watcher.mark()
    await publish(broker, SET, "PRESS", qos=qos)
    result: dict[str, Any] = (await watcher.wait_for(RESULT, since=since)).json()
    return result


async def test_reset_runs_once_per_command_and_publishes_the_new_peak(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    sim, url = await start_simulator("1:2000:load=12:peak=9.5:resets=3", "2:2000:peak=4")
    meter = sim.meters[1]
    watcher = await watch(mosquitto)
    # One poll cycle, at start: a state message after the command can only be the reset's own.
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 2, interval=3600)))
    first = await watcher.wait_for("leviton/lab_u1/state")
    assert first.json()["readings"]["peak_demand"] == 9.5

    since = watcher.mark()
    result = await _press(mosquitto, watcher)
    assert result["ok"] is True
    assert (result["reset_count_before"], result["reset_count_after"]) == (3, 4)
    assert result["peak_demand_before"] == 9.5
    assert result["peak_demand_after"] == 0.0
    state = await watcher.wait_for("leviton/lab_u1/state", since=since, what="(the new peak)")
    assert state.json()["readings"]["peak_demand"] == 0.0
    assert state.json()["readings"]["demand_reset_count"] == 4
    assert running.poller.cycles == 1, "a second poll ran: the new peak may be its"
    assert sim.meters[2].reset_count == 0

    # A second command is a second reset; resets of one meter run one after another, so its
    # "before" shows that the first command reset the meter once (QoS 2: exactly once).
    result = await _press(mosquitto, watcher, qos=1)
    assert (result["ok"], result["reset_count_before"], result["reset_count_after"]) == (
        True,
        4,
        5,
    )
    # ... and a third shows the second ran once.
    result = await _press(mosquitto, watcher)
    assert (result["reset_count_before"], result["reset_count_after"]) == (5, 6)
    assert meter.reset_count == 6
    assert [m.json()["reset_count_after"] for m in watcher.all(RESULT)] == [4, 5, 6]


async def test_retained_and_wrong_commands_do_nothing(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    sim, url = await start_simulator("1:2000:peak=9.5:resets=3", "3:8000-8")
    # A retained PRESS left on the broker must not reset the meter when the bridge (re)starts.
    await publish(mosquitto, SET, "PRESS", qos=1, retain=True)
    watcher = await watch(mosquitto)
    await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 3, interval=0.5)))
    await watcher.wait_for("leviton/lab_u3/state")
    # The bridge clears the retained command, so it does not come back at the next start.
    await watcher.wait_for(SET, lambda m: m.payload == "", what="(cleared)")

    since = watcher.mark()
    await publish(mosquitto, SET, "press it", qos=2)
    result = (await watcher.wait_for(RESULT, since=since)).json()
    assert result["ok"] is False
    assert "expected PRESS" in result["error"]

    await publish(mosquitto, "leviton/lab_u3/reset_peak_demand/set", "PRESS", qos=2)
    result = (await watcher.wait_for("leviton/lab_u3/reset_peak_demand/result")).json()
    assert result == {
        "ok": False,
        "error": "this meter has no documented peak-demand reset",
        "time": result["time"],
    }

    await publish(mosquitto, "leviton/attic_u9/reset_peak_demand/set", "PRESS", qos=2)
    result = (await watcher.wait_for("leviton/attic_u9/reset_peak_demand/result")).json()
    assert result["ok"] is False
    assert result["error"] == "unknown meter 'attic_u9'"

    # A real command now: resets of one meter run one after another, so its "before" shows
    # that nothing above reset the meter.
    result = await _press(mosquitto, watcher)
    assert (result["ok"], result["reset_count_before"], result["reset_count_after"]) == (
        True,
        3,
        4,
    )
    assert [m.json()["ok"] for m in watcher.all(RESULT)] == [False, True]
    assert sim.meters[1].reset_count == 4


async def test_reset_failure_is_reported(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    sim, url = await start_simulator("1:2000:peak=9.5:resets=3")
    watcher = await watch(mosquitto)
    await run_bridge(bridge_config(mosquitto, bus("lab", f"{url}?timeout=0.2", 1, interval=3600)))
    await watcher.wait_for("leviton/lab_u1/state")
    sim.silence(1)
    result = await _press(mosquitto, watcher)
    assert result["ok"] is False
    assert "unit 1" in result["error"]
    assert "no answer" in result["error"]
    assert sim.meters[1].reset_count == 3

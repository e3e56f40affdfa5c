"""Peak-demand reset through MQTT: once per command (a burst of commands is one reset), never
from a retained one, result published, and polling of the other meters undisturbed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from leviton_bridge.core.poller import RESET_COALESCE_S
from leviton_bridge.daemon import Bridge
from leviton_bridge.simulator import LineSettings
from tests.support import SteppedClock
from tests.support.inprocess import StartSimulator

from .conftest import Broker, RunBridge, Watcher, bridge_config, bus, publish, retained

SET = "leviton/lab_u1/reset_peak_demand/set"
RESULT = "leviton/lab_u1/reset_peak_demand/result"


async def _press(broker: Broker, watcher: Watcher, *, qos: int = 2) -> dict[str, Any]:
    """Press the reset button of unit 1; its result."""
    since = watcher.mark()
    await publish(broker, SET, "PRESS", qos=qos)
    result: dict[str, Any] = (await watcher.wait_for(RESULT, since=since)).json()
    return result


def _with_clock(clock: SteppedClock) -> Callable[[Bridge], None]:
    def prepare(bridge: Bridge) -> None:
        for poller in bridge.pollers:
            poller.clock = clock

    return prepare


async def test_reset_runs_once_per_command_and_publishes_the_new_peak(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    sim, url = await start_simulator("1:2000:load=12:peak=9.5:resets=3", "2:2000:peak=4")
    meter = sim.meters[1]
    watcher = await watch(mosquitto)
    clock = SteppedClock()
    # One poll cycle, at start: a state message after the command can only be the reset's own.
    running = await run_bridge(
        bridge_config(mosquitto, bus("lab", url, 1, 2, interval=3600)), _with_clock(clock)
    )
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

    assert result["coalesced"] is False
    # A second command, a while later, is a second reset; resets of one meter run one after
    # another, so its "before" shows that the first command reset the meter once (QoS 2:
    # exactly once).
    clock.advance(RESET_COALESCE_S)
    result = await _press(mosquitto, watcher, qos=1)
    assert (result["ok"], result["reset_count_before"], result["reset_count_after"]) == (
        True,
        4,
        5,
    )
    # ... and a third shows the second ran once.
    clock.advance(RESET_COALESCE_S)
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


async def test_a_burst_of_commands_is_one_reset_and_the_other_meters_keep_their_polls(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    """Forty presses of two meters' buttons at once, on a slow RS485 line: each meter is reset
    once, every press gets a result (all but one "coalesced"), and the meters on the bus are
    polled between the resets: between two polls of a meter, at most one reset ran. (The line
    is busy for longer than the poll interval, so the bus never idles between cycles.)"""
    line = LineSettings(baud=9600, turnaround=0.01)
    sim, url = await start_simulator(
        "1:2000:peak=9:resets=3", "2:2000:peak=4:resets=7", "3:2000", "4:1000", line=line
    )
    watcher = await watch(mosquitto)
    running = await run_bridge(bridge_config(mosquitto, bus("lab", url, 1, 2, 3, 4, interval=0.1)))
    await watcher.wait_for("leviton/lab_u4/state")
    since = watcher.mark()
    presses = 20
    client_topics = [f"leviton/lab_u{unit}/reset_peak_demand/set" for unit in (1, 2)]
    await asyncio.gather(
        *(publish(mosquitto, topic, "PRESS", qos=1) for topic in client_topics * presses)
    )
    results = {}
    for unit in (1, 2):
        topic = f"leviton/lab_u{unit}/reset_peak_demand/result"
        await watcher.wait_until(
            lambda topic=topic: len(watcher.all(topic, since=since)) >= presses,  # type: ignore[misc]
            f"a result for each press of unit {unit}",
        )
        results[unit] = [m.json() for m in watcher.all(topic, since=since)]
    for unit, before in ((1, 3), (2, 7)):
        assert len(results[unit]) == presses
        assert all(r["ok"] for r in results[unit]), results[unit]
        assert [r["reset_count_after"] for r in results[unit]] == [before + 1] * presses
        assert sum(1 for r in results[unit] if not r["coalesced"]) == 1
        assert sim.meters[unit].reset_count == before + 1
    # A few polls more, then read the order of the requests the meters served.
    await running.poller.wait_for_cycle(running.poller.cycles + 3)
    served = list(sim.served)
    reset_at = [i for i, (_unit, function, _address, _n) in enumerate(served) if function == 0x06]
    assert len(reset_at) == 2
    for unit in (1, 2, 3, 4):
        polls = [i for i, (u, f, a, _n) in enumerate(served) if u == unit and (f, a) == (0x03, 0)]
        for earlier, later in itertools.pairwise(polls):
            resets_between = sum(1 for i in reset_at if earlier < i < later)
            assert resets_between <= 1, f"unit {unit} waited for {resets_between} resets"


async def test_a_command_published_with_retain_while_running_runs_once_and_is_cleared(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    """The broker hands a retained message to a subscriber that is already there with
    retain=0: the bridge runs it (someone pressed now) and clears it, so that a restart does
    not run it again."""
    sim, url = await start_simulator("1:2000:peak=9.5:resets=3")
    watcher = await watch(mosquitto)
    config = bridge_config(mosquitto, bus("lab", url, 1, interval=3600))
    running = await run_bridge(config)
    await watcher.wait_for("leviton/lab_u1/state")
    since = watcher.mark()
    await publish(mosquitto, SET, "PRESS", qos=1, retain=True)
    result = (await watcher.wait_for(RESULT, since=since)).json()
    assert (result["ok"], result["reset_count_after"]) == (True, 4)
    await watcher.wait_for(SET, lambda m: m.payload == "", since=since, what="(cleared)")
    await running.stop()

    # Nothing is left on the broker for a restart to act on.
    assert SET not in await retained(mosquitto)
    restarted = await run_bridge(config)
    await restarted.poller.wait_for_cycle(1)
    assert sim.meters[1].reset_count == 4

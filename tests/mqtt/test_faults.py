"""One bad device never stops the rest: the bridge against short answers, an echoing gateway,
a device that is not a Leviton meter, and meters swapped at the same unit id.

What the bridge did is read from its cycle reports and from what it published; nothing here
waits for a time.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from leviton_bridge.core.meter_state import CycleReport
from leviton_bridge.daemon import Bridge
from leviton_bridge.simulator import MeterSpec
from leviton_driver import DEFAULT_SETTINGS
from tests.support import SteppedClock
from tests.support.echo import echo_gateway
from tests.support.inprocess import StartSimulator

from .conftest import Broker, RunBridge, Watcher, bridge_config, bus, fast

__all__ = ["echo_gateway"]  # a fixture

SWAP_WARNING = "another meter answers at its unit id"


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info]


def _offline(watcher: Watcher, meter_id: str) -> Any:
    return watcher.wait_for(
        f"leviton/{meter_id}/availability", lambda m: m.payload == "offline", what="(offline)"
    )


async def test_short_answers_take_one_meter_offline_and_the_rest_keep_their_rate(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    echo_gateway: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unit 1 answers every read with one register fewer than asked; a second bus is an
    echoing gateway (every answer short). Both are short answers: those meters go offline
    and say why; unit 2 is polled and answers in every cycle; no traceback anywhere."""
    caplog.set_level(logging.INFO)
    sim, url = await start_simulator("1:2000", "2:2000:energy=222")
    sim.meters[1].fewer_registers = 10**6
    cycles: list[CycleReport] = []

    def record(bridge: Bridge) -> None:
        bridge.pollers[0].cycle_listeners.append(cycles.append)

    watcher = await watch(mosquitto)
    running = await run_bridge(
        bridge_config(
            mosquitto,
            bus("lab", fast(url, 0.3), 1, 2, interval=0.1),
            bus("echo", f"rtu+tcp://127.0.0.1:{echo_gateway}?timeout=0.3", 1, 2, interval=0.1),
        ),
        record,
    )
    await _offline(watcher, "lab_u1")
    await _offline(watcher, "echo_u1")
    await _offline(watcher, "echo_u2")
    lab = running.bridge.pollers[0]
    await lab.wait_for_cycle(lab.cycles + 5)
    states = {state.meter_id: state for state in running.bridge.states}
    for meter_id in ("lab_u1", "echo_u1", "echo_u2"):
        assert states[meter_id].available is False
        assert "cut short" in (states[meter_id].last_error or ""), states[meter_id].last_error
    # Unit 2 answered in every cycle, and its readings are its own.
    assert all(c.attempt("lab_u2") is not None and c.attempt("lab_u2").answered for c in cycles)  # type: ignore[union-attr]
    assert states["lab_u2"].snapshot is not None
    assert states["lab_u2"].snapshot.readings["energy_delivered"] == pytest.approx(222, abs=0.2)
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize("series", ["auto", "2000"])
async def test_a_device_that_is_not_a_leviton_meter_is_refused(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    series: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Modbus device whose 0x11 answer names another maker is never taken for a meter,
    even where the configuration says it is one: it shows offline, with the reason."""
    _sim, url = await start_simulator("1:2000", "4:foreign")
    watcher = await watch(mosquitto)
    running = await run_bridge(
        bridge_config(
            mosquitto, bus("lab", fast(url, 0.3), 1, {"unit": 4, "series": series}, interval=0.1)
        )
    )
    poller = running.bridge.pollers[0]
    await _offline(watcher, "lab_u4")
    await poller.wait_for_cycle(poller.cycles + 4)
    foreign = running.bridge.states[1]
    assert foreign.available is False
    assert foreign.identity is None
    assert "not as a Leviton meter" in (foreign.last_error or ""), foreign.last_error
    assert watcher.all("leviton/lab_u4/state") == []
    assert running.bridge.states[0].available
    assert _tracebacks(caplog) == []


def _energy(watcher: Watcher, meter_id: str, since: int, value: float) -> Any:
    return watcher.wait_for(
        f"leviton/{meter_id}/state",
        lambda m: abs(m.json()["readings"].get("energy_delivered", -1) - value) < 0.2,
        since=since,
        what=f"(energy_delivered {value})",
    )


async def test_a_meter_swapped_for_one_with_a_lower_total_is_noticed(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another Series 2000 at the same unit id, swapped without the bus noticing: its lower
    total is first held back as implausible, then the identity check finds the other program
    id; the bridge says so once, republishes discovery and publishes the new meter's total
    (its guard starts afresh)."""
    caplog.set_level(logging.INFO)
    sim, url = await start_simulator("1:2000:energy=5000:program=111", "2:2000")
    watcher = await watch(mosquitto)
    await run_bridge(bridge_config(mosquitto, bus("lab", fast(url, 0.3), 1, 2, interval=0.1)))
    await _energy(watcher, "lab_u1", 0, 5000)
    since = watcher.mark()
    sim.replace(MeterSpec.parse("1:2000:energy=10:program=222"))
    await _energy(watcher, "lab_u1", since, 10)
    discovery = watcher.all("homeassistant/device/leviton_lab_u1/config", since=since)
    assert discovery, "discovery was not published again"
    warnings = [r.getMessage() for r in caplog.records if SWAP_WARNING in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "program id 111 became 222" in warnings[0]
    # Never offline for it, and never a total from the old meter after the new one's.
    availability = watcher.all("leviton/lab_u1/availability", since=since)
    assert [m.payload for m in availability if m.payload == "offline"] == []
    totals = [
        m.json()["readings"]["energy_delivered"]
        for m in watcher.all("leviton/lab_u1/state", since=since)
    ]
    first_new = next(i for i, total in enumerate(totals) if total < 100)
    assert all(total < 100 for total in totals[first_new:]), totals


async def test_a_series_2000_replaced_by_a_series_8000_is_identified_again(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Series 8000 refuses the Series 2000's registers (exception 02): the bridge
    identifies what answers now, and publishes its discovery with its points."""
    caplog.set_level(logging.INFO)
    sim, url = await start_simulator("1:2000", "2:2000")
    watcher = await watch(mosquitto)
    await run_bridge(bridge_config(mosquitto, bus("lab", fast(url, 0.3), 1, 2, interval=0.1)))
    await watcher.wait_for("leviton/lab_u1/state")
    since = watcher.mark()
    sim.replace(MeterSpec.parse("1:8000-8"))
    discovery = await watcher.wait_for(
        "homeassistant/device/leviton_lab_u1/config",
        lambda m: "Series 8000" in m.json()["device"]["model"],
        since=since,
    )
    assert discovery.json()["device"]["model"].startswith("Series 8000")
    points = watcher.wait_for(
        "homeassistant/device/leviton_lab_u1_p8/config", lambda m: bool(m.payload), since=since
    )
    await points
    state = await watcher.wait_for(
        "leviton/lab_u1/state", lambda m: "8" in m.json().get("points", {}), since=since
    )
    assert len(state.json()["points"]) == 8
    warnings = [r.getMessage() for r in caplog.records if SWAP_WARNING in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "Series 2000 became Series 8000" in warnings[0]
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize("how", ["after an outage", "by the periodic check"])
async def test_an_8_point_meter_replaced_by_a_24_point_one_gets_24_points(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    how: str,
) -> None:
    """After an outage the bridge identifies the meter afresh; without one, the periodic
    identity check (every ``identity_check_interval``) finds the new point count."""
    sim, url = await start_simulator("1:8000-8", "2:2000")
    watcher = await watch(mosquitto)
    clock = SteppedClock()

    def prepare(bridge: Bridge) -> None:
        bridge.pollers[0].clock = clock

    await run_bridge(
        bridge_config(mosquitto, bus("lab", fast(url, 0.3), 1, 2, interval=0.1)), prepare
    )
    await watcher.wait_for("leviton/lab_u1/state")
    since = watcher.mark()
    if how == "after an outage":
        undo = sim.silence(1)
        await _offline(watcher, "lab_u1")
        sim.replace(MeterSpec.parse("1:8000-24"))
        undo()
    else:
        sim.replace(MeterSpec.parse("1:8000-24"))
        clock.advance(DEFAULT_SETTINGS.identity_check_interval)
    await watcher.wait_for(
        "homeassistant/device/leviton_lab_u1_p24/config", lambda m: bool(m.payload), since=since
    )
    state = await watcher.wait_for(
        "leviton/lab_u1/state", lambda m: "24" in m.json().get("points", {}), since=since
    )
    assert len(state.json()["points"]) == 24

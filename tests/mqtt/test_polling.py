"""Polling: buses at the same time, one request at a time on each; silent meters backed off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from leviton_bridge.daemon import Bridge
from leviton_bridge.poller import BusPoller, MeterState
from leviton_bridge.simulator import LineSettings
from leviton_driver.connection import PacketTrace
from support.inprocess import StartSimulator

from .conftest import Broker, RunBridge, bridge_config, bus, fast, publish


class RecordingTrace(PacketTrace):
    """The link's packet trace, also noting when each request leaves and each answer arrives."""

    def __init__(self, framing: str, events: list[tuple[float, bool]]) -> None:
        super().__init__(framing)
        self.events = events

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if data:
            self.events.append((time.monotonic(), sending))
        return super().__call__(sending, data)


def _exchanges(events: list[tuple[float, bool]]) -> list[tuple[float, float]]:
    """(sent, answered) of each request; fails if a request leaves before the last is answered."""
    exchanges: list[tuple[float, float]] = []
    outstanding: float | None = None
    for at, sending in events:
        if sending:
            assert outstanding is None, "a request was sent while another awaited its answer"
            outstanding = at
        elif outstanding is not None:
            exchanges.append((outstanding, at))
            outstanding = None
    return exchanges


async def test_buses_run_concurrently_one_request_at_a_time_each(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    # RS485 lines at 9600 baud with a slow turnaround: each exchange takes 30-60 ms.
    line = LineSettings(baud=9600, turnaround=0.02)
    sim_a, url_a = await start_simulator("1:2000:peak=5", "2:2000", "3:1000", line=line)
    _sim_b, url_b = await start_simulator("1:2000", "2:8000-8", "3:2000", line=line)
    events: dict[str, list[tuple[float, bool]]] = {"a": [], "b": []}

    def prepare(bridge: Bridge) -> None:
        for poller in bridge.pollers:
            connection = poller.bus.connection
            connection.trace = RecordingTrace(connection.trace.framing, events[poller.config.name])

    watcher = await watch(mosquitto)
    running = await run_bridge(
        bridge_config(
            mosquitto,
            bus("a", url_a, 1, 2, 3, interval=0.2),
            bus("b", url_b, 1, 2, 3, interval=0.2),
        ),
        prepare,
    )
    await watcher.wait_for("leviton/a_u3/state")
    await watcher.wait_for("leviton/b_u3/state")
    # Commands arrive in the middle of polling; they queue on the bus like the polls.
    for _ in range(3):
        await publish(mosquitto, "leviton/a_u1/reset_peak_demand/set", "PRESS")
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)
    await running.stop()
    await asyncio.sleep(0.5)  # answers still on the emulated line finish before the simulators stop
    assert sim_a.meters[1].reset_count == 3

    a, b = _exchanges(events["a"]), _exchanges(events["b"])
    assert len(a) > 20
    assert len(b) > 20
    overlapping = sum(1 for sa, ea in a for sb, eb in b if sa < eb and sb < ea)
    assert overlapping > len(a) // 4, "the buses were not polled at the same time"


def _record(poller: BusPoller, cycles: list[float], attempts: list[tuple[int, float]]) -> None:
    """Note how long each cycle and each attempt at a meter (unit, seconds) take."""
    poll_once: Callable[[], Any] = poller.poll_once
    poll_meter: Callable[[MeterState], Any] = poller.poll_meter

    async def timed_cycle() -> None:
        started = time.monotonic()
        await poll_once()
        cycles.append(time.monotonic() - started)

    async def timed_attempt(state: MeterState) -> None:
        started = time.monotonic()
        await poll_meter(state)
        attempts.append((state.config.unit, time.monotonic() - started))

    poller.poll_once = timed_cycle  # type: ignore[method-assign]
    poller.poll_meter = timed_attempt  # type: ignore[method-assign]


async def test_silent_meter_is_backed_off_and_costs_at_most_one_timeout_a_cycle(
    mosquitto: Broker, start_simulator: StartSimulator, run_bridge: RunBridge, watch: Any
) -> None:
    # Unit 3 is configured but never answers; unit 2 stops answering later.
    sim, url = await start_simulator("1:2000", "2:2000", "4:1000")
    timeout, interval = 0.25, 0.7
    cycles: list[float] = []
    attempts: list[tuple[int, float]] = []
    watcher = await watch(mosquitto)
    running = await run_bridge(
        bridge_config(mosquitto, bus("lab", fast(url, timeout), 1, 2, 3, 4, interval=interval)),
        lambda bridge: _record(bridge.pollers[0], cycles, attempts),
    )
    await watcher.wait_for("leviton/lab_u3/availability", lambda m: m.payload == "offline")
    discovery = (await watcher.wait_for("homeassistant/device/leviton_lab_u3/config")).json()
    assert discovery["device"]["name"] == "lab unit 3"  # known from the configuration alone
    await watcher.wait_for("leviton/lab_u4/state")

    since = time.monotonic()
    await asyncio.sleep(2.0)
    undo = sim.silence(2)
    await watcher.wait_for(
        "leviton/lab_u2/availability", lambda m: m.payload == "offline", within=3
    )
    await asyncio.sleep(2.0)
    undo()
    await watcher.wait_for(
        "leviton/lab_u2/availability",
        lambda m: m.payload == "online",
        since=time.monotonic(),
        within=8,
    )
    elapsed = time.monotonic() - since

    # A silent meter costs its bus one timeout a try (not one per question identification asks).
    slowest = {u: max(d for unit, d in attempts if unit == u) for u in (1, 2, 3, 4)}
    # (two timeouts would take 2 x timeout; the margin below that absorbs a busy machine)
    assert slowest[3] < timeout * 1.8, slowest
    assert slowest[2] < timeout * 1.8, slowest
    # ... and is tried less and less often: cycles 1, 2, 4, 8, 16, ...
    done = len(cycles)
    tried = [unit for unit, _ in attempts].count(3)
    assert tried <= done.bit_length() + 1, (tried, done)
    for unit in (1, 4):
        assert done <= [u for u, _ in attempts].count(unit) <= done + 1
    # No cycle took longer than the interval: the others keep their rate.
    assert max(cycles) < interval, cycles
    # The meters that answer kept their rate.
    for unit in (1, 4):
        count = len(watcher.all(f"leviton/lab_u{unit}/state", since=since))
        assert count >= int(elapsed / interval) - 1, (unit, count, elapsed)
    assert running.bridge.states[2].available is False
    assert "nothing answers Modbus at this unit id" in (running.bridge.states[2].last_error or "")

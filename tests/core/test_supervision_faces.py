"""The bridge's poller shows the driver's supervision verdicts (``support.supervision_cases``)
for a real meter on a real link: the simulator does what each case says, the poller polls one
cycle a step, and what its cycle reports and its listeners (every face) see is compared with
the table. The bridge adopts a meter found in place of another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymodbus.constants import ExcCodes

from leviton_bridge.core.meter_state import CycleReport, MeterState
from leviton_bridge.core.poller import BusPoller
from leviton_bridge.daemon import parse
from leviton_bridge.simulator import MeterSimulator, MeterSpec
from tests.support import SteppedClock
from tests.support.inprocess import StartSimulator
from tests.support.supervision_cases import CASES, OFFLINE_AFTER, Case

METER = "1:2000:load=0:energy=1000:program=40001"
OTHER = "1:2000:load=0:energy=10:program=51234"


class Heard:
    """What the poller told its listeners (every face hears the same)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def meter_identified(self, state: MeterState) -> None:
        self.calls.append("identified")

    def meter_updated(self, state: MeterState) -> None:
        self.calls.append("updated")

    def meter_unavailable(self, state: MeterState) -> None:
        self.calls.append("unavailable")


class World:
    """Makes the simulated meter do what a step says, before the poll it is for."""

    def __init__(self, sim: MeterSimulator) -> None:
        self.sim = sim
        self.undo: Callable[[], None] | None = None

    def act(self, step: str) -> None:
        meter = self.sim.meters[1]
        meter.accept_reads(0)
        if self.undo is not None and step != "silent":
            self.undo()
            self.undo = None
        if step == "silent" and self.undo is None:
            self.undo = self.sim.silence(1)
        elif step == "lost":
            meter.lost_answers += 1  # one answer lost on the way; the line stays free
        elif step == "exception":
            meter.refuse_reads(0, ExcCodes.ILLEGAL_ADDRESS)  # the six registers from 40001
        elif step == "lower":
            self.restore = meter.energy_delivered()
            meter.set_energy(10.0)
        elif step == "other" and meter.spec.program != 51234:
            self.sim.replace(MeterSpec.parse(OTHER))
        elif step == "answer" and hasattr(self, "restore"):
            meter.set_energy(self.restore + 0.1)  # the glitch has passed
            del self.restore

    def identifications(self) -> int:
        return sum(1 for request in self.sim.served if request[1] == 0x11)


def verdict(report: CycleReport, state: MeterState) -> str:
    attempt = report.attempt(state.meter_id)
    if attempt is None:
        return "backed_off"
    if attempt.answered:
        return "read"
    return "failed" if state.available else "offline"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_poller_shows_each_case(case: Case, start_simulator: StartSimulator) -> None:
    sim, url = await start_simulator(METER)
    config = parse(
        {
            "buses": [{"name": "lab", "connect": f"{url}?timeout=0.2", "meters": [{"unit": 1}]}],
            "mqtt": {"url": "mqtt://127.0.0.1"},  # not started: the poller alone runs here
        },
        "test",
    )
    assert config.buses[0].offline_after == OFFLINE_AFTER
    heard = Heard()
    clock = SteppedClock()
    poller = BusPoller(config.buses[0], [heard], clock=clock)
    state = poller.states[0]
    try:
        await poller.async_prepare()
        first = await poller.poll_once()
        assert verdict(first, state) == "read"
        assert heard.calls == ["identified", "updated"]
        world = World(sim)
        identified_before = world.identifications()
        verdicts, online, calls = [], [], []
        for step in case.steps:
            world.act(step)
            clock.advance(10)
            heard.calls.clear()
            report = await poller.poll_once()
            verdicts.append(verdict(report, state))
            online.append(state.available)
            calls.append(tuple(heard.calls))
        assert tuple(verdicts) == case.verdicts_for(adopt_other_meter=True)
        assert tuple(online) == case.online_for(adopt_other_meter=True)
        assert world.identifications() - identified_before == case.identifications
    finally:
        await poller.bus.async_close()
    # What the faces heard: an update for every read, "unavailable" once when it went offline,
    # and "identified" once more for a meter that replaced the one identified here.
    expected: list[tuple[str, ...]] = []
    was_online, steps = True, case.steps
    for index, (shown, step_verdict) in enumerate(zip(case.online, case.verdicts, strict=True)):
        heard_now: list[str] = []
        if steps[index] == "other" and steps[index - 1] != "other":
            heard_now.append("identified")  # a meter of its own: its description may differ
        if step_verdict == "read":
            heard_now.append("updated")
        if was_online and not shown:
            heard_now.append("unavailable")
        was_online = shown
        expected.append(tuple(heard_now))
    assert calls == expected
    assert state.snapshot is not None
    energy: Any = state.snapshot.readings["energy_delivered"]
    if case.name == "swapped_meter":
        assert energy < 100  # the new meter's own total: the old one's never mixes in
    else:
        assert energy >= 1000  # never backwards

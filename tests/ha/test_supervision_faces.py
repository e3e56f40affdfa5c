"""Home Assistant's coordinator shows the driver's supervision verdicts
(``tests.support.supervision_cases``) through its own face: the simulated meter does what each
case says, one scheduler pass a step, and the sensor's state, the coordinator's data and the
repairs are compared with the table. Home Assistant does not adopt a meter found in place of
another: it asks its user first (a repair), so it reads nothing meanwhile."""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.leviton_meters.const import DEFAULT_UNAVAILABLE_AFTER, DOMAIN
from tests.support.simulator_process import SimulatorProcess
from tests.support.supervision_cases import CASES, OFFLINE_AFTER, Case

from .conftest import StartSim, make_entry, next_poll, setup_entry

METER = "1:2000:load=0:energy=1000:program=40001"
OTHER = "1:2000:load=0:energy=10:program=51234"
ENERGY = "sensor.meter_1_energy_delivered"


class World:
    """Makes the simulated meter do what a step says, before the pass it is for."""

    def __init__(self, sim: SimulatorProcess) -> None:
        self.sim = sim
        self.silenced = False
        self.restore: float | None = None
        self.swapped = False

    async def act(self, step: str) -> None:
        sim = self.sim
        await sim.accept_reads(1, 0)
        if self.silenced and step != "silent":
            await sim.unsilence(1)
            self.silenced = False
        if step == "silent" and not self.silenced:
            await sim.silence(1)
            self.silenced = True
        elif step == "lost":
            await sim.lose(1)
        elif step == "exception":
            await sim.refuse_reads(1, 0, 2)  # the six registers from 40001: illegal address
        elif step == "lower":
            self.restore = (await sim.meter(1))["energy_delivered"]
            await sim.set(1, energy=10.0)
        elif step == "other" and not self.swapped:
            await sim.replace(OTHER)
            self.swapped = True
        elif step == "answer" and self.restore is not None:
            await sim.set(1, energy=self.restore + 0.1)  # the glitch has passed
            self.restore = None

    async def requests(self) -> int:
        return await self.sim.requests(1) + await self.sim.unanswered(1)

    async def identifications(self) -> int:
        return sum(1 for request in await self.sim.served() if request[1] == 0x11)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_coordinator_shows_each_case(
    hass: HomeAssistant, start_sim: StartSim, issue_registry: ir.IssueRegistry, case: Case
) -> None:
    assert DEFAULT_UNAVAILABLE_AFTER == OFFLINE_AFTER
    sim = await start_sim(METER)
    entry = await make_entry(sim, 1, link_timeout=0.2)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data
    assert float(hass.states.get(ENERGY).state) >= 1000
    world = World(sim)
    identified_before = await world.identifications()
    swap_issue = f"identity_changed_{entry.entry_id}"
    verdicts, online = [], []
    for step in case.steps:
        await world.act(step)
        before, requests = coordinator.data, await world.requests()
        await next_poll(hass)
        shown = hass.states.get(ENERGY).state != STATE_UNAVAILABLE
        if await world.requests() == requests:
            verdict = "backed_off"
        elif issue_registry.async_get_issue(DOMAIN, swap_issue) is not None and not shown:
            verdict = "other_meter"
        elif not shown:
            verdict = "offline"
        elif coordinator.data is before:  # kept the last values: a failed poll
            verdict = "failed"
        else:
            verdict = "read"
        verdicts.append(verdict)
        online.append(shown)
    assert tuple(verdicts) == case.verdicts_for(adopt_other_meter=False)
    assert tuple(online) == case.online_for(adopt_other_meter=False)
    assert await world.identifications() - identified_before == case.identifications
    if case.name == "swapped_meter":
        issue = issue_registry.async_get_issue(DOMAIN, swap_issue)
        assert issue is not None
        assert issue.translation_placeholders == {
            "name": entry.title,
            "before": "40001",
            "after": "51234",
        }
    else:
        assert float(hass.states.get(ENERGY).state) >= 1000  # never backwards

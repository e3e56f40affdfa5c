"""One scheduler per bus: the meters of one link are read back to back in one pass, each at its
own poll interval (a multiple of the shortest), and the options form says what the line can
carry."""

from __future__ import annotations

import math

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.leviton_meters.const import CONF_SCAN_INTERVAL, CONF_UNAVAILABLE_AFTER
from custom_components.leviton_meters.scheduler import (
    DATA_SCHEDULERS,
    PASS_HEADROOM,
    BusScheduler,
)
from tests.support.simulator_process import SimulatorProcess

from .conftest import StartSim, make_entry, next_poll, setup_entry


def _scheduler(hass: HomeAssistant) -> BusScheduler:
    schedulers = hass.data[DATA_SCHEDULERS]
    assert len(schedulers) == 1
    return next(iter(schedulers.values()))


async def test_the_meters_of_a_link_are_read_in_one_pass(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    entries = [await make_entry(simulator, unit) for unit in (1, 2, 3)]
    entries[2] = await make_entry(simulator, 3, **{CONF_SCAN_INTERVAL: 60})
    for entry in entries:
        await setup_entry(hass, entry)
    scheduler = _scheduler(hass)
    coordinators = [entry.runtime_data for entry in entries]
    assert scheduler.members == coordinators
    # No coordinator runs a timer of its own: the scheduler refreshes them.
    assert all(c.update_interval is None for c in coordinators)
    assert [c.every for c in coordinators] == [1, 1, 2]

    before = [await simulator.requests(unit) for unit in (1, 2, 3)]
    reads = [c.meter.transactions for c in coordinators]
    await next_poll(hass)  # pass 1: the 30-s meters
    await next_poll(hass)  # pass 2: all three
    assert scheduler.passes == 2
    after = [await simulator.requests(unit) for unit in (1, 2, 3)]
    polled = [a - b for a, b in zip(after, before, strict=True)]
    # A Series 1000/2000 poll is one transaction; the Series 8000-8 one read of its block.
    assert polled[:2] == [2, 2]
    assert polled[2] == 1
    assert all(c.last_update_success for c in coordinators)
    assert reads != [c.meter.transactions for c in coordinators]
    # Every meter has been read: one pass over the bus is the sum of their reads.
    assert scheduler.last_pass_seconds is not None
    measured = [c.read_seconds for c in coordinators]
    assert all(seconds is not None and seconds > 0 for seconds in measured)


async def test_unloading_leaves_the_others_polled_and_the_last_stops_the_scheduler(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    first, second = await make_entry(simulator, 1), await make_entry(simulator, 2)
    await setup_entry(hass, first)
    await setup_entry(hass, second)
    scheduler = _scheduler(hass)
    assert await hass.config_entries.async_unload(first.entry_id)
    assert scheduler.members == [second.runtime_data]
    before = await simulator.requests(2)
    await next_poll(hass)
    assert await simulator.requests(2) == before + 1
    assert await hass.config_entries.async_unload(second.entry_id)
    assert second.state is ConfigEntryState.NOT_LOADED
    assert hass.data[DATA_SCHEDULERS] == {}
    before = await simulator.requests(2)
    await next_poll(hass)
    assert await simulator.requests(2) == before


async def test_the_options_form_shows_what_the_line_carries_and_refuses_less(
    hass: HomeAssistant, start_sim: StartSim
) -> None:
    """On a slow line (1200 baud), the form gives the bus's meters, the time one pass took,
    and the shortest interval it carries; a shorter one is refused."""
    sim = await start_sim("1:2000", "2:2000", framing="rtu", line_baud=1200)
    first, second = await make_entry(sim, 1), await make_entry(sim, 2)
    await setup_entry(hass, first)
    await setup_entry(hass, second)
    await next_poll(hass)
    scheduler = _scheduler(hass)
    needed = scheduler.pass_seconds()
    assert needed is not None
    # A lower bound from the line's physics (load can only add to it): two exchanges of an
    # 8-byte request and a 17-byte answer at 1200 baud, each with the t3.5 silence before the
    # answer, and the silence after the first answer that the second request waits out (the
    # silence after the last answer is the line's, not the pass's): 60.5 characters.
    assert needed >= (2 * (25 + 3.5) + 3.5) * 10 / 1200
    shortest = max(1, math.ceil(needed * PASS_HEADROOM))

    result = await hass.config_entries.options.async_init(first.entry_id)
    assert result["type"] is FlowResultType.FORM
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["meters"] == "2"
    assert placeholders["pass"] == f"{needed:.2f}"
    assert placeholders["shortest"] == str(shortest)

    # Pretend the line were slower (a long pass measured): an interval under it is refused.
    for coordinator in (first.runtime_data, second.runtime_data):
        coordinator.read_seconds = 4.0
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 5, CONF_UNAVAILABLE_AFTER: 3}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SCAN_INTERVAL: "interval_too_short"}
    assert result["description_placeholders"]["shortest"] == str(math.ceil(8.0 * PASS_HEADROOM))  # type: ignore[index]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 10, CONF_UNAVAILABLE_AFTER: 3}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY

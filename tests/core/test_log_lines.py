"""Every log line about a meter names it, its bus and its unit id: two buses may both have a
unit 1, and "unit 1 Energy delivered" would not say which."""

from __future__ import annotations

import logging

import pytest

from leviton_bridge.core.poller import BusPoller
from leviton_bridge.daemon import parse
from tests.support.inprocess import StartSimulator


async def test_meter_lines_name_the_meter_and_its_bus(
    start_simulator: StartSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sim_a, url_a = await start_simulator("1:2000:load=0:energy=2008")
    sim_b, url_b = await start_simulator("1:2000:load=0:energy=500")
    config = parse(
        {
            "buses": [
                {
                    "name": "basement",
                    "connect": f"{url_a}?timeout=0.2",
                    "meters": [{"unit": 1, "name": "Tenant A"}],
                },
                {"name": "attic", "connect": f"{url_b}?timeout=0.2", "meters": [{"unit": 1}]},
            ],
            "mqtt": {"url": "mqtt://127.0.0.1"},
        },
        "test",
    )
    pollers = [BusPoller(bus, []) for bus in config.buses]
    try:
        for poller in pollers:
            await poller.async_prepare()
            await poller.poll_once()
        sim_a.meters[1].set_energy(0.0)  # a glitch on the basement's unit 1
        undo = sim_b.silence(1)  # the attic's unit 1 goes away
        for _ in range(3):
            for poller in pollers:
                await poller.poll_once()
        undo()
        await pollers[1].poll_once()
        await pollers[1].poll_once()
    finally:
        for poller in pollers:
            await poller.bus.async_close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("leviton_")]
    held = [line for line in lines if "ignored implausible reading" in line]
    assert held, lines
    assert all(
        line.startswith("Tenant A (bus basement, unit 1) Energy delivered:") for line in held
    )
    offline = [line for line in lines if "retrying with backoff" in line]
    assert offline, lines
    assert all(line.startswith("attic unit 1: ") for line in offline)  # its name says the bus
    back = [line for line in lines if line.endswith("answers again")]
    assert back == ["attic unit 1 answers again"]

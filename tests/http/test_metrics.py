"""``/metrics``: parsed with prometheus_client's own parser; values equal the meters'."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support import PATIENCE, free_port, until
from tests.support.inprocess import StartSimulator
from tests.support.mosquitto import Broker
from tests.support.running import RunBridge
from tests.support.statuspage import TOKEN, HeldClock, bridge_config, http_section


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample by its name, as Prometheus's own parser reads the text."""
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def one(found: dict[str, list[Sample]], name: str, **labels: str) -> float:
    matching = [s for s in found.get(name, []) if labels.items() <= s.labels.items()]
    assert len(matching) == 1, (name, labels, matching)
    return matching[0].value


async def test_metrics_parse_and_equal_the_meters(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    # The meters' clock stands still: the values scraped are the values polled.
    sim, url = await start_simulator(
        "1:2000:load=0:energy=48210.3:peak=12.5", "3:8000-8:load=12", clock=HeldClock()
    )
    running = await run_bridge(bridge_config(mosquitto, url, 1, 3, http=http_section(token=TOKEN)))
    poller = running.bridge.pollers[0]
    await until(lambda: all(s.available for s in poller.states), "both meters online")
    await poller.wait_for_cycle(poller.cycles + 2)
    metrics = running.url + "metrics"
    async with http.get(metrics) as answer:
        assert answer.status == 401
    async with http.get(metrics, headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = await answer.text()
    found = samples(text)
    # The energy counter is the meter's total, exactly.
    s2000, s8000 = poller.states
    assert s2000.snapshot is not None
    assert s8000.snapshot is not None
    total = one(
        found,
        "leviton_energy_kwh_total",
        bus="lab",
        meter="lab_u1",
        point="",
        reading="energy_delivered",
    )
    assert total == s2000.snapshot.readings["energy_delivered"] == 48210.3
    assert total == round(sim.meters[1].energy_delivered(), 1)
    for point, values in s8000.snapshot.points.items():
        delivered = one(
            found,
            "leviton_energy_kwh_total",
            meter="lab_u3",
            point=str(point),
            reading="energy_delivered",
        )
        assert delivered == values.get("energy_delivered")
        assert one(found, "leviton_power_watts", meter="lab_u3", point=str(point)) == values.get(
            "power"
        )
    assert one(found, "leviton_power_kilowatts", meter="lab_u1", reading="peak_demand") == 12.5
    assert (
        one(found, "leviton_voltage_volts", meter="lab_u3", reading="voltage_a")
        == (s8000.snapshot.readings["voltage_a"])
    )
    assert one(found, "leviton_meter_available", meter="lab_u1") == 1.0
    assert one(found, "leviton_meter_info", meter="lab_u1", model="2N208-02D") == 1.0
    assert "leviton_program_id" not in text  # an identifier, not a measurement
    # The buses and the publishers.
    transactions = one(found, "leviton_bus_transactions_total", bus="lab")
    assert transactions >= 4
    round_trips = one(found, "leviton_bus_round_trip_seconds_count", bus="lab")
    assert 1 <= round_trips <= transactions
    assert one(found, "leviton_bus_round_trip_seconds_bucket", bus="lab", le="+Inf") == round_trips
    assert one(found, "leviton_bus_poll_interval_seconds", bus="lab") == 0.3
    assert one(found, "leviton_mqtt_connected") == 1.0
    assert one(found, "leviton_mqtt_published_messages_total") >= 1
    assert one(found, "leviton_mqtt_reconnects_total") == 0
    assert one(found, "leviton_bridge_healthy") == 1.0
    assert "process_cpu_seconds_total" in found


async def test_failed_polls_by_kind(
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    http: aiohttp.ClientSession,
) -> None:
    sim, url = await start_simulator("1:2000:load=0")
    running = await run_bridge(bridge_config(mosquitto, url, 1))
    state = running.bridge.states[0]
    await until(lambda: state.available, "the meter online")
    sim.silence(1)
    await until(lambda: not state.available, "the silenced meter offline")
    async with http.get(running.url + "metrics") as answer:
        found = samples(await answer.text())
    assert one(found, "leviton_meter_available", meter="lab_u1") == 0.0
    assert one(found, "leviton_meter_failed_polls_total", meter="lab_u1", kind="timeout") >= 3


async def test_bacnet_figures(
    start_simulator: StartSimulator, run_bridge: RunBridge, http: aiohttp.ClientSession
) -> None:
    """The BACnet device's state, and what it counts: requests served, COV subscriptions."""
    _sim, url = await start_simulator("1:2000:load=0")
    port = free_port(socket.SOCK_DGRAM)
    config = bridge_config(None, url, 1)
    config["bacnet"] = {"address": f"127.0.0.1/32:{port}", "device_instance": 59001}
    running = await run_bridge(config)
    bacnet = running.bridge.bacnet
    assert bacnet is not None
    await until(lambda: len(bacnet.objects) > 0, "the meter's BACnet objects")
    # A Who-Is, unicast: the device answers with an I-Am.
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        peer.sendto(bytes.fromhex("810a000801001008"), ("127.0.0.1", port))
        answer = await asyncio.wait_for(loop.sock_recv(peer, 1500), PATIENCE)
    assert answer[:2] == b"\x81\x0a"  # a BACnet/IP unicast back
    async with http.get(running.url + "metrics") as response:
        found = samples(await response.text())
    assert one(found, "leviton_bacnet_serving") == 1.0
    assert one(found, "leviton_bacnet_objects") == len(bacnet.objects)
    if hasattr(bacnet, "ingress"):  # the BACnet device counts what it receives
        assert one(found, "leviton_bacnet_requests_served_total") >= 1
    if hasattr(bacnet, "cov"):  # ... and the COV subscriptions it holds
        assert one(found, "leviton_bacnet_cov_subscriptions") == 0
    assert "leviton_mqtt_connected" not in found  # no MQTT configured

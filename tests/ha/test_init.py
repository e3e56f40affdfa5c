"""Setting entries up, unloading and reloading them, shared links, and setup failures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.leviton_meters.const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_KIND,
    CONF_PARITY,
    CONF_PROFILE,
    CONF_SCAN_INTERVAL,
    CONF_SERIES,
    CONF_STOPBITS,
    CONF_UNIT_ID,
    DOMAIN,
)
from custom_components.leviton_meters.coordinator import LevitonCoordinator
from custom_components.leviton_meters.driver import Series
from custom_components.leviton_meters.driver.connection import LevitonConnection
from custom_components.leviton_meters.driver.series1000 import Series1000Meter
from custom_components.leviton_meters.link import (
    DATA_CONNECTIONS,
    MeterLink,
    connection_url,
    link_settings,
)
from tests.support.simulator_process import SimulatorProcess

from .conftest import SPEC_2000, StartSim, assert_renders, make_entry, setup_entry


async def test_setup_unload_and_reload(hass: HomeAssistant, simulator: SimulatorProcess) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data
    assert isinstance(coordinator, LevitonCoordinator)
    assert coordinator.meter.series is Series.S2000
    assert coordinator.poll_interval == timedelta(seconds=30)
    assert coordinator.update_interval is None  # the bus's scheduler polls it
    assert coordinator.identity.series == "2000"
    assert hass.states.get("sensor.meter_1_energy_delivered") is not None
    assert hass.states.get("button.meter_1_reset_peak_demand") is not None

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not hass.data[DATA_CONNECTIONS]  # the link closed with its last meter
    state = hass.states.get("sensor.meter_1_energy_delivered")
    assert state is not None
    assert state.state == "unavailable"

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    requests = await simulator.requests(1)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert await simulator.requests(1) > requests  # identified and read again
    assert entry.runtime_data is not coordinator
    state = hass.states.get("sensor.meter_1_energy_delivered")
    assert state is not None
    assert float(state.state) == pytest.approx(5000.0, abs=0.2)


async def test_meters_on_one_bus_share_one_connection(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    first, second, third = (
        await make_entry(simulator, 1),
        await make_entry(simulator, 2),
        await make_entry(simulator, 3),
    )
    for entry in (first, second, third):
        await setup_entry(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
    assert third.runtime_data.meter.series is Series.S8000

    connections = hass.data[DATA_CONNECTIONS]
    assert len(connections) == 1
    shared = next(iter(connections.values()))
    assert shared.holders == {first.entry_id, second.entry_id, third.entry_id}
    assert await simulator.connections() == 1  # one socket for the three meters
    # Each entry's meter talks through the same connection (one request at a time).
    traces = {entry.runtime_data.link.trace for entry in (first, second, third)}
    assert traces == {shared.connection.trace}

    assert await hass.config_entries.async_unload(first.entry_id)
    assert await hass.config_entries.async_unload(third.entry_id)
    assert shared.holders == {second.entry_id}
    assert shared.connection.connected
    state = hass.states.get("sensor.meter_2_energy_delivered")
    assert state is not None
    assert state.state != "unavailable"

    assert await hass.config_entries.async_unload(second.entry_id)
    await hass.async_block_till_done()
    assert hass.data[DATA_CONNECTIONS] == {}
    assert not shared.connection.connected


async def test_not_ready_while_the_meter_does_not_answer(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    await simulator.faults(timeout=1.0)
    entry = await make_entry(simulator, 1, link_timeout=0.2)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert entry.reason.startswith("The meter does not answer: unit 1 on tcp://127.0.0.1:")
    assert hass.data[DATA_CONNECTIONS] == {}  # the link was let go

    await simulator.faults()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.meter_1_peak_demand")
    assert state is not None
    assert float(state.state) == 9.5


async def test_not_ready_when_the_first_read_fails(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    """Identification works but the first poll does not: not ready either."""
    entry = await make_entry(simulator, 1)
    # Identification reads 40001-40006 once; the poll's read of them gets exception 04.
    await simulator.refuse_reads(1, 0x0000, 4, after=1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "server device failure" in entry.reason
    assert hass.data[DATA_CONNECTIONS] == {}


async def test_bad_profile_is_a_setup_error(
    hass: HomeAssistant, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    entry = await make_entry(simulator, 3, **{CONF_PROFILE: str(tmp_path / "gone.yaml")})
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert entry.reason.startswith("The Series 8000 register profile cannot be used: profile ")
    assert "no such file" in entry.reason


async def test_one_port_cannot_run_two_line_settings(
    hass: HomeAssistant, serial_pair: tuple[str, str], start_sim: StartSim
) -> None:
    meter_side, client_side = serial_pair
    await start_sim(SPEC_2000, "2:1000", serial=meter_side)
    line = {
        CONF_KIND: "serial",
        CONF_DEVICE: client_side,
        CONF_BAUDRATE: 9600,
        CONF_PARITY: "N",
        CONF_STOPBITS: 1,
        CONF_BYTESIZE: 8,
    }
    first = MockConfigEntry(
        domain=DOMAIN,
        title="First",
        unique_id="s1000_40001",
        data={CONF_CONNECTION: line, CONF_UNIT_ID: 1, CONF_SERIES: "2000"},
        options={CONF_SCAN_INTERVAL: 30},
    )
    await setup_entry(hass, first)
    assert first.state is ConfigEntryState.LOADED
    second = MockConfigEntry(
        domain=DOMAIN,
        title="Second",
        unique_id="s1000_40002",
        data={
            CONF_CONNECTION: line | {CONF_BAUDRATE: 19200},
            CONF_UNIT_ID: 2,
            CONF_SERIES: "1000",
        },
    )
    await setup_entry(hass, second)
    assert second.state is ConfigEntryState.SETUP_ERROR
    assert second.reason == (
        f"{connection_url(line | {CONF_BAUDRATE: 19200})} is already in use with other line "
        f"settings ({connection_url(line)}); one port cannot run both"
    )
    assert first.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(first.entry_id)


async def test_removing_an_entry_forgets_its_issues(
    hass: HomeAssistant, simulator: SimulatorProcess, issue_registry: ir.IssueRegistry
) -> None:
    entry = await make_entry(simulator, 1, unique_id="s1000_12345")  # another meter answers now
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert issue_registry.async_get_issue(DOMAIN, f"identity_changed_{entry.entry_id}") is not None
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"unreachable_{entry.entry_id}",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="unreachable",
        translation_placeholders={"name": "Meter 1", "where": "here", "hours": "1"},
    )
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"identity_changed_{entry.entry_id}") is None
    assert issue_registry.async_get_issue(DOMAIN, f"unreachable_{entry.entry_id}") is None


async def test_two_simulators_two_connections(hass: HomeAssistant, start_sim: StartSim) -> None:
    """Meters on different buses get a connection each."""
    one = await start_sim(SPEC_2000)
    other = await start_sim("1:1000:program=50001")
    first, second = await make_entry(one, 1), await make_entry(other, 1)
    await setup_entry(hass, first)
    await setup_entry(hass, second)
    assert second.unique_id == "s1000_50001"
    assert first.state is second.state is ConfigEntryState.LOADED
    assert len(hass.data[DATA_CONNECTIONS]) == 2


@pytest.mark.parametrize(
    ("connection", "reason"),
    [
        (
            {CONF_KIND: "udp", "host": "127.0.0.1", "port": 502},
            "The connection settings cannot be used: unknown connection kind 'udp'; expected "
            "tcp, rtu+tcp or serial. Change them with Reconfigure",
        ),
        (
            {
                CONF_KIND: "serial",
                CONF_DEVICE: "ttyUSB0",
                CONF_BAUDRATE: 9600,
                CONF_PARITY: "N",
                CONF_STOPBITS: 1,
                CONF_BYTESIZE: 8,
            },
            "The connection settings cannot be used: connection URL "
            "'serial://ttyUSB0?baud=9600&parity=N&stopbits=1&bytesize=8': a serial port is "
            "written serial:///dev/ttyUSB0 (three slashes, then the device path). Change them "
            "with Reconfigure",
        ),
    ],
)
async def test_unusable_connection_settings(
    hass: HomeAssistant, connection: dict[str, object], reason: str
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Meter",
        unique_id="s1000_1",
        data={CONF_CONNECTION: connection, CONF_UNIT_ID: 1, CONF_SERIES: "auto"},
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason == reason


async def test_coordinator_needs_an_identified_meter(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    entry = await make_entry(simulator, 1)
    entry.add_to_hass(hass)
    settings = link_settings(entry.data[CONF_CONNECTION])
    connection = LevitonConnection(settings)
    meter = Series1000Meter(connection.for_unit(1), unit_id=1, where=settings.url)

    async def release() -> None:
        return None

    async def identify() -> Series1000Meter:
        raise AssertionError("not asked: the coordinator is never polled here")

    meter_link = MeterLink(unit=meter.unit, where=settings.url, release=release)
    coordinator = LevitonCoordinator(hass, entry, meter_link, meter, identify)
    with pytest.raises(HomeAssistantError) as raised:
        coordinator.identity  # noqa: B018
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == "not_identified"
    assert (
        assert_renders("exceptions.not_identified.message", raised.value.translation_placeholders)
        == f"{entry.title}: the meter has not been identified yet."
    )
    await meter.async_identify()
    assert coordinator.identity.program_id == 40001
    await connection.close()

"""The config flow: connection, unit id or scan, probe, confirm; its errors; reconfigure; options.

Every probe goes over real Modbus to simulated meters on loopback.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pymodbus.framer.rtu import FramerRTU
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.leviton_meters import config_flow, forms
from custom_components.leviton_meters.const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_CONNECTION,
    CONF_DERIVED_POWER,
    CONF_DEVICE,
    CONF_HOST,
    CONF_KIND,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_SCAN_INTERVAL,
    CONF_SERIES,
    CONF_STOPBITS,
    CONF_UNAVAILABLE_AFTER,
    CONF_UNIT_ID,
    DOMAIN,
)
from custom_components.leviton_meters.driver import modbus_compat
from custom_components.leviton_meters.driver.profile import DEFAULT_PROFILE_PATH
from custom_components.leviton_meters.link import DATA_CONNECTIONS
from tests.support.simulator_process import SimulatorProcess

from .conftest import (
    SPEC_1000,
    SPEC_2000,
    StartSim,
    assert_flow_translated,
    assert_renders,
    make_entry,
    setup_entry,
)


async def _configure(
    hass: HomeAssistant, result: ConfigFlowResult, user_input: dict[str, Any] | None = None
) -> ConfigFlowResult:
    new = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert_flow_translated(new)
    return new


async def _connect(hass: HomeAssistant, menu: str, user_input: dict[str, Any]) -> ConfigFlowResult:
    """Start a user flow and submit the connection step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == ["serial", "tcp", "rtu_tcp"]
    assert_flow_translated(result)
    result = await _configure(hass, result, {"next_step_id": menu})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == menu
    return await _configure(hass, result, user_input)


def _socket(sim: SimulatorProcess) -> dict[str, Any]:
    assert sim.address is not None
    return {CONF_HOST: sim.address[0], CONF_PORT: sim.address[1]}


async def _probe_unit(
    hass: HomeAssistant, result: ConfigFlowResult, unit_id: int
) -> ConfigFlowResult:
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "unit"
    assert result["menu_options"] == ["unit_id", "scan_settings"]
    result = await _configure(hass, result, {"next_step_id": "unit_id"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "unit_id"
    return await _configure(hass, result, {CONF_UNIT_ID: unit_id})


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- adding a meter ----------------------------------------------------------------------------


async def test_modbus_tcp_by_unit_id(hass: HomeAssistant, simulator: SimulatorProcess) -> None:
    result = await _connect(hass, "tcp", _socket(simulator) | {CONF_HOST: " 127.0.0.1 "})
    result = await _probe_unit(hass, result, 1)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    found = result["description_placeholders"]
    assert found is not None
    assert found["series"] == "Series 2000"
    assert found["model"] == "2N208-021"
    assert found["program"] == "40001"
    assert found["hardware"] == found["software"] == "3.2"
    assert found["unit"] == "1"
    rendered = assert_renders("config.step.confirm.description", found)
    assert "Series 2000, model 2N208-021, hardware V3.2" in rendered
    schema = result["data_schema"]
    assert schema is not None
    assert schema({})["name"] == "Leviton 2N208-021 unit 1"

    result = await _configure(hass, result, {"name": "Main panel"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Main panel"
    assert result["data"] == {
        CONF_CONNECTION: {CONF_KIND: "tcp"} | _socket(simulator),
        CONF_UNIT_ID: 1,
        CONF_SERIES: "2000",
    }
    assert result["options"] == {CONF_SCAN_INTERVAL: 30}
    entry = result["result"]
    assert entry.unique_id == "s1000_40001"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.main_panel_energy_delivered")
    assert state is not None
    assert float(state.state) == pytest.approx(5000.0, abs=0.2)


async def test_rtu_over_tcp(hass: HomeAssistant, start_sim: StartSim) -> None:
    sim = await start_sim(SPEC_1000, framing="rtu")
    result = await _connect(hass, "rtu_tcp", _socket(sim))
    result = await _probe_unit(hass, result, 2)
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["series"] == "Series 1000"
    result = await _configure(hass, result, {"name": "Shop"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CONNECTION] == {CONF_KIND: "rtu+tcp"} | _socket(sim)
    assert result["data"][CONF_SERIES] == "1000"
    assert result["result"].unique_id == "s1000_40002"
    await hass.async_block_till_done()
    state = hass.states.get("sensor.shop_energy_delivered")
    assert state is not None
    assert float(state.state) == pytest.approx(800.0, abs=0.2)


async def test_series_8000_shows_points_and_provisional_profile(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    result = await _connect(hass, "tcp", _socket(simulator))
    result = await _probe_unit(hass, result, 3)
    found = result["description_placeholders"]
    assert found is not None
    assert found["series"] == "Series 8000 (provisional register map)"
    assert found["points"] == "8"
    assert found["model"] == "S8UTS-083"
    assert "PROVISIONAL" in found["notes"]
    result = await _configure(hass, result, {"name": "Tower"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERIES] == "8000"
    assert result["result"].unique_id == "s8000_40003"


async def test_meter_that_does_not_answer_0x11(
    hass: HomeAssistant, start_sim: StartSim, device_registry: dr.DeviceRegistry
) -> None:
    """Some gateways refuse function 0x11: the registers still identify the meter."""
    sim = await start_sim("1:2000:ident=none")
    result = await _connect(hass, "tcp", _socket(sim))
    result = await _probe_unit(hass, result, 1)
    found = result["description_placeholders"]
    assert found is not None
    assert found["series"] == "Series 1000/2000"
    assert found["model"] == "not reported"
    assert found["program"] == "40001"
    schema = result["data_schema"]
    assert schema is not None
    assert schema({})["name"] == "Leviton Series 1000/2000 unit 1"
    result = await _configure(hass, result, {"name": "Old gateway"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERIES] == "auto"  # detected again at every start
    entry = result["result"]
    assert entry.unique_id == "s1000_40001"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    device = device_registry.async_get_device(identifiers={(DOMAIN, "s1000_40001")})
    assert device is not None
    assert device.model == "Series 1000/2000"
    assert device.model_id is None


async def test_meter_without_program_id_keeps_its_entry_when_moved(
    hass: HomeAssistant, start_sim: StartSim
) -> None:
    """A Series 8000 that does not answer 0x11 has no program id: the connection names it."""
    sim = await start_sim("3:8000-8:ident=none")
    result = await _connect(hass, "tcp", _socket(sim))
    result = await _probe_unit(hass, result, 3)
    found = result["description_placeholders"]
    assert found is not None
    assert found["program"] == "?"
    assert found["model"] == "not reported"
    assert found["points"] == "8"
    result = await _configure(hass, result, {"name": "Tower"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert sim.address is not None
    assert entry.unique_id == f"s8000_tcp://127.0.0.1:{sim.address[1]}-3"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    gateway = await start_sim("3:8000-8:ident=none", framing="rtu")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await _configure(hass, result, {"next_step_id": "rtu_tcp"})
    result = await _configure(hass, result, _socket(gateway))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.unique_id == f"s8000_tcp://127.0.0.1:{sim.address[1]}-3"
    assert entry.state is ConfigEntryState.LOADED  # no "another meter" error after the move


async def test_serial_port_over_a_pty_pair(
    hass: HomeAssistant, serial_pair: tuple[str, str], start_sim: StartSim
) -> None:
    meter_side, client_side = serial_pair
    await start_sim(SPEC_2000, serial=meter_side)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await _configure(hass, result, {"next_step_id": "serial"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "serial"
    schema = result["data_schema"]
    assert schema is not None
    defaults = schema({CONF_DEVICE: client_side})
    assert defaults[CONF_BAUDRATE] == "9600"
    assert defaults[CONF_PARITY] == "none"  # the selector's option; "N" is stored
    assert defaults[CONF_STOPBITS] == "1"
    assert defaults[CONF_BYTESIZE] == "8"
    result = await _configure(hass, result, defaults)
    result = await _probe_unit(hass, result, 1)
    assert result["step_id"] == "confirm"
    result = await _configure(hass, result, {"name": "Basement"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CONNECTION] == {
        CONF_KIND: "serial",
        CONF_DEVICE: client_side,
        CONF_BAUDRATE: 9600,
        CONF_PARITY: "N",
        CONF_STOPBITS: 1,
        CONF_BYTESIZE: 8,
    }
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.basement_peak_demand")
    assert state is not None
    assert float(state.state) == 9.5
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_detected_serial_ports_are_offered(hass: HomeAssistant) -> None:
    ports = await hass.async_add_executor_job(forms.list_serial_ports)
    assert isinstance(ports, list)
    assert all(isinstance(port["value"], str) and port["value"] in port["label"] for port in ports)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await _configure(hass, result, {"next_step_id": "serial"})
    schema = result["data_schema"]
    assert schema is not None
    selector = schema.schema[CONF_DEVICE]
    assert selector.config["options"] == ports
    assert selector.config["custom_value"] is True


def _by_id(tmp_path: Path, **links: str) -> Path:
    """A /dev/serial/by-id folder as udev makes it: names linking to the ports (relative)."""
    folder = tmp_path / "serial" / "by-id"
    folder.mkdir(parents=True)
    for name, port in links.items():
        (folder / name).symlink_to(os.path.relpath(port, folder))
    return folder


FTDI = "usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"


def test_stable_port_names_come_first_with_their_port_beside(
    serial_pair: tuple[str, str], tmp_path: Path
) -> None:
    meter_side, client_side = serial_pair
    by_id = _by_id(
        tmp_path, **{FTDI: client_side, "usb-unplugged-if00-port0": str(tmp_path / "gone")}
    )
    options = forms.serial_port_options([meter_side, client_side, client_side], by_id)
    link = str(by_id / FTDI)
    tty = os.path.realpath(client_side)  # socat's name is itself a link to /dev/pts/N
    assert options == [
        {"value": link, "label": f"{link} ({tty})"},  # stable name first, its tty beside
        {"value": meter_side, "label": meter_side},  # a port with no stable name
    ]  # the port the stable name points to is not offered twice; a dangling name not at all
    assert forms.serial_port_options([client_side], tmp_path / "no-such-folder") == [
        {"value": client_side, "label": client_side}
    ]


async def test_a_stable_port_name_is_offered_first_and_used(
    hass: HomeAssistant,
    serial_pair: tuple[str, str],
    start_sim: StartSim,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The serial form offers /dev/serial/by-id names first (with the port beside each); a
    meter set up through one keeps it. Another meter added on the same port by its tty name
    takes the name the first one uses, so that both share one connection."""
    meter_side, client_side = serial_pair
    await start_sim(SPEC_2000, SPEC_1000, serial=meter_side)
    by_id = _by_id(tmp_path, **{FTDI: client_side})
    monkeypatch.setattr(forms, "SERIAL_BY_ID", by_id)
    link = str(by_id / FTDI)
    tty = await hass.async_add_executor_job(os.path.realpath, client_side)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await _configure(hass, result, {"next_step_id": "serial"})
    schema = result["data_schema"]
    assert schema is not None
    offered = schema.schema[CONF_DEVICE].config["options"]
    assert offered[0] == {"value": link, "label": f"{link} ({tty})"}
    form = schema({})
    assert form[CONF_DEVICE] == link  # the first stable name is the default
    result = await _configure(hass, result, form)
    result = await _probe_unit(hass, result, 1)
    result = await _configure(hass, result, {"name": "Basement"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CONNECTION][CONF_DEVICE] == link
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED

    # The second meter, picked by the port's tty name: stored under the first one's name.
    result = await _connect(hass, "serial", form | {CONF_DEVICE: client_side})
    result = await _probe_unit(hass, result, 2)
    result = await _configure(hass, result, {"name": "Garage"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CONNECTION][CONF_DEVICE] == link
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    assert [key for key in hass.data[DATA_CONNECTIONS]] == [("serial", link)]
    assert float(hass.states.get("sensor.garage_energy_delivered").state) > 0  # type: ignore[union-attr]


async def test_serial_port_that_cannot_open(hass: HomeAssistant, tmp_path: Path) -> None:
    result = await _connect(
        hass,
        "serial",
        {
            CONF_DEVICE: str(tmp_path / "no-such-tty"),
            CONF_BAUDRATE: "9600",
            CONF_PARITY: "none",
            CONF_STOPBITS: "1",
            CONF_BYTESIZE: "8",
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "serial"
    assert result["errors"] == {"base": "cannot_connect"}
    result = await _configure(
        hass,
        result,
        {
            CONF_DEVICE: "ttyUSB0",  # not a path
            CONF_BAUDRATE: "9600",
            CONF_PARITY: "none",
            CONF_STOPBITS: "1",
            CONF_BYTESIZE: "8",
        },
    )
    assert result["errors"] == {"base": "invalid_settings"}
    schema = result["data_schema"]
    assert schema is not None
    assert schema({})[CONF_DEVICE] == "ttyUSB0"  # what was typed stays in the form


# -- scanning ----------------------------------------------------------------------------------


async def _scan(
    hass: HomeAssistant, result: ConfigFlowResult, first: int, last: int
) -> ConfigFlowResult:
    assert result["step_id"] in ("unit", "nothing_found")
    result = await _configure(hass, result, {"next_step_id": "scan_settings"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scan_settings"
    result = await _configure(hass, result, {"first_unit": first, "last_unit": last})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "scanning"
    assert result["description_placeholders"] == {
        "first": str(first),
        "last": str(last),
        # One request per id, at most 0.6 s each, a tenth to spare: what the scan can promise.
        "seconds": str(math.ceil((last - first + 1) * 0.6 * 1.1)),
    }
    await hass.async_block_till_done()
    return await _configure(hass, result)


async def test_scan_offers_meters_not_yet_set_up(
    hass: HomeAssistant, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id="s1000_40001").add_to_hass(hass)
    # Home Assistant 2025.4 shows the scan's range and longest duration; later releases also
    # draw a progress bar from ``async_update_progress``, which this stands in for.
    progress: list[float] = []
    monkeypatch.setattr(
        config_flow.LevitonConfigFlow,
        "async_update_progress",
        lambda flow, value: progress.append(value),
        raising=False,
    )
    result = await _connect(hass, "tcp", _socket(simulator))
    result = await _scan(hass, result, 1, 4)
    assert progress == [0.25, 0.5, 0.75, 1.0]
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick"
    assert result["description_placeholders"] == {"count": "2"}
    schema = result["data_schema"]
    assert schema is not None
    options = schema.schema["meter"].config["options"]
    assert options == [
        {"value": "2", "label": "unit 2: Series 1000, 1N240-01D"},
        {"value": "3", "label": "unit 3: Series 8000 (provisional register map), S8UTS-083"},
    ]
    result = await _configure(hass, result, {"meter": "2"})
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["unit"] == "2"
    result = await _configure(hass, result, {"name": "Unit 2"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_UNIT_ID] == 2
    assert result["result"].unique_id == "s1000_40002"


async def test_scan_finding_nothing_offers_another_way(
    hass: HomeAssistant, simulator: SimulatorProcess
) -> None:
    result = await _connect(hass, "tcp", _socket(simulator))
    result = await _configure(hass, result, {"next_step_id": "scan_settings"})
    result = await _configure(hass, result, {"first_unit": 4, "last_unit": 2})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "bad_range"}

    result = await _configure(hass, result, {"first_unit": 5, "last_unit": 5})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    await hass.async_block_till_done()
    result = await _configure(hass, result)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "nothing_found"
    assert result["description_placeholders"] == {"first": "5", "last": "5", "known": "0"}
    assert result["menu_options"] == ["unit_id", "scan_settings"]
    result = await _configure(hass, result, {"next_step_id": "unit_id"})
    result = await _configure(hass, result, {CONF_UNIT_ID: 1})
    assert result["step_id"] == "confirm"


async def test_scan_of_configured_meters_only_counts_them(
    hass: HomeAssistant, start_sim: StartSim
) -> None:
    sim = await start_sim(SPEC_2000)
    MockConfigEntry(domain=DOMAIN, unique_id="s1000_40001").add_to_hass(hass)
    result = await _connect(hass, "tcp", _socket(sim))
    result = await _scan(hass, result, 1, 1)
    assert result["step_id"] == "nothing_found"
    assert result["description_placeholders"] == {"first": "1", "last": "1", "known": "1"}


async def test_scan_that_cannot_use_the_port(
    hass: HomeAssistant,
    serial_pair: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
    start_sim: StartSim,
) -> None:
    """A meter set up on the port with other line settings while the flow was open."""
    meter_side, client_side = serial_pair
    await start_sim(SPEC_2000, serial=meter_side)
    line = {
        CONF_DEVICE: client_side,
        CONF_BAUDRATE: "19200",
        CONF_PARITY: "none",
        CONF_STOPBITS: "1",
        CONF_BYTESIZE: "8",
    }
    result = await _connect(hass, "serial", line)
    assert result["step_id"] == "unit"
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Meter 1",
        unique_id="s1000_40001",
        data={
            CONF_CONNECTION: {CONF_KIND: "serial"}
            | line
            | {
                CONF_BAUDRATE: 9600,
                CONF_PARITY: "N",  # what the flow stores for the form's "none"
                CONF_STOPBITS: 1,
                CONF_BYTESIZE: 8,
            },
            CONF_UNIT_ID: 1,
            CONF_SERIES: "2000",
        },
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    result = await _scan(hass, result, 1, 1)
    assert result["step_id"] == "nothing_found"
    failed = [r for r in caplog.records if r.getMessage().startswith("scan failed")]
    assert len(failed) == 1
    assert "already in use with other line settings" in failed[0].getMessage()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_scan_skips_ids_that_answer_garbage(hass: HomeAssistant, start_sim: StartSim) -> None:
    sim = await start_sim(SPEC_2000, framing="rtu", faults={"crc": 1.0})
    result = await _connect(hass, "rtu_tcp", _socket(sim))
    result = await _scan(hass, result, 1, 1)
    assert result["step_id"] == "nothing_found"
    assert result["description_placeholders"] == {"first": "1", "last": "1", "known": "0"}


# -- errors ------------------------------------------------------------------------------------


async def test_cannot_connect_and_invalid_settings(hass: HomeAssistant) -> None:
    result = await _connect(hass, "tcp", {CONF_HOST: "127.0.0.1", CONF_PORT: _free_port()})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tcp"
    assert result["errors"] == {"base": "cannot_connect"}
    result = await _configure(hass, result, {CONF_HOST: "  ", CONF_PORT: 502})
    assert result["errors"] == {"base": "invalid_settings"}
    assert result["description_placeholders"] == {
        "error": "connection URL 'tcp://:502' has no host; expected tcp://HOST:PORT, "
        "rtu+tcp://HOST:PORT or serial:///dev/PORT?baud=9600&parity=N&stopbits=1"
    }


async def test_an_unexpected_error_does_not_end_the_flow(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """A host name with a label longer than DNS allows (63 characters) fails inside the
    resolver's IDNA encoding, not as a Modbus error: the form says so and stays open."""
    host = "a" * 64 + ".example"
    result = await _connect(hass, "tcp", {CONF_HOST: host, CONF_PORT: 502})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tcp"
    assert result["errors"] == {"base": "unknown"}
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["error"].startswith("UnicodeEncodeError: ")
    assert "label too long" in placeholders["error"]
    assert f"unexpected error opening tcp://{host}:502" in caplog.text
    result = await _configure(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: _free_port()})
    assert result["errors"] == {"base": "cannot_connect"}  # the flow goes on


async def test_a_port_in_use_with_other_line_settings(
    hass: HomeAssistant, serial_pair: tuple[str, str], start_sim: StartSim
) -> None:
    meter_side, client_side = serial_pair
    await start_sim(SPEC_2000, SPEC_1000, serial=meter_side)
    line = {
        CONF_DEVICE: client_side,
        CONF_BAUDRATE: "9600",
        CONF_PARITY: "none",
        CONF_STOPBITS: "1",
        CONF_BYTESIZE: "8",
    }
    result = await _connect(hass, "serial", line)
    result = await _probe_unit(hass, result, 1)
    result = await _configure(hass, result, {"name": "First"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    first = result["result"]
    assert first.state is ConfigEntryState.LOADED

    result = await _connect(hass, "serial", line | {CONF_BAUDRATE: "19200"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "line_conflict"}
    assert result["description_placeholders"] is not None
    assert "baud=19200" in result["description_placeholders"]["error"]
    assert "baud=9600" in result["description_placeholders"]["error"]
    # The same line settings share the open port: the second meter is found.
    result = await _configure(hass, result, line)
    result = await _probe_unit(hass, result, 2)
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["series"] == "Series 1000"
    assert await hass.config_entries.async_unload(first.entry_id)


@pytest.fixture
async def acme_meter() -> AsyncIterator[int]:
    """Another maker's meter on an RTU-over-TCP gateway: it answers 0x11 with its own name."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(64):
            if data[1:2] == b"\x11":
                body = bytes([data[0], 0x11, 13]) + b"\x01\xffACME PM5560"
            else:
                body = bytes([data[0], data[1] | 0x80, 0x02])  # illegal data address
            writer.write(body + FramerRTU.compute_CRC(body).to_bytes(2, "big"))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


async def test_probe_errors(hass: HomeAssistant, start_sim: StartSim, acme_meter: int) -> None:
    sim = await start_sim(SPEC_2000)
    result = await _connect(hass, "tcp", _socket(sim))
    result = await _probe_unit(hass, result, 9)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "unit_id"
    assert result["errors"] == {"base": "no_meter"}
    assert result["description_placeholders"] is not None
    error = result["description_placeholders"]["error"]
    # What to check on a Modbus TCP link, said once (the form already names the unit id).
    assert error.startswith("Check the unit id (a Modbus TCP gateway passes it on")
    assert "connect with RTU over TCP instead" in error
    assert "before 2011-02-26" in error
    assert "nothing answers" not in error.lower()
    schema = result["data_schema"]
    assert schema is not None
    assert schema({})[CONF_UNIT_ID] == 9

    result = await _connect(hass, "rtu_tcp", {CONF_HOST: "127.0.0.1", CONF_PORT: acme_meter})
    result = await _probe_unit(hass, result, 1)
    assert result["errors"] == {"base": "not_leviton"}
    assert result["description_placeholders"] is not None
    assert "ACME" in result["description_placeholders"]["error"]

    noisy = await start_sim(SPEC_2000, framing="rtu", faults={"crc": 1.0})
    result = await _connect(hass, "rtu_tcp", _socket(noisy))
    result = await _probe_unit(hass, result, 1)
    assert result["errors"] == {"base": "bad_answer"}
    assert result["description_placeholders"] is not None
    assert "CRC" in result["description_placeholders"]["error"]
    await noisy.faults()
    result = await _configure(hass, result, {CONF_UNIT_ID: 1})
    assert result["step_id"] == "confirm"


async def test_probe_when_the_gateway_goes_away(hass: HomeAssistant, start_sim: StartSim) -> None:
    sim = await start_sim(SPEC_2000)
    result = await _connect(hass, "tcp", _socket(sim))
    await sim.stop()
    result = await _probe_unit(hass, result, 1)
    assert result["errors"] == {"base": "cannot_connect"}


async def test_same_meter_through_another_connection_is_refused(
    hass: HomeAssistant, simulator: SimulatorProcess, start_sim: StartSim
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    # The same meter (same program id) behind an RS485-to-Ethernet server.
    gateway = await start_sim(SPEC_2000, framing="rtu")
    result = await _connect(hass, "rtu_tcp", _socket(gateway))
    result = await _probe_unit(hass, result, 1)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# -- reconfigure -------------------------------------------------------------------------------


async def test_reconfigure_moves_the_meter_to_another_connection(
    hass: HomeAssistant, simulator: SimulatorProcess, start_sim: StartSim
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    gateway = await start_sim(SPEC_2000, framing="rtu")
    assert simulator.address is not None
    port_now = simulator.address[1]

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"current": f"tcp://127.0.0.1:{port_now}"}
    assert_flow_translated(result)
    result = await _configure(hass, result, {"next_step_id": "tcp"})
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {CONF_HOST: "127.0.0.1", CONF_PORT: port_now}

    # A port where nothing listens: the form comes back with what was typed.
    port = _free_port()
    result = await _configure(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: port})
    assert result["errors"] == {"base": "cannot_connect"}
    schema = result["data_schema"]
    assert schema is not None
    assert schema({})[CONF_PORT] == port

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await _configure(hass, result, {"next_step_id": "rtu_tcp"})
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {CONF_HOST: "", CONF_PORT: 4196}  # the TCP entry's are no defaults here
    result = await _configure(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: port})
    assert result["errors"] == {"base": "cannot_connect"}
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {CONF_HOST: "127.0.0.1", CONF_PORT: port}  # as typed
    result = await _configure(hass, result, _socket(gateway))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_CONNECTION] == {CONF_KIND: "rtu+tcp"} | _socket(gateway)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    before = await gateway.requests(1)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert await gateway.requests(1) > before  # now read through the gateway


async def test_reconfigure_to_another_meter_is_refused(
    hass: HomeAssistant, simulator: SimulatorProcess, start_sim: StartSim
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    other = await start_sim("1:2000:program=777")
    result = await entry.start_reconfigure_flow(hass)
    result = await _configure(hass, result, {"next_step_id": "tcp"})
    result = await _configure(hass, result, _socket(other))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
    assert entry.data[CONF_CONNECTION][CONF_PORT] == simulator.address[1]  # type: ignore[index]


async def test_reconfigure_where_the_meter_does_not_answer(
    hass: HomeAssistant, simulator: SimulatorProcess, start_sim: StartSim
) -> None:
    entry = await make_entry(simulator, 2)
    await setup_entry(hass, entry)
    empty = await start_sim("7:1000")  # nothing at unit 2 there
    result = await entry.start_reconfigure_flow(hass)
    result = await _configure(hass, result, {"next_step_id": "tcp"})
    result = await _configure(hass, result, _socket(empty))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tcp"
    assert result["errors"] == {"base": "no_meter"}
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["error"].startswith("Check the unit id")


async def test_reconfigure_to_a_serial_port(
    hass: HomeAssistant,
    simulator: SimulatorProcess,
    serial_pair: tuple[str, str],
    start_sim: StartSim,
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    meter_side, client_side = serial_pair
    await start_sim(SPEC_2000, serial=meter_side)
    result = await entry.start_reconfigure_flow(hass)
    result = await _configure(hass, result, {"next_step_id": "serial"})
    line = {
        CONF_DEVICE: client_side,
        CONF_BAUDRATE: "9600",
        CONF_PARITY: "none",
        CONF_STOPBITS: "1",
        CONF_BYTESIZE: "8",
    }
    result = await _configure(hass, result, line)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_CONNECTION][CONF_KIND] == "serial"
    assert entry.data[CONF_CONNECTION][CONF_DEVICE] == client_side
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_line_settings_of_a_serial_meter(
    hass: HomeAssistant, serial_pair: tuple[str, str], start_sim: StartSim
) -> None:
    """The entry holds the port: it lets go of it to try the new line settings."""
    meter_side, client_side = serial_pair
    sim = await start_sim(SPEC_2000, serial=meter_side)
    line = {
        CONF_KIND: "serial",
        CONF_DEVICE: client_side,
        CONF_BAUDRATE: 9600,
        CONF_PARITY: "N",
        CONF_STOPBITS: 1,
        CONF_BYTESIZE: 8,
    }
    form = {
        CONF_DEVICE: client_side,
        CONF_BAUDRATE: "19200",
        CONF_PARITY: "none",
        CONF_STOPBITS: "2",
        CONF_BYTESIZE: "8",
    }
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Meter 1",
        unique_id="s1000_40001",
        data={CONF_CONNECTION: line, CONF_UNIT_ID: 1, CONF_SERIES: "2000"},
        options={CONF_SCAN_INTERVAL: 30},
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    # The meter does not answer with the new settings: the entry goes on with the old.
    await sim.faults(timeout=1.0)
    result = await entry.start_reconfigure_flow(hass)
    result = await _configure(hass, result, {"next_step_id": "serial"})
    schema = result["data_schema"]
    assert schema is not None
    assert schema({})[CONF_BAUDRATE] == "9600"  # the entry's settings are the defaults
    result = await _configure(hass, result, form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "no_meter"}
    await sim.faults()
    await hass.async_block_till_done(wait_background_tasks=True)
    if entry.state is not ConfigEntryState.LOADED:  # its reload met the silent meter
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_CONNECTION] == line

    result = await _configure(hass, result, form)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_CONNECTION] == line | {CONF_BAUDRATE: 19200, CONF_STOPBITS: 2}
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.meter_1_peak_demand")
    assert state is not None
    assert float(state.state) == 9.5

    # A port that refuses the settings (a pty has no parity): said so, entry loaded again.
    result = await entry.start_reconfigure_flow(hass)
    result = await _configure(hass, result, {"next_step_id": "serial"})
    result = await _configure(hass, result, form | {CONF_PARITY: "even"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert result["description_placeholders"] is not None
    assert "could not open serial port" in result["description_placeholders"]["error"]
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED

    # Another meter answers at unit 1 now: refused, and the entry is loaded again.
    await sim.set(1, program_id=777)
    result = await _configure(hass, result, form | {CONF_BAUDRATE: "9600"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data[CONF_CONNECTION][CONF_BAUDRATE] == 19200
    # Loaded again with its settings, where it finds the other meter too.
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "program id 40001 became 777" in entry.reason
    await hass.config_entries.async_unload(entry.entry_id)


# -- options -----------------------------------------------------------------------------------


async def test_options_poll_interval_and_derived_power(
    hass: HomeAssistant, simulator: SimulatorProcess, entity_registry: er.EntityRegistry
) -> None:
    entry = await make_entry(simulator, 1)
    await setup_entry(hass, entry)
    power = "sensor.meter_1_average_power"
    assert hass.states.get(power) is not None

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert_flow_translated(result, "options")
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {
        CONF_SCAN_INTERVAL: 30,
        CONF_UNAVAILABLE_AFTER: 3,
        CONF_DERIVED_POWER: True,
    }
    assert CONF_PROFILE not in schema.schema
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SCAN_INTERVAL: 60, CONF_UNAVAILABLE_AFTER: 5, CONF_DERIVED_POWER: False},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_SCAN_INTERVAL: 60,
        CONF_UNAVAILABLE_AFTER: 5,
        CONF_DERIVED_POWER: False,
    }
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.poll_interval.total_seconds() == 60
    assert entry.runtime_data.supervisor.settings.offline_after == 5
    assert hass.states.get(power) is None
    assert entity_registry.async_get(power) is None
    assert entity_registry.async_get("sensor.meter_1_net_grid_power") is None  # derived too
    assert hass.states.get("sensor.meter_1_energy_delivered") is not None

    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"]
    assert schema is not None
    assert schema({}) == {
        CONF_SCAN_INTERVAL: 60,
        CONF_UNAVAILABLE_AFTER: 5,
        CONF_DERIVED_POWER: False,
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 30, CONF_DERIVED_POWER: True}
    )
    await hass.async_block_till_done()
    assert hass.states.get(power) is not None
    assert entity_registry.async_get(power) is not None


async def test_options_of_an_entry_whose_settings_cannot_be_used(hass: HomeAssistant) -> None:
    """An entry whose connection settings are broken does not load; its options still open
    (there is no bus to describe) and can be saved."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Broken",
        data={
            CONF_CONNECTION: {CONF_KIND: "udp", CONF_HOST: "127.0.0.1", CONF_PORT: 502},
            CONF_UNIT_ID: 1,
            CONF_SERIES: "2000",
        },
        options={CONF_SCAN_INTERVAL: 30},
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert_flow_translated(result, "options")
    assert result["description_placeholders"] == {
        "error": "",
        "meters": "0",
        "pass": "?",
        "shortest": "1",
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SCAN_INTERVAL: 45, CONF_UNAVAILABLE_AFTER: 3, CONF_DERIVED_POWER: True},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_SCAN_INTERVAL] == 45


async def test_options_series_8000_profile(
    hass: HomeAssistant, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    entry = await make_entry(simulator, 3)
    await setup_entry(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"]
    assert schema is not None
    assert CONF_PROFILE in schema.schema
    assert CONF_DERIVED_POWER not in schema.schema

    missing = tmp_path / "missing.yaml"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 30, CONF_PROFILE: str(missing)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PROFILE: "bad_profile"}
    assert_flow_translated(result, "options")
    assert result["description_placeholders"] is not None
    assert "no such file" in result["description_placeholders"]["error"]

    broken = tmp_path / "broken.yaml"
    broken.write_text("registers: [1, 2\n", encoding="utf-8")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 30, CONF_PROFILE: str(broken)}
    )
    assert result["errors"] == {CONF_PROFILE: "bad_profile"}
    assert "not valid YAML" in result["description_placeholders"]["error"]  # type: ignore[index]

    mine = tmp_path / "mine.yaml"
    text = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8")
    text = text.replace("name: Series 8000 provisional default", "name: Site profile")
    mine.write_text(text.replace("provisional: true", "provisional: false"), encoding="utf-8")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 45, CONF_PROFILE: f" {mine} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_SCAN_INTERVAL: 45,
        CONF_UNAVAILABLE_AFTER: 3,
        CONF_PROFILE: str(mine),
    }
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.identity.profile == "Site profile"
    assert entry.runtime_data.identity.provisional_profile is False
    state = hass.states.get("sensor.meter_3_point_1_energy_delivered")
    assert state is not None
    assert float(state.state) > 0

    # An empty field goes back to the default profile.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 45, CONF_PROFILE: ""}
    )
    await hass.async_block_till_done()
    assert entry.options == {CONF_SCAN_INTERVAL: 45, CONF_UNAVAILABLE_AFTER: 3}
    assert entry.state is ConfigEntryState.LOADED


async def test_a_foreign_device_is_refused_as_not_leviton(
    hass: HomeAssistant, start_sim: StartSim
) -> None:
    """Another maker's Modbus device answers register reads like anything does: without
    positive evidence of a Leviton meter it is refused, whether it names itself in 0x11 or
    gives no 0x11 answer at all."""
    sim = await start_sim("7:foreign", "8:foreign:model=Acme Power-AP-1", "9:foreign:ident=none")
    result = await _connect(hass, "tcp", _socket(sim))
    result = await _probe_unit(hass, result, 7)
    assert result["errors"] == {"base": "not_leviton"}
    assert result["description_placeholders"] is not None
    assert "identifies as 'Pymodbus'" in result["description_placeholders"]["error"]
    result = await _configure(hass, result, {CONF_UNIT_ID: 8})
    assert result["errors"] == {"base": "not_leviton"}
    assert "identifies as 'Acme'" in result["description_placeholders"]["error"]
    result = await _configure(hass, result, {CONF_UNIT_ID: 9})
    assert result["errors"] == {"base": "not_leviton"}
    error = result["description_placeholders"]["error"]
    assert "shows nothing of a Leviton meter" in error
    assert "register 45001 (a Leviton meter's own Modbus id) holds 0, not 9" in error

    # A scan finds no meter there either.
    result = await _connect(hass, "tcp", _socket(sim))
    result = await _scan(hass, result, 7, 9)
    assert result["step_id"] == "nothing_found"
    assert result["description_placeholders"] == {"first": "7", "last": "9", "known": "0"}


async def test_scan_of_silent_ids_asks_each_once_at_the_scans_own_timeout(
    hass: HomeAssistant,
    start_sim: StartSim,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twelve silent ids on a connection a set-up meter already uses with a 1.0 s timeout:
    one request each, each waiting the scan's own 0.6 s, and nothing logged as an error (silence
    is the expected answer of a scan). So the scan takes at most what the form promises."""
    sim = await start_sim(SPEC_2000)
    entry = await make_entry(sim, 1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    link = entry.runtime_data.link
    connection = next(iter(hass.data[DATA_CONNECTIONS].values())).connection
    assert connection.settings.timeout == 1.0

    waits: list[tuple[float | None, float]] = []  # (the answer timeout before, after)
    set_timeout = modbus_compat.set_request_timeout

    def recorded(client: Any, seconds: float) -> float | None:
        before = set_timeout(client, seconds)
        waits.append((before, seconds))
        return before

    monkeypatch.setattr(modbus_compat, "set_request_timeout", recorded)
    caplog.set_level(logging.DEBUG, logger="pymodbus")
    caplog.clear()
    result = await _connect(hass, "tcp", _socket(sim))
    result = await _scan(hass, result, 2, 13)  # the form promised ceil(12 x 0.6 x 1.1) = 8 s
    assert result["step_id"] == "nothing_found"
    assert waits == [(1.0, 0.6), (0.6, 1.0)]  # lowered for the scan, given back after
    assert [await sim.unanswered(unit) for unit in range(2, 14)] == [1] * 12
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    # The meter set up on the link is read as before, with its own timeout.
    assert entry.state is ConfigEntryState.LOADED
    assert link.unit is entry.runtime_data.link.unit
    state = hass.states.get("sensor.meter_1_peak_demand")
    assert state is not None
    assert float(state.state) == 9.5

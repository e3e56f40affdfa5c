"""Every pymodbus and modbus-connection internal that ``driver/modbus_compat.py`` uses, checked
where it lives: an upgrade that moves one fails here, by name, rather than somewhere deep in a
poll. Runs on the project's pymodbus and on each Home Assistant release's 3.11.x."""

from __future__ import annotations

import inspect
from importlib import metadata

import pytest
from modbus_connection import IllegalDataAddressError, ModbusTcpParams
from modbus_connection.pymodbus import ModbusConnection
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu.other_message import ReportDeviceIdResponse

from tests.support.simulator_process import SimulatorProcess

from .conftest import driver_module

compat = driver_module("modbus_compat")
connection_module = driver_module("connection")


def test_versions_are_ones_we_know() -> None:
    """The internals below were checked on these; a new major line needs a look first."""
    assert metadata.version("pymodbus").startswith("3.")
    assert metadata.version("modbus-connection").startswith("4.")


def test_report_device_id_response_can_be_kept_whole() -> None:
    response = compat.WholeReportServerIdResponse()
    assert isinstance(response, ReportDeviceIdResponse)
    assert response.function_code == 0x11
    response.decode(bytes([5, 0x31, 0xFF]) + b"Lev")
    assert response.identifier == bytes([0x31, 0xFF]) + b"Lev"


def test_modbus_connection_hooks_we_override_exist() -> None:
    for name in ("_create_client", "_connect_client", "_on_trace_connect"):
        assert callable(getattr(ModbusConnection, name, None)), name
    connection = ModbusConnection(ModbusTcpParams(host="127.0.0.1", port=1))
    assert compat.live_client(connection) is None  # ``_client``: None while the link is down


async def test_pymodbus_client_internals_we_set_exist() -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=1, timeout=1.0, retries=0, reconnect_delay=0)
    assert callable(client.register)
    assert callable(client.set_max_no_responses)
    assert hasattr(client.ctx, "trace_packet")
    assert "addr" in inspect.signature(client.ctx.callback_data).parameters
    assert client.ctx.comm_params.timeout_connect == 1.0
    assert compat.set_request_timeout(client, 0.25) == 1.0
    assert client.ctx.comm_params.timeout_connect == 0.25
    compat.tolerate_silence(client, 9)
    assert (client.ctx.max_until_disconnect, client.ctx.count_until_disconnect) == (9, 9)
    assert "no_response_expected" in inspect.signature(client.execute).parameters


def test_a_components_read_plan_gives_its_blocks() -> None:
    """``Component._build_plan().blocks``: {space: [(start, count), ...]}, read in order."""
    from modbus_connection.model import Component, integer, uint32

    class Sample(Component):  # type: ignore[misc]
        register_ranges = ((0, 9), (20, 29))
        first = uint32(0)
        second = integer(3)
        third = uint32(21)

    component = Sample(None)
    assert callable(getattr(component, "_build_plan", None))
    assert compat.read_blocks(component) == [(0, 4), (21, 2)]


def test_pymodbus_logger_name() -> None:
    from pymodbus.logging import Log

    assert Log._logger.name == compat.PYMODBUS_LOGGER


async def test_exception_answers_keep_their_code(simulator: SimulatorProcess) -> None:
    """On pymodbus 3.11 the decoder's ExceptionResponse is not the exported one, and
    modbus-connection would report a plain error: our client converts it."""
    connection = connection_module.open_connection(f"{simulator.url}?timeout=2")
    try:
        unit = connection.for_unit(1)
        with pytest.raises(IllegalDataAddressError):
            await unit.read_holding_registers(0x0006, 1)  # 40007: undocumented
        answer = await unit.report_server_id()
        assert answer.startswith(bytes([0x31, 0xFF]) + b"Leviton ")
        assert answer.endswith(b"001") or answer[-3:].isdigit()  # the last byte is kept
        assert connection.trace.requests == 2
    finally:
        await connection.close()


async def test_a_scan_can_ask_for_quick_answers(simulator: SimulatorProcess) -> None:
    connection = connection_module.open_connection(f"{simulator.url}?timeout=1.0")
    try:
        await connection.connect()
        client = compat.live_client(connection)
        assert client is not None
        with connection.quick_answers(0.3, silent_ids=20):
            assert client.ctx.comm_params.timeout_connect == 0.3
            assert client.ctx.max_until_disconnect == 20
            assert client.ctx.count_until_disconnect == 20
        assert client.ctx.comm_params.timeout_connect == 1.0
        assert client.ctx.max_until_disconnect == 3
    finally:
        await connection.close()

"""Canaries for the library internals the project relies on; run in every environment (the
project's, with its pinned libraries, and each Home Assistant release's, with its pymodbus)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

from tests.support.simulator_process import SimulatorProcess


def driver_module(name: str) -> ModuleType:
    """A driver module as this environment has it: ``leviton_driver`` for the bridge's, the
    component's own copy in Home Assistant's (where the bridge is not installed)."""
    try:
        return importlib.import_module(f"leviton_driver.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"custom_components.leviton_meters.driver.{name}")


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorProcess]:
    """A Series 2000 at unit 1, Modbus TCP, in a process of the project's environment."""
    sim = await SimulatorProcess.start("1:2000")
    yield sim
    await sim.stop()


@pytest.fixture(autouse=True)
def _sockets(request: Any) -> None:
    """Home Assistant's test plugin blocks sockets; these tests use loopback ones."""
    if "socket_enabled" in request.fixturenames or request.config.pluginmanager.has_plugin(
        "socket"
    ):
        request.getfixturevalue("socket_enabled")

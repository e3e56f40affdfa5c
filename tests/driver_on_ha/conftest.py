"""The driver's own tests (``tests/driver``), run again in each Home Assistant release's
environment, on the component's copy of the driver and that release's pymodbus 3.11.

The driver ships inside the component (HACS installs only that folder) and must work on the
pymodbus Home Assistant pins, not only on the current one the project's environment has. So
each module of ``tests/driver`` that needs nothing but the driver, Modbus and the simulator
process is imported here by a module of the same name, and pytest collects its tests again;
``leviton_driver`` (the bridge's import name, not installed in Home Assistant's environments)
names the component's ``custom_components.leviton_meters.driver`` here, module for module, so
that the tests run on the very code Home Assistant loads.

In the project's environment the same tests already run from ``tests/driver``: this folder
collects nothing there.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import pytest


def _driver_is_the_bridges() -> bool:
    try:
        importlib.import_module("leviton_bridge")
    except ModuleNotFoundError:
        return False
    return True


def _alias_the_components_driver() -> None:
    """``leviton_driver.X`` is ``custom_components.leviton_meters.driver.X`` (same objects)."""
    package = importlib.import_module("custom_components.leviton_meters.driver")
    sys.modules["leviton_driver"] = package
    for module in pkgutil.iter_modules(package.__path__):
        sys.modules[f"leviton_driver.{module.name}"] = importlib.import_module(
            f"{package.__name__}.{module.name}"
        )


if _driver_is_the_bridges():
    collect_ignore_glob = ["test_*.py"]
else:
    _alias_the_components_driver()


@pytest.fixture(autouse=True)
def _sockets(request: Any) -> None:
    """Home Assistant's test plugin blocks sockets; these tests use loopback ones."""
    if request.config.pluginmanager.has_plugin("socket"):
        request.getfixturevalue("socket_enabled")

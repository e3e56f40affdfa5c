"""Simulated Leviton meters that answer like the real ones, for tests, demos and benchmarks.

Test and tooling code: it ships with the bridge (``leviton-bridge simulate``), not in the Home
Assistant component.

* ``keys.py``: what a simulated meter can be told (light: no pymodbus).
* ``meters.py``: what a simulated meter holds in its registers and says to function 0x11.
* ``line.py``: the emulated RS485 line and fault injection.
* ``server.py``: ``MeterSimulator``, the Modbus server (TCP, RTU over TCP, serial).
* ``control.py``: a remote control over standard input and output, so that a test running
  in another Python environment (Home Assistant's) can drive a simulator process.

Names are imported on first use, so that importing ``keys`` does not start pymodbus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .keys import METER_KEYS, SERIES_KINDS
    from .line import FAULT_KINDS, FaultSettings, LineSettings
    from .meters import MeterSpec, SimulatedMeter
    from .server import MeterSimulator

_WHERE = {
    "METER_KEYS": "keys",
    "SERIES_KINDS": "keys",
    "FAULT_KINDS": "line",
    "FaultSettings": "line",
    "LineSettings": "line",
    "MeterSpec": "meters",
    "SimulatedMeter": "meters",
    "MeterSimulator": "server",
}

__all__ = [
    "FAULT_KINDS",
    "METER_KEYS",
    "SERIES_KINDS",
    "FaultSettings",
    "LineSettings",
    "MeterSimulator",
    "MeterSpec",
    "SimulatedMeter",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)

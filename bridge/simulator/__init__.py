"""Simulated Leviton meters that answer like the real ones, for tests, demos and benchmarks.

Test and tooling code: it ships with the bridge (``leviton-bridge simulate``), not in the Home
Assistant component.

* ``meters.py``: what a simulated meter holds in its registers and says to function 0x11.
* ``line.py``: the emulated RS485 line and fault injection.
* ``server.py``: ``MeterSimulator``, the Modbus server (TCP, RTU over TCP, serial).
* ``control.py``: a remote control over standard input and output, so that a test running
  in another Python environment (Home Assistant's) can drive a simulator process.
"""

from .line import FAULT_KINDS, FaultSettings, LineSettings
from .meters import METER_KEYS, SERIES_KINDS, MeterSpec, SimulatedMeter
from .server import MeterSimulator

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

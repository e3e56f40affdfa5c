"""The Leviton meter driver: register maps, identification, reading.

Imports nothing from Home Assistant: the bridge installs this folder as ``leviton_driver``
and the Home Assistant component imports it as ``.driver``. One copy of the code. The meter
simulator is test and tooling code and lives with the bridge (``leviton_bridge.simulator``).

Where to look:

* ``registers.py``: the Series 1000/2000 register map, with the manual's ambiguities.
* ``catalogue.py``: every reading (key, name, unit, classes, BACnet unit, precision).
* ``profile.py`` and ``profiles/``: the Series 8000 register profile (provisional default).
* ``identity.py``: function 0x11 answers and model numbers.
* ``meter.py``: meters on a bus (identify, read, reset peak demand, change unit id).
* ``connection.py``: connection URLs and the Modbus link.
* ``guard.py``: the glitch guard for energy totals, and power derived from them.
"""

from .catalogue import READINGS, Reading, Scope
from .connection import LinkSettings, parse_url
from .errors import (
    ConfigurationError,
    ConnectError,
    CrcError,
    ExceptionResponseError,
    GarbledResponseError,
    LevitonError,
    MeterError,
    MeterTimeoutError,
    NoModbusMeterError,
    NotLevitonError,
    ProfileError,
    ShortResponseError,
    VerificationError,
)
from .meter import (
    SERIES_CHOICES,
    Bus,
    DemandResetResult,
    Identity,
    LevitonMeter,
    Series1000Meter,
    Series8000Meter,
    Snapshot,
    check_unit_id,
    detect_meter,
)
from .profile import Profile, load_profile

__all__ = [
    "READINGS",
    "SERIES_CHOICES",
    "Bus",
    "ConfigurationError",
    "ConnectError",
    "CrcError",
    "DemandResetResult",
    "ExceptionResponseError",
    "GarbledResponseError",
    "Identity",
    "LevitonError",
    "LevitonMeter",
    "LinkSettings",
    "MeterError",
    "MeterTimeoutError",
    "NoModbusMeterError",
    "NotLevitonError",
    "Profile",
    "ProfileError",
    "Reading",
    "Scope",
    "Series1000Meter",
    "Series8000Meter",
    "ShortResponseError",
    "Snapshot",
    "VerificationError",
    "check_unit_id",
    "detect_meter",
    "load_profile",
    "parse_url",
]

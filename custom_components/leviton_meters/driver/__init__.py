"""The Leviton meter driver: register maps, identification, reading.

Imports nothing from Home Assistant: the bridge installs this folder as ``leviton_driver``
and the Home Assistant component imports it as ``.driver``. One copy of the code. The meter
simulator is test and tooling code and lives with the bridge (``leviton_bridge.simulator``).

Where to look:

* ``registers.py``: the Series 1000/2000 register map, with the manual's ambiguities.
* ``catalogue.py``: every reading (key, name, unit, classes, BACnet unit and slot, precision).
* ``profile.py`` and ``profiles/``: the Series 8000 register profile (provisional default).
* ``model_numbers.py``: Leviton model numbers; ``report_id.py``: function 0x11 answers.
* ``meter.py``: what every meter offers, and its one description (series, readings, points,
  demand reset, model label) that every face uses.
* ``series1000.py``, ``series8000.py``: the two kinds of meter.
* ``detection.py``: which meter answers at a unit id (probe, series, Leviton evidence, scan).
* ``bus.py``: one link and its meters, for the bridge and the command line.
* ``connection.py``: connection URLs and the Modbus link; ``modbus_compat.py`` holds every use
  of pymodbus's and modbus-connection's internals.
* ``supervision.py``: how a meter is watched, for every host that polls meters (retry within
  a poll, availability, identity checks, a swapped meter, seeded totals).
* ``guard.py``: the glitch guard for energy totals, and power derived from them.
"""

from .bus import SCAN_TIMEOUT, Bus
from .catalogue import READINGS, Reading, Scope
from .connection import LinkSettings, parse_url
from .detection import (
    ScanResult,
    async_configured_meter,
    async_detect_meter,
    async_identify_meter,
    async_probe_meter,
    async_scan,
    configured_meter,
    no_answer_advice,
    no_answer_error,
)
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
    OPTION_DERIVED_POWER,
    OPTION_PROFILE,
    SERIES_CHOICES,
    SERIES_OPTIONS,
    Clocks,
    DemandResetResult,
    Identity,
    IdentityCheck,
    LevitonMeter,
    Series,
    Snapshot,
    check_unit_id,
)
from .profile import Profile, async_load_profile, load_profile
from .supervision import (
    DEFAULT_SETTINGS,
    MeterSupervisor,
    OtherMeter,
    PollOutcome,
    SupervisionSettings,
    Verdict,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "OPTION_DERIVED_POWER",
    "OPTION_PROFILE",
    "READINGS",
    "SCAN_TIMEOUT",
    "SERIES_CHOICES",
    "SERIES_OPTIONS",
    "Bus",
    "Clocks",
    "ConfigurationError",
    "ConnectError",
    "CrcError",
    "DemandResetResult",
    "ExceptionResponseError",
    "GarbledResponseError",
    "Identity",
    "IdentityCheck",
    "LevitonError",
    "LevitonMeter",
    "LinkSettings",
    "MeterError",
    "MeterSupervisor",
    "MeterTimeoutError",
    "NoModbusMeterError",
    "NotLevitonError",
    "OtherMeter",
    "PollOutcome",
    "Profile",
    "ProfileError",
    "Reading",
    "ScanResult",
    "Scope",
    "Series",
    "ShortResponseError",
    "Snapshot",
    "SupervisionSettings",
    "Verdict",
    "VerificationError",
    "async_configured_meter",
    "async_detect_meter",
    "async_identify_meter",
    "async_load_profile",
    "async_probe_meter",
    "async_scan",
    "check_unit_id",
    "configured_meter",
    "load_profile",
    "no_answer_advice",
    "no_answer_error",
    "parse_url",
]

"""What a simulated meter can be told (``UNIT:SERIES:key=value``), without importing pymodbus:
``leviton-bridge --help`` shows it."""

from __future__ import annotations

from typing import Final

#: What a simulated meter can be: a Series 1000, 2000 or 8000 (of 8, 12 or 24 points), or
#: another maker's Modbus device ("foreign"), which the driver must refuse.
SERIES_KINDS: Final = ("1000", "2000", "8000", "8000-8", "8000-12", "8000-24", "foreign")
METER_KEYS: Final = {
    "load": "kW drawn (Series 8000: total over all points); 0 keeps values still",
    "energy": "kWh delivered at start",
    "export": "kWh received at start",
    "peak": "kW of peak demand at start (default: the load)",
    "model": "model number reported by function 0x11 (a foreign device: its 0x11 text)",
    "program": "program id (45004, and 'fn' in 0x11)",
    "resets": "demand reset counter at start",
    "uptime": "seconds of uptime at start",
    "ident": "0x11 answer style: ascii (as in the manual), spaced, binary, or none (refuse 0x11)",
    "glitch": "share of reads (0..1) whose energy totals glitch: 0, or a thousand times too high",
}

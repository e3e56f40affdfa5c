"""The Series 1000/2000 Modbus register map, as declarative data.

Source: Leviton "Series 1000/2000 Meters" installation guide, section 2.5.3 "Modbus protocol
on RS485 Port" and its example frames (Table 4). Register numbers are the manual's 4xxxx
numbers; the wire address is the register number minus 40001 (40061 goes out as 0x003C,
45007 as 0x138E). 32-bit values are two registers, high word first.

Only documented registers appear here. A real meter answers any other address with Modbus
exception 02, so every component declares ``register_ranges``: the read planner then never
bridges a gap (40007-40060, 45005) to save a transaction.

Ambiguities in the manual, and how this map handles them:

* 40005-40006. The manual documents peak demand at 40061, and also shows a six-register read
  from 40001 whose third value is labelled "Peak Demand" (kW/100). It does not say whether the
  two are the same quantity. We poll the six-register block (one transaction) and check it
  against 40061 when the meter is identified; a meter whose block value disagrees with 40061
  is polled at 40061 as well (see ``meter.Series1000Meter``).
* 40003-40004, energy received: "will provide in the future". Older firmware may always answer
  zero; we publish what the meter says.
* The 40061 example labels its value "kWh/100" where every other peak-demand mention says
  kW/100; it is a demand, so kW.
* 45002/45003 versions: 0x0302 is shown as "V3.2", i.e. major in the high byte, minor in the
  low byte.
"""

from __future__ import annotations

from typing import Final

from modbus_connection.model import Component, integer, raw_register, uint32

#: Modbus holding register number of the first register (the manual's numbering base).
REGISTER_BASE: Final = 40001


def wire_address(register: int) -> int:
    """Return the on-the-wire address of a manual register number (40061 -> 0x003C)."""
    return register - REGISTER_BASE


def register_number(address: int) -> int:
    """Return the manual's register number of a wire address (0x003C -> 40061)."""
    return address + REGISTER_BASE


class ReadingBlock(Component):
    """Registers 40001-40006: the manual's "Query All meter's reading" six-register read.

    Polled once per cycle; one Modbus transaction.
    """

    register_ranges = ((0x0000, 0x0005),)

    energy_delivered = uint32(0x0000, scale=0.1, unit="kWh")
    """40001-40002: total energy delivered (from the grid), kWh/10."""

    energy_received = uint32(0x0002, scale=0.1, unit="kWh")
    """40003-40004: total energy received (to the grid), kWh/10; "provided in the future"."""

    peak_demand = uint32(0x0004, scale=0.01, unit="kW")
    """40005-40006: third value of the six-register read, labelled peak demand, kW/100."""


class PeakDemandRegister(Component):
    """Registers 40061-40062: peak demand, 15-minute rolling interval, kW/100."""

    register_ranges = ((0x003C, 0x003D),)

    peak_demand = uint32(0x003C, scale=0.01, unit="kW")


class IdentityRegisters(Component):
    """Registers 45001-45004: Modbus id, hardware and software version, program id.

    Read when a meter is identified and after an id change; 45005 is undocumented, so this
    block stops at 45004.
    """

    register_ranges = ((0x1388, 0x138B),)

    modbus_id = integer(0x1388, signed=False)
    """45001: the meter's Modbus id (written with function 0x10, see ``MODBUS_ID_REGISTER``)."""

    hardware_version = raw_register(0x1389)
    """45002: hardware version, 0x0302 = V3.2."""

    software_version = raw_register(0x138A)
    """45003: software version, same encoding."""

    program_id = integer(0x138B, signed=False)
    """45004: program id ("fn"), correlated by Leviton with the serial number on the label."""


class StatusRegisters(Component):
    """Registers 45006-45008: demand reset counter and uptime.

    Read at identification, after a demand reset, and then rarely (uptime is extrapolated in
    between: the manual says it counts seconds since power-up).
    """

    register_ranges = ((0x138D, 0x138F),)

    demand_reset_count = integer(0x138D, signed=False)
    """45006: number of peak-demand resets."""

    uptime = uint32(0x138E, unit="s")
    """45007-45008: seconds since power-up; resets to zero when the meter loses power."""


#: Peak-demand reset: function 0x06 (write single register) of this value to this address.
DEMAND_RESET_ADDRESS: Final = 0x01F4
DEMAND_RESET_VALUE: Final = 0x00AA

#: Modbus-id change: function 0x10 (write multiple registers) at 45001. The manual's example
#: frame says "quantity 2, byte count 2", which is not valid Modbus; we send quantity 1 with
#: byte count 2 and read 45001 back to confirm.
MODBUS_ID_REGISTER: Final = 0x1388

#: The answer to function 0x11 (report slave id) starts with these two bytes.
REPORT_ID_DEVICE_ID: Final = 0x31
REPORT_ID_RUN_STATUS: Final = 0xFF

#: Every documented readable wire address, for the simulator and the register explorer.
DOCUMENTED_READ_RANGES: Final[tuple[tuple[int, int], ...]] = (
    (0x0000, 0x0005),
    (0x003C, 0x003D),
    (0x1388, 0x138B),
    (0x138D, 0x138F),
)

#: Unit ids a Modbus RTU meter can be given (0 is broadcast, 248-255 are reserved).
UNIT_ID_MIN: Final = 1
UNIT_ID_MAX: Final = 247


def decode_version(word: int) -> str:
    """Decode a version register: 0x0302 -> "3.2" (major in the high byte)."""
    return f"{word >> 8}.{word & 0xFF}"


def encode_version(text: str | None) -> int:
    """Encode a version as its register holds it: "3.2" -> 0x0302 (0 when unknown)."""
    major, _, minor = (text or "").partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return 0
    return (int(major) & 0xFF) << 8 | (int(minor) & 0xFF)


def series1000_words(
    *,
    unit_id: int,
    energy_delivered: int,
    energy_received: int,
    peak_demand: int,
    hardware_version: int,
    software_version: int,
    program_id: int,
    demand_reset_count: int,
    uptime: int,
) -> dict[int, int]:
    """Every documented register of a Series 1000/2000, by wire address, from raw values
    (energy in kWh/10, peak demand in kW/100, versions as their registers hold them): what a
    meter holds (the simulator) and what the bridge serves of one (its Modbus server)."""
    words: dict[int, int] = {}

    def put32(address: int, value: int) -> None:
        value &= 0xFFFFFFFF
        words[address], words[address + 1] = value >> 16, value & 0xFFFF

    put32(0x0000, energy_delivered)
    put32(0x0002, energy_received)
    put32(0x0004, peak_demand)
    put32(0x003C, peak_demand)
    words[MODBUS_ID_REGISTER] = unit_id & 0xFFFF
    words[0x1389] = hardware_version & 0xFFFF
    words[0x138A] = software_version & 0xFFFF
    words[0x138B] = program_id & 0xFFFF
    words[0x138D] = demand_reset_count & 0xFFFF
    put32(0x138E, uptime)
    return words

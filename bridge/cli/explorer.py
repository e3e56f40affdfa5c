"""The register explorer behind ``leviton-bridge dump``: what does a live meter hold, where?"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modbus_connection import ModbusError

from leviton_driver import Bus, ExceptionResponseError
from leviton_driver.meter import translate_error

DESCRIPTION = """\
Dump a range of registers from a live meter, to find where it keeps its readings (for example to
write a Series 8000 profile from the Configuration Guide, or to check one).

--start takes the manual's register numbers (40001-49999 for holding registers, 30001-39999 for
input registers) or a wire address (decimal or 0x hex). Use --wire to read a number in 30001-49999
as a wire address.

Registers the meter refuses (exception 02) are shown as "refused": the explorer reads in blocks
of up to 125 and splits a refused block until it finds the registers that answer. Each row shows
the register as unsigned and signed 16-bit and, paired with the next one, as 32-bit unsigned,
signed and float in both word orders.
"""

MAX_BLOCK = 125


def parse_start(text: str, space: str, *, wire: bool) -> int:
    """Turn --start into a wire address."""
    try:
        value = int(text, 0)
    except ValueError:
        raise ValueError(f"{text!r} is not a number (decimal or 0x hex)") from None
    if not wire:
        base = 40001 if space == "holding" else 30001
        if base <= value <= base + 9998:
            return value - base
        other, other_base = ("input", 30001) if space == "holding" else ("holding", 40001)
        if other_base <= value <= other_base + 9998:
            raise ValueError(
                f"{value} is a{'n' if other == 'input' else ''} {other} register number; add "
                f"--space {other}, or --wire to read wire address {value}"
            )
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} is not a wire address 0..65535 or a register number")
    return value


def register_number(address: int, space: str) -> int | None:
    """The manual's number of a wire address (40001-49999, 30001-39999), None beyond them."""
    if not 0 <= address <= 9998:
        return None
    return address + (40001 if space == "holding" else 30001)


def describe(address: int, space: str) -> str:
    """A wire address for people: "40061 (address 0x003c)", or "address 0x2710"."""
    number = register_number(address, space)
    return f"address {address:#06x}" if number is None else f"{number} (address {address:#06x})"


@dataclass
class Row:
    address: int
    value: int | None
    """None when the meter refused the register."""


async def dump(
    bus: Bus,
    unit_id: int,
    start: int,
    count: int,
    *,
    space: str = "holding",
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    unit = bus.unit(unit_id)
    read = unit.read_holding_registers if space == "holding" else unit.read_input_registers
    values: dict[int, int | None] = {}

    async def explore(address: int, length: int) -> None:
        try:
            words = await read(address, length)
        except ModbusError as err:
            what = f"a read of {length} register(s) from {describe(address, space)}"
            classified = translate_error(
                err, what, where=bus.url, unit_id=unit_id, trace=bus.connection.trace
            )
            if isinstance(classified, ExceptionResponseError) and classified.code == 2:
                if length == 1:
                    values[address] = None
                    return
                half = length // 2
                await explore(address, half)
                await explore(address + half, length - half)
                return
            raise classified from None
        for offset, word in enumerate(words):
            values[address + offset] = word

    for block in range(start, start + count, MAX_BLOCK):
        length = min(MAX_BLOCK, start + count - block)
        if progress is not None:
            progress(_span(block, block + length - 1, space))
        await explore(block, length)
    return [Row(address, values.get(address)) for address in range(start, start + count)]


def _words32(high: int, low: int) -> tuple[int, int, float]:
    raw = struct.pack(">HH", high, low)
    return struct.unpack(">I", raw)[0], struct.unpack(">i", raw)[0], struct.unpack(">f", raw)[0]


def _span(first: int, last: int, space: str) -> str:
    low, high = register_number(first, space), register_number(last, space)
    if low is not None and high is not None:
        return f"reading registers {low}-{high} (addresses {first:#06x}-{last:#06x})"
    return f"reading addresses {first:#06x}-{last:#06x}"


_HEADER = (
    f"{'address':>13} {'register':>8} {'value':>6} {'uint16':>6} {'int16':>6}  "
    f"{'uint32 (hi,lo)':>14} {'int32':>11} {'float32':>12}  {'uint32 (lo,hi)':>14}"
)


def rows_text(rows: list[Row], space: str) -> str:
    """The dump as a table: each register, and paired with the next one as 32-bit values."""
    lines = [_HEADER]
    for index, row in enumerate(rows):
        number = register_number(row.address, space)
        head = f"{row.address:>6} {row.address:#06x} {'-' if number is None else number:>8}"
        if row.value is None:
            lines.append(f"{head} refused (exception 02)")
            continue
        signed = row.value - 0x10000 if row.value & 0x8000 else row.value
        line = f"{head} {row.value:#06x} {row.value:>6} {signed:>6}"
        following = rows[index + 1].value if index + 1 < len(rows) else None
        if following is not None:
            unsigned32, signed32, float32 = _words32(row.value, following)
            swapped = _words32(following, row.value)[0]
            line += f"  {unsigned32:>14} {signed32:>11} {float32:>12.6g}  {swapped:>14}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def rows_json(rows: list[Row], space: str) -> list[dict[str, Any]]:
    """The dump as JSON: address, register number (null beyond the manual's numbering), value
    (null when refused)."""
    return [
        {
            "address": row.address,
            "register": register_number(row.address, space),
            "value": row.value,
        }
        for row in rows
    ]

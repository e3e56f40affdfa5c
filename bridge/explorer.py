"""The register explorer behind ``leviton-bridge dump``: what does a live meter hold, where?"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leviton_driver import Bus, ExceptionResponseError
from leviton_driver.meter import translate_error
from modbus_connection import ModbusError

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
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} is not a wire address 0..65535 or a register number")
    return value


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
            what = f"a read of {length} register(s) at address {address}"
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
            progress(f"reading {block}..{block + length - 1}")
        await explore(block, length)
    return [Row(address, values.get(address)) for address in range(start, start + count)]


def _words32(high: int, low: int) -> tuple[int, int, float]:
    raw = struct.pack(">HH", high, low)
    return struct.unpack(">I", raw)[0], struct.unpack(">i", raw)[0], struct.unpack(">f", raw)[0]


def _register_number(address: int, space: str) -> int:
    return address + (40001 if space == "holding" else 30001)


def rows_text(rows: list[Row], space: str) -> str:
    lines = [
        f"{'address':>9} {'register':>8} {'hex':>6} {'uint16':>6} {'int16':>6}  "
        f"{'uint32 (hi,lo)':>14} {'int32':>11} {'float32':>12}  {'uint32 (lo,hi)':>14}"
    ]
    for index, row in enumerate(rows):
        head = f"{row.address:>4} {row.address:#06x} {_register_number(row.address, space):>8}"
        if row.value is None:
            lines.append(f"{head} {'refused (exception 02)':>22}")
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
    return [
        {
            "address": row.address,
            "register": _register_number(row.address, space),
            "value": row.value,
        }
        for row in rows
    ]

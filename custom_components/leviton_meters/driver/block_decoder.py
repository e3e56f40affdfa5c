"""A Series 8000 poll decoded with one precompiled ``struct``.

A 24-point meter holds about 150 values in a few register blocks. modbus-connection's generic
decode keeps one dict entry per register and decodes each field on its own; at hundreds of
meters that is most of the bridge's CPU. The blocks are the same (modbus-connection plans them,
so the requests on the wire do not change): their words are packed into one buffer, and one
``struct.Struct``, built once per identification, unpacks every value at its offset.

Word order is handled by the packing: with high words first, each word is packed big-endian and
a 32-bit value unpacked big-endian; with low words first, each word is packed little-endian and
a 32-bit value unpacked little-endian, which puts the second word on top.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .profile import RegisterSpec

_CODES: Final = {"uint16": "H", "int16": "h", "uint32": "I", "int32": "i", "float32": "f"}


@dataclass(frozen=True, kw_only=True)
class BlockDecoder:
    """Unpacks the values of ``fields`` from the words of ``blocks``, in the fields' order."""

    blocks: tuple[tuple[int, int], ...]
    """(start address, register count) of each read, in the order they are read."""
    words: struct.Struct
    """Packs the words of every block, in order, into one buffer."""
    values: struct.Struct
    """Unpacks every field from that buffer (in address order)."""
    reorder: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    """Puts the unpacked values in the fields' order."""

    @classmethod
    def build(
        cls,
        blocks: Sequence[tuple[int, int]],
        fields: Sequence[tuple[int, RegisterSpec]],
        word_order: str,
    ) -> BlockDecoder | None:
        """A decoder for ``fields`` (address, spec); None where fields overlap or fall outside
        the blocks (then the generic decode is the one to use)."""
        position: dict[int, int] = {}
        total = 0
        for start, count in blocks:
            for offset in range(count):
                position.setdefault(start + offset, total + offset)
            total += count
        placed: list[tuple[int, int, str]] = []  # (word position, field index, code)
        for index, (address, spec) in enumerate(fields):
            first = position.get(address)
            last = position.get(address + spec.width - 1)
            if first is None or last != first + spec.width - 1:
                return None
            placed.append((first, index, _CODES[spec.type]))
        placed.sort()
        order = ">" if word_order == "big" else "<"
        layout = order
        at = 0
        for first, _index, code in placed:
            if first < at:
                return None  # overlapping fields
            layout += "x" * (2 * (first - at)) + code
            at = first + (2 if code in "Iif" else 1)
        layout += "x" * (2 * (total - at))
        sorted_to_field = [index for _first, index, _code in placed]
        field_to_sorted = [0] * len(fields)
        for sorted_position, index in enumerate(sorted_to_field):
            field_to_sorted[index] = sorted_position
        getter = operator.itemgetter(*field_to_sorted) if fields else None

        def reorder(values: tuple[Any, ...]) -> tuple[Any, ...]:
            if getter is None:
                return ()
            picked = getter(values)
            return picked if isinstance(picked, tuple) else (picked,)

        return cls(
            blocks=tuple(blocks),
            words=struct.Struct(f"{order}{total}H"),
            values=struct.Struct(layout),
            reorder=reorder,
        )

    def decode(self, words: Sequence[int]) -> tuple[Any, ...]:
        """The raw (unscaled) value of every field, in the fields' order."""
        return self.reorder(self.values.unpack(self.words.pack(*words)))

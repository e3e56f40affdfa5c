"""The fast path: the ReadPropertyMultiple (and ReadProperty) a BMS polls with, from bytes.

A BMS reads the present values (often with status flags) of many objects, over and over. In
bacpypes3, decoding a 60-object request takes about 5 ms and encoding its answer about 4 ms;
most of a sweep of 15,000 objects was that. Here the request's bytes are read directly, and the
answer is put together from each object's encoded result elements:

* every element is bacpypes3's own encoding of what bacpypes3 would answer, made once and kept
  in the object (``MeterObject._encoded``) until the property changes;
* the present value of a REAL or Double object changes every poll, so its element is the
  class's template (bacpypes3's encoding of a sample value, split around the value's octets)
  with the value packed in: the same octets bacpypes3 would produce, at a fraction of the cost.

A ReadProperty of one of these properties is the same element with its tags renumbered.
Anything else (an unknown object, the device, an array index, ALL / REQUIRED / OPTIONAL, a
property without a value in a ReadProperty, a routed or segmented request, an answer that would
not fit the client's APDU) returns None, and bacpypes3 answers it.
``tests/bacnet/test_fastpath.py`` checks that both paths give the same octets for every object
type and property.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, Final

from bacpypes3.basetypes import (
    PropertyIdentifier,
    ReadAccessResultElement,
    ReadAccessResultElementChoice,
)
from bacpypes3.constructeddata import Any as AnyValue
from bacpypes3.service.object import read_property_to_result_element

from . import compat
from .objects import PRESENT_VALUE, MeterObject
from .wire import MAX_APDU_BY_CODE, Frame

READ_PROPERTY: Final = 12
READ_PROPERTY_MULTIPLE: Final = 14
_COMPLEX_ACK: Final = 0x30
_OBJECT_IDENTIFIER: Final = 0x0C
"""Context tag 0, four octets: a ReadAccessSpecification's object identifier."""
_OPENING_1: Final = 0x1E
_CLOSING_1: Final = 0x1F
_ARRAY_INDEX: Final = range(0x19, 0x1D)
"""Context tag 1 of length 1..4: a property reference's array index."""
_PROPERTY_LENGTHS: Final = {0x09: 1, 0x0A: 2, 0x0B: 3, 0x0C: 4}
"""Context tag 0 of length 1..4: a property reference's identifier."""
_RP_PROPERTY_LENGTHS: Final = {0x19: 1, 0x1A: 2, 0x1B: 3, 0x1C: 4}
"""Context tag 1 of length 1..4: a ReadProperty's property identifier."""
_OPENING_4: Final = 0x4E
_CLOSING_4: Final = 0x4F
"""A result element's property value (context tag 4)."""
_SLOW_PROPERTIES: Final = frozenset(
    int(p)
    for p in (PropertyIdentifier.all, PropertyIdentifier.required, PropertyIdentifier.optional)
)
_PV_SAMPLE: Final = 1234.5


def _encode(element: Any) -> bytes:
    """bacpypes3's encoding of a result element."""
    return bytes(element.encode().encode().pduData)


class _Templates:
    """Per class with a numeric present value: its result element's octets before and after
    the value, from bacpypes3's encoding of a sample value."""

    def __init__(self) -> None:
        self._split: dict[type, tuple[bytes, str, bytes]] = {}
        self._properties: dict[type, frozenset[int]] = {}

    def present_value(self, object_class: type[MeterObject]) -> tuple[bytes, str, bytes]:
        split = self._split.get(object_class)
        if split is None:
            fmt = object_class._pv_format
            assert fmt is not None
            value_type = compat.element_types(object_class)["presentValue"]
            encoded = _encode(
                ReadAccessResultElement(
                    propertyIdentifier=PropertyIdentifier.presentValue,
                    readResult=ReadAccessResultElementChoice(
                        propertyValue=AnyValue(value_type(_PV_SAMPLE))
                    ),
                )
            )
            packed = struct.pack(fmt, _PV_SAMPLE)
            if encoded.count(packed) != 1:
                raise RuntimeError(f"no template for {object_class.__name__}: {encoded.hex()}")
            before, after = encoded.split(packed)
            split = self._split[object_class] = (before, fmt, after)
        return split

    def properties(self, object_class: type[MeterObject]) -> frozenset[int]:
        """The properties of the class the fast path answers for."""
        known = self._properties.get(object_class)
        if known is None:
            known = self._properties[object_class] = frozenset(
                int(PropertyIdentifier(name)) for name in compat.element_types(object_class)
            )
        return known


TEMPLATES: Final = _Templates()


def cached_element(obj: MeterObject, prop: int) -> bytes | None:
    """The object's result element for a property, when it costs no bacpypes3 call."""
    element = obj._encoded.get(prop)
    if element is None and prop == PRESENT_VALUE and obj._pv_format is not None:
        before, fmt, after = TEMPLATES.present_value(type(obj))
        value = compat.stored_value(obj, "presentValue")
        element = before + struct.pack(fmt, value) + after
    return element


async def element(obj: MeterObject, prop: int) -> bytes | None:
    """The object's result element for a property (None: the fast path does not answer it)."""
    cached = cached_element(obj, prop)
    if cached is not None:
        return cached
    if prop in _SLOW_PROPERTIES or prop not in TEMPLATES.properties(type(obj)):
        return None
    encoded = _encode(await read_property_to_result_element(obj, PropertyIdentifier(prop), None))
    obj._encoded[prop] = encoded
    return encoded


async def answer(data: bytes, frame: Frame, objects: Mapping[int, MeterObject]) -> bytes | None:
    """The ComplexAck APDU answering a ReadPropertyMultiple or ReadProperty request (``frame``
    read from ``data``), or None when bacpypes3 should answer it."""
    if frame.segmented or frame.routed or frame.max_apdu_code >= len(MAX_APDU_BY_CODE):
        return None
    try:
        if frame.service == READ_PROPERTY_MULTIPLE:
            apdu = await _read_property_multiple(data, frame, objects)
        elif frame.service == READ_PROPERTY:
            apdu = await _read_property(data, frame, objects)
        else:
            return None
    except IndexError:  # cut short: bacpypes3 says how
        return None
    if apdu is None or len(apdu) > MAX_APDU_BY_CODE[frame.max_apdu_code]:
        return None
    return apdu


async def _read_property_multiple(
    data: bytes, frame: Frame, objects: Mapping[int, MeterObject]
) -> bytes | None:
    parts = [bytes((_COMPLEX_ACK, frame.invoke_id, READ_PROPERTY_MULTIPLE))]
    index = frame.apdu_at + 4
    end = len(data)
    if index >= end:
        return None
    while index < end:
        if data[index] != _OBJECT_IDENTIFIER or data[index + 5] != _OPENING_1:
            return None
        obj = objects.get(int.from_bytes(data[index + 1 : index + 5], "big"))
        if obj is None:
            return None
        parts.append(data[index : index + 6])
        index += 6
        count = 0
        while data[index] != _CLOSING_1:
            length = _PROPERTY_LENGTHS.get(data[index])
            if length is None:
                return None
            prop = int.from_bytes(data[index + 1 : index + 1 + length], "big")
            index += 1 + length
            if data[index] in _ARRAY_INDEX:
                return None
            found = cached_element(obj, prop)
            if found is None:
                found = await element(obj, prop)
                if found is None:
                    return None
            parts.append(found)
            count += 1
        if not count:
            return None
        parts.append(b"\x1f")
        index += 1
    return b"".join(parts)


async def _read_property(
    data: bytes, frame: Frame, objects: Mapping[int, MeterObject]
) -> bytes | None:
    """ReadProperty: the ReadPropertyMultiple result element of the property, its tags
    renumbered (property identifier context 2 -> 1, value 4 -> 3); an error element (the
    property has no value) is an Error PDU there, which bacpypes3 gives."""
    index = frame.apdu_at + 4
    if data[index] != _OBJECT_IDENTIFIER:
        return None
    obj = objects.get(int.from_bytes(data[index + 1 : index + 5], "big"))
    length = _RP_PROPERTY_LENGTHS.get(data[index + 5])
    if obj is None or length is None or index + 6 + length != len(data):
        return None  # unknown, or with an array index
    prop = int.from_bytes(data[index + 6 : index + 6 + length], "big")
    found = cached_element(obj, prop)
    if found is None:
        found = await element(obj, prop)
        if found is None:
            return None
    size = _PROPERTY_LENGTHS.get(found[0] - 0x20)
    if size is None or found[1 + size] != _OPENING_4 or found[-1] != _CLOSING_4:
        return None
    return b"".join(
        (
            bytes((_COMPLEX_ACK, frame.invoke_id, READ_PROPERTY)),
            data[index : index + 5],
            bytes((found[0] - 0x10,)),
            found[1 : 1 + size],
            b"\x3e",
            found[2 + size : -1],
            b"\x3f",
        )
    )


__all__ = [
    "READ_PROPERTY",
    "READ_PROPERTY_MULTIPLE",
    "TEMPLATES",
    "answer",
    "cached_element",
    "element",
]

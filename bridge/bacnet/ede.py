"""The EDE export (``leviton-bridge bacnet-ede``): the device's objects as an engineering file.

It identifies every configured meter once, the way the running bridge would, so that the file
lists the objects the device will have; a meter that does not answer is listed from its
configuration where that says enough, with a comment line saying so. The file is EDE layout
2.3 (``ede_document``): semicolon-separated, CRLF line ends, what BMS tools import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import date
from typing import Final

from bacpypes3.basetypes import EngineeringUnits
from bacpypes3.primitivedata import ObjectType

from leviton_driver import (
    Bus,
    ConfigurationError,
    LevitonError,
    async_configured_meter,
    async_load_profile,
)

from ..config.settings import BacnetConfig, BridgeConfig, BusConfig, MeterConfig
from . import mapping
from .mapping import DEVICE, ObjectSpec

_LOGGER = logging.getLogger(__name__)

EDE_COLUMNS: Final = (
    "keyname",
    "device obj.-instance",
    "object-name",
    "object-type",
    "object-instance",
    "description",
    "present-value-default",
    "min-present-value",
    "max-present-value",
    "settable",
    "supports COV",
    "hi-limit",
    "low-limit",
    "state-text-reference",
    "unit-code",
    "vendor-specific-address",
)


Found = tuple[MeterConfig, list[mapping.ObjectSpec], str | None]


async def _identify_bus(bus: BusConfig, trend_logs: bool = False) -> list[Found]:
    """Each meter of a bus: its objects, and a note when they come from its configuration."""
    link = Bus(bus.connect)
    found: list[Found] = []
    try:
        for config in bus.meters:
            try:
                profile = await async_load_profile(config.profile) if config.profile else None
                meter = await link.async_meter(config.unit, series=config.series, profile=profile)
                specs = mapping.meter_objects(config, meter)
                if trend_logs:
                    specs += mapping.trend_logs(config, meter)
                found.append((config, specs, None))
            except LevitonError as err:
                specs, note = await _fallback(link, config, str(err), trend_logs)
                found.append((config, specs, note))
    finally:
        await link.async_close()
    return found


async def _fallback(
    link: Bus, config: MeterConfig, why: str, trend_logs: bool = False
) -> tuple[list[mapping.ObjectSpec], str]:
    """The objects of a meter that did not answer, from its configuration where possible."""
    where = f"{config.name} (bus {config.bus}, unit {config.unit}) did not answer ({why})"
    try:
        meter = await async_configured_meter(
            link.unit(config.unit),
            unit_id=config.unit,
            where=link.url,
            series=config.series,
            profile_path=config.profile,
        )
    except LevitonError as err:
        return [], f"{where} and its profile cannot be read ({err}): not listed"
    if meter is None:
        return (
            [],
            f"{where}: not listed; give it series: 1000, 2000 or 8000 to list it without an answer",
        )
    if meter.max_points:
        specs = mapping.meter_objects(config, meter, points=meter.max_points)
        if trend_logs:
            specs += mapping.trend_logs(config, meter, points=meter.max_points)
        return specs, (
            f"{where}: listed with the {meter.max_points} points its profile allows; the "
            "bridge creates only the points the meter reports"
        )
    specs = mapping.meter_objects(config, meter)
    if trend_logs:
        specs += mapping.trend_logs(config, meter)
    return specs, f"{where}: listed from its series"


async def ede_text(config: BridgeConfig) -> tuple[str, int]:
    """The EDE file of the bridge's BACnet device, and how many objects it lists.

    Every configured meter is identified once (buses in parallel), so that a Series 8000's
    point count and each meter's series are the ones the running bridge will use. A meter that
    does not answer is listed from its configured series (Series 8000: the profile's largest
    point count) with a comment line saying so; a meter with ``series: auto`` that does not
    answer cannot be listed. With a ``history:`` section, each energy-delivered total's trend
    log is listed too.
    """
    if config.bacnet is None:
        raise ConfigurationError(f"{config.source or 'the configuration'} has no bacnet: section")
    mapping.raise_for_problems(config)
    trend_logs = config.history is not None
    identified = await asyncio.gather(*(_identify_bus(bus, trend_logs) for bus in config.buses))
    specs: list[mapping.ObjectSpec] = []
    notes = [
        "bus codes (instance = bus code * 100000 + unit * 400 + point * 16 + slot): "
        + ", ".join(f"{bus.name} = {mapping.bus_code(bus.name)}" for bus in config.buses)
    ]
    for bus_meters in identified:
        for _config, objects, note in bus_meters:
            specs.extend(objects)
            if note is not None:
                notes.append(note)
                _LOGGER.warning("bacnet-ede: %s", note)
    return ede_document(config.bacnet, specs, notes=notes)


def ede_cell(text: object) -> str:
    """EDE cells are separated by ``;`` and rows by line ends: keep both out of the text."""
    return " ".join(str(text).replace(";", ",").split())


def units_code(units: str | None) -> str:
    return "" if units is None else str(int(EngineeringUnits(units)))


def type_code(object_type: str) -> int:
    return int(ObjectType(object_type))


def ede_rows(config: BacnetConfig, specs: Iterable[ObjectSpec]) -> list[list[str]]:
    """One row per object: the device first, then the meters' objects in instance order."""
    device = config.device_instance
    rows = [
        [
            "device",
            str(device),
            config.device_name,
            str(type_code(DEVICE)),
            str(device),
            config.description,
            "",
            "",
            "",
            "N",
            "N",
            "",
            "",
            "",
            "",
            "",
        ]
    ]
    for spec in sorted(specs, key=lambda s: (s.instance, s.object_type)):
        rows.append(
            [
                spec.keyname,
                str(device),
                spec.name,
                str(type_code(spec.object_type)),
                str(spec.instance),
                spec.description,
                "0" if spec.writable else "",
                "",
                "",
                "Y" if spec.writable else "N",
                "Y" if spec.supports_cov else "N",
                "",
                "",
                "",
                units_code(spec.units),
                spec.address,
            ]
        )
    return [[ede_cell(cell) for cell in row] for row in rows]


def ede_document(
    config: BacnetConfig,
    specs: Iterable[ObjectSpec],
    *,
    notes: Iterable[str] = (),
    today: date | None = None,
) -> tuple[str, int]:
    """The EDE file (semicolon-separated, CRLF line ends) and how many objects it lists."""
    rows = ede_rows(config, specs)
    lines = [
        "#Engineering-Data-Exchange - B.I.G.-EU",
        f"PROJECT_NAME;{ede_cell(config.device_name)}",
        "VERSION_OF_REFERENCEFILE;1",
        f"TIMESTAMP_OF_LAST_CHANGE;{(today or date.today()).isoformat()}",
        "AUTHOR_OF_LAST_CHANGE;leviton-bridge",
        "VERSION_OF_LAYOUT;2.3",
        *(f"# {ede_cell(note)}" for note in notes),
        "#mandatory;mandatory;mandatory;mandatory;mandatory;" + ";".join(["optional"] * 11),
        "# " + ";".join(EDE_COLUMNS),
        *(";".join(row) for row in rows),
    ]
    return "\r\n".join(lines) + "\r\n", len(rows)


__all__ = ["ede_document", "ede_rows", "ede_text"]

"""The EDE export (``leviton-bridge bacnet-ede``): the device's objects as an engineering file.

It identifies every configured meter once, the way the running bridge would, so that the file
lists the objects the device will have; a meter that does not answer is listed from its
configuration where that says enough, with a comment line saying so. The file's format is
``bacnet_mapping.ede_document``'s.
"""

from __future__ import annotations

import asyncio
import logging

from leviton_driver import (
    Bus,
    ConfigurationError,
    LevitonError,
    async_configured_meter,
    async_load_profile,
)

from .. import bacnet_mapping as mapping
from ..settings import BridgeConfig, BusConfig, MeterConfig

_LOGGER = logging.getLogger(__name__)

Found = tuple[MeterConfig, list[mapping.ObjectSpec], str | None]


async def _identify_bus(bus: BusConfig) -> list[Found]:
    """Each meter of a bus: its objects, and a note when they come from its configuration."""
    link = Bus(bus.connect)
    found: list[Found] = []
    try:
        for config in bus.meters:
            try:
                profile = await async_load_profile(config.profile) if config.profile else None
                meter = await link.async_meter(config.unit, series=config.series, profile=profile)
                found.append((config, mapping.meter_objects(config, meter), None))
            except LevitonError as err:
                found.append((config, *await _fallback(link, config, str(err))))
    finally:
        await link.async_close()
    return found


async def _fallback(
    link: Bus, config: MeterConfig, why: str
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
        return specs, (
            f"{where}: listed with the {meter.max_points} points its profile allows; the "
            "bridge creates only the points the meter reports"
        )
    return mapping.meter_objects(config, meter), f"{where}: listed from its series"


async def ede_text(config: BridgeConfig) -> tuple[str, int]:
    """The EDE file of the bridge's BACnet device, and how many objects it lists.

    Every configured meter is identified once (buses in parallel), so that a Series 8000's
    point count and each meter's series are the ones the running bridge will use. A meter that
    does not answer is listed from its configured series (Series 8000: the profile's largest
    point count) with a comment line saying so; a meter with ``series: auto`` that does not
    answer cannot be listed.
    """
    if config.bacnet is None:
        raise ConfigurationError(f"{config.source or 'the configuration'} has no bacnet: section")
    mapping.raise_for_problems(config)
    identified = await asyncio.gather(*(_identify_bus(bus) for bus in config.buses))
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
    return mapping.ede_document(config.bacnet, specs, notes=notes)


__all__ = ["ede_text"]

"""Which meter answers at a unit id: probing, series detection, and the Leviton evidence.

* ``async_probe_meter``: one small request first, so that a silent unit id (the common case in
  a bus scan) costs exactly one request and one timeout; then detection.
* ``async_identify_meter``: the same for a meter expected there (a silent unit id raises
  ``NoModbusMeterError`` after one request).
* ``async_detect_meter``: the series from the 0x11 answer's model number, else from which
  register map answers; the meter identified, or a typed error saying why not.

Identification requires positive evidence of a Leviton meter (see ``Series1000Meter`` and
``Series8000Meter``): a 0x11 answer naming another manufacturer, or a device that answers
Modbus but shows nothing of a Leviton meter, is refused with ``NotLevitonError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from modbus_connection import ModbusUnit

from . import modbus_compat
from .connection import PacketTrace
from .errors import (
    ConfigurationError,
    ExceptionResponseError,
    MeterError,
    MeterTimeoutError,
    NoModbusMeterError,
)
from .meter import SERIES_CHOICES, Clocks, LevitonMeter, Series
from .model_numbers import ModelInfo, decode_model
from .profile import Profile, async_load_profile
from .series1000 import Series1000Meter, refuse_other_maker
from .series8000 import Series8000Meter

_PRE_2011: str = (
    "Series 1000/2000 meters built before 2011-02-26 have no Modbus at all: they only "
    "broadcast a one-way stream every 5 minutes, which this software cannot read"
)


def no_answer_advice(where: str) -> str:
    """What to check when nothing answers at a unit id, for the kind of link ``where`` is."""
    if where.startswith("serial:"):
        return (
            "Check the unit id, the wiring (A to A, B to B; some adapters label them the other "
            "way round), the line settings (9600 8N1 for Series 1000/2000) and termination on "
            f"long runs. {_PRE_2011}"
        )
    if where.startswith("rtu+tcp:"):
        return (
            "Check the unit id, the RS485-to-Ethernet server's serial settings (9600 8N1 for "
            "Series 1000/2000), the RS485 wiring (A to A, B to B) and termination. If the "
            "device is a Modbus TCP server (a Series 8000 on Ethernet, a Modbus TCP gateway), "
            f"connect with Modbus TCP instead. {_PRE_2011}"
        )
    return (
        "Check the unit id (a Modbus TCP gateway passes it on to its RS485 line; a Series 8000 "
        "answers at the id it was configured with). If the device is a transparent "
        "RS485-to-Ethernet server that passes RTU frames, connect with RTU over TCP instead. "
        f"{_PRE_2011}"
    )


def no_answer_error(where: str, unit_id: int) -> NoModbusMeterError:
    """The error for a unit id where nothing answers, with advice for the kind of link."""
    return NoModbusMeterError(where, unit_id, no_answer_advice(where))


async def async_detect_meter(
    unit: ModbusUnit,
    *,
    unit_id: int,
    where: str,
    series: str = "auto",
    profile: Profile | None = None,
    trace: PacketTrace | None = None,
    derived_power: bool = True,
    clocks: Clocks | None = None,
) -> LevitonMeter:
    """Identify the meter at a unit id and return the right meter class, identified.

    ``series`` "1000", "2000" or "8000" skips detection (and counts as evidence that the
    device is a Leviton meter when it gives no 0x11 answer); ``profile`` is the Series 8000
    register profile (the provisional default when None, read without blocking).
    """
    if series not in SERIES_CHOICES:
        raise ConfigurationError(
            f"series {series!r} is not known; expected one of {', '.join(SERIES_CHOICES)}"
        )
    common: dict[str, Any] = {"unit_id": unit_id, "where": where, "trace": trace}
    if series == "8000" and profile is None:
        profile = await async_load_profile()
    try:
        meter = configured_meter(
            unit,
            series=series,
            profile=profile,
            derived_power=derived_power,
            clocks=clocks,
            **common,
        ) or await _detect_series(unit, profile, derived_power, _with_clocks(common, clocks))
        await meter.async_identify()
    except MeterTimeoutError as err:
        if isinstance(err, NoModbusMeterError):
            raise
        raise no_answer_error(where, unit_id) from err
    return meter


async def async_probe_meter(
    unit: ModbusUnit,
    *,
    unit_id: int,
    where: str,
    profile: Profile | None = None,
    trace: PacketTrace | None = None,
) -> LevitonMeter | None:
    """The meter at a unit id, identified; None when nothing answers there (one request)."""
    probe = Series1000Meter(unit, unit_id=unit_id, where=where, trace=trace)
    try:
        await probe.async_ping()
    except MeterTimeoutError:
        return None
    return await async_detect_meter(
        unit, unit_id=unit_id, where=where, profile=profile, trace=trace
    )


async def async_identify_meter(
    unit: ModbusUnit,
    *,
    unit_id: int,
    where: str,
    series: str = "auto",
    profile: Profile | None = None,
    trace: PacketTrace | None = None,
    derived_power: bool = True,
    clocks: Clocks | None = None,
) -> LevitonMeter:
    """The meter at a unit id, identified (``async_detect_meter``), after one small request
    that a silent unit id answers with one timeout: ``NoModbusMeterError`` then, with advice.
    What a ``MeterSupervisor`` calls to identify a meter (again)."""
    probe = Series1000Meter(unit, unit_id=unit_id, where=where, trace=trace)
    try:
        await probe.async_ping()
    except MeterTimeoutError as err:
        raise no_answer_error(where, unit_id) from err
    return await async_detect_meter(
        unit,
        unit_id=unit_id,
        where=where,
        series=series,
        profile=profile,
        trace=trace,
        derived_power=derived_power,
        clocks=clocks,
    )


def _with_clocks(common: dict[str, Any], clocks: Clocks | None) -> dict[str, Any]:
    """A meter constructor's arguments, with the clocks where some are given."""
    if clocks is None:
        return common
    return {**common, "clock": clocks.monotonic, "wall_clock": clocks.wall}


async def _detect_series(
    unit: ModbusUnit, profile: Profile | None, derived_power: bool, common: dict[str, Any]
) -> LevitonMeter:
    probe = Series1000Meter(unit, **common)
    # Some gateways drop 0x11 instead of refusing it; then the registers decide.
    reported = await probe._reported_identity(tolerate_timeout=True)
    refuse_other_maker(probe, reported)
    meter: LevitonMeter
    if reported is not None and reported.is_leviton and reported.model:
        try:
            info: ModelInfo | None = decode_model(reported.model)
        except ConfigurationError:
            info = None
        if info is not None and info.series == "8000":
            profile = profile or await async_load_profile()
            meter = Series8000Meter(unit, profile=profile, points=info.points, **common)
        else:
            series = Series(info.series) if info is not None and info.series else None
            meter = Series1000Meter(unit, series=series, derived_power=derived_power, **common)
        meter.prime_report(reported)
        return meter
    try:
        await probe._update(probe.block, "a read of registers 40001-40006")
    except ExceptionResponseError:
        pass  # not a Series 1000/2000 register map; try the Series 8000 profile
    else:
        meter = Series1000Meter(unit, derived_power=derived_power, **common)
        meter.prime_report(reported)
        return meter
    profile = profile or await async_load_profile()
    candidate = Series8000Meter(unit, profile=profile, **common)
    candidate.prime_report(reported)
    return candidate


@dataclass(kw_only=True)
class ScanResult:
    """What a scan of unit ids found."""

    found: dict[int, LevitonMeter] = field(default_factory=dict)
    """The meters identified, by unit id."""
    problems: dict[int, MeterError] = field(default_factory=dict)
    """Unit ids where something answered but could not be identified, and why."""
    silent: int = 0
    """Unit ids where nothing answered."""


async def async_scan(
    unit_for: Callable[[int], Awaitable[ModbusUnit]],
    unit_ids: Iterable[int],
    *,
    where: str,
    trace: PacketTrace | None = None,
    profile: Profile | None = None,
    progress: Callable[[int, int, ScanResult], None] | None = None,
) -> ScanResult:
    """Probe each unit id (``async_probe_meter``); ``progress(done, total, result)`` after each.

    Silence is the expected answer at most ids, so pymodbus's "no response" errors are kept
    out of the log while the scan runs. A short answer timeout is the caller's to set (see
    ``LevitonConnection.quick_answers``).
    """
    ids = list(unit_ids)
    result = ScanResult()
    with modbus_compat.quiet_no_response_logs():
        for done, unit_id in enumerate(ids, 1):
            unit = await unit_for(unit_id)
            try:
                meter = await async_probe_meter(
                    unit, unit_id=unit_id, where=where, profile=profile, trace=trace
                )
            except MeterTimeoutError:
                result.silent += 1  # it answered the probe, then fell silent
            except MeterError as err:
                result.problems[unit_id] = err
            else:
                if meter is None:
                    result.silent += 1
                else:
                    result.found[unit_id] = meter
            if progress is not None:
                progress(done, len(ids), result)
    return result


def configured_meter(
    unit: ModbusUnit,
    *,
    unit_id: int,
    where: str,
    series: str,
    profile: Profile | None = None,
    trace: PacketTrace | None = None,
    derived_power: bool = True,
    points: int | None = None,
    clocks: Clocks | None = None,
) -> LevitonMeter | None:
    """The meter a configuration names by its series, not yet identified (nothing is sent);
    None for ``auto``, which only the meter can tell. Its description (readings, reset, model
    label) holds before it ever answers; a Series 8000 needs its ``profile``, and its
    ``points`` are known once identified (or given, e.g. to list its objects in advance)."""
    common = _with_clocks({"unit_id": unit_id, "where": where, "trace": trace}, clocks)
    if series in ("1000", "2000"):
        return Series1000Meter(
            unit, series=Series(series), derived_power=derived_power, configured=True, **common
        )
    if series == "8000":
        if profile is None:
            raise ConfigurationError("a Series 8000 needs its register profile")
        return Series8000Meter(unit, profile=profile, points=points, configured=True, **common)
    if series == "auto":
        return None
    raise ConfigurationError(
        f"series {series!r} is not known; expected one of {', '.join(SERIES_CHOICES)}"
    )


async def async_configured_meter(
    unit: ModbusUnit,
    *,
    unit_id: int,
    where: str,
    series: str,
    profile_path: str | None = None,
    trace: PacketTrace | None = None,
    derived_power: bool = True,
    clocks: Clocks | None = None,
) -> LevitonMeter | None:
    """``configured_meter``, reading a Series 8000's profile (``profile_path``, else the
    provisional default) without blocking."""
    profile = await async_load_profile(profile_path) if series == "8000" else None
    return configured_meter(
        unit,
        unit_id=unit_id,
        where=where,
        series=series,
        profile=profile,
        trace=trace,
        derived_power=derived_power,
        clocks=clocks,
    )

"""How the command-line tools show meters to people and to programs."""

from __future__ import annotations

from typing import TextIO

from leviton_driver import Identity, LevitonMeter, Snapshot
from leviton_driver.catalogue import READINGS
from leviton_driver.model_numbers import describe_model


def number(value: float | int | None, precision: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and precision == 0:
        return str(value)
    return f"{value:.{precision}f}"


def _value(key: str, value: float | int | None) -> str:
    reading = READINGS.get(key)
    precision = reading.precision if reading else 2
    unit = f" {reading.unit}" if reading and reading.unit and value is not None else ""
    return number(value, precision) + unit


def identity_line(identity: Identity) -> str:
    """One line naming a meter: series, model, versions."""
    parts = [f"Series {identity.series}"]
    if identity.model:
        parts.append(f"model {identity.model}")
    if identity.points:
        parts.append(f"{identity.points} points")
    if identity.hardware_version or identity.software_version:
        parts.append(
            f"hardware V{identity.hardware_version or '?'} software V{identity.software_version or '?'}"
        )
    if identity.program_id is not None:
        parts.append(f"program id {identity.program_id}")
    return ", ".join(parts)


def meter_text(url: str, meter: LevitonMeter, snapshot: Snapshot) -> str:
    identity = meter.identity
    assert identity is not None, "an identified meter"
    title = f"Unit {identity.unit_id} on {url}: Leviton {meter.model_label}"
    if identity.points:
        title += f", {identity.points} metering points"
    lines = [title]
    if identity.model:
        described = describe_model(identity.model_info, identity.points)
        lines.append(
            f"  Model            {identity.model}" + (f" ({described})" if described else "")
        )
    if identity.hardware_version or identity.software_version:
        lines.append(
            f"  Versions         hardware V{identity.hardware_version}, software V{identity.software_version}"
        )
    if identity.program_id is not None:
        lines.append(
            f"  Program id       {identity.program_id} (Leviton correlates it with the label's serial number)"
        )
    if identity.profile:
        lines.append(f"  Register profile {identity.profile}")
    for note in identity.notes:
        lines.append(f"  Note: {note}")
    if snapshot.readings:
        lines.append("  Readings")
        for key, value in snapshot.readings.items():
            if value is None and key == "derived_power":
                lines.append(
                    f"    {READINGS[key].name:<28} - (derived from energy steps over several polls; "
                    "one read cannot show it)"
                )
                continue
            lines.append(
                f"    {READINGS[key].name if key in READINGS else key:<28} {_value(key, value)}"
            )
    lines += points_table(snapshot.points)
    return "\n".join(lines) + "\n"


def points_table(
    points: dict[int, dict[str, float | int | None]],
    *,
    indent: str = "  ",
    limit: int | None = None,
) -> list[str]:
    """Series 8000 points as a table, one row a point (the first ``limit`` points)."""
    if not points:
        return []
    keys = list(next(iter(points.values())))
    lines = [f"{indent}Point " + "".join(f"{_short(k):>14}" for k in keys)]
    for point, values in list(points.items())[:limit]:
        lines.append(
            f"{indent}{point:>5} " + "".join(f"{_value(k, values.get(k)):>14}" for k in keys)
        )
    return lines


_SHORT = {
    "energy_delivered": "Delivered",
    "energy_received": "Received",
    "power": "Power",
    "reactive_energy_delivered": "kvarh deliv.",
    "reactive_energy_received": "kvarh recv.",
    "reactive_power": "Reactive",
}


def _short(key: str) -> str:
    return _SHORT.get(key, key)


def unit_ranges(units: list[int]) -> str:
    """Unit ids in short form: [1, 2, 3, 5] -> "1-3, 5"."""
    spans: list[list[int]] = []
    for unit in sorted(set(units)):
        if spans and unit == spans[-1][1] + 1:
            spans[-1][1] = unit
        else:
            spans.append([unit, unit])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def scan_text(url: str, identities: list[Identity], problems: list[str], units: list[int]) -> str:
    tried = f"unit id{'s' if len(units) > 1 else ''} {unit_ranges(units)}"
    if not identities:
        lines = [
            f"No Leviton meter {'could be identified' if problems else 'answered'} on {url} "
            f"at {tried}. Check the unit ids, the wiring (A to A, B to B) and the line "
            "settings (9600 8N1 for Series 1000/2000)."
        ]
    else:
        lines = [f"{len(identities)} meter(s) on {url} at {tried}:"]
        lines += [f"  unit {i.unit_id:>3}: {identity_line(i)}" for i in identities]
    lines += [f"  problem: {problem}" for problem in problems]
    return "\n".join(lines) + "\n"


def progress(stream: TextIO, text: str, *, done: bool = False, log: bool = True) -> None:
    """A progress line: rewritten in place on a terminal.

    Elsewhere (a pipe, a log file) only lines with ``log`` set and the final ``done`` line are
    written, one a line; an empty ``done`` line just clears a terminal's progress line.
    """
    if stream.isatty():
        stream.write("\r\033[K" + text + ("\n" if done and text else ""))
    elif text and (done or log):
        stream.write(text + "\n")
    stream.flush()

"""One JSON form of a meter, for every face that speaks JSON: the MQTT state, the status page's
API (``/api/meters``) and live events, and ``leviton-bridge read --json``.

The rules, for all of them:

* **Unknown is null.** A reading the meter has but whose value is not known (average power
  before two energy steps, a status register not read yet) is ``null``, and so is a value a
  meter garbled into NaN or infinity: a meter's readings always carry the same keys.
* **Times** are ISO 8601 in UTC to the millisecond: ``"2026-11-30T23:59:59.500+00:00"``.
* **Metering points** are keyed by their number as text: ``{"1": {"energy_delivered": ...}}``.

Where a consumer needs something else, it is named here:

* the MQTT state (``state_text``) carries the readings, points and time, not the identity:
  discovery carries that once, and the state goes out at every poll;
* a meter's points are encoded once per poll (``points_text``, cached by ``MeterState``) and
  placed as text by every face that sends them;
* the page's live updates are written as text without building objects first (see
  ``http.views``), since they are made for every update of every meter while a page is open;
  they follow these rules all the same.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Final

from leviton_driver import Identity, Snapshot

_COMPACT: Final = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_READABLE: Final = json.JSONEncoder(allow_nan=False)
_INDENTED: Final = json.JSONEncoder(allow_nan=False, indent=2)


def dumps(data: Any, *, compact: bool = False, indented: bool = False) -> str:
    """JSON text (``compact`` for machines, ``indented`` for people); a value a meter garbled
    into NaN or infinity becomes null."""
    encoder = _COMPACT if compact else _INDENTED if indented else _READABLE
    try:
        return encoder.encode(data)
    except ValueError:
        return encoder.encode(_finite(data))


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def iso(epoch: float | None) -> str | None:
    """A wall-clock time (seconds since the epoch) as ISO 8601, UTC, to the millisecond."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def identity_json(identity: Identity) -> dict[str, Any]:
    """What a meter says it is."""
    data: dict[str, Any] = {
        "unit_id": identity.unit_id,
        "series": str(identity.series),
        "model": identity.model,
        "hardware_version": identity.hardware_version,
        "software_version": identity.software_version,
        "program_id": identity.program_id,
    }
    if identity.points is not None:
        data["point_count"] = identity.points
        data["profile"] = identity.profile
        data["provisional_profile"] = identity.provisional_profile
    if identity.notes:
        data["notes"] = list(identity.notes)
    return data


def unidentified_json(unit_id: int, series: str | None) -> dict[str, Any]:
    """``identity_json``'s keys for a meter that has not answered yet: what the configuration
    says (``series`` None for ``auto``), the rest null."""
    return {
        "unit_id": unit_id,
        "series": series,
        "model": None,
        "hardware_version": None,
        "software_version": None,
        "program_id": None,
    }


def points_json(snapshot: Snapshot) -> dict[str, dict[str, float | int | None]]:
    """A poll's metering points (empty for a meter without points)."""
    return {str(point): values for point, values in snapshot.points.items()}


def points_text(snapshot: Snapshot) -> str:
    """``points_json``, encoded compactly (once per poll: see ``MeterState.points_json``)."""
    return dumps(points_json(snapshot), compact=True)


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    """A poll: ``readings``, ``points`` (only for a meter that has them) and ``time``."""
    data: dict[str, Any] = {"readings": dict(snapshot.readings), "time": iso(snapshot.time)}
    if snapshot.points:
        data["points"] = points_json(snapshot)
    return data


def meter_json(identity: Identity, snapshot: Snapshot) -> dict[str, Any]:
    """The ``read --json`` object: the identity and one poll."""
    return {**identity_json(identity), **snapshot_json(snapshot)}


def state_text(snapshot: Snapshot, points: str | None) -> str:
    """The MQTT state of a poll, ``snapshot_json`` as compact text, with the points already
    encoded (``points``; None for a meter without points)."""
    head = dumps({"readings": snapshot.readings, "time": iso(snapshot.time)}, compact=True)
    return head if points is None else f'{head[:-1]},"points":{points}}}'

"""The totals this bridge last published, read back from the broker at start.

Each meter's state is retained on the broker: after a restart it holds exactly the totals the
bridge last showed, also when the state file is older (it is written every few seconds) or
missing (a new state directory). ``MqttFace.start`` reads them before polling begins and hands
them to the core, which seeds the glitch guards with the higher of every source: no total
goes backwards across a restart, even when the meter glitches right after it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..core.statefile import TOTALS, SavedTotals, TotalKey


def saved_totals(payload: bytes) -> SavedTotals | None:
    """The totals of a retained state message (``core.codec.state_text``), None when it is
    not one (empty, cleared, not JSON, no totals)."""
    try:
        data: Any = json.loads(payload)
        readings = data["readings"]
        shown_at = datetime.fromisoformat(data["time"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(readings, dict):
        return None
    totals: dict[TotalKey, float] = {}
    for key, value in readings.items():
        if key in TOTALS and _number(value):
            totals[(None, key)] = float(value)
    points = data.get("points")
    if isinstance(points, dict):
        for point, values in points.items():
            if not (isinstance(point, str) and point.isdigit() and isinstance(values, dict)):
                continue
            for key, value in values.items():
                if key in TOTALS and _number(value):
                    totals[(int(point), key)] = float(value)
    if not totals:
        return None
    program_id = readings.get("program_id")
    return SavedTotals(
        program_id=program_id if isinstance(program_id, int) and program_id >= 0 else None,
        saved_at=shown_at,
        totals=totals,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0

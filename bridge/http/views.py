"""What the status page and the JSON API show of meters, buses and faces.

``meter_api`` is the ``/api/meters`` object: the meter in the bridge's one JSON form
(``core.codec``, as ``leviton-bridge read --json`` shows it) plus the bridge's own keys (id,
name, bus, availability and since when, last read, last error, statistics). ``meter_static``
and ``meter_live`` are the page's: what rarely changes (the meter's description), sent when the
page opens and when a meter is identified, and what changes at every poll, kept cheap because
it is built for every update of every meter while a page is open. Every time is ISO 8601 (UTC).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from leviton_driver.catalogue import READINGS

from ..core import codec
from ..core.codec import dumps, iso
from ..core.faces import FaceStatus
from ..core.meter_state import MeterState
from .stats import BusFigures, BusStats, MeterTracker

if TYPE_CHECKING:
    from ..core.health import Health


def catalogue() -> dict[str, dict[str, Any]]:
    """How the page names and rounds each reading."""
    return {
        key: {
            "name": reading.name,
            "unit": reading.unit,
            "precision": reading.precision,
            "diagnostic": reading.entity_category == "diagnostic",
        }
        for key, reading in READINGS.items()
    }


def _identity(state: MeterState) -> dict[str, Any]:
    """The identity keys; from the configuration until the meter has answered."""
    identity = state.identity
    if identity is not None:
        return codec.identity_json(identity)
    series = state.meter.series if state.meter is not None else state.config.series
    return codec.unidentified_json(state.config.unit, None if series == "auto" else str(series))


def meter_api(state: MeterState, tracker: MeterTracker) -> dict[str, Any]:
    """The ``/api/meters/{id}`` object."""
    data: dict[str, Any] = {
        "id": state.meter_id,
        "name": state.config.name,
        "bus": state.bus.name,
        **_identity(state),
    }
    snapshot = state.snapshot
    if snapshot is not None:
        data.update(codec.snapshot_json(snapshot))
    else:
        data.update(readings={}, time=None)
    meter = state.meter
    data.update(
        available=state.available,
        available_since=iso(tracker.since.get(state.meter_id)),
        last_read=iso(snapshot.time) if snapshot else None,
        last_error=state.last_error,
        can_reset_demand=state.can_reset_demand,
        statistics={
            "failed_polls": dict(state.failed_polls),
            "failed_polls_in_a_row": state.failures,
            "request_errors": dict(meter.errors) if meter is not None else {},
            "held_back_totals": meter.suppressed if meter is not None else 0,
        },
    )
    return data


def meter_static(state: MeterState) -> dict[str, Any]:
    """What the page shows of a meter that changes only when it is identified."""
    meter = state.meter
    identity = state.identity
    return {
        "id": state.meter_id,
        "name": state.config.name,
        "bus": state.bus.name,
        "unit": state.config.unit,
        "label": meter.model_label if meter is not None else "not identified yet",
        "model": identity.model if identity else None,
        "hardware_version": identity.hardware_version if identity else None,
        "software_version": identity.software_version if identity else None,
        "program_id": identity.program_id if identity else None,
        "provisional": bool(identity and identity.provisional_profile),
        "can_reset": state.can_reset_demand,
        "point_count": meter.points if meter is not None else 0,
        # Measurements only: the program id is shown with the model.
        "reading_keys": [r.key for r in meter.readings() if r.state_class is not None]
        if meter is not None
        else [],
        "point_keys": [r.key for r in meter.point_readings()] if meter is not None else [],
    }


def meter_live(state: MeterState, tracker: MeterTracker) -> dict[str, Any]:
    """What the page shows of a meter that changes at every poll (values as read: None for
    unknown; ``read`` and ``since`` as ISO times); points apart (``MeterState.points_json``).
    ``meter_live_json`` is the same, encoded."""
    snapshot = state.snapshot
    return {
        "id": state.meter_id,
        "available": state.available,
        "since": iso(tracker.since.get(state.meter_id)),
        "read": iso(snapshot.time) if snapshot is not None else None,
        "error": state.last_error,
        "failures": state.failures,
        "readings": snapshot.readings if snapshot is not None else {},
    }


def meter_live_json(state: MeterState, tracker: MeterTracker) -> str:
    """``meter_live`` as JSON, written without building it first: it is made for every update
    of every meter while a page is open, and objects made by the thousand cost the bridge's
    garbage collector more than the text does."""
    snapshot = state.snapshot
    since = iso(tracker.since.get(state.meter_id))
    return (
        f'{{"id":{dumps(state.meter_id)},"available":{"true" if state.available else "false"},'
        f'"since":{"null" if since is None else dumps(since)},'
        f'"read":{"null" if snapshot is None else dumps(iso(snapshot.time))},'
        f'"error":{dumps(state.last_error)},"failures":{state.failures:d},'
        f'"readings":{"{}" if snapshot is None else dumps(snapshot.readings, compact=True)}}}'
    )


def figures_json(figures: BusFigures) -> dict[str, Any]:
    return {
        "transactions_per_s": figures.transactions_per_s,
        "failed_polls": figures.failed_polls,
        "round_trip_mean_s": figures.round_trip_mean_s,
        "round_trip_p99_s": figures.round_trip_p99_s,
        "cycle_s": figures.cycle_s,
        "poll_interval_s": figures.poll_interval_s,
        "cycles": figures.cycles,
        "transactions": figures.transactions,
    }


def bus_json(stats: BusStats) -> dict[str, Any]:
    poller = stats.poller
    return {
        "name": poller.config.name,
        "connect": poller.config.connect,
        "meters": [state.meter_id for state in poller.states],
        "figures": figures_json(stats.figures()),
    }


def face_json(status: FaceStatus) -> dict[str, Any]:
    """A face as the page's header and ``/api/status`` show it."""
    return {
        "key": status.key,
        "title": status.title,
        "up": status.up,
        "since": iso(status.since),
        "summary": status.summary,
        "problem": status.problem,
        **status.details,
    }


def bridge_json(statuses: list[FaceStatus], health: Health) -> dict[str, Any]:
    """The faces and the bridge's health, for the page's header and the API."""
    return {
        "now": iso(time.time()),
        "health": {"ok": health.ok, "problems": health.problems, "notes": health.notes},
        "faces": {status.key: face_json(status) for status in statuses},
    }

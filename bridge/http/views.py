"""What the status page and the JSON API show of meters, buses and publishers.

``meter_api`` is the ``/api/meters`` object: the keys of ``leviton-bridge read --json``
(``render.meter_json``) plus the bridge's own (id, name, bus, availability and since when, last
read, last error, statistics). ``meter_static`` and ``meter_live`` are the page's: what rarely
changes (the meter's description), sent when the page opens and when a meter is identified, and
what changes at every poll, kept cheap because it is built for every update of every meter
while a page is open.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from leviton_driver.catalogue import READINGS

from .. import render
from ..meter_state import MeterState
from .stats import BusFigures, BusStats, MeterTracker

if TYPE_CHECKING:
    from ..daemon import Bridge
    from .health import Health


_COMPACT: Final = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_READABLE: Final = json.JSONEncoder(allow_nan=False)


def dumps(data: Any, *, compact: bool = False) -> str:
    """JSON for browsers: a value a meter garbled into NaN or infinity becomes null."""
    encoder = _COMPACT if compact else _READABLE
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
    """A wall-clock time as ISO 8601 (UTC, milliseconds)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


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
    """``read --json``'s identity keys; from the configuration until the meter has answered."""
    identity = state.identity
    if identity is not None:
        return render.identity_json(identity)
    series = state.meter.series if state.meter is not None else state.config.series
    return {
        "unit_id": state.config.unit,
        "series": None if series == "auto" else str(series),
        "model": None,
        "hardware_version": None,
        "software_version": None,
        "program_id": None,
    }


def meter_api(state: MeterState, tracker: MeterTracker) -> dict[str, Any]:
    """The ``/api/meters/{id}`` object."""
    data: dict[str, Any] = {
        "id": state.meter_id,
        "name": state.config.name,
        "bus": state.bus.name,
        **_identity(state),
    }
    snapshot = state.snapshot
    data["readings"] = (
        {k: v for k, v in snapshot.readings.items() if v is not None} if snapshot else {}
    )
    if snapshot is not None and snapshot.points:
        data["points"] = {
            str(point): {k: v for k, v in values.items() if v is not None}
            for point, values in snapshot.points.items()
        }
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
    unknown; ``read`` and ``since`` in seconds since the epoch); points apart
    (``MeterState.points_json``). ``meter_live_json`` is the same, encoded."""
    snapshot = state.snapshot
    return {
        "id": state.meter_id,
        "available": state.available,
        "since": tracker.since.get(state.meter_id),
        "read": snapshot.time if snapshot is not None else None,
        "error": state.last_error,
        "failures": state.failures,
        "readings": snapshot.readings if snapshot is not None else {},
    }


def meter_live_json(state: MeterState, tracker: MeterTracker) -> str:
    """``meter_live`` as JSON, written without building it first: it is made for every update
    of every meter while a page is open, and objects made by the thousand cost the bridge's
    garbage collector more than the text does."""
    snapshot = state.snapshot
    since = tracker.since.get(state.meter_id)
    return (
        f'{{"id":{dumps(state.meter_id)},"available":{"true" if state.available else "false"},'
        f'"since":{"null" if since is None else repr(since)},'
        f'"read":{"null" if snapshot is None else repr(snapshot.time)},'
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


def bridge_json(bridge: Bridge, health: Health) -> dict[str, Any]:
    """The publishers' state and the bridge's health, for the page's header and the API."""
    data: dict[str, Any] = {
        "now": time.time(),
        "health": {"ok": health.ok, "problems": health.problems, "notes": health.notes},
        "mqtt": None,
        "bacnet": None,
    }
    mqtt, mqtt_config = bridge.mqtt, bridge.config.mqtt
    if mqtt_config is not None:
        connected = mqtt is not None and mqtt.disconnected_since is None
        changed = None
        if mqtt is not None:
            changed = mqtt.connected_since if connected else mqtt.disconnected_since
        data["mqtt"] = {
            "url": mqtt_config.url,
            "connected": connected,
            "since": _wall(changed),
            "problem": mqtt.connect_problem if mqtt is not None else None,
            "published": mqtt.published if mqtt is not None else 0,
            "reconnects": max(0, mqtt.connections - 1) if mqtt is not None else 0,
        }
    bacnet, bacnet_config = bridge.bacnet, bridge.config.bacnet
    if bacnet_config is not None:
        data["bacnet"] = {
            "address": bacnet_config.address,
            "device_instance": bacnet_config.device_instance,
            "serving": bacnet is not None and bacnet.app is not None,
            "objects": len(bacnet.objects) if bacnet is not None else 0,
            "cov_subscriptions": _cov_subscriptions(bacnet),
        }
    return data


def _cov_subscriptions(bacnet: object) -> int | None:
    """The COV subscriptions the BACnet device holds, where it counts them (see ``metrics``)."""
    count = getattr(bacnet, "cov_subscriptions", None)
    cov = getattr(bacnet, "cov", None)
    if count is None and cov is not None and hasattr(cov, "__len__"):
        count = len(cov)
    return count if isinstance(count, int) else None


def _wall(monotonic: float | None) -> float | None:
    """A ``time.monotonic()`` instant as wall-clock seconds since the epoch."""
    if monotonic is None:
        return None
    return time.time() - (time.monotonic() - monotonic)

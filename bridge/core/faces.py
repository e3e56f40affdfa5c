"""The contract between the bridge's core and its faces.

A face is one way the bridge shows its meters to the world: MQTT, the BACnet/IP device, the
status page, ... Each implements ``Face``; the daemon builds the core and the configured
faces, starts them in order and stops them in reverse. A face knows the core (``BridgeCore``:
the meters and their pollers, one reset path, every face's status) and never another face: health, the status
page and ``/metrics`` read each face's ``status()``.

* ``meter_identified``, ``meter_updated``, ``meter_unavailable``: what the poller learns,
  called on the event loop (a face must not block in them);
* ``status()``: whether the face is up, since when, why not, and the figures it keeps
  (``Figure``: what ``/metrics`` exports, named as the face wants them named);
* a peak-demand reset asked on any face goes through ``Core.reset_peak_demand`` and comes
  back as one ``ResetOutcome``, which each face turns into its own protocol's answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from leviton_driver import DemandResetResult

if TYPE_CHECKING:
    from .meter_state import MeterState


class MeterListener(Protocol):
    """Receives what the poller learns. Called on the event loop; must not block."""

    def meter_identified(self, state: MeterState) -> None: ...

    def meter_updated(self, state: MeterState) -> None: ...

    def meter_unavailable(self, state: MeterState) -> None: ...


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure a face keeps, as ``/metrics`` exports it."""

    name: str
    """The metric's name (``leviton_mqtt_published_messages``; a counter's ``_total`` is added
    by the exposition)."""
    help: str
    value: float
    counter: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceStatus:
    """What health, the status page and ``/metrics`` know of a face."""

    key: str
    """Short and stable: ``mqtt``, ``bacnet``, ``http``."""
    title: str
    """How a person names it: "MQTT", "BACnet/IP"."""
    up: bool
    """Connected, serving: doing its job now."""
    since: float | None
    """Wall-clock time since when ``up`` has been what it is (None: not known)."""
    summary: str
    """One line for a person: "connected to mqtt://broker:1883", "serving device 59001 ..."."""
    problem: str | None = None
    """Why it is not up, in words."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """What ``/api/status`` shows of it beyond the above (JSON values)."""
    figures: Sequence[Figure] = ()


class Face(MeterListener, Protocol):
    """One face of the bridge (see the module's docstring)."""

    async def start(self) -> None:
        """Start serving; raise ``ConfigurationError`` (in words) when it cannot."""

    async def stop(self) -> None:
        """Stop serving (the pollers have stopped already)."""

    def status(self) -> FaceStatus: ...


class Refusal(StrEnum):
    """Why a peak-demand reset was not tried."""

    UNKNOWN_METER = "unknown_meter"
    NOT_ANSWERED = "not_answered"
    NO_RESET = "no_reset"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetOutcome:
    """What a peak-demand command came to, on whichever face it was asked."""

    result: DemandResetResult | None = None
    """The reset's result, read back from the meter (None when it failed or was refused)."""
    coalesced: bool = False
    """The command was folded into a reset that was running or had just finished."""
    error: str | None = None
    """Why it failed or was refused, in words."""
    refusal: Refusal | None = None
    """Set when the reset was not tried at all (the meter is unknown, has not answered, or has
    no documented reset)."""

    @property
    def ok(self) -> bool:
        return self.result is not None

    def as_dict(self) -> dict[str, Any]:
        """The answer the MQTT result topic and the status page's API give."""
        done = self.result
        if done is None:
            return {"ok": False, "error": self.error}
        return {
            "ok": True,
            "coalesced": self.coalesced,
            "reset_count_before": done.count_before,
            "reset_count_after": done.count_after,
            "peak_demand_before": done.peak_demand_before,
            "peak_demand_after": done.peak_demand_after,
        }


__all__ = [
    "Face",
    "FaceStatus",
    "Figure",
    "MeterListener",
    "Refusal",
    "ResetOutcome",
]

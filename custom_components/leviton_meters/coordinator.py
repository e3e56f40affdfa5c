"""Polling one Leviton meter: a DataUpdateCoordinator per config entry.

How the meter is watched (retry within a poll, failed polls before unavailable, backoff of a
silent meter, identity checks, re-identification, seeded totals) is the driver's
``MeterSupervisor``, the same policy the bridge runs; this coordinator hands each poll's
outcome to the entities, and adds what only Home Assistant has: repairs, and totals restored
from its own state.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    CONF_SCAN_INTERVAL,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    MANUFACTURER,
    UNREACHABLE_REPAIR_AFTER,
)
from .driver import (
    DemandResetResult,
    Identity,
    LevitonError,
    LevitonMeter,
    MeterSupervisor,
    Snapshot,
    SupervisionSettings,
    Verdict,
)
from .driver.supervision import MeterFactory
from .link import MeterLink

_LOGGER = logging.getLogger(__name__)

type LevitonConfigEntry = ConfigEntry[LevitonCoordinator]


def has_identity(meter: LevitonMeter) -> bool:
    """Whether the meter reports a program id, which tells it from every other meter."""
    return meter.identity is not None and meter.identity.program_id is not None


def meter_unique_id(meter: LevitonMeter, fallback: str) -> str:
    """A meter's unique id from its identity: the program id Leviton ties to its serial number."""
    family = meter.series.family
    if meter.identity is not None and meter.identity.program_id is not None:
        return f"{family}_{meter.identity.program_id}"
    return f"{family}_{fallback}"


class LevitonCoordinator(DataUpdateCoordinator[Snapshot]):
    """Reads one meter every poll interval; entities take their values from it."""

    config_entry: LevitonConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: LevitonConfigEntry,
        link: MeterLink,
        meter: LevitonMeter,
        identify: MeterFactory,
    ) -> None:
        interval = entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
        # No timer of its own: the bus's scheduler reads the meters of a link back to back
        # (see scheduler.py) and refreshes each coordinator in turn.
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{entry.title} (unit {meter.unit_id})",
            update_interval=None,
        )
        self.poll_interval = timedelta(seconds=interval)
        self.every = 1
        """Read at every how many passes of the bus's scheduler."""
        self.read_seconds: float | None = None
        """How long the meter's last read took (the line time it needs per poll)."""
        self.link = link
        self.unreachable_since: float | None = None
        self.supervisor = MeterSupervisor(
            name=f"{entry.title} (unit {meter.unit_id} on {link.where})",
            identify=identify,
            meter=meter,
            settings=SupervisionSettings(
                offline_after=entry.options.get(CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER),
                # Home Assistant asks its user (a repair) before another meter's totals join the
                # recorded history, and its coordinator logs unavailability itself.
                adopt_other_meter=False,
                log_availability=False,
            ),
            interval=float(interval),
            clock=hass.loop.time,
            available=True,  # it answered identification just now
        )
        self._reported_other: int | None = None
        """The program id of the other meter the repair names, while one answers."""

    @property
    def meter(self) -> LevitonMeter:
        """The meter identified at setup (a meter found instead is never adopted here)."""
        meter = self.supervisor.meter
        assert meter is not None
        return meter

    @property
    def identity(self) -> Identity:
        if self.meter.identity is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="not_identified",
                translation_placeholders={"name": self.config_entry.title},
            )
        return self.meter.identity

    @property
    def unique_id(self) -> str:
        return self.config_entry.unique_id or self.config_entry.entry_id

    def due(self) -> bool:
        """Whether the scheduler should read the meter this pass (a silent meter is backed
        off, as the driver's supervision says)."""
        if self.supervisor.due():
            return True
        self._note_unreachable()  # a backed-off meter's hour still counts towards the repair
        return False

    async def _async_update_data(self) -> Snapshot:
        started = self.hass.loop.time()
        outcome = await self.supervisor.async_poll()
        if outcome.verdict is Verdict.READ and outcome.snapshot is not None:
            self.read_seconds = self.hass.loop.time() - started
            self._note_reachable()
            self._clear_other_meter()
            return outcome.snapshot
        if outcome.verdict is Verdict.OTHER_METER and outcome.other is not None:
            # Another meter now answers here: nothing is read, so its totals never mix into
            # this one's, until the user accepts it (the repair) or ours is back.
            other = outcome.other
            self._reported_other = other.program_id
            placeholders = report_identity_changed(
                self.hass,
                self.config_entry,
                f"{self.meter.series.family}_{other.program_id}",
                str(self.identity.program_id),
                str(other.program_id) if other.program_id is not None else "?",
            )
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="identity_changed",
                translation_placeholders=placeholders,
            )
        self._note_unreachable()
        error = str(outcome.error) if outcome.error is not None else "no answer"
        if outcome.verdict is Verdict.FAILED and self.data is not None:
            # One lost frame is not an outage: keep the last values a while.
            return self.data
        raise UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="meter_unreachable",
            translation_placeholders={"error": error},
        )

    def _clear_other_meter(self) -> None:
        if self._reported_other is not None:  # ours is back
            self._reported_other = None
            ir.async_delete_issue(
                self.hass, DOMAIN, f"identity_changed_{self.config_entry.entry_id}"
            )

    def _note_unreachable(self) -> None:
        now = self.hass.loop.time()
        if self.unreachable_since is None:
            self.unreachable_since = now
        elif now - self.unreachable_since >= UNREACHABLE_REPAIR_AFTER.total_seconds():
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"unreachable_{self.config_entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="unreachable",
                translation_placeholders={
                    "name": self.config_entry.title,
                    "where": f"unit {self.meter.unit_id} on {self.link.where}",
                    "hours": str(int(UNREACHABLE_REPAIR_AFTER.total_seconds() // 3600)),
                },
            )

    def _note_reachable(self) -> None:
        if self.unreachable_since is not None:
            self.unreachable_since = None
            ir.async_delete_issue(self.hass, DOMAIN, f"unreachable_{self.config_entry.entry_id}")

    async def async_reset_peak_demand(self) -> DemandResetResult:
        """Reset the meter's peak demand and publish the readings at once."""
        try:
            result = await self.supervisor.async_reset_peak_demand()
        except LevitonError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="reset_failed",
                translation_placeholders={"name": self.config_entry.title, "error": str(err)},
            ) from err
        if self.meter.last is not None:
            self.async_set_updated_data(self.meter.last)
        return result

    def seed_total(self, point: int | None, key: str, value: float) -> None:
        """Start a total's glitch guard from a value restored after a restart (Home
        Assistant's own restore, which the entry's unique id ties to this meter). The first
        poll ran before the entities were added, so the guard may hold a value already: a
        higher restored total still wins (totals never go backwards)."""
        self.supervisor.seed_totals({(point, key): value})

    def device_info(self, point: int | None = None) -> DeviceInfo:
        """The meter (or one of its metering points) as a device. The program id is its own
        diagnostic sensor, not the serial number: Leviton only correlates the two."""
        identity = self.identity
        if point is not None:
            return DeviceInfo(
                identifiers={(DOMAIN, f"{self.unique_id}_point_{point}")},
                manufacturer=MANUFACTURER,
                model=self.meter.point_model_label,
                name=f"{self.config_entry.title} point {point}",
                via_device=(DOMAIN, self.unique_id),
            )
        return DeviceInfo(
            identifiers={(DOMAIN, self.unique_id)},
            manufacturer=MANUFACTURER,
            model=self.meter.model_label,
            model_id=identity.model,
            hw_version=identity.hardware_version,
            sw_version=identity.software_version,
            name=self.config_entry.title,
        )


def report_identity_changed(
    hass: HomeAssistant, entry: ConfigEntry, new_unique_id: str, before: str, after: str
) -> dict[str, str]:
    """Open the swapped-meter repair; returns the placeholders for the caller's error."""
    placeholders = {"name": entry.title, "before": before, "after": after}
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"identity_changed_{entry.entry_id}",
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="identity_changed",
        translation_placeholders=placeholders,
        data={"entry_id": entry.entry_id, "unique_id": new_unique_id},
    )
    return placeholders

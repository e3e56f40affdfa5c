"""Polling one Leviton meter: a DataUpdateCoordinator per config entry."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_SCAN_INTERVAL,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    MANUFACTURER,
    UNREACHABLE_REPAIR_AFTER,
)
from .driver import DemandResetResult, Identity, LevitonError, LevitonMeter, MeterError, Snapshot
from .link import MeterLink

_LOGGER = logging.getLogger(__name__)

#: How often a running meter's identity registers are read to notice a swapped meter.
IDENTITY_CHECK_INTERVAL: Final = timedelta(hours=1)

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
        self, hass: HomeAssistant, entry: LevitonConfigEntry, link: MeterLink, meter: LevitonMeter
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
        self.meter = meter
        self.unreachable_since: float | None = None
        self._identity_checked_at = dt_util.utcnow()
        self._other_meter: str | None = None
        """What differs about the meter answering instead of ours, while one does."""
        self.failed_polls = 0
        """Polls in a row that failed (0 after any answer)."""
        self.unavailable_after: int = entry.options.get(
            CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER
        )

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

    async def _async_update_data(self) -> Snapshot:
        try:
            started = self.hass.loop.time()
            await self._check_identity()
            # One more try within the poll while the sensors show available (a lost frame is
            # not an outage); once they show unavailable, a try costs one timeout.
            snapshot = await self.meter.async_read(retry=self.failed_polls < self.unavailable_after)
        except MeterError as err:
            self.failed_polls += 1
            self._note_unreachable()
            if self.failed_polls < self.unavailable_after and self.data is not None:
                # One lost frame is not an outage: keep the last values a while.
                self.logger.debug(
                    "%s: poll %d of %d failed before unavailable: %s",
                    self.name,
                    self.failed_polls,
                    self.unavailable_after,
                    err,
                )
                return self.data
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="meter_unreachable",
                translation_placeholders={"error": str(err)},
            ) from err
        self.read_seconds = self.hass.loop.time() - started
        self.failed_polls = 0
        self._note_reachable()
        return snapshot

    async def _check_identity(self) -> None:
        """Notice a meter swapped for another at the same unit id, before its totals mix in:
        hourly, after two failed polls in a row (a swap takes the meter off the bus for longer
        than a lost frame does), and at every poll while another meter answers."""
        now = dt_util.utcnow()
        if (
            self._other_meter is None
            and self.failed_polls < 2
            and now - self._identity_checked_at < IDENTITY_CHECK_INTERVAL
        ):
            return
        check = await self.meter.async_check_identity()
        self._identity_checked_at = now
        if not check.same:
            # Another meter now answers here: stop before its totals mix into this one's, and
            # check again at every poll (not hourly) until the user accepts it or ours is back.
            self._other_meter = check.change
            before = self.identity.program_id
            placeholders = report_identity_changed(
                self.hass,
                self.config_entry,
                f"{self.meter.series.family}_{check.program_id}",
                str(before),
                str(check.program_id) if check.program_id is not None else "?",
            )
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="identity_changed",
                translation_placeholders=placeholders,
            )
        if self._other_meter is not None:
            self._other_meter = None
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
            result = await self.meter.async_reset_peak_demand()
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
        """Start a total's glitch guard from a value restored after a restart. The first poll
        ran before the entities were added, so the guard may hold a value already: a higher
        restored total still wins (totals never go backwards)."""
        self.meter.seed_total(point, key, value)

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

"""One physical link and the meters on it: what the bridge and the command line open.

Requests on a bus go strictly one at a time (modbus-connection serialises them); several buses
run concurrently. Home Assistant opens its links in the component's ``link.py`` and uses the
same meter classes and detection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from modbus_connection import ModbusError, ModbusUnit

from .connection import LevitonConnection, LinkSettings, open_connection, parse_url
from .detection import ScanResult, async_detect_meter, async_probe_meter, async_scan
from .errors import (
    ConfigurationError,
    ConnectError,
    MeterError,
    MeterTimeoutError,
    VerificationError,
)
from .meter import LevitonMeter, check_unit_id
from .profile import Profile
from .series1000 import Series1000Meter

#: How long a scan waits for each unit id (the manual: a meter answers within 500 ms).
SCAN_TIMEOUT: Final = 0.6


class Bus:
    """One physical link (a TCP socket, an RTU gateway or a serial port) and its meters."""

    def __init__(self, url: str | LinkSettings) -> None:
        self.settings = url if isinstance(url, LinkSettings) else parse_url(url)
        self.connection: LevitonConnection = open_connection(self.settings)

    @property
    def url(self) -> str:
        return self.settings.url

    def unit(self, unit_id: int) -> ModbusUnit:
        return self.connection.for_unit(check_unit_id(unit_id))

    async def async_connect(self) -> None:
        """Open the link now (it also opens on the first request)."""
        try:
            await self.connection.connect()
        except ModbusError as err:
            what = (
                "cannot open the serial port (missing, in use, or no permission)"
                if self.settings.kind == "serial"
                else "cannot connect (nothing accepts connections there, or it is unreachable)"
            )
            raise ConnectError(self.url, None, what) from err

    async def async_meter(
        self,
        unit_id: int,
        *,
        series: str = "auto",
        profile: Profile | None = None,
        derived_power: bool = True,
    ) -> LevitonMeter:
        """Identify the meter at ``unit_id``."""
        unit_id = check_unit_id(unit_id)
        await self.async_connect()
        return await async_detect_meter(
            self.unit(unit_id),
            unit_id=unit_id,
            where=self.url,
            series=series,
            profile=profile,
            trace=self.connection.trace,
            derived_power=derived_power,
        )

    async def async_probe(self, unit_id: int) -> LevitonMeter | None:
        """Like ``async_meter`` but None when nothing answers at the id (one request)."""
        unit_id = check_unit_id(unit_id)
        await self.async_connect()
        return await async_probe_meter(
            self.unit(unit_id), unit_id=unit_id, where=self.url, trace=self.connection.trace
        )

    async def async_scan(
        self,
        unit_ids: Iterable[int],
        *,
        answer_timeout: float = SCAN_TIMEOUT,
        progress: Callable[[int, int, ScanResult], None] | None = None,
    ) -> ScanResult:
        """Probe each unit id, waiting at most ``answer_timeout`` for each answer."""
        ids = [check_unit_id(unit_id) for unit_id in unit_ids]
        await self.async_connect()

        async def unit_for(unit_id: int) -> ModbusUnit:
            return self.unit(unit_id)

        with self.connection.quick_answers(answer_timeout, silent_ids=len(ids)):
            return await async_scan(
                unit_for, ids, where=self.url, trace=self.connection.trace, progress=progress
            )

    async def async_change_unit_id(self, meter: LevitonMeter, new: int) -> None:
        """Give an identified meter of this bus the id ``new`` (a Series 1000/2000: 0x10 at
        45001), confirmed by reading 45001 back at the new id."""
        old = meter.unit_id
        new = check_unit_id(new, "new unit id")
        if old == new:
            raise ConfigurationError(f"the meter already has unit id {old}")
        await self.async_connect()
        trace = self.connection.trace
        target = Series1000Meter(self.unit(new), unit_id=new, where=self.url, trace=trace)
        try:
            await target.async_read_modbus_id()
        except MeterTimeoutError:
            pass  # nothing at the new id: good
        except MeterError:
            raise ConfigurationError(
                f"something already answers at unit id {new} on {self.url}; "
                "two meters with one id would garble each other's answers"
            ) from None
        else:
            raise ConfigurationError(
                f"a meter already answers at unit id {new} on {self.url}; "
                "two meters with one id would garble each other's answers"
            )
        await meter.async_write_unit_id(new)
        try:
            answered = await target.async_read_modbus_id()
        except MeterTimeoutError:
            raise VerificationError(
                self.url,
                old,
                f"the meter accepted the change to unit id {new} but does not answer there; "
                f"it probably kept id {old}",
            ) from None
        if answered != new:
            raise VerificationError(self.url, new, f"register 45001 reads {answered}, not {new}")

    async def async_close(self) -> None:
        await self.connection.close()

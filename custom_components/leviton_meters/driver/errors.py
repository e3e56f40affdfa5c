"""Typed errors of the driver layer.

Every error names the connection, the unit and what happened, in words a person installing a
meter can act on. Callers branch on the class; people read the message.
"""

from __future__ import annotations


class LevitonError(Exception):
    """Base class of every error this driver raises."""


class ConfigurationError(LevitonError, ValueError):
    """A setting (URL, unit id, profile, option) is not valid; nothing was sent."""


class ProfileError(ConfigurationError):
    """A Series 8000 profile file is not valid."""


class MeterError(LevitonError):
    """Talking to one meter failed."""

    kind = "error"
    """Short name for error counters and diagnostics."""

    def __init__(self, connection: str, unit: int | None, what: str) -> None:
        self.connection = connection
        self.unit = unit
        self.what = what
        where = f"unit {unit} on {connection}" if unit is not None else connection
        super().__init__(f"{where}: {what}")


class ConnectError(MeterError):
    """The connection (socket, serial port, gateway) could not be opened or was lost."""

    kind = "connection"


class MeterTimeoutError(MeterError):
    """The meter did not answer in time (nothing, or nothing usable, arrived)."""

    kind = "timeout"


class ExceptionResponseError(MeterError):
    """The meter answered with a Modbus exception response."""

    kind = "exception"

    def __init__(self, connection: str, unit: int | None, what: str, code: int | None) -> None:
        self.code = code
        super().__init__(connection, unit, what)


class GatewayNoAnswerError(MeterTimeoutError):
    """A Modbus gateway answered that the device behind it does not (exception 0x0A or 0x0B):
    for the meter, no answer."""

    kind = "gateway"


class CrcError(MeterError):
    """An answer arrived but failed its CRC check (line noise, wiring, termination)."""

    kind = "crc"


class ShortResponseError(MeterError):
    """An answer arrived but was shorter than the request calls for."""

    kind = "short"


class GarbledResponseError(MeterError):
    """An answer arrived that is not a Modbus frame for this request."""

    kind = "garbled"


class NotLevitonError(MeterError):
    """Something answered, but it does not identify as a Leviton meter."""

    kind = "not_leviton"


class NoModbusMeterError(MeterTimeoutError):
    """Nothing answers Modbus at this unit id.

    Series 1000/2000 meters built before 2011-02-26 have no Modbus: they only broadcast a
    one-way stream every 5 minutes, in a format Leviton has not published.
    """

    kind = "no_modbus"

    def __init__(self, connection: str, unit: int | None, advice: str) -> None:
        self.advice = advice
        """What to check, for the kind of link (a user interface shows it on its own)."""
        super().__init__(connection, unit, f"nothing answers Modbus at this unit id. {advice}")


class VerificationError(MeterError):
    """A write was accepted but reading back shows the meter did not act on it."""

    kind = "verification"

"""Trend Log objects (ASHRAE 135 clause 12.25): each meter's energy-delivered total (each Series
8000 point's) at every interval boundary, from the history the core lends (bacpypes3 has no
Trend Log of its own: this is one, read with ReadRange, clause 15.8).

What a trend log is here:

* **One record per boundary**, logged from the history store (``Logging_Type`` polled,
  ``Log_Interval`` the history's interval, aligned to the clock): the total at the end of each
  interval, a Double as the Large Analog Value it logs (``any-value``: a REAL would lose the
  0.1 kWh above 16.7 million). Its timestamp is the boundary, in the device's local time.
* **Gaps are never zeros**: a boundary the meter did not answer around is a ``failure`` record
  (``communication``, ``timeout``); a boundary the bridge was not running at is a ``log-status``
  record with ``log-interrupted``.
* **Sequence numbers** count boundaries from the first the history holds for the series
  (``Total_Record_Count`` is the newest's), so they stay the same across restarts: the store
  is the log. The buffer is the newest ``Buffer_Size`` records (``bacnet.trend_log_buffer``,
  1,000 by default); ``Record_Count`` how many of them there are.
* **Read-only**: ``Enable`` reads true, ``Start_Time`` the first record's time, ``Stop_Time``
  unspecified; ``Log_Buffer`` is read with ReadRange only (a ReadProperty of it is refused
  with ``read-access-denied``, as the standard allows).

ReadRange (``read_range``) takes a range by position, by sequence number or by time (or none:
the whole buffer), answers oldest first within one APDU of the size the client accepts, and
sets ``more-items`` when what matched did not fit: with a negative count the newest records are
kept (the ones nearest the reference), else the oldest. A reference index or sequence number
the buffer does not hold matches nothing (an empty answer, no first sequence number).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from bacpypes3.apdu import ReadRangeACK
from bacpypes3.basetypes import (
    DateTime,
    DeviceObjectPropertyReference,
    ErrorType,
    EventState,
    LoggingType,
    LogRecord,
    LogRecordLogDatum,
    LogStatus,
    PropertyIdentifier,
    Reliability,
    ResultFlags,
    StatusFlags,
)
from bacpypes3.constructeddata import Any as AnyValue
from bacpypes3.constructeddata import ListOf
from bacpypes3.errors import ExecutionError, MissingRequiredParameter, ParameterOutOfRange
from bacpypes3.local.object import Object as LocalObject
from bacpypes3.primitivedata import Boolean, Date, Double, ObjectType, Time, Unsigned

from ..core.history import HistoryUnavailable, IntervalRow, Quality
from . import compat
from .objects import ReadOnlyMixin

if TYPE_CHECKING:
    from ..core.history import HistoryView
    from . import mapping

_FAILURE: Final = ErrorType(errorClass="communication", errorCode="timeout")
_INTERRUPTED: Final = LogStatus([0, 0, 1])
_UNSPECIFIED: Final = 255
MAX_SEQUENCE: Final = 0xFFFFFFFF
_ACK_HEADROOM: Final = 24
"""Octets of a ReadRange-ACK beyond its records, at most: the complex-ACK header (3), object
identifier (5), property (3), result flags (4), item count (5), the item data's opening and
closing tags (2) and the first sequence number (6)."""


def local_datetime(epoch: float) -> DateTime:
    """A BACnet DateTime in the device's local time (BACnet devices keep local time)."""
    when = datetime.fromtimestamp(epoch)
    return DateTime(
        date=Date((when.year - 1900, when.month, when.day, when.isoweekday())),
        time=Time((when.hour, when.minute, when.second, when.microsecond // 10000)),
    )


def unspecified_datetime() -> DateTime:
    """Every field unspecified: no stop time."""
    return DateTime(date=Date((_UNSPECIFIED,) * 4), time=Time((_UNSPECIFIED,) * 4))


def epoch_of(moment: Any) -> float:
    """A specific BACnet DateTime (local) in seconds since the epoch; ``ParameterOutOfRange``
    (parameter-out-of-range) when a field is unspecified."""
    year, month, day, _weekday = moment.date
    hour, minute, second, hundredth = moment.time
    fields = (year, month, day, hour, minute, second, hundredth)
    if any(field == _UNSPECIFIED for field in fields) or not 1 <= month <= 12:
        raise ParameterOutOfRange()
    try:
        when = datetime(year + 1900, month, day, hour, minute, second, hundredth * 10000)
    except ValueError:
        raise ParameterOutOfRange() from None
    return when.timestamp()


def record_of(row: IntervalRow, index: int, interval_s: int) -> LogRecord:
    """The record of one boundary: the total at the end of ``row``, or why there is none."""
    stamp = local_datetime(row.end(interval_s))
    flags = row.flags
    if flags & Quality.INTERRUPTED and flags & Quality.GAP:
        # The bridge was not running (throughout the interval, with no reading of the meter).
        return LogRecord(timestamp=stamp, logDatum=LogRecordLogDatum(logStatus=_INTERRUPTED))
    total = row.series[index].delivered if index < len(row.series) else None
    if flags & Quality.GAP or not row.end_known or total is None:
        return LogRecord(timestamp=stamp, logDatum=LogRecordLogDatum(failure=_FAILURE))
    return LogRecord(timestamp=stamp, logDatum=LogRecordLogDatum(anyValue=AnyValue(Double(total))))


def encoded_length(record: LogRecord) -> int:
    return len(record.encode().encode().pduData)


# -- which records a range names ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Buffer:
    """The records a trend log holds now: positions 1..``count``, the first of which has the
    sequence number ``first_sequence`` and is the boundary ``first_time``."""

    count: int
    first_sequence: int
    first_time: int
    interval_s: int

    def sequence(self, position: int) -> int:
        return self.first_sequence + position - 1

    def time(self, position: int) -> int:
        """The record's timestamp (the boundary)."""
        return self.first_time + (position - 1) * self.interval_s


@dataclass(frozen=True, slots=True)
class Selection:
    """Positions ``first``..``last`` of the buffer, and from which end to keep what fits."""

    first: int
    last: int
    keep_newest: bool


def _by_index(buffer: Buffer, reference: int, count: int) -> Selection | None:
    if not 1 <= reference <= buffer.count:
        return None  # "if the item ... does not exist, no items match" (15.8.1.1.4.1.1)
    if count > 0:
        return Selection(reference, min(reference + count - 1, buffer.count), False)
    return Selection(max(reference + count + 1, 1), reference, True)


def select(buffer: Buffer, kind: str | None, reference: Any, count: int) -> Selection | None:
    """The records a range names (None: none match)."""
    if buffer.count == 0:
        return None
    if kind is None:
        return Selection(1, buffer.count, False)
    if count == 0:
        raise ParameterOutOfRange()  # "Count shall not be zero"
    if kind == "byPosition":
        return _by_index(buffer, int(reference), count)
    if kind == "bySequenceNumber":
        return _by_index(buffer, int(reference) - buffer.first_sequence + 1, count)
    moment = epoch_of(reference)
    interval = buffer.interval_s
    if count > 0:
        # The first record newer than the reference time.
        position = (
            int((moment - buffer.first_time) // interval) + 2 if moment >= buffer.first_time else 1
        )
        if position > buffer.count:
            return None
        return Selection(position, min(position + count - 1, buffer.count), False)
    # The last record older than the reference time.
    if moment <= buffer.first_time:
        return None
    position = min(int(-(-(moment - buffer.first_time) // interval)), buffer.count)
    return Selection(max(position + count + 1, 1), position, True)


def fit(records: Sequence[LogRecord], room: int, keep_newest: bool) -> tuple[int, int]:
    """Which of ``records`` (oldest first) fit in ``room`` octets: (first, end) indexes."""
    lengths = [encoded_length(record) for record in records]
    if sum(lengths) <= room:
        return 0, len(records)
    used = 0
    if keep_newest:
        first = len(records)
        while first > 0 and used + lengths[first - 1] <= room:
            first -= 1
            used += lengths[first]
        return first, len(records)
    end = 0
    while end < len(records) and used + lengths[end] <= room:
        used += lengths[end]
        end += 1
    return 0, end


# -- the object ------------------------------------------------------------------------------------


class _TrendLogProperties(ReadOnlyMixin, LocalObject):  # type: ignore[misc]
    """A Trend Log's properties (the class bacpypes3 builds its property table from)."""

    _vendor_id = compat.NOT_A_VENDOR_CLASS
    _required = (
        "statusFlags",
        "eventState",
        "enable",
        "stopWhenFull",
        "bufferSize",
        "logBuffer",
        "recordCount",
        "totalRecordCount",
        "loggingType",
    )
    objectType = ObjectType.trendLog
    statusFlags: StatusFlags
    eventState: EventState
    reliability: Reliability
    enable: Boolean
    startTime: DateTime
    stopTime: DateTime
    logDeviceObjectProperty: DeviceObjectPropertyReference
    logInterval: Unsigned
    stopWhenFull: Boolean
    bufferSize: Unsigned
    logBuffer: ListOf(LogRecord)  # type: ignore[valid-type]
    recordCount: Unsigned
    totalRecordCount: Unsigned
    loggingType: LoggingType
    alignIntervals: Boolean
    intervalOffset: Unsigned
    notificationClass: Unsigned


class MeterTrendLog(_TrendLogProperties):
    """The trend log of one series' energy-delivered total (see the module)."""

    _vendor_id = compat.NOT_A_VENDOR_CLASS
    if TYPE_CHECKING:
        objectIdentifier: Any
        _spec: mapping.ObjectSpec
        _view: HistoryView
        _index: int
        _buffer_size: int

    def __init__(
        self,
        spec: mapping.ObjectSpec,
        view: HistoryView,
        *,
        logged: tuple[str, int],
        buffer_size: int,
        series_index: int,
    ) -> None:
        self._spec = spec
        self._view = view
        self._index = series_index
        self._buffer_size = buffer_size
        super().__init__(
            objectIdentifier=spec.identifier,
            objectName=spec.name,
            description=spec.description,
            eventState=EventState.normal,
            reliability=Reliability.noFaultDetected,
            enable=True,
            stopTime=unspecified_datetime(),
            logDeviceObjectProperty=DeviceObjectPropertyReference(
                objectIdentifier=logged, propertyIdentifier=PropertyIdentifier.presentValue
            ),
            logInterval=view.interval_s * 100,
            stopWhenFull=False,
            bufferSize=buffer_size,
            loggingType=LoggingType.polled,
            alignIntervals=True,
            intervalOffset=0,
        )

    # -- what the history holds now -----------------------------------------------------------

    def buffer(self) -> Buffer:
        """The records in the buffer now."""
        interval = self._view.interval_s
        span = self._view.span(self._spec.meter.meter_id)
        if span is None:
            return Buffer(0, 1, 0, interval)
        first, last = span
        total = (last - first) // interval + 1
        count = min(total, self._buffer_size)
        first_sequence = total - count + 1
        first_time = first + (first_sequence - 1) * interval + interval
        return Buffer(count, first_sequence, first_time, interval)

    @property
    def recordCount(self) -> Any:
        return Unsigned(self.buffer().count)

    @recordCount.setter
    def recordCount(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""

    @property
    def totalRecordCount(self) -> Any:
        buffer = self.buffer()
        total = buffer.first_sequence + buffer.count - 1 if buffer.count else 0
        return Unsigned((total - 1) % MAX_SEQUENCE + 1 if total else 0)

    @totalRecordCount.setter
    def totalRecordCount(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""

    @property
    def startTime(self) -> Any:
        """When logging began: the first record's time (unspecified before any)."""
        span = self._view.span(self._spec.meter.meter_id)
        if span is None:
            return unspecified_datetime()
        return local_datetime(span[0] + self._view.interval_s)

    @startTime.setter
    def startTime(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""

    @property
    def logBuffer(self) -> Any:
        """Read with ReadRange only (clause 12.25.14)."""
        raise ExecutionError(errorClass="property", errorCode="readAccessDenied")

    @logBuffer.setter
    def logBuffer(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""

    # -- ReadRange ------------------------------------------------------------------------------

    async def read_range(self, apdu: Any, max_apdu: int) -> Any:
        """The ReadRange-ACK of ``apdu`` (see the module)."""
        if PropertyIdentifier(apdu.propertyIdentifier) != PropertyIdentifier.logBuffer:
            raise ExecutionError(errorClass="property", errorCode="propertyIsNotAList")
        if apdu.propertyArrayIndex is not None:
            raise ExecutionError(errorClass="property", errorCode="propertyIsNotAnArray")
        kind, reference, count = None, None, 0
        if apdu.range is not None:
            for name, field in (
                ("byPosition", "referenceIndex"),
                ("bySequenceNumber", "referenceSequenceNumber"),
                ("byTime", "referenceTime"),
            ):
                chosen = getattr(apdu.range, name, None)
                if chosen is not None:
                    kind, reference, count = name, getattr(chosen, field), int(chosen.count)
                    break
            else:
                raise MissingRequiredParameter()
        buffer = self.buffer()
        selection = select(buffer, kind, reference, count)
        records: list[LogRecord] = []
        first_position = 0
        more = False
        if selection is not None:
            interval = buffer.interval_s
            meter_id = self._spec.meter.meter_id
            first_start = buffer.time(selection.first) - interval
            last_start = buffer.time(selection.last) - interval
            try:
                _previous, rows = await self._view.intervals(meter_id, first_start, last_start)
            except HistoryUnavailable:
                raise ExecutionError(errorClass="device", errorCode="operationalProblem") from None
            by_start = {row.start: row for row in rows}
            wanted = [
                by_start.get(first_start + k * interval)
                for k in range(selection.last - selection.first + 1)
            ]
            records = [
                record_of(row, self._index, interval)
                if row is not None
                else LogRecord(
                    timestamp=local_datetime(first_start + (k + 1) * interval),
                    logDatum=LogRecordLogDatum(logStatus=_INTERRUPTED),
                )
                for k, row in enumerate(wanted)
            ]
            start, end = fit(records, max_apdu - _ACK_HEADROOM, selection.keep_newest)
            more = (start, end) != (0, len(records))
            records = records[start:end]
            first_position = selection.first + start
        last_position = first_position + len(records) - 1
        ack = ReadRangeACK(
            objectIdentifier=self.objectIdentifier,
            propertyIdentifier=PropertyIdentifier.logBuffer,
            resultFlags=ResultFlags(
                [
                    int(bool(records) and first_position == 1),
                    int(bool(records) and last_position == buffer.count),
                    int(more),
                ]
            ),
            itemCount=len(records),
            context=apdu,
        )
        ack.itemData = AnyValue(ListOf(LogRecord)(records))
        if records and kind in ("bySequenceNumber", "byTime"):
            ack.firstSequenceNumber = buffer.sequence(first_position) % MAX_SEQUENCE or MAX_SEQUENCE
        return ack


__all__ = [
    "Buffer",
    "MeterTrendLog",
    "Selection",
    "epoch_of",
    "local_datetime",
    "record_of",
    "select",
]

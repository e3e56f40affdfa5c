"""Driver unit tests on modbus-connection's in-memory ``MockModbusUnit``: no simulator, no sockets.

Each meter runs on a mock unit that holds known words and answers like a real meter: a read
outside the registers the meter serves gets Modbus exception 02 (illegal data address), as the
Series 1000/2000 manual says a meter does. Failures can be made to happen once (a lost or
damaged answer) or for good. The tests assert what the driver sends, request by request:

* transactions per poll (Series 1000/2000: one, or two when 40005-40006 and 40061-40062
  disagree; Series 8000: what the profile's readable ranges and ``max_registers_per_read``
  imply);
* that no read, ever, leaves the documented register ranges or bridges a gap between them;
* word order (the manual's 0x0098 0x966C = 9,999,980 example; a profile's big and little);
* every failure path as a typed error of ``errors.py``, with the retry the driver documents, and
  the demand reset's read-back verification.

The clock the meters use is a fake one, so nothing depends on wall-clock time; nothing sleeps.
The simulator tests (``test_simulator_and_meter.py``, ``test_faults.py``) stay the end-to-end
layer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any, Final

import pytest
from modbus_connection import (
    IllegalDataAddressError,
    IllegalFunctionError,
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionError,
    ModbusProtocolError,
    ModbusTimeoutError,
    ServerDeviceFailureError,
)
from modbus_connection.mock import MockModbusConnection, MockModbusUnit, WriteEvent

from leviton_driver import (
    ConnectError,
    ExceptionResponseError,
    GarbledResponseError,
    MeterError,
    MeterTimeoutError,
    Series,
    ShortResponseError,
    VerificationError,
    async_detect_meter,
    async_probe_meter,
    load_profile,
)
from leviton_driver import registers as reg
from leviton_driver.profile import Profile, RegisterSpec, parse_profile
from leviton_driver.report_id import encode_report_server_id
from leviton_driver.series1000 import STATUS_INTERVAL_S, Series1000Meter
from leviton_driver.series8000 import Series8000Meter

Range = tuple[int, int]

TCP: Final = "tcp://mock:502"
RTU: Final = "rtu+tcp://mock:4196"

#: The manual's example of a 32-bit value: 0x0098 0x966C = 9,999,980, high word first.
MANUAL_WORDS: Final = (0x0098, 0x966C)
MANUAL_KWH: Final = 999_998.0  # 9,999,980 at kWh/10

# Wire addresses of the Series 1000/2000 map (registers.py).
BLOCK: Final = 0x0000  # 40001-40006
PEAK: Final = 0x003C  # 40061-40062
IDENTITY: Final = 0x1388  # 45001-45004
STATUS: Final = 0x138D  # 45006-45008

# ------------------------------------------------------------------------------------------
# A mock meter
# ------------------------------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingConnection(MockModbusConnection):
    """The mock connection, counting how often the driver dropped the link on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self.disconnects = 0

    async def disconnect(self) -> None:
        self.disconnects += 1
        await super().disconnect()


def _raise(error: Exception) -> Callable[[], Any]:
    """A canned mock response that fails with ``error``."""

    def answer() -> Any:
        raise error

    return answer


def runs(spans: Iterable[Range]) -> tuple[Range, ...]:
    """Inclusive address spans joined where they touch or overlap."""
    joined: list[Range] = []
    for low, high in sorted(spans):
        if joined and low <= joined[-1][1] + 1:
            joined[-1] = (joined[-1][0], max(joined[-1][1], high))
        else:
            joined.append((low, high))
    return tuple(joined)


class MeterUnit(MockModbusUnit):
    """A ``MockModbusUnit`` that answers like a meter.

    * A read that does not lie inside one of ``readable`` (or uses another register space)
      gets exception 02 (illegal data address), after being recorded in ``read_events``.
    * ``then(address, outcome, ...)`` queues what the next reads starting at ``address`` do,
      once each: an exception is raised (the request went out, the answer did not come back
      usable), a number cuts the answer to that many registers (a short answer).
    * ``lose_answer(address, error)``: the next write to ``address`` takes effect at the meter,
      then its answer is lost (``error`` is raised).
    * ``requests`` lists every request in order: reads, writes and function 0x11.
    """

    def __init__(
        self, readable: Iterable[Range], *, space: str = "holding", unit_id: int = 1
    ) -> None:
        self.link = CountingConnection()
        super().__init__(self.link, unit_id)
        self.unit_id = unit_id
        self.readable = tuple(readable)
        self.space = space
        self.requests: list[tuple[Any, ...]] = []
        self._next_reads: dict[int, list[Exception | int]] = {}
        self._lost_answers: dict[int, list[Exception]] = {}

    # -- test configuration ----------------------------------------------------------------

    def set_words(self, address: int, words: Iterable[int]) -> None:
        """Store ``words`` register by register from ``address`` in the meter's space."""
        store = self.holding if self.space == "holding" else self.input
        for offset, value in enumerate(words):
            store[address + offset] = value

    def word(self, address: int) -> int:
        store = self.holding if self.space == "holding" else self.input
        value = store.get(address, 0)
        assert isinstance(value, int)
        return value

    def then(self, address: int, *outcomes: Exception | int) -> None:
        self._next_reads.setdefault(address, []).extend(outcomes)

    def lose_answer(self, address: int, error: Exception) -> None:
        self._lost_answers.setdefault(address, []).append(error)

    # -- what the driver sees --------------------------------------------------------------

    @property
    def reads(self) -> list[tuple[int, int]]:
        """(address, count) of every read so far, failed ones included."""
        return [(event.address, event.count) for event in self.read_events]

    @property
    def writes(self) -> list[tuple[Any, ...]]:
        return [request for request in self.requests if request[0] == "write"]

    def forget(self) -> None:
        """Clear what was recorded so far (e.g. after identification)."""
        self.read_events.clear()
        self.requests.clear()

    def _legal(self, space: str, address: int, count: int) -> bool:
        last = address + count - 1
        return space == self.space and any(
            low <= address and last <= high for low, high in self.readable
        )

    def _answer(self, space: str, address: int, count: int, words: list[int]) -> list[int]:
        if not self._legal(space, address, count):
            raise IllegalDataAddressError()
        queued = self._next_reads.get(address)
        if queued:
            outcome = queued.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return words[:outcome]
        return words

    async def read_holding_registers(self, address: int, count: int) -> list[int]:
        self.requests.append(("read", "holding", address, count))
        words = await super().read_holding_registers(address, count)
        return self._answer("holding", address, count, words)

    async def read_input_registers(self, address: int, count: int) -> list[int]:
        self.requests.append(("read", "input", address, count))
        words = await super().read_input_registers(address, count)
        return self._answer("input", address, count, words)

    async def write_register(self, address: int, value: int) -> None:
        self.requests.append(("write", 0x06, address, [value]))
        await super().write_register(address, value)
        lost = self._lost_answers.get(address)
        if lost:
            raise lost.pop(0)

    async def write_registers(self, address: int, values: list[int]) -> None:
        self.requests.append(("write", 0x10, address, list(values)))
        await super().write_registers(address, values)
        lost = self._lost_answers.get(address)
        if lost:
            raise lost.pop(0)

    async def report_server_id(self) -> bytes:
        self.requests.append(("report_server_id",))
        return await super().report_server_id()


def assert_reads_inside(unit: MeterUnit, ranges: Iterable[Range]) -> None:
    """Every read so far lies inside one of ``ranges``: none outside, none across a gap."""
    allowed = tuple(ranges)
    assert unit.read_events, "nothing was read"
    for event in unit.read_events:
        first, last = event.address, event.address + event.count - 1
        assert event.register_type == unit.space, f"read from the {event.register_type} space"
        assert event.count >= 1
        assert any(low <= first and last <= high for low, high in allowed), (
            f"read of {event.count} registers at {first:#06x}-{last:#06x} is not inside one "
            f"documented range {[(f'{low:#06x}', f'{high:#06x}') for low, high in allowed]}"
        )


# ------------------------------------------------------------------------------------------
# Series 1000/2000
# ------------------------------------------------------------------------------------------


def series1000_unit(
    *,
    model: str | None = "2N208-021",
    unit_id: int = 1,
    energy: tuple[int, int] = MANUAL_WORDS,
    received: tuple[int, int] = (0x0000, 0x0005),
    block_peak: tuple[int, int] = (0x0000, 0x04D2),
    peak: tuple[int, int] = (0x0000, 0x04D2),
    count: int = 3,
    uptime: int = 86_400,
    program: int = 45678,
    acts_on_reset: bool = True,
) -> MeterUnit:
    """A Series 1000/2000 on a mock unit: only ``DOCUMENTED_READ_RANGES`` answer.

    ``model`` is what it answers to function 0x11 (None: it refuses 0x11). Peak demand 0x04D2
    is 12.34 kW. With ``acts_on_reset`` the meter acts on the peak-demand reset (0x06 of 0x00AA
    to 0x01F4) as the manual says: its counter at 45006 counts up and peak demand is zeroed.
    """
    unit = MeterUnit(reg.DOCUMENTED_READ_RANGES, unit_id=unit_id)
    unit.set_words(BLOCK, [*energy, *received, *block_peak])
    unit.set_words(PEAK, peak)
    unit.set_words(IDENTITY, [unit_id, 0x0302, 0x0302, program])
    unit.set_words(STATUS, [count, uptime >> 16, uptime & 0xFFFF])
    if model is None:
        unit.set_response("report_server_id", _raise(IllegalFunctionError()))
    else:
        answer = encode_report_server_id(
            model=model,
            hardware_version="3.2",
            software_version="3.2",
            program_id=program,
            demand_reset_count=count,
        )
        unit.set_response("report_server_id", answer)

    def meter_acts(event: WriteEvent) -> None:
        is_reset = (event.address, event.values) == (
            reg.DEMAND_RESET_ADDRESS,
            [reg.DEMAND_RESET_VALUE],
        )
        if acts_on_reset and is_reset:
            unit.set_words(STATUS, [unit.word(STATUS) + 1])
            unit.set_words(BLOCK + 4, [0, 0])
            unit.set_words(PEAK, [0, 0])

    unit.on_write(meter_acts)
    return unit


def series1000_meter(
    unit: MeterUnit, *, where: str = TCP, clock: Clock | None = None, **kwargs: Any
) -> Series1000Meter:
    return Series1000Meter(
        unit, unit_id=unit.unit_id, where=where, clock=clock or Clock(), **kwargs
    )


async def identified_1000(unit: MeterUnit, **kwargs: Any) -> Series1000Meter:
    """A Series 1000/2000 meter, identified; what identification sent is forgotten."""
    meter = series1000_meter(unit, **kwargs)
    await meter.async_identify()
    unit.forget()
    return meter


#: (what the meter answers to 0x11, how the meter is configured, the series it then is).
SERIES_1000_2000 = [
    pytest.param("1N120-01D", {}, Series.S1000, id="series-1000"),
    pytest.param("2N208-021", {}, Series.S2000, id="series-2000"),
    pytest.param(
        None, {"series": Series.S2000, "configured": True}, Series.S2000, id="configured-no-0x11"
    ),
]


@pytest.mark.parametrize(("model", "options", "series"), SERIES_1000_2000)
async def test_identification_reads_only_documented_registers(
    model: str | None, options: dict[str, Any], series: Series
) -> None:
    """Identification: 0x11, then 45001-45004, 45006-45008, 40001-40006 and 40061-40062, one
    transaction each; 45005 and 40007-40060 are never touched."""
    unit = series1000_unit(model=model)
    meter = series1000_meter(unit, **options)

    identity = await meter.async_identify()

    assert identity.series is series
    assert identity.model == model
    assert (identity.hardware_version, identity.software_version) == ("3.2", "3.2")
    assert identity.program_id == 45678
    assert unit.reads == [(IDENTITY, 4), (STATUS, 3), (BLOCK, 6), (PEAK, 2)]
    assert unit.requests[0] == ("report_server_id",)
    assert_reads_inside(unit, reg.DOCUMENTED_READ_RANGES)
    assert not meter.poll_peak_register


@pytest.mark.parametrize(("model", "options", "series"), SERIES_1000_2000)
async def test_poll_is_one_transaction_when_40005_agrees_with_40061(
    model: str | None, options: dict[str, Any], series: Series
) -> None:
    """A poll is the six-register read from 40001, and nothing else, poll after poll."""
    unit = series1000_unit(model=model)
    meter = await identified_1000(unit, **options)

    for _ in range(5):
        snapshot = await meter.async_read()
        assert unit.requests == [("read", "holding", BLOCK, 6)]
        unit.forget()

    assert snapshot.readings["energy_delivered"] == MANUAL_KWH
    assert snapshot.readings["peak_demand"] == pytest.approx(12.34)
    assert meter.series is series


@pytest.mark.parametrize(("model", "options", "series"), SERIES_1000_2000)
async def test_poll_is_two_transactions_when_40005_disagrees_with_40061(
    model: str | None, options: dict[str, Any], series: Series
) -> None:
    """When 40005-40006 and 40061-40062 disagree at identification, every poll also reads
    40061-40062 (two transactions, never one bridging 40007-40060) and takes peak demand from
    there."""
    unit = series1000_unit(model=model, block_peak=(0x0000, 0x0001), peak=(0x0000, 0x04D2))
    meter = await identified_1000(unit, **options)

    assert meter.poll_peak_register
    assert meter.identity is not None
    assert any("40061" in note for note in meter.identity.notes)
    for _ in range(3):
        snapshot = await meter.async_read()
        assert unit.reads == [(BLOCK, 6), (PEAK, 2)]
        unit.forget()

    assert snapshot.readings["peak_demand"] == pytest.approx(12.34)


async def test_status_registers_are_read_once_per_status_interval() -> None:
    """Reset counter and uptime (45006-45008) are read every ``STATUS_INTERVAL_S``; in between
    a poll stays one transaction and uptime is counted forward."""
    clock = Clock()
    unit = series1000_unit(uptime=86_400)
    meter = await identified_1000(unit, clock=clock)
    step = 60.0
    polls = int(STATUS_INTERVAL_S // step)

    per_poll: list[list[tuple[int, int]]] = []
    for _ in range(polls):
        clock.now += step
        snapshot = await meter.async_read()
        per_poll.append(unit.reads)
        unit.forget()

    assert per_poll[:-1] == [[(BLOCK, 6)]] * (polls - 1)
    assert per_poll[-1] == [(BLOCK, 6), (STATUS, 3)]
    assert snapshot.readings["uptime"] == 86_400  # read again, no longer extrapolated


async def test_32bit_values_are_high_word_first() -> None:
    """The manual's example: 0x0098 0x966C = 9,999,980, i.e. 999,998.0 kWh at kWh/10.

    Low word first, the same words would read 2,523,660,440 = 252,366,044.0 kWh, a plausible
    number: pin the order down on every 32-bit register.
    """
    unit = series1000_unit(
        energy=MANUAL_WORDS,
        received=(0x0001, 0x0000),  # 65,536 -> 6,553.6 kWh (low word first: 0.1 kWh)
        block_peak=(0x0000, 0x0001),  # 1 -> 0.01 kW (low word first: 655.36 kW)
        peak=(0x0000, 0x0001),
        uptime=0x0001_0002,  # 65,538 s (low word first: 131,073 s)
    )
    meter = await identified_1000(unit)

    snapshot = await meter.async_read()

    assert snapshot.readings["energy_delivered"] == MANUAL_KWH
    assert snapshot.readings["energy_received"] == pytest.approx(6_553.6)
    assert snapshot.readings["peak_demand"] == pytest.approx(0.01)
    assert snapshot.readings["uptime"] == 65_538


async def test_no_read_ever_leaves_the_documented_ranges() -> None:
    """Everything a Series 1000/2000 meter does, one after another, on a meter that answers
    exception 02 outside the manual's registers: detection, probing, identification, polls,
    status reads, an identity check, a unit-id read-back and a demand reset."""
    clock = Clock()
    unit = series1000_unit(block_peak=(0, 1), peak=(0, 0x04D2))  # polls 40061 too

    probed = await async_probe_meter(unit, unit_id=1, where=TCP)
    assert isinstance(probed, Series1000Meter)
    assert unit.reads[0] == (BLOCK, 1)  # the probe: one register at 40001
    meter = await async_detect_meter(unit, unit_id=1, where=TCP)
    assert isinstance(meter, Series1000Meter)
    meter.clock = clock
    for _ in range(3):
        clock.now += STATUS_INTERVAL_S
        await meter.async_read()
    assert (await meter.async_check_identity()).same
    assert await meter.async_read_modbus_id() == 1
    await meter.async_reset_peak_demand()
    await meter.async_ping()

    assert_reads_inside(unit, reg.DOCUMENTED_READ_RANGES)
    assert {address for address, _ in unit.reads} == {BLOCK, PEAK, IDENTITY, STATUS}
    assert unit.writes == [("write", 0x06, reg.DEMAND_RESET_ADDRESS, [reg.DEMAND_RESET_VALUE])]


async def test_identity_check_is_one_read_of_45001_to_45004() -> None:
    unit = series1000_unit(program=45678)
    meter = await identified_1000(unit)

    assert (await meter.async_check_identity()).same
    unit.set_words(IDENTITY + 3, [12345])  # another meter at this unit id
    check = await meter.async_check_identity()

    assert not check.same
    assert check.program_id == 12345
    assert check.change == "program id 45678 became 12345"
    assert unit.reads == [(IDENTITY, 4), (IDENTITY, 4)]


async def test_unit_id_change_is_a_valid_function_0x10_frame() -> None:
    """Quantity 1 with one register (the manual's "quantity 2, byte count 2" is not valid
    Modbus), to 45001; reading 45001 back is one read of 45001-45004."""
    unit = series1000_unit(unit_id=1)
    meter = await identified_1000(unit)

    await meter.async_write_unit_id(7)

    assert unit.writes == [("write", 0x10, reg.MODBUS_ID_REGISTER, [7])]
    assert await meter.async_read_modbus_id() == 7
    assert unit.reads == [(IDENTITY, 4)]


# -- failure paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "error", "kind"),
    [
        pytest.param(ModbusTimeoutError("no response"), MeterTimeoutError, "timeout", id="timeout"),
        pytest.param(
            IllegalDataAddressError(), ExceptionResponseError, "exception", id="exception-answer"
        ),
        pytest.param(
            ModbusConnectionError("connection reset"), ConnectError, "connection", id="link-lost"
        ),
        pytest.param(
            ModbusProtocolError("answer to another request"),
            GarbledResponseError,
            "garbled",
            id="garbled",
        ),
    ],
)
async def test_failure_is_a_typed_error_naming_link_unit_and_request(
    cause: ModbusError, error: type[MeterError], kind: str
) -> None:
    unit = series1000_unit()
    meter = await identified_1000(unit)
    unit.then(BLOCK, cause)

    with pytest.raises(error) as caught:
        await meter.async_read(retry=False)

    assert type(caught.value) is error
    assert str(caught.value).startswith(f"unit 1 on {TCP}: ")
    assert "40001-40006" in str(caught.value)
    assert isinstance(caught.value.__cause__, type(cause))  # the cause is kept
    assert meter.errors == {kind: 1}
    assert unit.reads == [(BLOCK, 6)]


async def test_exception_answer_is_not_retried() -> None:
    """A Modbus exception is an answer: the meter is there and said no. One request, no
    retry, and the code in words."""
    unit = series1000_unit()
    meter = await identified_1000(unit)
    unit.then(BLOCK, ServerDeviceFailureError(), ServerDeviceFailureError())

    with pytest.raises(ExceptionResponseError) as caught:
        await meter.async_read()

    assert caught.value.code == 4
    assert "exception 04 (server device failure)" in str(caught.value)
    assert unit.reads == [(BLOCK, 6)]


async def test_a_lost_answer_is_retried_within_the_poll() -> None:
    """One timeout, then an answer: the poll succeeds, and since a silent meter may have
    restarted, the status registers are read again in the same poll."""
    unit = series1000_unit()
    meter = await identified_1000(unit)
    unit.then(BLOCK, ModbusTimeoutError("no response"))

    snapshot = await meter.async_read()

    assert snapshot.readings["energy_delivered"] == MANUAL_KWH
    assert unit.reads == [(BLOCK, 6), (BLOCK, 6), (STATUS, 3)]
    assert meter.errors == {"timeout": 1}


async def test_two_lost_answers_fail_the_poll_after_one_retry() -> None:
    unit = series1000_unit()
    meter = await identified_1000(unit)
    unit.then(BLOCK, ModbusTimeoutError("no response"), ModbusTimeoutError("no response"))

    with pytest.raises(MeterTimeoutError, match="no answer to a read of registers 40001-40006"):
        await meter.async_read()

    assert unit.reads == [(BLOCK, 6), (BLOCK, 6)]
    # The next poll reads normally, and reads the status again (the meter may have restarted).
    await meter.async_read()
    assert unit.reads[2:] == [(BLOCK, 6), (STATUS, 3)]


@pytest.mark.parametrize("registers", [0, 1, 5])
async def test_short_answer_is_a_short_response_error_never_an_index_error(
    registers: int,
) -> None:
    """An answer with fewer registers than asked for (0, 1 or 5 of 6) is a
    ``ShortResponseError``; it may be a damaged frame, so the poll tries once more."""
    unit = series1000_unit()
    meter = await identified_1000(unit)
    unit.then(BLOCK, registers, registers)

    with pytest.raises(ShortResponseError, match="cut short"):
        await meter.async_read()

    assert unit.reads == [(BLOCK, 6), (BLOCK, 6)]
    assert meter.errors == {"short": 2}
    unit.then(BLOCK, registers)
    snapshot = await meter.async_read()  # one short answer, then a whole one
    assert snapshot.readings["energy_delivered"] == MANUAL_KWH


@pytest.mark.parametrize(("address", "count"), [(IDENTITY, 3), (STATUS, 2), (BLOCK, 5), (PEAK, 1)])
async def test_short_answer_during_identification(address: int, count: int) -> None:
    unit = series1000_unit()
    unit.then(address, count)

    with pytest.raises(ShortResponseError):
        await series1000_meter(unit).async_identify()


@pytest.mark.parametrize(
    ("where", "cause", "dropped"),
    [
        pytest.param(RTU, ModbusTimeoutError("no response"), 1, id="rtu-timeout"),
        pytest.param(RTU, IllegalDataAddressError(), 0, id="rtu-exception"),
        pytest.param(TCP, ModbusTimeoutError("no response"), 0, id="tcp-timeout"),
    ],
)
async def test_rtu_link_is_dropped_after_an_unusable_answer(
    where: str, cause: ModbusError, dropped: int
) -> None:
    """RTU frames carry no transaction id: a late answer would be taken for the next
    request's, so after a lost answer on an RTU link the link is dropped (not after an
    exception answer, and not on Modbus TCP)."""
    unit = series1000_unit()
    meter = await identified_1000(unit, where=where)
    unit.then(BLOCK, cause)

    with pytest.raises(MeterError):
        await meter.async_read(retry=False)

    assert unit.link.disconnects == dropped


# -- peak-demand reset ---------------------------------------------------------------------


async def test_demand_reset_counter_moved() -> None:
    unit = series1000_unit(count=3)
    meter = await identified_1000(unit)
    await meter.async_read()
    unit.forget()

    result = await meter.async_reset_peak_demand()

    assert (result.count_before, result.count_after) == (3, 4)
    assert result.peak_demand_before == pytest.approx(12.34)
    assert result.peak_demand_after == 0
    assert unit.writes == [("write", 0x06, 0x01F4, [0x00AA])]
    assert unit.requests.index(unit.writes[0]) == 1  # after a fresh read of the counter
    assert_reads_inside(unit, reg.DOCUMENTED_READ_RANGES)


async def test_demand_reset_counter_did_not_move() -> None:
    """The meter accepted the write but did not act on it: a ``VerificationError`` that says
    so, and no second reset."""
    unit = series1000_unit(count=3, acts_on_reset=False)
    meter = await identified_1000(unit)
    await meter.async_read()

    with pytest.raises(VerificationError, match="reset counter stayed at 3"):
        await meter.async_reset_peak_demand()

    assert len(unit.writes) == 1


async def test_demand_reset_answer_lost_but_counter_moved() -> None:
    """The request arrived and the meter reset, but its answer was lost: the counter shows
    the reset happened, so it is reported done (a second reset would be one too many)."""
    unit = series1000_unit(count=3)
    meter = await identified_1000(unit)
    await meter.async_read()
    unit.lose_answer(reg.DEMAND_RESET_ADDRESS, ModbusTimeoutError("no response"))

    result = await meter.async_reset_peak_demand()

    assert (result.count_before, result.count_after) == (3, 4)
    assert result.peak_demand_after == 0
    assert len(unit.writes) == 1
    assert meter.errors == {"timeout": 1}


async def test_demand_reset_answer_lost_and_counter_did_not_move() -> None:
    """Neither an answer nor a moved counter: the reset did not happen; the timeout stands."""
    unit = series1000_unit(count=3)
    meter = await identified_1000(unit)
    unit.fail_write(reg.DEMAND_RESET_ADDRESS, ModbusTimeoutError("no response"))

    with pytest.raises(MeterTimeoutError, match="peak-demand reset"):
        await meter.async_reset_peak_demand()

    assert len(unit.writes) == 1
    assert unit.word(STATUS) == 3


async def test_demand_reset_refused_with_an_exception() -> None:
    unit = series1000_unit(count=3)
    meter = await identified_1000(unit)
    unit.fail_write(reg.DEMAND_RESET_ADDRESS, IllegalFunctionError())

    with pytest.raises(ExceptionResponseError, match=r"exception 01 \(illegal function\)"):
        await meter.async_reset_peak_demand()

    assert len(unit.writes) == 1


# ------------------------------------------------------------------------------------------
# Series 8000
# ------------------------------------------------------------------------------------------


def _words(spec: RegisterSpec, raw: int, word_order: str) -> list[int]:
    """The registers holding ``raw`` as ``spec`` describes it."""
    if spec.type in ("uint16", "int16"):
        return [raw & 0xFFFF]
    if spec.type == "float32":
        high, low = struct.unpack(">HH", struct.pack(">f", float(raw)))
    else:
        high, low = (raw >> 16) & 0xFFFF, raw & 0xFFFF
    return [high, low] if word_order == "big" else [low, high]


def raw_value(point: int, index: int) -> int:
    """A distinct raw value for each field, so that a field decoding its neighbour shows."""
    return point * 1_000 + index * 10 + 7


def named_ranges(profile: Profile) -> tuple[Range, ...]:
    """The registers a profile names (for its largest meter), joined where they touch."""
    spans = [(spec.address, spec.address + spec.width - 1) for spec in profile.meter.values()]
    for point in range(1, profile.max_points + 1):
        for key, spec in profile.point_registers.items():
            address = profile.point_address(point, key)
            spans.append((address, address + spec.width - 1))
    return runs(spans)


def readable(profile: Profile) -> tuple[Range, ...]:
    """What the meter answers: the profile's readable ranges, else the registers it names."""
    return profile.readable_ranges or named_ranges(profile)


def implied_reads(profile: Profile, points: int) -> int:
    """The fewest reads of a poll that the profile allows: every polled field read whole, each
    read inside one readable range and at most ``max_registers_per_read`` long."""
    spans = sorted(
        [(spec.address, spec.width) for key, spec in profile.meter.items() if key != "point_count"]
        + [
            (profile.point_address(point, key), spec.width)
            for point in range(1, points + 1)
            for key, spec in profile.point_registers.items()
        ]
    )
    ranges = readable(profile)

    def range_of(address: int) -> Range:
        return next((low, high) for low, high in ranges if low <= address <= high)

    reads = 0
    start: int | None = None
    current: Range | None = None
    for address, width in spans:
        end = address + width - 1
        if (
            start is None
            or range_of(address) != current
            or end - start + 1 > profile.max_registers_per_read
        ):
            reads += 1
            start, current = address, range_of(address)
    return reads


def series8000_unit(profile: Profile, points: int) -> MeterUnit:
    """A Series 8000 with ``points`` points laid out per ``profile``; it refuses 0x11."""
    unit = MeterUnit(readable(profile), space=profile.register_space, unit_id=5)
    for index, (key, spec) in enumerate(profile.meter.items()):
        raw = points if key == "point_count" else raw_value(0, index)
        unit.set_words(spec.address, _words(spec, raw, profile.word_order))
    for point in range(1, points + 1):
        for index, (key, spec) in enumerate(profile.point_registers.items()):
            words = _words(spec, raw_value(point, index), profile.word_order)
            unit.set_words(profile.point_address(point, key), words)
    unit.set_response("report_server_id", _raise(IllegalFunctionError()))
    return unit


def series8000_meter(unit: MeterUnit, profile: Profile, **kwargs: Any) -> Series8000Meter:
    return Series8000Meter(
        unit,
        profile=profile,
        unit_id=unit.unit_id,
        where=TCP,
        configured=True,
        clock=Clock(),
        **kwargs,
    )


async def identified_8000(unit: MeterUnit, profile: Profile) -> Series8000Meter:
    meter = series8000_meter(unit, profile)
    await meter.async_identify()
    unit.forget()
    return meter


def _profile(**settings: Any) -> Profile:
    return parse_profile(settings, "test profile")


#: Fewer readings than the default, in input registers, low word first, reads capped at 50 and
#: two declared ranges that touch: a read never crosses from one to the other.
PARTIAL_RANGED: Final = _profile(
    name="partial: input registers, little-endian, 50 per read",
    provisional=False,
    register_space="input",
    word_order="little",
    max_registers_per_read=50,
    readable_ranges=[[0x0FFE, 0x0FFF], [0x1000, 0x105F]],
    meter={
        "point_count": {"address": 0x0FFE, "type": "uint16"},
        "voltage_a": {"address": 0x0FFF, "type": "uint16", "scale": 0.1},
    },
    points={
        "max_count": 8,
        "first_address": 0x1000,
        "stride": 12,
        "registers": {
            "energy_delivered": {"offset": 0, "type": "uint32", "scale": 0.1},
            "power": {"offset": 4, "type": "int32"},
        },
    },
)

#: Two adjacent 32-bit values per point and no ``readable_ranges``: only the named registers
#: may be read ("Omit to allow only the registers named below").
PARTIAL_UNRANGED: Final = _profile(
    name="partial: no readable ranges",
    provisional=False,
    meter={
        "point_count": {"address": 0x00FC, "type": "uint16"},
        "voltage_a": {"address": 0x00FD, "type": "uint16", "scale": 0.1},
    },
    points={
        "max_count": 8,
        "first_address": 0x0100,
        "stride": 12,
        "registers": {
            "energy_delivered": {"offset": 0, "type": "uint32", "scale": 0.1},
            "energy_received": {"offset": 2, "type": "uint32", "scale": 0.1},
        },
    },
)

DEFAULT: Final = load_profile()

#: (profile, points, transactions per poll). The default profile's points start at 0x0100 with
#: 12 registers each, after the voltages at 0x00FD-0x00FF, all in one readable range, 125
#: registers per read: 8 points are 99 registers (one read), 12 are 147 (125 + 22), 24 are
#: 291 (125 + 124 + 42: a 32-bit value is never split across reads). PARTIAL_RANGED: the
#: voltage in its own range, then 90 registers of points at most 50 per read (50 + 38).
#: PARTIAL_UNRANGED: the voltage, then each point's 4 named registers (the gaps between points
#: are not named, so never read).
SERIES_8000_POLLS = [
    pytest.param(DEFAULT, 8, 1, id="default-8"),
    pytest.param(DEFAULT, 12, 2, id="default-12"),
    pytest.param(DEFAULT, 24, 3, id="default-24"),
    pytest.param(PARTIAL_RANGED, 8, 3, id="partial-ranged-8"),
    pytest.param(PARTIAL_UNRANGED, 8, 9, id="partial-unranged-8"),
]


@pytest.mark.parametrize(("profile", "points", "reads"), SERIES_8000_POLLS)
async def test_series8000_poll_transactions_are_what_the_profile_implies(
    profile: Profile, points: int, reads: int
) -> None:
    unit = series8000_unit(profile, points)
    meter = await identified_8000(unit, profile)

    await meter.async_read()

    assert implied_reads(profile, points) == reads
    assert len(unit.requests) == reads, unit.reads
    assert all(count <= profile.max_registers_per_read for _, count in unit.reads)
    assert_reads_inside(unit, readable(profile))


@pytest.mark.parametrize(("profile", "points", "reads"), SERIES_8000_POLLS)
async def test_series8000_never_reads_outside_the_profile(
    profile: Profile, points: int, reads: int
) -> None:
    """Identification (the point-count register, one transaction), polls and identity checks
    stay inside the profile's readable ranges (or, without them, its named registers)."""
    unit = series8000_unit(profile, points)
    meter = series8000_meter(unit, profile)

    identity = await meter.async_identify()
    count_spec = profile.meter["point_count"]
    assert unit.reads == [(count_spec.address, 1)]
    assert identity.points == points
    assert identity.provisional_profile is profile.provisional
    for _ in range(2):
        await meter.async_read()
    assert (await meter.async_check_identity()).same

    assert_reads_inside(unit, readable(profile))


@pytest.mark.parametrize(
    "profile", [pytest.param(DEFAULT, id="default"), pytest.param(PARTIAL_RANGED, id="partial")]
)
async def test_series8000_every_field_decodes_its_own_registers(profile: Profile) -> None:
    """Each reading of each point comes from its own registers, scaled by the profile; a
    partial profile gives only the readings it maps."""
    points = 8
    unit = series8000_unit(profile, points)
    meter = await identified_8000(unit, profile)

    snapshot = await meter.async_read()

    assert [r.key for r in meter.point_readings()] == list(profile.point_registers)
    expected_meter = {
        key: pytest.approx(raw_value(0, index) * spec.scale)
        for index, (key, spec) in enumerate(profile.meter.items())
        if key != "point_count"
    }
    assert snapshot.readings == expected_meter
    assert sorted(snapshot.points) == list(range(1, points + 1))
    for point in range(1, points + 1):
        assert snapshot.points[point] == {
            key: pytest.approx(raw_value(point, index) * spec.scale)
            for index, (key, spec) in enumerate(profile.point_registers.items())
        }


@pytest.mark.parametrize(
    ("profile", "energy", "power"),
    [
        pytest.param(DEFAULT, list(MANUAL_WORDS), [0xFFFF, 0xFA24], id="big"),
        pytest.param(PARTIAL_RANGED, list(MANUAL_WORDS[::-1]), [0xFA24, 0xFFFF], id="little"),
    ],
)
async def test_series8000_word_order_follows_the_profile(
    profile: Profile, energy: list[int], power: list[int]
) -> None:
    """9,999,980 (0x0098966C) at kWh/10 and -1,500 W (0xFFFFFA24), in the profile's order."""
    unit = series8000_unit(profile, 8)
    unit.set_words(profile.point_address(1, "energy_delivered"), energy)
    unit.set_words(profile.point_address(1, "power"), power)
    meter = await identified_8000(unit, profile)

    snapshot = await meter.async_read()

    assert snapshot.points[1]["energy_delivered"] == MANUAL_KWH
    assert snapshot.points[1]["power"] == -1500


# -- Series 8000 failure paths -------------------------------------------------------------


def first_read(profile: Profile) -> int:
    """Where a poll's first read starts (the lowest polled register)."""
    return min(
        [spec.address for key, spec in profile.meter.items() if key != "point_count"]
        + [profile.first_address]
    )


async def test_series8000_lost_answer_is_retried_within_the_poll() -> None:
    unit = series8000_unit(DEFAULT, 8)
    meter = await identified_8000(unit, DEFAULT)
    unit.then(first_read(DEFAULT), ModbusTimeoutError("no response"))

    snapshot = await meter.async_read()

    assert snapshot.points[1]["energy_delivered"] is not None
    assert unit.reads == [(0x00FD, 99), (0x00FD, 99)]
    assert meter.errors["timeout"] == 1


async def test_series8000_two_lost_answers_fail_the_poll() -> None:
    unit = series8000_unit(DEFAULT, 8)
    meter = await identified_8000(unit, DEFAULT)
    unit.then(first_read(DEFAULT), ModbusTimeoutError("no"), ModbusTimeoutError("no"))

    with pytest.raises(MeterTimeoutError, match="8-point register set") as caught:
        await meter.async_read()

    assert str(caught.value).startswith(f"unit 5 on {TCP}: ")
    assert len(unit.reads) == 2


async def test_series8000_short_answer_is_a_short_response_error() -> None:
    unit = series8000_unit(DEFAULT, 8)
    meter = await identified_8000(unit, DEFAULT)
    unit.then(first_read(DEFAULT), 98, 98)

    with pytest.raises(ShortResponseError, match="cut short"):
        await meter.async_read()

    assert unit.reads == [(0x00FD, 99), (0x00FD, 99)]
    assert meter.errors["short"] == 2


async def test_series8000_exception_answer_is_not_retried() -> None:
    """A Modbus exception is an answer, not a lost or damaged frame; ``LevitonMeter.async_read``
    documents the retry for the latter only, and ``Series1000Meter`` keeps to it. (A profile
    that does not fit the meter answers exception 02 to every poll: retrying doubles its cost
    on a shared bus and changes nothing.)"""
    unit = series8000_unit(DEFAULT, 8)
    meter = await identified_8000(unit, DEFAULT)
    unit.then(first_read(DEFAULT), IllegalDataAddressError(), IllegalDataAddressError())

    with pytest.raises(ExceptionResponseError) as caught:
        await meter.async_read()

    assert caught.value.code == 2
    assert isinstance(caught.value.__cause__, ModbusExceptionError)
    assert unit.reads == [(0x00FD, 99)]


@pytest.mark.parametrize("step", ["identify", "check_identity"])
async def test_series8000_short_point_count_answer_is_a_short_response_error(step: str) -> None:
    """An answer without the one register asked for (the point count) is a
    ``ShortResponseError``, never an ``IndexError``."""
    unit = series8000_unit(DEFAULT, 8)
    meter = series8000_meter(unit, DEFAULT)
    if step == "check_identity":
        await meter.async_identify()
    unit.then(DEFAULT.meter["point_count"].address, 0)

    call = meter.async_identify if step == "identify" else meter.async_check_identity

    with pytest.raises(ShortResponseError):
        await call()


async def test_series8000_detection_probes_40001_once_then_keeps_to_the_profile() -> None:
    """With 0x11 refused, detection asks 40001-40006 (one read; a Series 8000 answers exception
    02 there) and then reads only inside the profile."""
    unit = series8000_unit(DEFAULT, 12)

    meter = await async_detect_meter(unit, unit_id=5, where=TCP, profile=DEFAULT)

    assert isinstance(meter, Series8000Meter)
    assert meter.points == 12
    assert unit.reads[0] == (BLOCK, 6)
    unit.read_events.pop(0)
    await meter.async_read()
    assert_reads_inside(unit, readable(DEFAULT))

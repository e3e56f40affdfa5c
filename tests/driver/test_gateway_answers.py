"""A Modbus gateway's exceptions 0x0A and 0x0B say the device behind it does not answer: for
the meter that is no answer (a scan passes over it, a poll counts it as a silent one), not an
answer from another kind of device."""

from __future__ import annotations

import pytest
from modbus_connection import ModbusExceptionError

from leviton_driver import ExceptionResponseError, MeterTimeoutError
from leviton_driver.errors import GatewayNoAnswerError
from leviton_driver.meter import translate_error


@pytest.mark.parametrize(
    ("code", "words"),
    [(10, "gateway path unavailable"), (11, "gateway target device failed to respond")],
)
def test_gateway_exceptions_are_no_answer(code: int, words: str) -> None:
    error = translate_error(
        ModbusExceptionError(code),
        "a read of registers 40001-40006",
        where="tcp://gw:502",
        unit_id=7,
        trace=None,
    )
    assert isinstance(error, GatewayNoAnswerError)
    assert isinstance(error, MeterTimeoutError)
    assert error.kind == "gateway"
    assert str(error) == (
        f"unit 7 on tcp://gw:502: the gateway answered exception {code:02d} ({words}) to a read "
        "of registers 40001-40006"
    )


def test_other_exceptions_stay_answers() -> None:
    error = translate_error(
        ModbusExceptionError(2), "a read", where="tcp://gw:502", unit_id=7, trace=None
    )
    assert isinstance(error, ExceptionResponseError)
    assert not isinstance(error, MeterTimeoutError)
    assert error.code == 2

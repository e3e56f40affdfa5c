"""Every use of modbus-connection's and pymodbus's internals, fenced in one module.

The driver talks Modbus through modbus-connection's public ``ModbusUnit``. Six things it needs
are not public; each is done here, and ``tests/compat/test_modbus_compat.py`` (run on every
pymodbus the project supports: the bridge's pinned one and Home Assistant's 3.11.x) fails
loudly when an upgrade moves what it relies on:

* **Whole 0x11 answers.** pymodbus reads the last byte of a report-server-id answer as the run
  status, where Leviton sends the status second and ASCII to the end, so the stock decoder
  drops the last character. A response class that keeps every byte is registered on the client
  (``ModbusBaseClient.register``, public, but the response class is pymodbus's own).
* **The raw bytes of each exchange** (``PacketTrace``), to explain a failed request: nothing
  came back, a bad CRC, a cut-short frame, something else. pymodbus takes a ``trace_packet``
  hook as a client constructor argument, which modbus-connection does not pass; it is set on
  the client's transaction manager (``client.ctx.trace_packet``).
* **Exception answers on pymodbus 3.11.** Its decoder builds ``pymodbus.pdu.pdu.
  ExceptionResponse`` while ``pymodbus.pdu.ExceptionResponse`` (the class modbus-connection
  checks) is another class, so every exception answer reaches us as a plain ``ModbusError``
  without its code. The client's answers are converted to the class modbus-connection knows.
* **Bytes that make no answer** (an echoing gateway, garbage): pymodbus raises out of the
  transport's ``data_received``, so asyncio logs a traceback and drops the link; the client's
  transaction manager's ``callback_data`` is wrapped to drop those bytes instead.
* **A shorter timeout for some requests** (a bus scan on a link a meter already uses, whose
  timeout is that meter's): the transaction manager reads its per-request timeout from
  ``client.ctx.comm_params.timeout_connect``; it is lowered for the duration and restored.

* **The read plan of a component** (its blocks: start address and count), so that a Series
  8000 poll can be decoded with one precompiled struct (``block_decoder.py``) while
  modbus-connection still decides what is read: ``Component._build_plan()``.

RTU over TCP uses pymodbus's asyncio TCP client with RTU framing, built here too, because the
``socket://`` serial transport modbus-connection would use connects with a blocking call
inside the event loop.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, Final

from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse as PublicExceptionResponse
from pymodbus.pdu import pdu as pdu_base
from pymodbus.pdu.other_message import ReportDeviceIdResponse

#: The class pymodbus's decoder gives exception answers (on 3.11 not the public one).
DECODED_EXCEPTION_RESPONSE: Final[type[Any]] = getattr(
    pdu_base, "ExceptionResponse", PublicExceptionResponse
)
SPLIT_EXCEPTION_RESPONSE: Final = DECODED_EXCEPTION_RESPONSE is not PublicExceptionResponse
"""True on pymodbus versions whose decoder and package export different exception classes."""


class WholeReportServerIdResponse(ReportDeviceIdResponse):
    """A 0x11 answer kept whole: ``identifier`` is every byte after the byte count.

    Leviton answers device id 0x31, run status 0xFF, then ASCII to the end of the frame;
    pymodbus's own response takes the last byte as the run status and drops it.
    """

    def decode(self, data: bytes) -> None:
        self.byte_count = int(data[0]) if data else 0
        self.identifier = bytes(data[1 : 1 + self.byte_count])
        self.status = len(self.identifier) > 1 and self.identifier[1] == 0xFF


class ReportServerIdAnswer(ReportDeviceIdResponse):
    """A 0x11 answer laid out as a Leviton meter sends it: the byte count, then the data as the
    meter gives it (no run status appended): what the simulator and the bridge's Modbus server
    answer."""

    def __init__(self, data: bytes = b"", **kwargs: Any) -> None:
        super().__init__(identifier=data, **kwargs)

    def encode(self) -> bytes:
        return bytes([len(self.identifier)]) + self.identifier


def _public_exception(response: Any) -> Any:
    """The answer with a 3.11-style exception class replaced by the public one."""
    if type(response) is DECODED_EXCEPTION_RESPONSE:
        return PublicExceptionResponse(
            response.function_code & 0x7F,
            response.exception_code,
            device_id=response.dev_id,
            transaction=response.transaction_id,
        )
    return response


def _tolerant(callback_data: Callable[..., int]) -> Callable[..., int]:
    """pymodbus raises out of ``data_received`` on bytes it cannot decode (an echo, garbage):
    asyncio then logs a traceback and drops the link. Bytes that make no answer are dropped
    instead; the request waiting for its answer times out, and the packet trace says why."""

    @functools.wraps(callback_data)
    def tolerant(data: bytes, addr: Any = None) -> int:
        try:
            return callback_data(data, addr)
        except ModbusException:
            return len(data)

    return tolerant


def prepare_client(client: Any, trace: Callable[[bool, bytes], bytes]) -> None:
    """Teach a freshly built pymodbus client our tricks (see the module docstring)."""
    client.register(WholeReportServerIdResponse)
    manager = getattr(client, "ctx", None)
    if manager is not None and hasattr(manager, "trace_packet"):
        # Without it, failures are still reported, only less precisely (as timeouts).
        manager.trace_packet = trace
    if manager is not None and hasattr(manager, "callback_data"):
        manager.callback_data = _tolerant(manager.callback_data)
    if SPLIT_EXCEPTION_RESPONSE:
        execute = client.execute

        @functools.wraps(execute)
        async def execute_with_public_exceptions(no_response_expected: bool, request: Any) -> Any:
            return _public_exception(await execute(no_response_expected, request))

        client.execute = execute_with_public_exceptions


def rtu_over_tcp_client(
    host: str,
    port: int,
    *,
    timeout: float,
    trace_connect: Callable[[bool], None],
    trace_packet: Callable[[bool, bytes], bytes],
) -> Any:
    """pymodbus's asyncio TCP client with RTU framing (not yet connected)."""
    return AsyncModbusTcpClient(
        host,
        port=port,
        framer=FramerType.RTU,
        timeout=timeout,
        name="leviton_meters",
        reconnect_delay=0,
        retries=0,
        trace_connect=trace_connect,
        trace_packet=trace_packet,
    )


def live_client(connection: Any) -> Any | None:
    """The pymodbus client a modbus-connection connection holds now (None when down)."""
    return getattr(connection, "_client", None)


def set_request_timeout(client: Any, seconds: float) -> float | None:
    """Make ``client`` wait at most ``seconds`` for each answer; returns what it waited before
    (None, and nothing changed, on a client that keeps its timeout elsewhere)."""
    params = getattr(getattr(client, "ctx", None), "comm_params", None)
    if params is None or not hasattr(params, "timeout_connect"):
        return None
    before: float = params.timeout_connect
    params.timeout_connect = seconds
    return before


def tolerate_silence(client: Any, count: int) -> None:
    """Let ``count`` unanswered requests in a row pass before pymodbus drops the link.

    pymodbus closes a socket link after a few requests in a row got no answer; on a bus where
    silence is expected (a scan of empty unit ids) that would reconnect every few ids, and a
    new link would not have the scan's short timeout. ``set_max_no_responses`` (public) sets the
    allowance only from the next answer on; the count in progress is set too.
    """
    setter = getattr(client, "set_max_no_responses", None)
    if setter is not None:
        setter(count)
    manager = getattr(client, "ctx", None)
    if manager is not None and hasattr(manager, "count_until_disconnect"):
        manager.count_until_disconnect = count


class _NoResponseFilter(logging.Filter):
    """Drops pymodbus's "No response received" errors (with the frame dumps pymodbus appends
    to them) and its "Repeating...." stand-in for a repeated message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(
            ("No response received", "ERROR: No response received", "Repeating....")
        )


#: The logger pymodbus writes through (``pymodbus.logging.Log``).
PYMODBUS_LOGGER: Final = "pymodbus.logging"


@contextlib.contextmanager
def quiet_no_response_logs() -> Iterator[None]:
    """Keep pymodbus's "No response received" errors out of the log while the block runs
    (a bus scan, where silence is the expected answer at most unit ids). Every other pymodbus
    message still goes through."""
    logger = logging.getLogger(PYMODBUS_LOGGER)
    quiet = _NoResponseFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def read_blocks(component: Any) -> list[tuple[int, int]] | None:
    """The (start, count) of each read modbus-connection plans for ``component``, in order;
    None when the plan spans more than one register space or has no blocks."""
    plan = component._build_plan()
    blocks = getattr(plan, "blocks", None)
    if not isinstance(blocks, dict) or len(blocks) != 1:
        return None
    return [(int(start), int(count)) for start, count in next(iter(blocks.values()))]

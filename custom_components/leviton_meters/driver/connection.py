"""Connections: URLs to Modbus links, and a pymodbus link that suits Leviton meters.

URLs (see the README):

* ``tcp://HOST:PORT`` - Modbus TCP (MBAP framing), e.g. a Series 8000 on Ethernet or a
  Modbus TCP gateway. Port defaults to 502.
* ``rtu+tcp://HOST:PORT`` - Modbus RTU frames carried over a TCP socket (a "transparent" serial
  server such as a USR or Waveshare RS485-to-Ethernet box). Port defaults to 4196.
* ``serial:///dev/ttyUSB0?baud=9600&parity=N&stopbits=1&bytesize=8`` - Modbus RTU on a serial
  port. Series 1000/2000 meters use 9600 8N1, which is the default.

Any URL takes ``timeout=SECONDS`` (default 1.0: the manual promises an answer in under 500 ms).

The pymodbus link differs from the stock modbus-connection one in ways invisible to code typed
against ``ModbusUnit`` (``modbus_compat`` holds each): 0x11 answers come back whole; the raw
bytes of the request in flight are kept, so that a failed request can be explained (nothing came
back, a bad CRC, a cut-short frame, something else: ``PacketTrace.diagnose``); exception answers
keep their code on every supported pymodbus; and a bus scan can ask for quick answers.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from modbus_connection import ModbusConnectionError, ModbusSerialParams, ModbusTcpParams
from modbus_connection.pymodbus import ModbusConnection
from pymodbus.exceptions import ModbusException
from pymodbus.framer.rtu import FramerRTU

from . import modbus_compat
from .errors import ConfigurationError

try:
    from termios import error as _TermiosError
except ImportError:  # not on this platform

    class _TermiosError(Exception):  # type: ignore[no-redef]
        """Stands in where termios does not exist."""


_PORT_ERRORS: Final = (OSError, _TermiosError)
DEFAULT_TIMEOUT: Final = 1.0
DEFAULT_TCP_PORT: Final = 502
DEFAULT_RTU_OVER_TCP_PORT: Final = 4196
_MAX_URL: Final = 1000
_BAUD_RATES: Final = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
_URL_HELP: Final = (
    "expected tcp://HOST:PORT, rtu+tcp://HOST:PORT or "
    "serial:///dev/PORT?baud=9600&parity=N&stopbits=1"
)


@dataclass(frozen=True, kw_only=True)
class LinkSettings:
    """A parsed connection URL."""

    url: str
    kind: str
    """"tcp", "rtu+tcp" or "serial"."""
    params: ModbusTcpParams | ModbusSerialParams
    timeout: float = DEFAULT_TIMEOUT

    @property
    def framing(self) -> str:
        """ "rtu" when frames carry a CRC, "tcp" for MBAP."""
        return "tcp" if self.kind == "tcp" else "rtu"

    @property
    def baudrate(self) -> int | None:
        """Line speed of a serial port, None for socket links."""
        if isinstance(self.params, ModbusSerialParams) and self.kind == "serial":
            return self.params.baudrate
        return None


def _port(value: int | None, default: int, url: str) -> int:
    if value is None:
        return default
    if not 1 <= value <= 65535:
        raise ConfigurationError(f"connection URL {url!r}: port {value} is not in 1..65535")
    return value


def _one(query: dict[str, list[str]], key: str, url: str) -> str | None:
    values = query.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise ConfigurationError(f"connection URL {url!r}: {key} is given more than once")
    return values[0]


def _number[T: (int, float)](
    query: dict[str, list[str]], key: str, url: str, kind: type[T], allowed: str
) -> T | None:
    text = _one(query, key, url)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ConfigurationError(
            f"connection URL {url!r}: {key}={text!r} is not valid; expected {allowed}"
        ) from None


def parse_url(url: str) -> LinkSettings:
    """Parse a connection URL; raise ``ConfigurationError`` saying what would be right."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"connection URL is empty; {_URL_HELP}")
    url = url.strip()
    if len(url) > _MAX_URL:
        raise ConfigurationError(
            f"connection URL of {len(url)} characters; {_URL_HELP} (at most {_MAX_URL} characters)"
        )
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise ConfigurationError(
            f"connection URL {url!r} contains a control character; {_URL_HELP}"
        )
    if "://" not in url and ":" in url and url.rsplit(":", 1)[-1].isdigit():
        raise ConfigurationError(
            f"connection URL {url!r} has no scheme: write tcp://{url} for Modbus TCP, or "
            f"rtu+tcp://{url} for RTU frames over TCP"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise ConfigurationError(
            f"connection URL {url!r} is not valid ({err}); {_URL_HELP}"
        ) from None
    query = parse_qs(parts.query, keep_blank_values=True)
    known = {"timeout"} | (
        {"baud", "parity", "stopbits", "bytesize"} if parts.scheme == "serial" else set()
    )
    unknown = sorted(set(query) - known)
    if unknown:
        raise ConfigurationError(
            f"connection URL {url!r}: unknown option {', '.join(unknown)}; "
            f"this kind of URL takes {', '.join(sorted(known))}"
        )
    timeout = _number(query, "timeout", url, float, "seconds, e.g. timeout=1.5")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if not 0.05 <= timeout <= 60:
        raise ConfigurationError(f"connection URL {url!r}: timeout={timeout} is not in 0.05..60 s")

    if parts.scheme in ("tcp", "rtu+tcp"):
        if not parts.hostname:
            raise ConfigurationError(f"connection URL {url!r} has no host; {_URL_HELP}")
        if parts.path not in ("", "/"):
            raise ConfigurationError(
                f"connection URL {url!r}: unexpected path {parts.path!r}; {_URL_HELP}"
            )
        if parts.scheme == "tcp":
            tcp = ModbusTcpParams(host=parts.hostname, port=_port(port, DEFAULT_TCP_PORT, url))
            return LinkSettings(url=url, kind="tcp", params=tcp, timeout=timeout)
        # RTU framing over a socket is a serial link on a socket transport
        # (modbus-connection's own advice), so it shares its endpoint identity.
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        device = f"socket://{host}:{_port(port, DEFAULT_RTU_OVER_TCP_PORT, url)}"
        serial = ModbusSerialParams(device=device, framer="rtu")
        return LinkSettings(url=url, kind="rtu+tcp", params=serial, timeout=timeout)

    if parts.scheme == "serial":
        device = parts.path or ""
        if parts.netloc or not device.startswith("/"):
            raise ConfigurationError(
                f"connection URL {url!r}: a serial port is written serial:///dev/ttyUSB0 "
                "(three slashes, then the device path)"
            )
        baud = _number(query, "baud", url, int, "one of " + ", ".join(map(str, _BAUD_RATES)))
        if baud is not None and baud not in _BAUD_RATES:
            raise ConfigurationError(
                f"connection URL {url!r}: baud={baud} is not a standard rate; expected one of "
                + ", ".join(map(str, _BAUD_RATES))
            )
        parity = (_one(query, "parity", url) or "N").upper()
        if parity not in ("N", "E", "O"):
            raise ConfigurationError(
                f"connection URL {url!r}: parity={parity!r}; expected N (none), E (even) or O (odd)"
            )
        stopbits = _number(query, "stopbits", url, int, "1 or 2")
        if stopbits not in (None, 1, 2):
            raise ConfigurationError(
                f"connection URL {url!r}: stopbits={stopbits}; expected 1 or 2"
            )
        bytesize = _number(query, "bytesize", url, int, "7 or 8")
        if bytesize not in (None, 7, 8):
            raise ConfigurationError(
                f"connection URL {url!r}: bytesize={bytesize}; expected 7 or 8"
            )
        serial = ModbusSerialParams(
            device=device,
            baudrate=baud or 9600,
            parity=parity,  # type: ignore[arg-type]  # checked above
            stopbits=stopbits or 1,  # type: ignore[arg-type]
            bytesize=bytesize or 8,  # type: ignore[arg-type]
            framer="rtu",
        )
        return LinkSettings(url=url, kind="serial", params=serial, timeout=timeout)

    raise ConfigurationError(
        f"connection URL {url!r}: unknown scheme {parts.scheme!r}; {_URL_HELP}"
    )


ROUND_TRIP_SAMPLES: Final = 1024
"""Round trips a ``PacketTrace`` keeps (the newest)."""


class PacketTrace:
    """The bytes sent and received for the request in flight on one link."""

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.sent = b""
        self.received = b""
        self.requests = 0
        # -- round-trip timing, read by the bridge's status page and /metrics ----------------
        self.sent_at = 0.0
        """Monotonic time the request in flight was sent."""
        self.answered_at = 0.0
        """Monotonic time the latest byte of an answer to it arrived."""
        self.round_trips: deque[float] = deque(maxlen=ROUND_TRIP_SAMPLES)
        """Seconds from each request that got an answer to the last byte of that answer, the
        newest last (a request's is added when the next request leaves)."""
        self.round_trip_count = 0
        """Round trips added to ``round_trips`` so far, including those it no longer holds."""

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if sending:
            if self.received:  # round-trip timing: the previous request got an answer
                self.round_trips.append(self.answered_at - self.sent_at)
                self.round_trip_count += 1
            self.sent = bytes(data)
            self.received = b""
            self.requests += 1
            self.sent_at = time.monotonic()  # round-trip timing
        else:
            self.received += bytes(data)
            self.answered_at = time.monotonic()  # round-trip timing
        return data

    def diagnose(self) -> tuple[str, str] | None:
        """Explain why the last request got no usable answer: (kind, words), or None.

        kind is "crc", "short" or "garbled"; None means nothing at all came back.
        """
        data = self.received
        if not data:
            return None
        shown = data[:24].hex(" ") + (" ..." if len(data) > 24 else "")
        if self.framing != "rtu":
            if _looks_like_rtu(data):
                return "garbled", (
                    f"the answer is a Modbus RTU frame, not Modbus TCP ({shown}): the device "
                    "passes RTU frames through; connect with RTU over TCP (rtu+tcp://) instead"
                )
            return (
                "garbled",
                f"received {len(data)} bytes that are not a Modbus TCP answer: {shown}",
            )
        if _looks_like_mbap(data):
            return "garbled", (
                f"the answer is framed as Modbus TCP, not RTU ({shown}): the device is a Modbus "
                "TCP server; connect with Modbus TCP (tcp://) instead of RTU over TCP"
            )
        expected_unit = self.sent[0] if self.sent else None
        expected_function = self.sent[1] if len(self.sent) > 1 else None
        if expected_function in (0x03, 0x04, 0x11) and data.startswith(self.sent):
            # A read request's echo parses as an answer of no registers (of a 0x11 answer
            # that is the CRC's low byte long): short.
            return "short", (
                f"the answer was cut short: it is the request itself, echoed back ({shown}). "
                "Is something on the line echoing (an RS485 adapter with echo on, a gateway "
                "with nothing behind it)?"
            )
        if len(data) >= 4 and data[0] == expected_unit and data[1] & 0x7F == expected_function:
            size = _rtu_answer_size(data)
            if size is not None and len(data) < size:
                return "short", (
                    f"the answer was cut short: {len(data)} of {size} bytes arrived ({shown})"
                )
            frame = data[: size or len(data)]
            crc = int.from_bytes(frame[-2:], "big")
            computed = FramerRTU.compute_CRC(frame[:-2])
            if crc != computed:
                return "crc", (
                    f"the answer failed its CRC check (frame says {crc:04X}, "
                    f"content gives {computed:04X}): {shown}"
                )
            return "garbled", f"the answer could not be decoded: {shown}"
        if len(data) < 4 and data[:1] == bytes([expected_unit or 0]):
            return "short", f"only {len(data)} bytes of an answer arrived ({shown})"
        return "garbled", f"received bytes that are not an answer to this request: {shown}"


def _looks_like_mbap(data: bytes) -> bool:
    """A Modbus TCP frame: protocol id 0, and a length field that counts the rest exactly."""
    return (
        len(data) >= 8 and data[2:4] == b"\x00\x00" and int.from_bytes(data[4:6]) == len(data) - 6
    )


def _looks_like_rtu(data: bytes) -> bool:
    """A whole Modbus RTU frame: a size its header announces, and a CRC that holds."""
    if len(data) < 5:
        return False
    size = _rtu_answer_size(data)
    if size is None or size != len(data):
        return False
    return int.from_bytes(data[-2:], "big") == FramerRTU.compute_CRC(data[:-2])


def _rtu_answer_size(data: bytes) -> int | None:
    """The full RTU frame size an answer's header announces (None if unknown)."""
    function = data[1]
    if function & 0x80:
        return 5
    if function in (0x01, 0x02, 0x03, 0x04, 0x11):
        return 3 + data[2] + 2 if len(data) > 2 else None
    if function in (0x05, 0x06, 0x0F, 0x10):
        return 8
    return None


class LevitonConnection(ModbusConnection):
    """A modbus-connection pymodbus link with whole 0x11 answers and a packet trace.

    What it changes in the stock link is done by ``modbus_compat``.
    """

    def __init__(self, settings: LinkSettings, **kwargs: Any) -> None:
        super().__init__(settings.params, timeout=settings.timeout, **kwargs)
        self.settings = settings
        self.trace = PacketTrace(settings.framing)
        self._quick: tuple[float, int] | None = None
        self._quick_touched: list[tuple[Any, float]] = []

    async def _create_client(self) -> Any:
        if self.settings.kind != "rtu+tcp":
            client = await super()._create_client()
            modbus_compat.prepare_client(client, self.trace)
            self._apply_quick(client)
            return client
        address = self.settings.params
        assert isinstance(address, ModbusSerialParams)
        host, _, port = address.device.removeprefix("socket://").rpartition(":")
        client = modbus_compat.rtu_over_tcp_client(
            host.strip("[]"),
            int(port),
            timeout=self.settings.timeout,
            trace_connect=self._on_trace_connect,
            trace_packet=self.trace,
        )
        modbus_compat.prepare_client(client, self.trace)
        self._apply_quick(client)
        try:
            connected = await client.connect()
        except (ModbusException, OSError) as err:
            client.close()
            raise ModbusConnectionError(f"could not connect to {host}:{port} ({err})") from err
        if not connected:
            client.close()
            raise ModbusConnectionError(f"could not connect to {host}:{port}")
        return client

    async def _connect_client(self) -> Any:
        if self.settings.kind == "rtu+tcp":
            return await self._create_client()
        try:
            return await super()._connect_client()
        except _PORT_ERRORS as err:
            # A serial port that refuses its line settings raises termios.error, which
            # modbus-connection does not map; it is a failure to open the link like any other.
            raise ModbusConnectionError(
                f"could not open serial port {self.settings.url}: {err}"
            ) from err

    @contextlib.contextmanager
    def quick_answers(self, seconds: float, *, silent_ids: int = 0) -> Iterator[None]:
        """Wait at most ``seconds`` for each answer while the block runs (a bus scan), and
        let ``silent_ids`` unanswered requests in a row pass without dropping the link. A link
        opened again during the block (after a failed request on an RTU link) gets the same."""
        self._quick = (seconds, silent_ids)
        if (client := modbus_compat.live_client(self)) is not None:
            self._apply_quick(client)
        try:
            yield
        finally:
            self._quick = None
            touched, self._quick_touched = self._quick_touched, []
            for client, own in touched:
                modbus_compat.set_request_timeout(client, own)
                if silent_ids:
                    modbus_compat.tolerate_silence(client, 3)

    def _apply_quick(self, client: Any) -> None:
        if self._quick is None:
            return
        seconds, silent_ids = self._quick
        own = modbus_compat.set_request_timeout(client, min(seconds, self.settings.timeout))
        if own is not None:
            self._quick_touched.append((client, own))
        if silent_ids:
            modbus_compat.tolerate_silence(client, silent_ids)


def open_connection(url: str | LinkSettings) -> LevitonConnection:
    """Create (but do not yet open) the link for a connection URL."""
    settings = url if isinstance(url, LinkSettings) else parse_url(url)
    return LevitonConnection(settings)

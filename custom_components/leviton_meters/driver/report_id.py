"""The answer to function 0x11 (report server id): parsed tolerantly, and built for the simulator.

Source: Leviton "Series 1000/2000 Meters" installation guide, section 2.5.3 (the 0x11 "Report
Slave Information" example). The manual does not show the separators of the answer's tail and
labels its fields both ASCII and binary; every reading is accepted, as documented below.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

from .errors import ConfigurationError

__all__ = [
    "LEVITON_DEVICE_ID",
    "RUN_STATUS_ON",
    "ReportedIdentity",
    "encode_report_server_id",
    "parse_report_server_id",
]

_FN_RE: Final = re.compile(rb"(?<![A-Za-z])[fF][nN]")
_VERSION_LIKE_RE: Final = re.compile(r"V\s*\d|\d+\.\d", re.IGNORECASE)

#: The answer data of a Series 1000/2000 meter starts with these two bytes (manual 2.5.3).
LEVITON_DEVICE_ID: Final = 0x31
RUN_STATUS_ON: Final = 0xFF
_RUN_STATUSES: Final = (0x00, 0xFF)


@dataclass(frozen=True, kw_only=True)
class ReportedIdentity:
    """What a meter said about itself in its 0x11 answer; None where it did not say."""

    raw: bytes
    """The answer data exactly as given to the parser."""
    device_id: int | None
    """First byte of the answer (0x31 for Leviton), None when a gateway stripped it."""
    run_status: int | None
    """Run indicator status (0xFF = on), None when stripped."""
    manufacturer: str | None
    model: str | None
    hardware_version: str | None
    software_version: str | None
    program_id: int | None
    """The "fn" program number, which Leviton correlates with the label's serial number."""
    demand_reset_count: int | None
    complete: bool
    """False when the answer looked truncated (a byte count said so, or parts were missing)."""

    @property
    def is_leviton(self) -> bool:
        """True when the manufacturer text starts with "Leviton" (any case)."""
        return self.manufacturer is not None and self.manufacturer.lower().startswith("leviton")


_TRAILERS: Final = b"\x00 \t\r\n,;"
_LEADERS: Final = b" \t:,;=#"
_ASCII_TAIL_RE: Final = re.compile(rb"\d+(?:[ \t,;:/=-]+\d+)*")
_DIGITS_RE: Final = re.compile(rb"\d+")
_VERSION_NUMBER_RE: Final = re.compile(r"\d+(?:\.\d+)*")
#: pymodbus (and libraries like it) read the last byte of a 0x11 answer as the run status,
#: which drops the last character of Leviton's answer. Without a byte count the only trace
#: of that is a 7-digit unseparated "fn" field where the manual's example has 8.
_FULL_ASCII_TAIL_DIGITS: Final = 8
_PROGRAM_DIGITS: Final = 5
_COUNTER_DIGITS: Final = 3


def _has_header(data: bytes) -> bool:
    """Tell whether data starts with a device id and a run status (0x00 or 0xFF)."""
    return len(data) >= 2 and data[1] in _RUN_STATUSES


def _starts_leviton(data: bytes) -> bool:
    """Tell whether data starts with the manufacturer text Leviton puts first."""
    return data[:7].lower() == b"leviton"


def _first_byte_is_count(raw: bytes) -> bool:
    """Tell whether the first byte of a headerless answer is a Modbus byte count.

    Text is printable, so a non-printable first byte is a count. A printable one is a count
    only if it equals the length of the rest, unless the answer itself starts with
    "Leviton" (a 77-byte answer starting with "L" = 76 would otherwise lose its first letter).
    """
    if not raw:
        return False
    first = raw[0]
    if not 0x20 <= first <= 0x7E:
        return True
    if _starts_leviton(raw) and not _starts_leviton(raw[1:]):
        return False
    return first == len(raw) - 1


def _parse_head(head: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """Read manufacturer, model, hardware and software version from the text before "fn".

    The manual's example is "Leviton 2N208-021, V3.2-V3.2," and its byte column says
    "Leviton, Model number, hardware version-software version,": both comma layouts are
    read, and so is one with no commas. Versions may be "V3.2-V3.2", "V3.2 - V3.2", "3.2/3.2"
    or a single one; a single version is taken as the hardware version because that is the
    first position of the manual's layout. Text that is not printable ASCII gives all None.

    Other makers' devices put the run status last (pymodbus's own server answers
    "Pymodbus" then 0xFF): a trailing run-status byte is not part of the text, so such an
    answer still names its maker and is refused for it.
    """
    stripped = head.strip(_TRAILERS)
    if stripped[-1:] == bytes([RUN_STATUS_ON]):
        stripped = stripped[:-1].strip(_TRAILERS)
    if not stripped or any(not 0x20 <= byte <= 0x7E for byte in stripped):
        return None, None, None, None
    fields = [field.strip() for field in stripped.decode("ascii").split(",") if field.strip()]
    words = fields[0].split()
    manufacturer = words[0]
    rest = words[1:]
    version_text: str | None = None
    at = next((i for i, word in enumerate(rest) if _VERSION_LIKE_RE.match(word)), None)
    if at is not None:
        model = " ".join(rest[:at]) or None
        version_text = " ".join(rest[at:])
    else:
        model = " ".join(rest) or None
        remaining = fields[1:]
        if model is None and remaining and not _VERSION_LIKE_RE.match(remaining[0]):
            model, remaining = remaining[0], remaining[1:]
        if remaining and _VERSION_LIKE_RE.match(remaining[0]):
            version_text = remaining[0]
    versions: list[str] = _VERSION_NUMBER_RE.findall(version_text) if version_text else []
    hardware = versions[0] if versions else None
    software = versions[1] if len(versions) > 1 else None
    return manufacturer, model, hardware, software


def _parse_ascii_tail(
    text: bytes, terminated: bool, missing: int | None
) -> tuple[int | None, int | None, bool]:
    """Read program and counter written as ASCII digits; return (program, counter, truncated).

    With separators the first group is the program and the second the counter. Without,
    the counter is the last 3 digits (the example's "001") and the program the rest, except
    that an unterminated 7-digit field with no byte count is read as the manual's 8-digit
    field with its last byte dropped (program = first 5 digits, counter unknown): a
    4-digit program gives the same bytes, and is the rarer case (16-bit program numbers such
    as the manual's 45678 and 65535). A counter group shorter than 3 digits at the very end
    of an answer without a byte count is likewise taken as cut off.
    """
    groups: list[bytes] = _DIGITS_RE.findall(text)
    lost = 0 if terminated or missing is None else missing
    cut_at_end = lost > 0
    suspect_at_end = missing is None and not terminated
    if len(groups) == 1:
        digits = groups[0]
        count = len(digits)
        if cut_at_end:
            program_len = count + lost - _COUNTER_DIGITS
            program = int(digits[:program_len]) if 1 <= program_len <= count else None
            return program, None, True
        if suspect_at_end and count == _FULL_ASCII_TAIL_DIGITS - 1:
            return int(digits[:_PROGRAM_DIGITS]), None, True
        if count <= _COUNTER_DIGITS:
            return None, None, True
        return int(digits[:-_COUNTER_DIGITS]), int(digits[-_COUNTER_DIGITS:]), bool(missing)
    program = int(groups[0])
    counter_digits = groups[1]
    if cut_at_end or (suspect_at_end and len(counter_digits) < _COUNTER_DIGITS):
        return program, None, True
    return program, int(counter_digits), bool(missing)


def _parse_binary_tail(tail: bytes, missing: int | None) -> tuple[int | None, int | None, bool]:
    """Read a binary program (2 bytes, big-endian) and counter (1 or 2 bytes).

    Three bytes are program + 1-byte counter; four are program + 2-byte counter (so a 1-byte
    counter followed by a NUL reads as a 2-byte counter: the bytes cannot tell). Two bytes
    are a program whose counter was cut off. Longer tails lose trailing NUL/CR/LF/space
    padding down to three bytes; if still longer, only the program is read.
    """
    data = tail
    while len(data) > 3 and data[-1:] in (b"\x00", b"\r", b"\n", b" "):
        data = data[:-1]
    if len(data) < 2:
        return None, None, True
    program = int.from_bytes(data[:2], "big")
    if len(data) == 2 or missing:
        return program, None, True
    if len(data) == 3:
        return program, data[2], False
    if len(data) == 4:
        return program, int.from_bytes(data[2:4], "big"), False
    return program, None, False


def _parse_tail(tail: bytes, missing: int | None) -> tuple[int | None, int | None, bool]:
    """Read what follows "fn"; return (program, counter, truncated).

    The manual labels both fields "ASCII" in one column and shows "0x????"/"0x??" in
    another, without separators. ASCII digits (with or without separators) are preferred;
    a 2-4 byte tail whose ASCII reading is incomplete is read as binary instead (so a binary
    program whose bytes look like digits, e.g. b"456", still reads as binary), and so is
    anything that is not digits and separators. A 4-byte all-digit tail stays ASCII: the
    bytes alone cannot tell. Three or four NULs are a binary program 0 with counter 0.
    """
    stripped = tail.rstrip(_TRAILERS)
    terminated = len(stripped) < len(tail)
    text = stripped.lstrip(_LEADERS)
    binary_sized = 2 <= len(tail) <= 4
    if text and _ASCII_TAIL_RE.fullmatch(text):
        program, counter, truncated = _parse_ascii_tail(text, terminated, missing)
        if not binary_sized or not truncated:
            return program, counter, truncated
        return _parse_binary_tail(tail, missing)
    if not text and not (len(tail) in (3, 4) and not tail.strip(b"\x00")):
        return None, None, True
    return _parse_binary_tail(tail, missing)


def parse_report_server_id(data: bytes | bytearray | memoryview) -> ReportedIdentity:
    """Parse the data of a 0x11 (report server id) answer; never raises.

    Accepts the data with or without a leading byte count, with or without the device id and
    run status (some gateways strip them), and with its last byte missing (pymodbus reads the
    last byte as the run status). Garbage gives None fields.
    """
    raw = bytes(data)
    body = raw
    count: int | None = None
    # Without a header first, either the header follows a byte count, or it was stripped.
    if not _has_header(raw) and (
        (len(raw) >= 3 and _has_header(raw[1:])) or _first_byte_is_count(raw)
    ):
        count, body = raw[0], raw[1:]
    missing: int | None = None
    if count is not None:
        body = body[:count]  # bytes beyond the count (a CRC, padding) are not the answer's
        missing = count - len(body)
    device_id: int | None = None
    run_status: int | None = None
    if _has_header(body):
        device_id, run_status, body = body[0], body[1], body[2:]

    fn = _FN_RE.search(body)
    program: int | None = None
    counter: int | None = None
    truncated = bool(missing)
    if fn is not None:
        head = body[: fn.start()]
        program, counter, tail_truncated = _parse_tail(body[fn.end() :], missing)
        truncated = truncated or tail_truncated
    else:
        head = body
        trimmed = body.rstrip(_TRAILERS)
        if trimmed[-1:] in (b"f", b"F") and not trimmed[-2:-1].isalpha():
            head = trimmed[:-1]  # "fn" itself was cut after its "f"
            truncated = True
    manufacturer, model, hardware, software = _parse_head(head)
    if fn is None and manufacturer is not None and manufacturer.lower().startswith("leviton"):
        truncated = True  # a Leviton answer always carries "fn" and the two numbers
    return ReportedIdentity(
        raw=raw,
        device_id=device_id,
        run_status=run_status,
        manufacturer=manufacturer,
        model=model,
        hardware_version=hardware,
        software_version=software,
        program_id=program,
        demand_reset_count=counter,
        complete=not truncated,
    )


_ENCODE_STYLES: Final = ("ascii", "spaced", "binary")


def _clean_version(value: str, what: str) -> str:
    """Check a version for the answer text ("3.2" or "V3.2" -> "3.2")."""
    version = value.strip()
    if version[:1] in ("V", "v"):
        version = version[1:]
    if not re.fullmatch(r"\d+(?:\.\d+)*", version):
        raise ConfigurationError(f"{what} version {value!r} is not digits and dots like 3.2")
    return version


def encode_report_server_id(
    *,
    model: str,
    hardware_version: str,
    software_version: str,
    program_id: int,
    demand_reset_count: int,
    style: str = "ascii",
) -> bytes:
    """Build the answer data a Series 1000/2000 meter gives to 0x11, for the simulator.

    The data starts with 0x31 0xFF and has no byte count. Styles:

    * "ascii": the manual's layout ``Leviton <model>, V<hw>-V<sw>,fn<program><counter>``
      with no separators. The program is zero-padded to 5 digits (as wide as a 16-bit
      register prints; identical to the manual's 45678) and the counter to 3, so the parser
      can split the digits and never mistakes the answer for a truncated one; counters
      above 999 do not fit the 3 digits and are refused.
    * "spaced": ``...,fn <program> <counter:03d>``.
    * "binary": "fn", a 2-byte big-endian program (<= 65535) and a 1-byte counter; a counter
      above 255 is sent as 2 bytes (the parser's other binary layout) rather than refused,
      so a long-running simulator keeps answering.

    Raises ``ConfigurationError`` for values the chosen style cannot carry.
    """
    text = model.strip()
    if (
        not text
        or not re.fullmatch(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*", text)
        or "," in text
        or _FN_RE.search(text.encode("ascii"))
        or any(_VERSION_LIKE_RE.match(word) for word in text.split())
    ):
        raise ConfigurationError(
            f"model {model!r} cannot be carried in a 0x11 answer (printable ASCII, no comma, "
            "no 'fn', no version-like word)"
        )
    hardware = _clean_version(hardware_version, "hardware")
    software = _clean_version(software_version, "software")
    if program_id < 0 or demand_reset_count < 0:
        raise ConfigurationError("program id and demand reset count cannot be negative")
    head = f"Leviton {text}, V{hardware}-V{software},fn".encode("ascii")
    if style == "ascii":
        if demand_reset_count > 999:
            raise ConfigurationError(
                f"demand reset count {demand_reset_count} does not fit the 3 digits of the "
                "'ascii' style; use 'spaced'"
            )
        tail = f"{program_id:05d}{demand_reset_count:03d}".encode("ascii")
    elif style == "spaced":
        tail = f" {program_id} {demand_reset_count:03d}".encode("ascii")
    elif style == "binary":
        if program_id > 0xFFFF or demand_reset_count > 0xFFFF:
            raise ConfigurationError(
                f"program id {program_id} / demand reset count {demand_reset_count} do not fit "
                "the 'binary' style (2 bytes each at most); use 'ascii' or 'spaced'"
            )
        layout = ">HB" if demand_reset_count <= 0xFF else ">HH"
        tail = struct.pack(layout, program_id, demand_reset_count)
    else:
        raise ConfigurationError(f"style {style!r} is not one of {', '.join(_ENCODE_STYLES)}")
    return bytes((LEVITON_DEVICE_ID, RUN_STATUS_ON)) + head + tail

"""Meter identity: Leviton model numbers and the function 0x11 (report server id) answer.

Both are decoded here, from text alone, so that discovery, diagnostics and the simulator agree
on what a meter is. Sources:

* Leviton "Series 1000/2000 Meters" installation guide, section 2.1 "Model Number Description"
  (three formats) and section 2.5.3 (the 0x11 "Report Slave Information" example).
* Leviton "Series 8000" installation guide, the CT wiring tables (Tables 1-6), whose titles
  list the model numbers and whose rows show that the three-digit suffix is two digits of
  metering points then one digit of CTs per point (-083 = 8 points x 3 CTs).

The manuals leave several things open; every resolution is written next to the code that
makes it, and the choice is always the one that accepts every reasonable reading.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

from .errors import ConfigurationError

__all__ = [
    "FORMAT_INTERIM",
    "FORMAT_NEW",
    "FORMAT_ORIGINAL",
    "FORMAT_SERIES_8000",
    "ModelInfo",
    "ReportedIdentity",
    "decode_model",
    "encode_report_server_id",
    "parse_report_server_id",
    "series_from_model",
]

FORMAT_ORIGINAL: Final = "original"
"""Series 1000/2000 numbers from before 03/2009 ("BL...")."""
FORMAT_INTERIM: Final = "interim"
"""Series 1000/2000 numbers from 03/2009 to 07/2011 ("S1..."/"S2...")."""
FORMAT_NEW: Final = "new"
"""Series 1000/2000 numbers from after 07/2011 ("2N208-021")."""
FORMAT_SERIES_8000: Final = "series8000"
"""Series 8000 numbers ("S8UTS-083")."""


# ---------------------------------------------------------------------------------------------
# Part A: model numbers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What a model number says about a meter; ``None`` wherever the number does not say."""

    model: str
    """The number as given, stripped and upper-cased (separators kept)."""
    format: str
    """``"original"``, ``"interim"``, ``"new"`` or ``"series8000"``."""
    series: str | None
    """``"1000"``, ``"2000"`` or ``"8000"``."""
    voltage: str | None
    """Rated-voltage field as printed: ``"120"``, ``"208"``, ``"24G"``..."""
    voltage_configuration: str | None
    """The wiring the voltage field stands for, in words."""
    ct_rating_amps: int | None
    """CT primary current in amps (``None`` for alternate/custom CTs and for Series 8000)."""
    ct_description: str | None
    """CT ratio such as ``"200:0.1"``, or ``"alternate"`` / ``"custom"``."""
    enclosure: str | None
    """Enclosure in words (interim and new formats only)."""
    demand: bool | None
    """True: demand option present; False: the number says no demand; None: it does not say."""
    options: tuple[str, ...]
    """Every other option decoded into words ("grounded delta", "split core CTs"...)."""
    points: int | None = None
    """Series 8000: number of metering points."""
    cts_per_point: int | None = None
    """Series 8000: CTs per metering point (1 to 3)."""
    capacity: int | None = None
    """Interim format: the enclosure's maximum number of meters."""
    installed_meters: int | None = None
    """Interim format: the number of meters installed in the enclosure."""


_FORMATS_HELP: Final = (
    "expected a Series 1000/2000 model number in one of its three formats: "
    "original (before 03/2009: 'BL' + wires digit + voltage + CT ratio + GL/SP/SO/PKG, "
    "e.g. BL3208200SPPKG), "
    "interim (03/2009 to 07/2011: 'S1'/'S2' + voltage + enclosure letter + capacity + "
    "installed meters + CT code + option code, e.g. S2208L42021-00), "
    "new (after 07/2011: e.g. 2N208-021 or 1N120-01D); "
    "or a Series 8000 model number such as S8UTS-083"
)


def _model_error(text: str, reason: str) -> ConfigurationError:
    """Build the one error every decoding failure raises, naming the input and the formats."""
    return ConfigurationError(f"cannot decode model number {text!r}: {reason}; {_FORMATS_HELP}")


def _digits_and_cuts(spaced: str) -> tuple[str, frozenset[int]]:
    """Drop separators from a run of digits, remembering where they were.

    A separator the user typed is evidence of a field boundary, so it is used to choose
    between readings that the bare digits leave open.
    """
    digits: list[str] = []
    cuts: set[int] = set()
    pending = False
    for char in spaced:
        if char.isdigit():
            if pending and digits:
                cuts.add(len(digits))
            digits.append(char)
            pending = False
        else:
            pending = True
    return "".join(digits), frozenset(cuts)


# --- original format (before 03/2009) ---------------------------------------------------------

#: Valid rated voltages per wires digit, with the wiring they stand for. The wires digit only
#: appears on Series 1000 meters; no digit means a Series 2000 3-phase 4-wire meter. Voltages
#: are line to neutral for 1-phase 2-wire meters, otherwise line to line (manual, 2.1).
_ORIGINAL_VOLTAGES: Final[dict[str | None, dict[str, str]]] = {
    "2": {
        "120": "1 phase, 2 wire; 120 VAC",
        "277": "1 phase, 2 wire; 277 VAC",
    },
    "3": {
        "208": "1 or 2 phase, 3 wire; 120/208 VAC",
        "240": "1 or 2 phase, 3 wire; 120/240 VAC",
        "480": "1 or 2 phase, 3 wire; 277/480 VAC",
    },
    None: {
        "208": "3 phase, 4 wire; 120/208 VAC",
        "480": "3 phase, 4 wire; 277/480 VAC",
        "600": "3 phase, 4 wire; 347/600 VAC",
    },
}
_ORIGINAL_CT_RATIOS: Final = frozenset({"100", "200", "400", "600", "800", "1200"})
_ORIGINAL_TOKENS: Final = ("PKG", "GL", "SP", "SO")
_ORIGINAL_RE: Final = re.compile(r"BL(?P<digits>[\d\s-]*\d)(?P<letters>[A-Z\s-]*)")


def _decode_original(text: str, norm: str) -> ModelInfo:
    """Decode "BL" + [wires] + voltage + CT ratio + GL/SP/SO/PKG.

    The manual's figure did not survive into the text, so separators and the order of the
    letter suffixes are unknown: '-' or spaces may separate any fields, and GL, SP, SO and PKG
    may come in any order after the digits. PKG is accepted and ignored (every meter has it).

    "BL2..." and "BL3..." are ambiguous: the 2 or 3 is either the wires digit or the start of
    the voltage (BL208...). Both readings are tried, and a reading is kept only if its voltage
    is valid for its wiring (wires 2: 120/277; wires 3: 208/240/480; none: 208/480/600), its CT
    ratio is one of the six, and any separators typed fall on its field boundaries. With these
    sets the two readings never both pass; if they ever did, the reading with a wires digit
    wins (the manual lists the wires field first).
    """
    match = _ORIGINAL_RE.fullmatch(norm)
    if match is None:
        raise _model_error(text, "after 'BL' expected digits then GL/SP/SO/PKG")
    digits, cuts = _digits_and_cuts(match["digits"])

    readings: list[tuple[str | None, str, str, frozenset[int]]] = []
    if digits[0] in "23":
        readings.append((digits[0], digits[1:4], digits[4:], frozenset({1, 4})))
    readings.append((None, digits[:3], digits[3:], frozenset({3})))
    valid = [
        (wires, voltage, ratio)
        for wires, voltage, ratio, boundaries in readings
        if voltage in _ORIGINAL_VOLTAGES[wires]
        and ratio in _ORIGINAL_CT_RATIOS
        and cuts <= boundaries
    ]
    if not valid:
        raise _model_error(
            text,
            f"the digits {digits!r} are not an optional wires digit (2 or 3), a voltage valid "
            "for it (2: 120/277; 3: 208/240/480; none: 208/480/600) and a CT ratio "
            "(100, 200, 400, 600, 800, 1200)",
        )
    wires, voltage, ratio = valid[0]

    tokens: set[str] = set()
    letters = re.sub(r"[\s-]+", "", match["letters"])
    while letters:
        token = next((t for t in _ORIGINAL_TOKENS if letters.startswith(t)), None)
        if token is None:
            raise _model_error(text, f"unknown suffix {letters!r} (expected GL, SP, SO, PKG)")
        tokens.add(token)
        letters = letters[len(token) :]
    if {"SP", "SO"} <= tokens:
        raise _model_error(text, "it names both split core (SP) and solid core (SO) CTs")

    configuration = _ORIGINAL_VOLTAGES[wires][voltage]
    options: list[str] = []
    if "GL" in tokens:
        # "GL - 4-wire Grounded Delta"; Table 2 calls it "3 Phase, 4 Wire Grounded Delta".
        if wires is None:
            configuration = f"3 phase, 4 wire grounded delta; {voltage} V line to line"
        else:
            configuration = f"{configuration}; 4 wire grounded delta"
        options.append("grounded delta")
    if "SP" in tokens:
        options.append("split core CTs")
    if "SO" in tokens:
        options.append("solid core CTs")
    return ModelInfo(
        model=norm,
        format=FORMAT_ORIGINAL,
        series="1000" if wires is not None else "2000",
        voltage=voltage,
        voltage_configuration=configuration,
        ct_rating_amps=int(ratio),
        ct_description=f"{ratio}:0.1",
        enclosure=None,
        demand=None,
        options=tuple(options),
    )


# --- interim format (03/2009 to 07/2011) ------------------------------------------------------

_INTERIM_VOLTAGES: Final[dict[str, dict[str, str]]] = {
    "1": {
        "120": "1 phase, 2 wire; 120 VAC",
        "277": "1 phase, 2 wire; 277 VAC",
        "208": "1 or 2 phase, 3 wire; 120/208 VAC",
        "240": "1 or 2 phase, 3 wire; 120/240 VAC",
        "480": "1 or 2 phase, 3 wire; 277/480 VAC",
    },
    "2": {
        "208": "3 phase, 4 wire; 120/208 VAC",
        "480": "3 phase, 4 wire; 277/480 VAC",
        "600": "3 phase, 4 wire; 347/600 VAC",
    },
}
_ENCLOSURES: Final[dict[str, str]] = {
    "X": "extra large",
    "S": "small outdoor",
    "L": "large",
    "R": "small outdoor with clear lid",
    "M": "medium",
    "N": "indoor surface mount",
}
_INTERIM_CT_CODES: Final[dict[str, tuple[int, str]]] = {
    "011": (100, "100:0.1"),
    "021": (200, "200:0.1"),
    "022": (200, "200:0.2"),
    "041": (400, "400:0.1"),
    "061": (600, "600:0.1"),
    "081": (800, "800:0.1"),
    "121": (1200, "1200:0.1"),
}
_INTERIM_RE: Final = re.compile(
    r"S[\s-]*(?P<series>[12])[\s-]*(?P<voltage>\d{3})[\s-]*(?P<enclosure>[XSLRMN])"
    r"(?P<tail>[\d\s-]+)"
)


def _split_capacity(middle: str, cuts: frozenset[int]) -> tuple[int, int]:
    """Split the digits between enclosure letter and CT code into capacity and installed.

    The manual gives neither widths nor separators. A single separator inside these digits
    decides; otherwise the split keeps installed <= capacity where possible, then is as even
    as possible, then gives the extra digit of an odd count to the capacity ("124" -> 12, 4).
    """
    inner = sorted(cut for cut in cuts if 0 < cut < len(middle))
    if len(inner) == 1:
        split = inner[0]
    else:

        def score(k: int) -> tuple[bool, int, int]:
            return (int(middle[k:]) > int(middle[:k]), abs(2 * k - len(middle)), -k)

        split = min(range(1, len(middle)), key=score)
    return int(middle[:split]), int(middle[split:])


def _decode_interim(text: str, norm: str) -> ModelInfo:
    """Decode "S1"/"S2" + voltage + enclosure + capacity + installed + CT code + option.

    The CT code (3 digits) and the option code (2 digits) are taken from the end; what lies
    between the enclosure letter and the CT code is capacity then installed meters (see
    ``_split_capacity``). A rated voltage the manual does not list is kept, with no
    configuration text. Option codes other than 00/01/02 are kept as "option NN" with demand
    unknown: 00/01/02 look like bit flags, so 03 might mean demand plus 3 phase feed, but the
    manual does not say.
    """
    match = _INTERIM_RE.fullmatch(norm)
    if match is None:
        raise _model_error(text, "not an interim number ('S1'/'S2' + 3 digits + enclosure...)")
    series_digit = match["series"]
    voltage = match["voltage"]
    digits, cuts = _digits_and_cuts(match["tail"])
    if len(digits) < 7:
        raise _model_error(
            text,
            "after the enclosure letter expected capacity, installed meters, a 3-digit CT "
            "code and a 2-digit option code (at least 7 digits)",
        )
    middle, ct_code, option_code = digits[:-5], digits[-5:-2], digits[-2:]
    if ct_code not in _INTERIM_CT_CODES:
        raise _model_error(
            text, f"CT code {ct_code!r} is not one of {', '.join(sorted(_INTERIM_CT_CODES))}"
        )
    capacity, installed = _split_capacity(middle, cuts)
    amps, ratio = _INTERIM_CT_CODES[ct_code]

    demand: bool | None
    options: tuple[str, ...]
    if option_code == "00":
        demand, options = False, ()
    elif option_code == "01":
        demand, options = True, ()
    elif option_code == "02":
        demand, options = False, ("3 phase feed",)
    else:
        demand, options = None, (f"option {option_code}",)
    return ModelInfo(
        model=norm,
        format=FORMAT_INTERIM,
        series=f"{series_digit}000",
        voltage=voltage,
        voltage_configuration=_INTERIM_VOLTAGES[series_digit].get(voltage),
        ct_rating_amps=amps,
        ct_description=ratio,
        enclosure=_ENCLOSURES[match["enclosure"]],
        demand=demand,
        options=options,
        capacity=capacity,
        installed_meters=installed,
    )


# --- new format (after 07/2011) ---------------------------------------------------------------

_NEW_VOLTAGES: Final[dict[str, str]] = {
    "120": "1 pole, 2 wire; 120 VAC",
    "208": "3 pole, 4 wire; 120/208 VAC",
    "240": "2 pole, 3 wire; 120/208 or 120/240 VAC",
    "277": "1 pole, 2 wire; 277 VAC",
    "416": "3 pole, 4 wire; 240/416 VAC",
    "24G": "grounded delta, 3 wire; 240 VAC",
    "48G": "grounded delta, 3 wire; 480 VAC",
}
#: The manual's table lists 480 twice; the series digit tells which one a number means.
_NEW_480: Final[dict[str, str]] = {
    "1": "2 pole, 3 wire; 277/480 VAC",
    "2": "3 pole, 4 wire; 277/480 VAC",
}
_NEW_RE: Final = re.compile(
    r"(?P<series>[12])(?P<enclosure>[NR])(?P<voltage>\d\d[\dG])(?P<ct>[\dA-Z]{2})(?P<option>[\dA-Z])"
)


def _decode_new(text: str, norm: str) -> ModelInfo:
    """Decode the eight-character format, e.g. "2N208-021" or "1N120-01D".

    Digits 6-7 are "CT calibration setting in 100's (amps)"; the manual lists 01, 02, 04, 06,
    08, 12, but states the rule, so any 01-99 is read by it. The secondary is not in the
    number; "N:0.1" is reported because the meters ship with 100 mA secondary CTs (manual
    2.2). Digit 8: 1 = none, D = demand, X = custom, any other letter = a variable option.
    """
    match = _NEW_RE.fullmatch(re.sub(r"[\s-]+", "", norm))
    if match is None:
        raise _model_error(
            text,
            "not a new-format number (series 1/2, enclosure N/R, 3-character voltage, "
            "2-character CT code, 1-character option)",
        )
    series_digit, voltage = match["series"], match["voltage"]
    options: list[str] = []
    if voltage == "480":
        configuration = _NEW_480[series_digit]
    elif voltage in _NEW_VOLTAGES:
        configuration = _NEW_VOLTAGES[voltage]
    else:
        raise _model_error(
            text,
            f"voltage code {voltage!r} is not one of 120, 208, 240, 277, 416, 480, 24G, 48G",
        )
    if voltage.endswith("G"):
        options.append("grounded delta")

    ct_code = match["ct"]
    amps: int | None
    if ct_code.isdigit() and ct_code != "00":
        amps = int(ct_code) * 100
        ct_description = f"{amps}:0.1"
    elif ct_code == "AA":
        amps, ct_description = None, "alternate"
    elif ct_code == "ZZ":
        amps, ct_description = None, "custom"
    else:
        raise _model_error(text, f"CT code {ct_code!r} is not 01-99 (hundreds of amps), AA or ZZ")

    option = match["option"]
    demand: bool | None
    if option == "1":
        demand = False
    elif option == "D":
        demand = True
    elif option == "X":
        demand = None
        options.append("custom option")
    elif option.isalpha():
        demand = None
        options.append(f"variable option {option}")
    else:
        raise _model_error(text, f"option {option!r} is not 1 (none), D, X or another letter")
    return ModelInfo(
        model=norm,
        format=FORMAT_NEW,
        series=f"{series_digit}000",
        voltage=voltage,
        voltage_configuration=configuration,
        ct_rating_amps=amps,
        ct_description=ct_description,
        enclosure="indoor" if match["enclosure"] == "N" else "outdoor",
        demand=demand,
        options=tuple(options),
    )


# --- Series 8000 ------------------------------------------------------------------------------

#: Known prefixes: (voltage, options). "277" is the 277 V variant, "S8120" the 120 V one.
#: The guide never expands the "U" of S8UTS/S8UWH; it is read as the 120 V variant because
#: the 277 V ones carry their own prefix (inferred, not stated).
_S8000_PREFIXES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "S8UTS": ("120", ("terminal strip",)),
    "S8UWH": ("120", ("wiring harness",)),
    "277TS": ("277", ("terminal strip",)),
    "277WH": ("277", ("wiring harness",)),
    "S8120": ("120", ()),
}
_S8000_KNOWN_RE: Final = re.compile(
    r"(?P<prefix>S8UTS|S8UWH|277TS|277WH|S8120)(?:-?(?P<suffix>\d{3}))?"
)
_S8000_GENERIC_RE: Final = re.compile(r"(?P<prefix>S8[A-Z0-9]*)(?:-(?P<suffix>\d{3}))?")


def _decode_series_8000(text: str, norm: str) -> ModelInfo:
    """Decode a Series 8000 number: prefix, then '-' and NNC (points, CTs per point).

    Any "S8..." prefix is accepted (only the five in the guide are decoded further; an
    unknown one needs the '-' before the suffix, since its own length is unknown). The suffix
    may be missing ("S8000"). CTs per point must be 1-3: a point is at most three phases.
    """
    compact = re.sub(r"[\s-]+", "-", norm)
    match = _S8000_KNOWN_RE.fullmatch(compact) or _S8000_GENERIC_RE.fullmatch(compact)
    if match is None:
        raise _model_error(text, "not a Series 8000 number (prefix, '-', 3 digits)")
    voltage, options = _S8000_PREFIXES.get(match["prefix"], (None, ()))
    points: int | None = None
    cts: int | None = None
    if match["suffix"] is not None:
        points, cts = int(match["suffix"][:2]), int(match["suffix"][2])
        if points < 1 or not 1 <= cts <= 3:
            raise _model_error(
                text,
                f"suffix {match['suffix']!r} is not 2 digits of metering points (01-99) and "
                "1 digit of CTs per point (1-3)",
            )
    return ModelInfo(
        model=norm,
        format=FORMAT_SERIES_8000,
        series="8000",
        voltage=voltage,
        voltage_configuration=None,
        ct_rating_amps=None,
        ct_description=None,
        enclosure=None,
        demand=None,
        options=options,
        points=points,
        cts_per_point=cts,
    )


def decode_model(text: str) -> ModelInfo:
    """Decode a Leviton model number of any of the four formats.

    Raises ``ConfigurationError`` naming the text and the formats when nothing fits, so a
    person who typed a model number sees what was expected.
    """
    norm = text.strip().upper()
    if not norm:
        raise _model_error(text, "it is empty")
    if norm.startswith("BL"):
        return _decode_original(text, norm)
    if re.match(r"S8|277(?:TS|WH)", norm):
        return _decode_series_8000(text, norm)
    if re.match(r"S[\s-]*[12]", norm):
        return _decode_interim(text, norm)
    if re.match(r"[12][\s-]*[NR]", norm):
        return _decode_new(text, norm)
    raise _model_error(text, "it starts like none of them")


#: Fallbacks for ``series_from_model`` when a number is incomplete but its start is clear.
_SERIES_PREFIXES: Final = (
    (re.compile(r"S8|277(?:TS|WH)"), "8000"),
    (re.compile(r"S[\s-]*1[\s-]*\d{3}[\s-]*[XSLRMN]"), "1000"),
    (re.compile(r"S[\s-]*2[\s-]*\d{3}[\s-]*[XSLRMN]"), "2000"),
    (re.compile(r"1[\s-]*[NR][\s-]*\d"), "1000"),
    (re.compile(r"2[\s-]*[NR][\s-]*\d"), "2000"),
)


def series_from_model(text: str) -> str | None:
    """Return "1000", "2000" or "8000" for a model number, or None; never raises.

    A number that does not fully decode still gives its series when its start is
    unambiguous (e.g. a truncated "2N208"), because callers use this to pick a driver.
    """
    if not isinstance(text, str):
        return None
    try:
        return decode_model(text).series
    except ConfigurationError:
        pass
    norm = text.strip().upper()
    for pattern, series in _SERIES_PREFIXES:
        if pattern.match(norm):
            return series
    return None


# ---------------------------------------------------------------------------------------------
# Part B: function 0x11 (report server id)
# ---------------------------------------------------------------------------------------------

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
_FN_RE: Final = re.compile(rb"(?<![A-Za-z])[fF][nN]")
_VERSION_LIKE_RE: Final = re.compile(r"V\s*\d|\d+\.\d", re.IGNORECASE)
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
    """
    stripped = head.strip(_TRAILERS)
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

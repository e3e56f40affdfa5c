"""Leviton model numbers, decoded from text alone.

Sources:

* Leviton "Series 1000/2000 Meters" installation guide, section 2.1 "Model Number Description"
  (three formats).
* Leviton "Series 8000" installation guide, the CT wiring tables (Tables 1-6), whose titles
  list the model numbers and whose rows show that the three-digit suffix is two digits of
  metering points then one digit of CTs per point (-083 = 8 points x 3 CTs).

The manual leaves several things open; every resolution is written next to the code that
makes it, and the choice is always the one that accepts every reasonable reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import ConfigurationError
from .model_tables import (
    ENCLOSURES,
    INTERIM_CT_CODES,
    INTERIM_VOLTAGES,
    NEW_480,
    NEW_VOLTAGES,
    ORIGINAL_VOLTAGES,
    S8000_PREFIXES,
)

__all__ = [
    "FORMAT_INTERIM",
    "FORMAT_NEW",
    "FORMAT_ORIGINAL",
    "FORMAT_SERIES_8000",
    "ModelInfo",
    "decode_model",
    "describe_model",
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
        if voltage in ORIGINAL_VOLTAGES[wires]
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

    configuration = ORIGINAL_VOLTAGES[wires][voltage]
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
    if ct_code not in INTERIM_CT_CODES:
        raise _model_error(
            text, f"CT code {ct_code!r} is not one of {', '.join(sorted(INTERIM_CT_CODES))}"
        )
    capacity, installed = _split_capacity(middle, cuts)
    amps, ratio = INTERIM_CT_CODES[ct_code]

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
        voltage_configuration=INTERIM_VOLTAGES[series_digit].get(voltage),
        ct_rating_amps=amps,
        ct_description=ratio,
        enclosure=ENCLOSURES[match["enclosure"]],
        demand=demand,
        options=options,
        capacity=capacity,
        installed_meters=installed,
    )


# --- new format (after 07/2011) ---------------------------------------------------------------

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
        configuration = NEW_480[series_digit]
    elif voltage in NEW_VOLTAGES:
        configuration = NEW_VOLTAGES[voltage]
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
    voltage, options = S8000_PREFIXES.get(match["prefix"], (None, ()))
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


def describe_model(info: ModelInfo | None, points: int | None = None) -> str | None:
    """What a decoded model number says, in words ("new model-number format, 3 pole, 4 wire;
    120/208 VAC, 200 A CTs, ..."); ``points``: the meter's own point count, so that a model
    number saying the same is not repeated."""
    if info is None:
        return None
    if info.series == "8000":
        words = []
        if info.points and info.points != points:
            words.append(f"{info.points} metering points")
        if info.cts_per_point:
            words.append(
                f"{info.cts_per_point} CT{'s' if info.cts_per_point > 1 else ''} per point"
            )
        if info.voltage:
            words.append(f"{info.voltage} V")
        words.extend(info.options)
        return ", ".join(words) or None
    words = [f"{info.format} model-number format"]
    if info.voltage_configuration:
        words.append(info.voltage_configuration)
    if info.ct_rating_amps:
        words.append(f"{info.ct_rating_amps} A CTs")
    elif info.ct_description:
        words.append(f"CTs: {info.ct_description}")
    if info.enclosure:
        words.append(f"{info.enclosure} enclosure")
    if info.demand is True:
        words.append("demand option")
    elif info.demand is False:
        words.append("no demand option")
    words.extend(info.options)
    return ", ".join(words)

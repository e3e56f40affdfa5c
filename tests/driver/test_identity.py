"""Tests of model-number decoding and of the function 0x11 (report server id) answer.

Expected values come from the Series 1000/2000 manual (section 2.1, the 0x11 example in
2.5.3) and the Series 8000 guide (CT tables 1-6).
"""

from __future__ import annotations

import random
import struct

import pytest

from leviton_driver.errors import ConfigurationError
from leviton_driver.model_numbers import (
    FORMAT_INTERIM,
    FORMAT_NEW,
    FORMAT_ORIGINAL,
    FORMAT_SERIES_8000,
    ModelInfo,
    decode_model,
    series_from_model,
)
from leviton_driver.report_id import (
    ReportedIdentity,
    encode_report_server_id,
    parse_report_server_id,
)

# ---------------------------------------------------------------------------------------------
# Model numbers: new format (after 07/2011)
# ---------------------------------------------------------------------------------------------


def test_new_format_manual_0x11_example() -> None:
    info = decode_model("2N208-021")
    assert info == ModelInfo(
        model="2N208-021",
        format=FORMAT_NEW,
        series="2000",
        voltage="208",
        voltage_configuration="3 pole, 4 wire; 120/208 VAC",
        ct_rating_amps=200,
        ct_description="200:0.1",
        enclosure="indoor",
        demand=False,
        options=(),
    )


def test_new_format_demand_example() -> None:
    info = decode_model("1N120-01D")
    assert info.format == FORMAT_NEW
    assert info.series == "1000"
    assert info.enclosure == "indoor"
    assert info.voltage == "120"
    assert info.voltage_configuration == "1 pole, 2 wire; 120 VAC"
    assert info.ct_rating_amps == 100
    assert info.ct_description == "100:0.1"
    assert info.demand is True
    assert info.options == ()


def test_new_format_is_normalised_and_separator_optional() -> None:
    info = decode_model("  2n208021 ")
    assert info.model == "2N208021"
    assert info.series == "2000"
    assert info.ct_rating_amps == 200
    assert decode_model("2N 208 02 1").ct_rating_amps == 200


@pytest.mark.parametrize(
    ("number", "configuration"),
    [
        ("1N120-011", "1 pole, 2 wire; 120 VAC"),
        ("2N208-011", "3 pole, 4 wire; 120/208 VAC"),
        ("1N240-011", "2 pole, 3 wire; 120/208 or 120/240 VAC"),
        ("1N277-011", "1 pole, 2 wire; 277 VAC"),
        ("2N416-011", "3 pole, 4 wire; 240/416 VAC"),
        # The manual lists 480 twice; the series digit picks the reading.
        ("1N480-011", "2 pole, 3 wire; 277/480 VAC"),
        ("2N480-011", "3 pole, 4 wire; 277/480 VAC"),
        ("2N24G-011", "grounded delta, 3 wire; 240 VAC"),
        ("2N48G-011", "grounded delta, 3 wire; 480 VAC"),
    ],
)
def test_new_format_voltage_codes(number: str, configuration: str) -> None:
    info = decode_model(number)
    assert info.voltage == number[2:5]
    assert info.voltage_configuration == configuration
    assert ("grounded delta" in info.options) == number[4].endswith("G")


@pytest.mark.parametrize(
    ("code", "amps"),
    [("01", 100), ("02", 200), ("04", 400), ("06", 600), ("08", 800), ("12", 1200)],
)
def test_new_format_ct_codes(code: str, amps: int) -> None:
    info = decode_model(f"2R208-{code}1")
    assert info.ct_rating_amps == amps
    assert info.ct_description == f"{amps}:0.1"
    assert info.enclosure == "outdoor"


def test_new_format_alternate_and_custom_cts() -> None:
    alternate = decode_model("2N208-AA1")
    assert alternate.ct_rating_amps is None
    assert alternate.ct_description == "alternate"
    custom = decode_model("2N208-ZZ1")
    assert custom.ct_rating_amps is None
    assert custom.ct_description == "custom"


def test_new_format_option_codes() -> None:
    assert decode_model("2N208-021").demand is False
    assert decode_model("2N208-02D").demand is True
    custom = decode_model("2N208-02X")
    assert custom.demand is None
    assert custom.options == ("custom option",)
    variable = decode_model("2N208-02Q")
    assert variable.demand is None
    assert variable.options == ("variable option Q",)


# ---------------------------------------------------------------------------------------------
# Model numbers: interim format (03/2009 to 07/2011)
# ---------------------------------------------------------------------------------------------


def test_interim_format_full_decode() -> None:
    info = decode_model("S2208L42021-00")
    assert info == ModelInfo(
        model="S2208L42021-00",
        format=FORMAT_INTERIM,
        series="2000",
        voltage="208",
        voltage_configuration="3 phase, 4 wire; 120/208 VAC",
        ct_rating_amps=200,
        ct_description="200:0.1",
        enclosure="large",
        demand=False,
        options=(),
        capacity=4,
        installed_meters=2,
    )


@pytest.mark.parametrize(
    ("letter", "enclosure"),
    [
        ("X", "extra large"),
        ("S", "small outdoor"),
        ("L", "large"),
        ("R", "small outdoor with clear lid"),
        ("M", "medium"),
        ("N", "indoor surface mount"),
    ],
)
def test_interim_enclosures(letter: str, enclosure: str) -> None:
    assert decode_model(f"S1120{letter}11011-00").enclosure == enclosure


@pytest.mark.parametrize(
    ("code", "amps", "ratio"),
    [
        ("011", 100, "100:0.1"),
        ("021", 200, "200:0.1"),
        ("022", 200, "200:0.2"),
        ("041", 400, "400:0.1"),
        ("061", 600, "600:0.1"),
        ("081", 800, "800:0.1"),
        ("121", 1200, "1200:0.1"),
    ],
)
def test_interim_ct_codes(code: str, amps: int, ratio: str) -> None:
    info = decode_model(f"S2480X84{code}00")
    assert info.ct_rating_amps == amps
    assert info.ct_description == ratio
    assert info.voltage_configuration == "3 phase, 4 wire; 277/480 VAC"


def test_interim_option_codes() -> None:
    none = decode_model("S1120N21011-00")
    assert (none.demand, none.options) == (False, ())
    demand = decode_model("S1120N21011-01")
    assert (demand.demand, demand.options) == (True, ())
    feed = decode_model("S2208N21011-02")
    assert (feed.demand, feed.options) == (False, ("3 phase feed",))
    undocumented = decode_model("S2208N21011-03")
    assert (undocumented.demand, undocumented.options) == (None, ("option 03",))


def test_interim_capacity_split_is_even_and_capacity_first() -> None:
    info = decode_model("S1120M2412041-00")
    assert (info.capacity, info.installed_meters) == (24, 12)
    # Odd digit count: installed <= capacity decides ("124" is 12 of capacity, 4 installed).
    info = decode_model("S1120M124041 00")
    assert (info.capacity, info.installed_meters) == (12, 4)
    # A separator between them decides instead.
    info = decode_model("S2-480-X-24-12-121-02")
    assert (info.capacity, info.installed_meters) == (24, 12)
    info = decode_model("S2-480-X-2-412-121-02")
    assert (info.capacity, info.installed_meters) == (2, 412)


def test_interim_voltage_configurations_per_series() -> None:
    assert decode_model("S1277N21011-00").voltage_configuration == "1 phase, 2 wire; 277 VAC"
    assert (
        decode_model("S1240N21011-00").voltage_configuration == "1 or 2 phase, 3 wire; 120/240 VAC"
    )
    assert decode_model("S2600N21011-00").voltage_configuration == "3 phase, 4 wire; 347/600 VAC"
    # A rated voltage the manual does not list is kept, without configuration text.
    unlisted = decode_model("S2416N21011-00")
    assert unlisted.voltage == "416"
    assert unlisted.voltage_configuration is None


# ---------------------------------------------------------------------------------------------
# Model numbers: original format (before 03/2009)
# ---------------------------------------------------------------------------------------------


def test_original_series_1000_three_wire() -> None:
    info = decode_model("BL3208200SPPKG")
    assert info == ModelInfo(
        model="BL3208200SPPKG",
        format=FORMAT_ORIGINAL,
        series="1000",
        voltage="208",
        voltage_configuration="1 or 2 phase, 3 wire; 120/208 VAC",
        ct_rating_amps=200,
        ct_description="200:0.1",
        enclosure=None,
        demand=None,
        options=("split core CTs",),
    )


def test_original_series_1000_two_wire() -> None:
    info = decode_model("BL2120100SOPKG")
    assert info.series == "1000"
    assert info.voltage == "120"
    assert info.voltage_configuration == "1 phase, 2 wire; 120 VAC"
    assert info.ct_rating_amps == 100
    assert info.options == ("solid core CTs",)


def test_original_series_2000_has_no_wires_digit() -> None:
    # "BL208..." could be wires 2 + voltage "08x"; only the no-wires reading is valid.
    info = decode_model("BL208400SOPKG")
    assert info.series == "2000"
    assert info.voltage == "208"
    assert info.voltage_configuration == "3 phase, 4 wire; 120/208 VAC"
    assert info.ct_rating_amps == 400
    assert decode_model("BL6001200SP").voltage_configuration == "3 phase, 4 wire; 347/600 VAC"
    assert decode_model("BL6001200SP").ct_rating_amps == 1200


@pytest.mark.parametrize(
    ("number", "series", "voltage", "amps"),
    [
        ("BL2277600SP", "1000", "277", 600),  # wires 2 (277 V L-N), not a 227 V meter
        ("BL2120800SO", "1000", "120", 800),
        ("BL3480800", "1000", "480", 800),  # wires 3, not a 348 V meter
        ("BL3240100", "1000", "240", 100),
        ("BL2081200", "2000", "208", 1200),  # no wires: "208"; wires 2 would be "081"
        ("BL480200", "2000", "480", 200),
    ],
)
def test_original_bl_ambiguity(number: str, series: str, voltage: str, amps: int) -> None:
    info = decode_model(number)
    assert (info.series, info.voltage, info.ct_rating_amps) == (series, voltage, amps)


def test_original_grounded_delta_and_suffix_order() -> None:
    info = decode_model("BL208200GLSPPKG")
    assert info.options == ("grounded delta", "split core CTs")
    assert info.voltage_configuration == "3 phase, 4 wire grounded delta; 208 V line to line"
    # Order of the suffix tokens and separators are not known: all are accepted.
    assert decode_model("BL-208-200-PKG-SP-GL").options == ("grounded delta", "split core CTs")
    assert decode_model("bl 208 200 sp gl").options == ("grounded delta", "split core CTs")


def test_original_separators_must_fall_on_field_boundaries() -> None:
    assert decode_model("BL-3-208-200").series == "1000"
    with pytest.raises(ConfigurationError, match="BL320-8200"):
        decode_model("BL320-8200")


@pytest.mark.parametrize(
    "number",
    [
        "BL2208200",  # 208 is not a 1-phase 2-wire voltage
        "BL3120200",  # 120 is not a 3-wire voltage
        "BL208300",  # 300 is not a CT ratio
        "BL208200XX",  # unknown suffix
        "BL208200SPSO",  # both CT types
    ],
)
def test_original_invalid(number: str) -> None:
    with pytest.raises(ConfigurationError, match=number):
        decode_model(number)


# ---------------------------------------------------------------------------------------------
# Model numbers: Series 8000
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "points", "cts", "voltage", "options"),
    [
        # Table 1
        ("S8UTS-083", 8, 3, "120", ("terminal strip",)),
        ("277TS-083", 8, 3, "277", ("terminal strip",)),
        ("S8UWH-083", 8, 3, "120", ("wiring harness",)),
        ("277WH-083", 8, 3, "277", ("wiring harness",)),
        # Table 2
        ("S8120-122", 12, 2, "120", ()),
        ("S8UTS-122", 12, 2, "120", ("terminal strip",)),
        ("S8UWH-122", 12, 2, "120", ("wiring harness",)),
        ("277TS-122", 12, 2, "277", ("terminal strip",)),
        ("277WH-122", 12, 2, "277", ("wiring harness",)),
        # Table 3
        ("S8UTS-241", 24, 1, "120", ("terminal strip",)),
        ("S8UWH-241", 24, 1, "120", ("wiring harness",)),
        ("277TS-241", 24, 1, "277", ("terminal strip",)),
        ("277WH-241", 24, 1, "277", ("wiring harness",)),
        # Tables 4-6
        ("S8120-032", 3, 2, "120", ()),
        ("S8120-062", 6, 2, "120", ()),
        ("S8120-092", 9, 2, "120", ()),
    ],
)
def test_series_8000_numbers(
    number: str, points: int, cts: int, voltage: str, options: tuple[str, ...]
) -> None:
    info = decode_model(number)
    assert info.format == FORMAT_SERIES_8000
    assert info.series == "8000"
    assert (info.points, info.cts_per_point) == (points, cts)
    assert info.voltage == voltage
    assert info.options == options
    assert info.ct_rating_amps is None
    assert info.demand is None


def test_series_8000_generic_and_bare() -> None:
    generic = decode_model("S8ABC-121")
    assert (generic.series, generic.points, generic.cts_per_point) == ("8000", 12, 1)
    assert generic.voltage is None
    bare = decode_model("S8UTS")
    assert (bare.series, bare.points, bare.voltage) == ("8000", None, "120")
    assert decode_model("s8uts 083").points == 8
    assert decode_model("S8UTS083").points == 8


@pytest.mark.parametrize("number", ["S8UTS-084", "S8UTS-080", "S8UTS-003"])
def test_series_8000_invalid_suffix(number: str) -> None:
    with pytest.raises(ConfigurationError, match=number):
        decode_model(number)


# ---------------------------------------------------------------------------------------------
# Model numbers: errors and series_from_model
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "PM5560",
        "3N208-021",
        "2N999-021",
        "2N208-00D",
        "2N208-QQ1",
        "1N120-012",
        "2N208-02",
        "S2208L4202",
        "S2208L42099-00",
        "S2208Q42021-00",
    ],
)
def test_garbage_raises_configuration_error_naming_input(text: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        decode_model(text)
    message = str(excinfo.value)
    assert repr(text) in message
    for hint in ("original", "interim", "new", "Series 8000"):
        assert hint in message
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("text", "series"),
    [
        ("2N208-021", "2000"),
        ("1N120-01D", "1000"),
        ("S1120N21011-01", "1000"),
        ("BL3208200SPPKG", "1000"),
        ("BL480200", "2000"),
        ("S8UTS-083", "8000"),
        ("277WH-241", "8000"),
        ("2N208", "2000"),  # incomplete, but the start says the series
        ("S2208L", "2000"),
        ("", None),
        ("ACME", None),
        ("BL2208200", None),
    ],
)
def test_series_from_model(text: str, series: str | None) -> None:
    assert series_from_model(text) == series


def test_series_from_model_never_raises_on_non_text() -> None:
    assert series_from_model(None) is None  # type: ignore[arg-type]
    assert series_from_model(42) is None  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Function 0x11: the manual's example and its variants
# ---------------------------------------------------------------------------------------------

HEADER = b"\x31\xff"
TEXT = b"Leviton 2N208-021, V3.2-V3.2,"
MANUAL = HEADER + TEXT + b"fn45678001"


def _summary(identity: ReportedIdentity) -> tuple[object, ...]:
    return (
        identity.manufacturer,
        identity.model,
        identity.hardware_version,
        identity.software_version,
        identity.program_id,
        identity.demand_reset_count,
        identity.complete,
    )


FULL = ("Leviton", "2N208-021", "3.2", "3.2", 45678, 1, True)


def test_manual_example_exactly() -> None:
    identity = parse_report_server_id(MANUAL)
    assert identity == ReportedIdentity(
        raw=MANUAL,
        device_id=0x31,
        run_status=0xFF,
        manufacturer="Leviton",
        model="2N208-021",
        hardware_version="3.2",
        software_version="3.2",
        program_id=45678,
        demand_reset_count=1,
        complete=True,
    )
    assert identity.is_leviton
    assert decode_model(identity.model or "").series == "2000"


@pytest.mark.parametrize(
    "tail",
    [
        b"fn45678001",
        b"fn 45678 001",
        b"fn45678,001",
        b"fn45678 001",
        b"fn:45678:001",
        b"fn45678001\x00\x00",
        b"fn45678001  ",
        b"fn45678001,",
        b"fn45678001\r\n",
        b"fn 45678 001\r\n\x00",
        b"fn\xb2\x6e\x01",  # binary: 2-byte program, 1-byte counter
        b"fn\xb2\x6e\x00\x01",  # binary: 2-byte counter
    ],
)
def test_tail_variants(tail: bytes) -> None:
    identity = parse_report_server_id(HEADER + TEXT + tail)
    assert _summary(identity) == FULL
    assert (identity.device_id, identity.run_status) == (0x31, 0xFF)


def test_spaced_colon_variant() -> None:
    data = HEADER + b"Leviton 2N208-021, V3.2-V3.2, fn:45678, 001"
    assert _summary(parse_report_server_id(data)) == FULL


@pytest.mark.parametrize(
    ("text", "hardware", "software"),
    [
        (b"Leviton 2N208-021, V3.2-V3.2,", "3.2", "3.2"),
        (b"Leviton 2N208-021, V3.2 - V3.4,", "3.2", "3.4"),
        (b"Leviton 2N208-021, 3.2/3.5,", "3.2", "3.5"),
        (b"Leviton 2N208-021, v1.0-v2.13,", "1.0", "2.13"),
        (b"Leviton 2N208-021, V3.2,", "3.2", None),  # a single version: the first position
        (b"Leviton, 2N208-021, V3.2-V3.2,", "3.2", "3.2"),  # the byte column's layout
        (b"Leviton 2N208-021 V3.2-V3.2 ", "3.2", "3.2"),  # no commas at all
        (b"Leviton 2N208-021,", None, None),
    ],
)
def test_version_variants(text: bytes, hardware: str | None, software: str | None) -> None:
    identity = parse_report_server_id(HEADER + text + b"fn45678001")
    assert identity.model == "2N208-021"
    assert (identity.hardware_version, identity.software_version) == (hardware, software)
    assert identity.program_id == 45678
    assert identity.demand_reset_count == 1


def test_with_byte_count() -> None:
    counted = bytes([len(MANUAL)]) + MANUAL
    identity = parse_report_server_id(counted)
    assert _summary(identity) == FULL
    assert (identity.device_id, identity.run_status) == (0x31, 0xFF)
    assert identity.raw == counted


def test_header_stripped_by_gateway() -> None:
    identity = parse_report_server_id(TEXT + b"fn45678001")
    assert _summary(identity) == FULL
    assert (identity.device_id, identity.run_status) == (None, None)


def test_header_stripped_with_byte_count() -> None:
    body = TEXT + b"fn45678001"
    identity = parse_report_server_id(bytes([len(body)]) + body)
    assert _summary(identity) == FULL
    assert identity.device_id is None


def test_byte_count_beyond_answer_is_ignored() -> None:
    # Extra bytes after the counted data (e.g. a CRC a caller left on) are not the answer's.
    data = bytes([len(MANUAL)]) + MANUAL + b"\x12\x34"
    assert _summary(parse_report_server_id(data)) == FULL


def test_first_byte_that_spells_l_is_not_a_count() -> None:
    # 76 bytes whose first byte 'L' (76) equals the length of the rest: still text.
    text = b"Leviton 2N208-021, V3.2-V3.2,fn45678001"
    body = text + b" " * (ord("L") + 1 - len(text))
    assert len(body) - 1 == ord("L")
    assert _summary(parse_report_server_id(body)) == FULL


# ---------------------------------------------------------------------------------------------
# Function 0x11: truncated answers
# ---------------------------------------------------------------------------------------------


def test_truncated_ascii_drops_counter_keeps_program() -> None:
    # pymodbus reads the last byte as the run status: "fn45678001" arrives as "fn4567800".
    identity = parse_report_server_id(MANUAL[:-1])
    assert _summary(identity) == ("Leviton", "2N208-021", "3.2", "3.2", 45678, None, False)
    assert identity.is_leviton


def test_truncated_spaced() -> None:
    identity = parse_report_server_id(HEADER + TEXT + b"fn 45678 00")
    assert _summary(identity) == ("Leviton", "2N208-021", "3.2", "3.2", 45678, None, False)


def test_truncated_binary() -> None:
    identity = parse_report_server_id(HEADER + TEXT + b"fn\xb2\x6e")
    assert _summary(identity) == ("Leviton", "2N208-021", "3.2", "3.2", 45678, None, False)
    identity = parse_report_server_id(HEADER + TEXT + b"fn\xb2")
    assert _summary(identity) == ("Leviton", "2N208-021", "3.2", "3.2", None, None, False)


@pytest.mark.parametrize("tail", [b"fn", b"f", b""])
def test_truncated_before_numbers(tail: bytes) -> None:
    identity = parse_report_server_id(HEADER + TEXT + tail)
    assert _summary(identity) == ("Leviton", "2N208-021", "3.2", "3.2", None, None, False)


def test_truncated_detected_by_byte_count() -> None:
    # The count says 41 bytes, 40 arrived: the last digit of the counter is missing.
    data = bytes([len(MANUAL)]) + MANUAL[:-1]
    identity = parse_report_server_id(data)
    assert _summary(identity) == ("Leviton", "2N208-021", "3.2", "3.2", 45678, None, False)


def test_seven_digits_with_terminator_are_a_short_program() -> None:
    # A terminator after the digits shows nothing was cut: program 4567, counter 801.
    identity = parse_report_server_id(HEADER + TEXT + b"fn4567801\x00")
    assert (identity.program_id, identity.demand_reset_count, identity.complete) == (
        4567,
        801,
        True,
    )
    # With a byte count that matches, the same digits are complete too.
    body = HEADER + TEXT + b"fn4567801"
    identity = parse_report_server_id(bytes([len(body)]) + body)
    assert (identity.program_id, identity.demand_reset_count, identity.complete) == (
        4567,
        801,
        True,
    )


def test_six_digits_split_as_program_and_counter() -> None:
    identity = parse_report_server_id(HEADER + TEXT + b"fn123042")
    assert (identity.program_id, identity.demand_reset_count, identity.complete) == (
        123,
        42,
        True,
    )


# ---------------------------------------------------------------------------------------------
# Function 0x11: other devices and garbage
# ---------------------------------------------------------------------------------------------


def test_non_leviton_answer() -> None:
    identity = parse_report_server_id(b"\x01\xffACME PM5560")
    assert identity.is_leviton is False
    assert (identity.device_id, identity.run_status) == (0x01, 0xFF)
    assert (identity.manufacturer, identity.model) == ("ACME", "PM5560")
    assert identity.program_id is None
    assert identity.complete is True


def test_run_status_off_is_a_header_too() -> None:
    identity = parse_report_server_id(b"\x05\x00ACME PM5560, V1.2")
    assert (identity.device_id, identity.run_status) == (0x05, 0x00)
    assert (identity.manufacturer, identity.model, identity.hardware_version) == (
        "ACME",
        "PM5560",
        "1.2",
    )


def test_is_leviton_ignores_case() -> None:
    assert parse_report_server_id(HEADER + b"LEVITON 2N208-021, V3.2-V3.2,fn45678001").is_leviton


@pytest.mark.parametrize(
    "data", [b"", b"\x00", b"\x00\x01\x02", b"\xff\xff\xff\xff", b"\x31\xff\x80\x81\x82\x83"]
)
def test_garbage_gives_none_fields(data: bytes) -> None:
    identity = parse_report_server_id(data)
    assert identity.manufacturer is None
    assert identity.model is None
    assert identity.hardware_version is None
    assert identity.program_id is None
    assert identity.demand_reset_count is None
    assert identity.is_leviton is False
    assert identity.raw == data


def test_random_bytes_never_raise() -> None:
    rng = random.Random(0x11)
    alphabet = b"0123456789 ,:fn\x00\r\n\xb2\x6e\x31\xffLeviton"
    for _ in range(3000):
        parse_report_server_id(bytes(rng.randrange(256) for _ in range(rng.randrange(64))))
        noise = bytes(rng.choice(alphabet) for _ in range(rng.randrange(16)))
        parse_report_server_id(HEADER + TEXT + noise)


def test_accepts_bytearray() -> None:
    identity = parse_report_server_id(bytearray(MANUAL))
    assert _summary(identity) == FULL
    assert identity.raw == MANUAL


# ---------------------------------------------------------------------------------------------
# Encoding and round trips
# ---------------------------------------------------------------------------------------------


def test_encode_ascii_is_the_manual_layout() -> None:
    data = encode_report_server_id(
        model="2N208-021",
        hardware_version="3.2",
        software_version="3.2",
        program_id=45678,
        demand_reset_count=1,
    )
    assert data == MANUAL


def test_encode_spaced_and_binary_layouts() -> None:
    common = {"model": "2N208-021", "hardware_version": "V3.2", "software_version": "3.2"}
    spaced = encode_report_server_id(
        **common, program_id=45678, demand_reset_count=1, style="spaced"
    )
    assert spaced == HEADER + TEXT + b"fn 45678 001"
    binary = encode_report_server_id(
        **common, program_id=45678, demand_reset_count=1, style="binary"
    )
    assert binary == HEADER + TEXT + b"fn\xb2\x6e\x01"
    big_counter = encode_report_server_id(
        **common, program_id=45678, demand_reset_count=300, style="binary"
    )
    assert big_counter == HEADER + TEXT + b"fn" + struct.pack(">HH", 45678, 300)


def test_encode_pads_short_programs_so_they_never_look_truncated() -> None:
    data = encode_report_server_id(
        model="1N120-01D",
        hardware_version="1.0",
        software_version="2.1",
        program_id=1234,
        demand_reset_count=7,
    )
    assert data.endswith(b",fn01234007")


@pytest.mark.parametrize("style", ["ascii", "spaced", "binary"])
@pytest.mark.parametrize(
    ("model", "program", "counter"),
    [
        ("2N208-021", 45678, 1),
        ("1N120-01D", 0, 0),
        ("S2208L42021-00", 65535, 255),
        ("BL3208200SPPKG", 7, 200),
        ("2N480-12X", 40001, 12),
        ("1R24G-ZZ1", 13365, 0x36),  # binary bytes b"45" + b"6" look like ASCII digits
        ("2N208-021", 0x2031, 0),  # binary bytes b" 1\x00" look like separators
    ],
)
def test_round_trip(style: str, model: str, program: int, counter: int) -> None:
    data = encode_report_server_id(
        model=model,
        hardware_version="3.2",
        software_version="4.10",
        program_id=program,
        demand_reset_count=counter,
        style=style,
    )
    identity = parse_report_server_id(data)
    assert _summary(identity) == ("Leviton", model, "3.2", "4.10", program, counter, True)
    assert (identity.device_id, identity.run_status) == (0x31, 0xFF)
    # The same answer with a byte count in front, and with its header stripped.
    assert _summary(parse_report_server_id(bytes([len(data)]) + data))[4:6] == (program, counter)
    assert _summary(parse_report_server_id(data[2:]))[4:6] == (program, counter)


@pytest.mark.parametrize("style", ["ascii", "spaced"])
def test_round_trip_large_program_in_ascii_styles(style: str) -> None:
    data = encode_report_server_id(
        model="2N208-021",
        hardware_version="3.2",
        software_version="3.2",
        program_id=1234567,
        demand_reset_count=5,
        style=style,
    )
    identity = parse_report_server_id(data)
    assert (identity.program_id, identity.demand_reset_count, identity.complete) == (
        1234567,
        5,
        True,
    )


def test_round_trip_large_counter_spaced() -> None:
    data = encode_report_server_id(
        model="2N208-021",
        hardware_version="3.2",
        software_version="3.2",
        program_id=45678,
        demand_reset_count=12345,
        style="spaced",
    )
    assert parse_report_server_id(data).demand_reset_count == 12345


def test_round_trip_truncated_by_one_byte() -> None:
    for style in ("ascii", "spaced", "binary"):
        data = encode_report_server_id(
            model="2N208-021",
            hardware_version="3.2",
            software_version="3.2",
            program_id=45678,
            demand_reset_count=1,
            style=style,
        )
        identity = parse_report_server_id(data[:-1])
        assert (identity.program_id, identity.demand_reset_count, identity.complete) == (
            45678,
            None,
            False,
        ), style


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"program_id": 65536, "style": "binary"}, "binary"),
        ({"demand_reset_count": 70000, "style": "binary"}, "binary"),
        ({"demand_reset_count": 1000, "style": "ascii"}, "3 digits"),
        ({"program_id": -1}, "negative"),
        ({"demand_reset_count": -1}, "negative"),
        ({"style": "hex"}, "style"),
        ({"model": "2N208,021"}, "model"),
        ({"model": ""}, "model"),
        ({"model": "V3.2"}, "model"),
        ({"hardware_version": "three"}, "hardware"),
        ({"software_version": "3.2-3.3"}, "software"),
    ],
)
def test_encode_refuses_what_a_style_cannot_carry(kwargs: dict[str, object], fragment: str) -> None:
    arguments: dict[str, object] = {
        "model": "2N208-021",
        "hardware_version": "3.2",
        "software_version": "3.2",
        "program_id": 45678,
        "demand_reset_count": 1,
    }
    arguments.update(kwargs)
    with pytest.raises(ConfigurationError, match=fragment):
        encode_report_server_id(**arguments)  # type: ignore[arg-type]


def test_encode_large_program_fits_ascii_styles() -> None:
    for style in ("ascii", "spaced"):
        data = encode_report_server_id(
            model="2N208-021",
            hardware_version="3.2",
            software_version="3.2",
            program_id=70000,
            demand_reset_count=1,
            style=style,
        )
        assert b"70000" in data

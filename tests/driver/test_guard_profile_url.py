"""The glitch guard, derived power, Series 8000 profile validation and connection URLs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from modbus_connection import ModbusSerialParams, ModbusTcpParams

from leviton_driver import ConfigurationError, ProfileError, check_unit_id, load_profile, parse_url
from leviton_driver.guard import DerivedPower, TotalGuard
from leviton_driver.profile import DEFAULT_PROFILE_PATH, parse_profile

# -- glitch guard ---------------------------------------------------------------------------


def test_guard_accepts_plausible_growth() -> None:
    guard = TotalGuard("test", max_kw=100)
    assert guard.check(1000.0, now=0) == 1000.0
    assert guard.check(1000.5, now=60) == 1000.5
    assert guard.check(1000.5, now=120) == 1000.5  # no change is fine
    assert guard.suppressed == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (999.9, "lower than the last reading"),
        (0.0, "zero"),
        (1100.0, "exceeds the meter's rating"),  # 100 kWh in a minute from a 100 kW meter
        (-5.0, "negative"),
    ],
)
def test_guard_suppresses_glitches_and_logs_once(
    caplog: pytest.LogCaptureFixture, value: float, reason: str
) -> None:
    guard = TotalGuard("unit 1 energy", max_kw=100)
    guard.check(1000.0, now=0)
    with caplog.at_level(logging.WARNING):
        assert guard.check(value, now=60) == 1000.0
        assert guard.check(value, now=70) == 1000.0
        assert guard.check(value, now=80) == 1000.0
    assert guard.suppressed == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # logged once per run of glitches
    assert reason in warnings[0].getMessage()
    assert guard.check(1000.3, now=90) == 1000.3  # and a plausible value is taken again
    assert guard.last == 1000.3


def test_guard_allows_what_the_rating_allows_over_long_gaps() -> None:
    guard = TotalGuard("test", max_kw=10)
    guard.check(50.0, now=0)
    assert guard.check(59.0, now=3600) == 59.0  # 9 kWh in an hour from a 10 kW meter
    assert guard.check(200.0, now=3700) == 59.0


def test_guard_seeded_from_restored_value() -> None:
    guard = TotalGuard("test")
    guard.seed(500.0)
    assert guard.check(0.0, now=0) == 500.0
    assert guard.suppressed == 1
    assert guard.check(500.2, now=10) == 500.2


def test_derived_power_times_the_steps() -> None:
    power = DerivedPower(window_s=900)
    energy, now = 100.0, 0.0
    assert power.update(energy, now) is None
    # 6 kW: one 0.1 kWh step every 60 s, polled every 10 s
    values = []
    for _ in range(60):
        now += 10
        if now % 60 == 0:
            energy = round(energy + 0.1, 1)
        values.append(power.update(energy, now))
    assert values[-1] == pytest.approx(6.0, rel=0.02)
    resolution = power.resolution_kw(now)
    assert resolution is not None
    # poll interval / span of the steps kept in the 900 s window (540 s here)
    assert resolution == pytest.approx(6.0 * 10 / 540, abs=0.005)
    # The load stops: with no step for a long time the value decays towards zero.
    for _ in range(60):
        now += 10
        last = power.update(energy, now)
    assert last is not None
    assert last == pytest.approx(0.1 / (600 / 3600))  # at most one step in the 600 s since


# -- unit ids -------------------------------------------------------------------------------


def test_unit_ids() -> None:
    assert check_unit_id(1) == 1
    assert check_unit_id("247") == 247
    assert check_unit_id("0x10") == 16
    for bad in (0, 248, -1, "abc", True, 3.5):
        with pytest.raises(ConfigurationError):
            check_unit_id(bad)


# -- Series 8000 profiles -------------------------------------------------------------------


def test_default_profile_is_provisional_and_complete() -> None:
    profile = load_profile()
    assert profile.provisional
    assert "PROVISIONAL" in profile.label()
    assert "PROVISIONAL" in DEFAULT_PROFILE_PATH.read_text()
    assert profile.max_points == 24
    assert set(profile.point_registers) == {
        "energy_delivered",
        "energy_received",
        "power",
        "reactive_energy_delivered",
        "reactive_energy_received",
        "reactive_power",
    }
    assert set(profile.meter) == {"point_count", "voltage_a", "voltage_b", "voltage_c"}


def _default_data() -> dict[str, object]:
    data = yaml.safe_load(DEFAULT_PROFILE_PATH.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("name"), "name: required key not provided"),
        (lambda d: d["points"].update(max_count=16), "points.max_count: expected 8, 12 or 24"),
        (
            lambda d: d["points"]["registers"]["power"].update(type="int33"),
            "points.registers.power.type: expected one of",
        ),
        (
            lambda d: d["points"]["registers"].update(frequency={"offset": 0, "type": "uint16"}),
            "unknown point reading",
        ),
        (lambda d: d["points"].update(stride=4), "points would overlap"),
        (
            lambda d: d["meter"]["voltage_b"].update(address=0x00FD),
            "voltage_b overlaps voltage_a",
        ),
        (lambda d: d.update(readable_ranges=[[0, 10]]), "lies outside readable_ranges"),
        (lambda d: d["meter"]["voltage_a"].update(address="0x10"), "expected a whole number"),
        (lambda d: d["points"]["registers"]["power"].update(scale=0), "scale above 0"),
        (lambda d: d.update(word_order="middle"), "word_order: expected big or little"),
    ],
)
def test_profile_errors_name_the_field(change: object, words: str) -> None:
    data = _default_data()
    change(data)  # type: ignore[operator]
    with pytest.raises(ProfileError, match=r"profile my\.yaml") as caught:
        parse_profile(data, "my.yaml")
    assert words in str(caught.value)


def test_profile_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ProfileError, match="expected a mapping"):
        load_profile(listed)
    mine = tmp_path / "mine.yaml"
    data = _default_data()
    data.update(name="My meter", provisional=False)
    mine.write_text(yaml.safe_dump(data))
    profile = load_profile(mine)
    assert profile.label() == "My meter"


# -- connection URLs ------------------------------------------------------------------------


def test_urls() -> None:
    tcp = parse_url("tcp://192.0.2.10")
    assert isinstance(tcp.params, ModbusTcpParams)
    assert (tcp.params.host, tcp.params.port, tcp.timeout) == ("192.0.2.10", 502, 1.0)
    gateway = parse_url("rtu+tcp://gw.local:4196?timeout=2.5")
    assert isinstance(gateway.params, ModbusSerialParams)
    assert gateway.params.device == "socket://gw.local:4196"
    assert gateway.framing == "rtu"
    assert gateway.timeout == 2.5
    assert parse_url("rtu+tcp://gw").params.device == "socket://gw:4196"  # type: ignore[union-attr]
    serial = parse_url("serial:///dev/ttyUSB0?baud=19200&parity=e&stopbits=2")
    assert isinstance(serial.params, ModbusSerialParams)
    assert (serial.params.device, serial.params.baudrate) == ("/dev/ttyUSB0", 19200)
    assert (serial.params.parity, serial.params.stopbits) == ("E", 2)
    assert serial.baudrate == 19200
    assert parse_url("serial:///dev/ttyUSB1").params.baudrate == 9600  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "is empty"),
        ("foo://x", "unknown scheme 'foo'"),
        ("tcp://", "has no host"),
        ("tcp://h:99999", "not valid"),
        ("tcp://h:0", "port 0 is not in 1..65535"),
        ("tcp://h/path", "unexpected path"),
        ("tcp://h?baud=9600", "unknown option baud"),
        ("tcp://h?timeout=abc", "timeout='abc' is not valid"),
        ("tcp://h?timeout=600", "not in 0.05..60"),
        ("serial://dev/ttyUSB0", "three slashes"),
        ("serial:///dev/ttyUSB0?baud=9601", "not a standard rate"),
        ("serial:///dev/ttyUSB0?parity=X", "parity='X'"),
        ("serial:///dev/ttyUSB0?stopbits=3", "stopbits=3"),
        ("serial:///dev/ttyUSB0?baud=1&baud=2", "more than once"),
    ],
)
def test_bad_urls(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url(url)
    assert words in str(caught.value)


def test_edited_profile_is_read_again(tmp_path: Path) -> None:
    import os

    mine = tmp_path / "mine.yaml"
    data = _default_data()
    data.update(name="First", provisional=False)
    mine.write_text(yaml.safe_dump(data))
    assert load_profile(mine).name == "First"
    data.update(name="Second")
    mine.write_text(yaml.safe_dump(data))
    stat = mine.stat()
    os.utime(mine, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_profile(mine).name == "Second"


async def test_serial_port_refusing_its_settings_is_a_connect_error(
    serial_pair: tuple[str, str],
) -> None:
    from leviton_driver import Bus, ConnectError

    _, client_side = serial_pair
    bus = Bus(f"serial://{client_side}?parity=E&timeout=0.3")
    try:
        with pytest.raises(ConnectError, match="cannot open the serial port"):
            await bus.async_connect()
    finally:
        await bus.async_close()

"""Configuration errors: every problem is reported at once, each with its path in the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from leviton_bridge.config import ConfigError, load_config, parse_config
from tests.support.simulator_process import bridge_executable

BROKEN = """\
log_level: verbose
buses:
  - name: basement
    connect: rtu+tcp://10.0.0.7:4196
    poll_interval: 0
    meters:
      - unit: 0
      - unit: 2
        series: 3000
      - unit: 2
        nmae: Unit 2B
  - name: Basement
    connect: tcp://10.0.0.7:notaport
    meters: []
  - name: panel
    connect: ftp://10.0.0.8
    meters:
      - unit: 1
        profile: missing-profile.yaml
mqtt:
  url: http://broker
  password: secret
  keepalive: 2
  discovery_prefix: "home/#"
  ca_file: /nonexistent/ca.pem
http:
  listen: 0.0.0.0:8080
  tokne: a-token-spelt-wrong
  cert_file: /nonexistent/cert.pem
bogus: 1
"""

# Every mistake in BROKEN, as check-config words it (path: message).
EXPECTED = [
    "log_level: expected debug, info, warning or error",
    "buses[0].poll_interval: expected seconds between 0.1 and 3600",
    "buses[0].meters[0].unit: 0 is out of range; expected a Modbus unit id 1..247",
    "buses[0].meters[1].series: expected auto, 1000, 2000 or 8000",
    "buses[0].meters[2].nmae: unknown key",
    "buses[0].meters[2].unit: unit 2 is listed twice",
    "buses[1].connect: ",
    "buses[1].meters: list at least one meter",
    "buses[1].name: 'Basement' clashes with bus 'basement'",
    "buses[2].connect: ",
    "buses[2].meters[0].profile: no such file: missing-profile.yaml",
    "mqtt.url: 'http://broker': expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
    "mqtt.password: a password needs a username",
    "mqtt.keepalive: 2 is out of range",
    "mqtt.discovery_prefix: expected an MQTT topic without wildcards",
    "mqtt.ca_file: no such file: /nonexistent/ca.pem",
    "http.listen: 0.0.0.0:8080 can be reached from other hosts: set http.token or http.token_file",
    "http.tokne: unknown key",
    "http.cert_file: no such file: /nonexistent/cert.pem",
    "http.cert_file: give cert_file and key_file together",
    "bogus: unknown key",
]


def _matches(problems: list[str]) -> None:
    for expected in EXPECTED:
        assert any(p.startswith(expected) for p in problems), (
            f"no problem starting {expected!r} among:\n" + "\n".join(problems)
        )
    assert len(problems) == len(EXPECTED), "\n".join(problems)


def test_every_problem_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.source == str(path)
    _matches(raised.value.problems)


def test_check_config_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = subprocess.run(
        [bridge_executable(), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: {len(EXPECTED)} problem(s):"
    _matches([line.strip() for line in lines[1:]])


def test_run_refuses_a_broken_config(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = subprocess.run(
        [bridge_executable(), "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "buses[0].meters[1].series: expected auto, 1000, 2000 or 8000" in result.stderr
    assert "mqtt.password: a password needs a username" in result.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("buses: [\n", "not valid YAML at line 2, column 1"),
        ("- just a list\n", "expected a mapping with buses:"),
        (
            "buses:\n  - name: a\n    connect: tcp://h:502\n    meters: [{unit: 1}]\n",
            "(top level): configure mqtt:, bacnet: or modbus_server: (or several)",
        ),
        (
            "buses: []\nmqtt: {url: 'mqtt://b'}\n",
            "buses: list at least one bus",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "  - {name: b, connect: 'tcp://h:502', meters: [{unit: 2}]}\n"
            "mqtt: {url: 'mqtt://b'}\n",
            "buses[1].connect: the same link as bus 'a'",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b', username: u, password: x, password_file: /etc/hostname}\n",
            "mqtt.password: give password or password_file, not both",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b', cert_file: /etc/hostname}\n",
            "mqtt.cert_file: give cert_file and key_file together",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b', ca_file: /etc/hostname}\n",
            "mqtt.url: TLS files need an mqtts:// URL",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtts://b', ca_file: /etc/hostname}\n",
            "mqtt.ca_file: /etc/hostname is not a usable CA certificate in PEM form",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtts://b', cert_file: /etc/hostname, key_file: /etc/hostname}\n",
            "mqtt.cert_file: /etc/hostname and key_file /etc/hostname are not a certificate",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b:99999'}\n",
            "mqtt.url: 'mqtt://b:99999' is not a valid URL",
        ),
        (
            "buses:\n  - {name: a, connect: 'serial:///dev/ttyUSB0?baud=1234', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\n",
            "buses[0].connect: connection URL 'serial:///dev/ttyUSB0?baud=1234': baud=1234",
        ),
        # The status page's section.
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '192.168.1.10:8080'}\n",
            "http.listen: 192.168.1.10:8080 can be reached from other hosts: set http.token or "
            "http.token_file (every request but /healthz must then give it), or listen on 127.0.0.1",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {listen: 'bridge.lan:8080'}\n",
            "http.listen: bridge.lan:8080 can be reached from other hosts",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '8080'}\n",
            "http.listen: '8080': expected HOST:PORT, e.g. 127.0.0.1:8080",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '127.0.0.1:80800'}\n",
            "http.listen: TCP port '80800' is not 1..65535",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '::1:8080'}\n",
            "http.listen: '::1:8080': write an IPv6 address in brackets, e.g. [::1]:8080",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '300.1.1.1:8080'}\n",
            "http.listen: '300.1.1.1' is not an IPv4 address",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {token: secret}\n",
            "http.token: expected a token of 16 to 1000 printable characters without spaces",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\n"
            "http: {token: a-long-enough-token-1234, token_file: /etc/hostname}\n",
            "http.token: give token or token_file, not both",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {token_file: /nonexistent/token}\n",
            "http.token_file: no such file: /nonexistent/token",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {key_file: /etc/hostname}\n",
            "http.cert_file: give cert_file and key_file together",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: {cert_file: /etc/hostname, key_file: /etc/hostname}\n",
            "http.cert_file: /etc/hostname and key_file /etc/hostname are not a certificate",
        ),
        (
            "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
            "mqtt: {url: 'mqtt://b'}\nhttp: [127.0.0.1:8080]\n",
            "http: expected a dictionary",
        ),
    ],
)
def test_single_problems(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service starts in /, not next to its configuration: files are found from the file."""
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "mqtt-password").write_text("s3cret\n", encoding="utf-8")
    (folder / "bridge.yaml").write_text(
        "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
        "mqtt: {url: 'mqtt://b', username: leviton, password_file: mqtt-password}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(folder / "bridge.yaml")
    assert config.mqtt is not None
    assert config.mqtt.password == "s3cret"
    with pytest.raises(ConfigError, match="no such file: mqtt-password"):
        parse_config(
            {
                "buses": [{"name": "a", "connect": "tcp://h:502", "meters": [{"unit": 1}]}],
                "mqtt": {"url": "mqtt://b", "username": "u", "password_file": "mqtt-password"},
            },
            "inline",
        )


def test_check_config_refuses_a_page_for_everyone_without_a_token(tmp_path: Path) -> None:
    """The documented one-line-per-problem error, from the command itself."""
    path = tmp_path / "bridge.yaml"
    path.write_text(
        "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
        "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '0.0.0.0:8080'}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [bridge_executable(), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"{path}: 1 problem(s):",
        "  http.listen: 0.0.0.0:8080 can be reached from other hosts: set http.token or "
        "http.token_file (every request but /healthz must then give it), or listen on 127.0.0.1",
    ]


def test_the_page_section(tmp_path: Path) -> None:
    """Present: 127.0.0.1:8080 unless told; absent: no page; a token from its file."""
    bus = "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\nmqtt: {url: 'mqtt://b'}\n"
    (tmp_path / "token").write_text("  from-a-file-0123456789\n", encoding="utf-8")
    for text, expected in [
        (bus, None),
        (bus + "http:\n", ("127.0.0.1", 8080, None)),
        (bus + "http: {listen: '[::1]:9000'}\n", ("::1", 9000, None)),
        (
            bus + "http: {listen: '0.0.0.0:80', token_file: token}\n",
            ("0.0.0.0", 80, "from-a-file-0123456789"),
        ),
    ]:
        path = tmp_path / "bridge.yaml"
        path.write_text(text, encoding="utf-8")
        http = load_config(path).http
        got = None if http is None else (http.host, http.port, http.token)
        assert got == expected, text


def test_a_good_config(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "leviton-bridge.example.yaml"
    config = load_config(example)
    assert [bus.name for bus in config.buses] == ["basement", "tenant panel"]
    assert [m.meter_id for m in config.meters] == ["basement_u1", "basement_u2", "tenant_panel_u1"]
    assert config.mqtt is not None
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("10.0.0.2", 1883, False)
    result = subprocess.run(
        [bridge_executable(), "check-config", str(example)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK. 2 bus(es), 3 meter(s)" in result.stdout

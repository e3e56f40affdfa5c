"""Hostile configuration files: every one gets the documented one-line-per-problem error, never
a traceback or a hang; and whatever check-config accepts, ``run`` starts with.

The corpus: hand-written cases from what fuzzing found (non-UTF-8, ``~nosuchuser``, a broken
URL after other problems, a 5,000-digit number, 3,000 levels of nesting, "billion laughs"
aliases, a UDP port above 65535, a NUL in a serial URL, duplicate keys, a bad profile's
contents, a megabyte host name), and 300 seeded mutations of the example configuration. A hang
is caught by the suite's per-test time limit, not by timing anything here.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from leviton_bridge.config import ConfigError
from leviton_bridge.config.settings import BridgeConfig
from leviton_bridge.daemon import Bridge, load
from leviton_driver.connection import parse_url

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = (REPOSITORY / "leviton-bridge.example.yaml").read_text(encoding="utf-8")
GOOD_BUS = "buses:\n  - {name: a, connect: 'tcp://h:502', meters: [{unit: 1}]}\n"
LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "buses: [{name: *i, connect: 'tcp://h:502', meters: [{unit: 1, series: *i}]}]\n"
    + "mqtt: {url: 'mqtt://b'}\n"
)

#: (what, file bytes, the start of the one problem expected).
CASES: list[tuple[str, bytes, str]] = [
    ("not UTF-8", b"buses: [\xff\xfe]\n", "not UTF-8 text (byte 9 is 0xff)"),
    (
        "a home folder of nobody",
        (
            GOOD_BUS.replace(
                "[{unit: 1}]", "[{unit: 1, series: '8000', profile: '~nosuchuser/p.yaml'}]"
            )
            + "mqtt: {url: 'mqtt://b'}\n"
        ).encode(),
        "buses[0].meters[0].profile: ~nosuchuser/p.yaml: cannot expand ~",
    ),
    ("5,000 digits", b"buses: " + b"9" * 5000 + b"\n", "a value cannot be read"),
    (
        "3,000 levels deep",
        b"buses: " + b"[" * 3000 + b"]" * 3000 + b"\n",
        "nested more than 64 levels",
    ),
    ("billion laughs", LAUGHS.encode(), "more than 100000 values"),
    ("an alias of itself", b"a: &a [*a]\nbuses: *a\n", "nested more than 64 levels"),
    (
        "a UDP port above 65535",
        (GOOD_BUS + "bacnet: {address: '127.0.0.1:99999', device_instance: 5}\n").encode(),
        "bacnet.address: UDP port 99999 is not 1..65535",
    ),
    (
        "a NUL in a serial URL",
        b'buses:\n  - {name: a, connect: "serial:///dev/tty\\0S0", meters: [{unit: 1}]}\n'
        b"mqtt: {url: 'mqtt://b'}\n",
        "buses[0].connect: connection URL 'serial:///dev/tty\\x00S0' contains a control character",
    ),
    (
        "a key given twice",
        (GOOD_BUS + "mqtt: {url: 'mqtt://b'}\nmqtt: {url: 'mqtt://c'}\n").encode(),
        "not valid YAML at line 4, column 1: key 'mqtt' is given twice (first at line 3)",
    ),
    (
        "a megabyte host name",
        (
            GOOD_BUS.replace("tcp://h:502", "tcp://" + "h" * 1_000_000 + ":502")
            + "mqtt: {url: 'mqtt://b'}\n"
        ).encode(),
        "1000",
    ),
    (
        "a long host name in a small file",
        (
            GOOD_BUS.replace("tcp://h:502", "tcp://" + "h" * 5000 + ":502")
            + "mqtt: {url: 'mqtt://b'}\n"
        ).encode(),
        "buses[0].connect: a connection URL of 5010 characters; expected a short URL",
    ),
    (
        "a broken broker URL",
        (GOOD_BUS + "mqtt: {url: 'mqtt://[::1'}\n").encode(),
        "mqtt.url: 'mqtt://[::1' is not a valid URL",
    ),
    (
        "a long page address",
        (GOOD_BUS + "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '" + "h" * 5000 + ":80'}\n").encode(),
        "http.listen: expected HOST:PORT",
    ),
    (
        "a page port above 65535",
        (GOOD_BUS + "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '127.0.0.1:99999'}\n").encode(),
        "http.listen: TCP port '99999' is not 1..65535",
    ),
    (
        "a token of NULs",
        (GOOD_BUS + 'mqtt: {url: "mqtt://b"}\nhttp: {token: "' + "\\0" * 20 + '"}\n').encode(),
        "http.token: expected a token of 16 to 1000 printable characters",
    ),
    (
        "a token that is a number",
        (GOOD_BUS + "mqtt: {url: 'mqtt://b'}\nhttp: {token: 12345678901234567890}\n").encode(),
        "http.token: expected a token",
    ),
    (
        "a page section that is a list",
        (GOOD_BUS + "mqtt: {url: 'mqtt://b'}\nhttp: [a, b]\n").encode(),
        "http: expected a dictionary",
    ),
    ("a list, not a mapping", b"- buses\n", "expected a mapping with buses:"),
    ("empty", b"", "expected a mapping with buses:"),
    (
        "a key that is a list",
        b"? [1, 2]\n: x\n" + GOOD_BUS.encode(),
        "not valid YAML at line 1, column 3: found unhashable key",
    ),
]


def _load(tmp_path: Path, data: bytes) -> BridgeConfig:
    path = tmp_path / "bridge.yaml"
    path.write_bytes(data)
    return load(path)  # as check-config and run read it: the faces' checks too


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_file_gets_one_line_problems(tmp_path: Path, data: bytes, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, data)
    problems = raised.value.problems
    assert any(problem.startswith(expected) for problem in problems), problems
    assert all("\n" not in problem and len(problem) < 600 for problem in problems), problems


def test_a_profile_whose_contents_are_wrong_is_refused_by_check_config(tmp_path: Path) -> None:
    profile = tmp_path / "s8000.yaml"
    profile.write_text("name: x\nprovisional: false\n", encoding="utf-8")
    data = (
        GOOD_BUS.replace("[{unit: 1}]", f"[{{unit: 1, series: '8000', profile: '{profile}'}}]")
        + "mqtt: {url: 'mqtt://b'}\n"
    )
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, data.encode())
    assert raised.value.problems == [
        f"buses[0].meters[0].profile: profile {profile}: meter: required key not provided; "
        "points: required key not provided"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe-not-text-at-all-0123", "cannot be read (not UTF-8 text)"),
        (b"", "holds no usable token: expected a token of 16"),
        (b"short\n", "holds no usable token: expected a token of 16"),
        (b"two words-0123456789abcdef\n", "holds no usable token"),
    ],
)
def test_hostile_token_files(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "token").write_bytes(content)
    data = GOOD_BUS + "mqtt: {url: 'mqtt://b'}\nhttp: {listen: '0.0.0.0:8080', token_file: token}\n"
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, data.encode())
    (problem,) = raised.value.problems
    assert problem.startswith(f"http.token_file: token {expected}"), problem


def test_a_token_file_that_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    for name, expected in [
        ("folder", "http.token_file: no such file: folder"),
        ("~nosuchuser/token", "http.token_file: ~nosuchuser/token: cannot expand ~"),
    ]:
        data = GOOD_BUS + f"mqtt: {{url: 'mqtt://b'}}\nhttp: {{token_file: '{name}'}}\n"
        with pytest.raises(ConfigError) as raised:
            _load(tmp_path, data.encode())
        assert [p[: len(expected)] for p in raised.value.problems] == [expected]


def test_every_problem_of_a_section_at_once(tmp_path: Path) -> None:
    """A bad URL, a keepalive out of range and both password and password_file: all three."""
    data = GOOD_BUS + (
        "mqtt: {url: 'mqtt://[::1', keepalive: 1, username: u, password: x, "
        "password_file: /etc/hostname}\n"
    )
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, data.encode())
    assert raised.value.problems == [
        "mqtt.url: 'mqtt://[::1' is not a valid URL; expected mqtt://HOST[:PORT]",
        "mqtt.keepalive: 1 is out of range; expected seconds 5..3600",
        "mqtt.password: give password or password_file, not both",
    ]


# -- mutations of the example ------------------------------------------------------------------

_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    10**30,
    1e308,
    float("nan"),
    "",
    " ",
    "x" * 3000,
    "\u202e\u0000",
    "tcp://h:70000",
    "serial://x",
    [],
    [[]],
    {},
    {"a": [1, {"b": None}]},
    "8000",
    "~nosuchuser/x",
    "/etc/hostname",
    "127.0.0.1/33:0",
]


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(rng: random.Random) -> bytes:
    """The example configuration (with a BACnet section) with one to three random changes:
    a value replaced, a key deleted or renamed, an item duplicated; or its text cut or
    scrambled."""
    data: Any = yaml.safe_load(EXAMPLE)
    data["bacnet"] = {"address": "127.0.0.1/32:47809", "device_instance": 59001}
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(data) if p]
        path = rng.choice(paths)
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = rng.randrange(4)
        if action == 0:
            parent[last] = rng.choice(_VALUES)
        elif action == 1:
            del parent[last]
        elif action == 2 and isinstance(parent, dict):
            parent[f"{last}x"] = parent.pop(last)
        elif isinstance(parent, list):
            parent.append(parent[last])
    text = yaml.safe_dump(data, allow_unicode=True)
    if rng.random() < 0.2:
        cut = rng.randrange(len(text))
        text = text[:cut] + rng.choice(["", ":", "- ", "&a", "*a", "\t", "{", "'"]) + text[cut:]
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("seed", range(300))
def test_mutated_example_is_accepted_or_refused_in_words(tmp_path: Path, seed: int) -> None:
    data = _mutate(random.Random(seed))
    problems: list[str] = []
    try:
        config = _load(tmp_path, data)
    except ConfigError as err:
        problems = err.problems
    if problems:
        assert all(isinstance(p, str) and "\n" not in p for p in problems), problems
        return
    # Accepted: everything ``run`` builds from the configuration before any I/O builds.
    bridge = Bridge(config)
    assert len(bridge.pollers) == len(config.buses)
    for bus in config.buses:
        parse_url(bus.connect)
    if config.bacnet is not None:
        from leviton_bridge.bacnet.face import BacnetFace

        BacnetFace(bridge.core, config.bacnet)


def test_the_example_itself_is_accepted(tmp_path: Path) -> None:
    config = _load(tmp_path, EXAMPLE.encode())
    assert [bus.name for bus in config.buses] == ["basement", "tenant panel"]
    assert config.buses[0].poll_interval == 10

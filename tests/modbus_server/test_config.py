"""The ``modbus_server:`` section: its defaults, and every problem at once, each with its place."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from leviton_bridge.config import ConfigError, load_config, parse_config
from leviton_bridge.config.settings import LOOPBACK_NETWORKS
from leviton_bridge.modbus_server.face import default_max_age
from tests.support.simulator_process import bridge_executable

REPOSITORY = Path(__file__).resolve().parents[2]


def _config(server: object, *buses: dict[str, object]) -> dict[str, object]:
    return {
        "buses": list(buses)
        or [{"name": "lab", "connect": "tcp://10.0.0.7:502", "meters": [{"unit": 1}]}],
        "modbus_server": server,
    }


def test_the_defaults() -> None:
    config = parse_config(_config(None), "site.yaml")
    server = config.modbus_server
    assert server is not None
    assert (server.host, server.port, server.listen) == ("127.0.0.1", 5020, "127.0.0.1:5020")
    assert server.allow == LOOPBACK_NETWORKS
    assert (server.max_clients, server.idle_timeout, server.writes) == (32, 60.0, False)
    assert server.max_age is None
    assert default_max_age(10) == 30
    assert default_max_age(0.5) == 10
    assert config.mqtt is None  # a Modbus server alone is a bridge too


def test_every_problem_at_once() -> None:
    buses = (
        {"name": "a", "connect": "tcp://10.0.0.7:502", "meters": [{"unit": 1}, {"unit": 2}]},
        {"name": "b", "connect": "tcp://10.0.0.8:502", "meters": [{"unit": 1}]},
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(
            _config(
                {
                    "listen": "0.0.0.0:502",
                    "max_clients": 0,
                    "writes": "yes",
                    "units": {"c_u4": 5, "a_u2": 300},
                },
                *buses,
            ),
            "site.yaml",
        )
    problems = raised.value.problems
    assert "modbus_server.max_clients: 0 is out of range; expected clients 1..1024" in problems
    assert any(p.startswith("modbus_server.writes:") for p in problems)
    assert any(p.startswith("modbus_server.units.a_u2: 300 is out of range") for p in problems)
    assert any(
        p.startswith("modbus_server.listen: 0.0.0.0:502 can be reached from other hosts")
        for p in problems
    )
    assert any(p.startswith("modbus_server.units.c_u4: no such meter") for p in problems)
    assert (
        "modbus_server: a_u1 and b_u1 would both be served at unit 1; serve one at another: "
        "modbus_server.units: {b_u1: N}" in problems
    )


def test_two_unit_1s_served_apart_and_beyond_loopback_with_allow() -> None:
    buses = (
        {"name": "a", "connect": "tcp://10.0.0.7:502", "meters": [{"unit": 1}]},
        {"name": "b", "connect": "tcp://10.0.0.8:502", "meters": [{"unit": 1}]},
    )
    config = parse_config(
        _config(
            {
                "listen": "0.0.0.0:502",
                "allow": ["192.168.1.0/24", "10.0.0.5"],
                "units": {"b_u1": 11},
            },
            *buses,
        ),
        "site.yaml",
    )
    server = config.modbus_server
    assert server is not None
    assert server.allow == ("192.168.1.0/24", "10.0.0.5/32")
    assert server.units == (("b_u1", 11),)
    with pytest.raises(
        ConfigError, match=r"modbus_server.allow\[0\]: 'a.b.c.d/33' is not a network"
    ):
        parse_config(_config({"allow": ["a.b.c.d/33"]}), "site.yaml")


def test_the_examples_section_uncommented_is_a_good_config(tmp_path: Path) -> None:
    """The example file's ``modbus_server:`` block, its ``#`` taken away, loads as shown, and
    ``check-config`` names the server: the example cannot rot into a clash."""
    example = (REPOSITORY / "leviton-bridge.example.yaml").read_text(encoding="utf-8")
    head, block = example.split("# modbus_server:")
    block_lines = block.splitlines()
    # The block ends where the next commented section (``# history:``, ...) starts.
    end = next(
        (i for i, line in enumerate(block_lines) if i and re.match(r"# [a-z_]+:", line)),
        len(block_lines),
    )
    lines = ["modbus_server:" + block_lines[0]]
    for line in block_lines[1:end]:
        if line.startswith("#   ") and not line.startswith("#    "):
            line = line[1:]  # a key: the comment taken away keeps its indent of two
        elif line.startswith("#     "):
            line = line[1:]
        lines.append(line)
    lines.extend(block_lines[end:])
    path = tmp_path / "bridge.yaml"
    path.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    server = load_config(path).modbus_server
    assert server is not None
    assert (server.listen, server.allow, server.max_clients) == (
        "127.0.0.1:5020",
        ("192.168.1.0/24",),
        32,
    )
    assert (server.idle_timeout, server.writes, server.max_age) == (60.0, False, 30.0)
    assert dict(server.units) == {"tenant_panel_u1": 11}
    result = subprocess.run(
        [bridge_executable(), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Modbus server 127.0.0.1:5020" in result.stdout

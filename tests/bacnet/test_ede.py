"""``leviton-bridge bacnet-ede``: the EDE file lists exactly the objects the running device has."""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from bacpypes3.primitivedata import ObjectType

from leviton_bridge.bacnet import mapping
from leviton_bridge.bacnet.ede import ede_cell, ede_text, units_code
from leviton_bridge.cli import main
from leviton_bridge.cli.commands import cmd_bacnet_ede
from leviton_bridge.daemon import load as load_config
from tests.support import free_port
from tests.support.inprocess import StartSimulator

from .conftest import DEVICE_INSTANCE, Client, StartBridge, bus

#: A Series 1000/2000: 8 readings (with the program id and net power) and the reset.
S2000_OBJECTS = 8 + 1
#: A Series 8000-8 that gave its program id: 3 voltages, the program id, 6 readings per point.
S8000_8_OBJECTS = 4 + 8 * 6


def parse_ede(text: str) -> tuple[list[str], list[list[str]]]:
    """(comment and header lines, object rows)."""
    lines = text.split("\r\n")
    assert lines[-1] == ""
    head = [line for line in lines[:-1] if line.startswith("#") or not line[0].isdigit()]
    rows = [line.split(";") for line in lines[:-1] if ";" in line and not line.startswith("#")]
    rows = [row for row in rows if not row[0].isupper()]  # PROJECT_NAME;... and friends
    return head, rows


@pytest.fixture
async def site(start_simulator: StartSimulator, tmp_path: Path) -> dict[str, Any]:
    sim, url = await start_simulator(
        "1:2000:energy=20000000.5:load=0", "2:8000-8", "8:2000", "9:1000"
    )
    sim.silence(8)
    sim.silence(9)
    buses = [
        bus(
            "basement",
            url,
            {"unit": 1, "name": "Unit 1A"},
            {"unit": 2, "name": "Tenant panel"},
            {"unit": 8, "name": "Unit 8", "series": "2000"},
            {"unit": 9, "name": "Unit 9"},
        )
    ]
    port = free_port(socket.SOCK_DGRAM)
    data = {
        "buses": buses,
        "bacnet": {
            "address": f"127.0.0.1/32:{port}",
            "device_instance": DEVICE_INSTANCE,
            "device_name": "Leviton test bridge",
        },
    }
    file = tmp_path / "bridge.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    return {"file": file, "buses": buses, "sim": sim}


async def test_ede_lists_every_object_of_the_running_device(
    site: dict[str, Any], start_bridge: StartBridge, client: Client
) -> None:
    config = load_config(site["file"])
    text, count = await ede_text(config)
    head, rows = parse_ede(text)
    assert head[0] == "#Engineering-Data-Exchange - B.I.G.-EU"
    assert "VERSION_OF_LAYOUT;2.3" in head
    notes = "\n".join(line for line in head if line.startswith("# "))
    assert "Unit 8 (bus basement, unit 8) did not answer" in notes
    assert "listed from its series" in notes
    assert "Unit 9 (bus basement, unit 9) did not answer" in notes
    assert "not listed" in notes
    assert f"basement = {mapping.bus_code('basement')}" in notes
    # The device, units 1 and 2, and unit 8 from its configured series (without an answer it
    # still has its program id object: a Series 1000/2000 always has one).
    assert count == len(rows) == 1 + S2000_OBJECTS + S8000_8_OBJECTS + S2000_OBJECTS
    assert all(len(row) == 16 for row in rows)
    ede = {(int(row[3]), int(row[4])): row for row in rows}
    assert ede[(int(ObjectType("device")), DEVICE_INSTANCE)][2] == "Leviton test bridge"

    # Unit 8 never answers: whether the running device has its objects is the next test's.
    silent = {key for key, row in ede.items() if row[0].startswith("basement_u8_")}
    assert len(silent) == S2000_OBJECTS

    running = await start_bridge(site["buses"], wait_objects=count - 1 - len(silent))
    client.device = running.address
    # Units 8 and 9 were tried in cycles 1 and 2 and never answered; unit 9 (series auto)
    # has no objects.
    await running.poller.wait_for_cycle(2)
    assert sum(running.bridge.states[3].failed_polls.values()) >= 2
    served = {}
    for oid in await client.read(f"device,{DEVICE_INSTANCE}", "object-list"):
        if oid[0].attr == "networkPort":
            continue
        served[(int(oid[0]), oid[1])] = await client.read(oid, "object-name")
    assert {key: name for key, name in served.items() if key not in silent} == {
        key: row[2] for key, row in ede.items() if key not in silent
    }
    for key, row in ede.items():
        if row[0] == "device" or key not in served:
            continue
        obj = running.publisher.app.get_object_id(key)  # type: ignore[union-attr]
        spec = obj._spec
        assert row[0] == spec.keyname
        assert row[5] == ede_cell(spec.description)
        assert row[14] == units_code(spec.units)
        assert row[9] == ("Y" if spec.key == mapping.RESET_KEY else "N")


async def test_a_silent_meter_of_a_configured_series_has_its_listed_objects(
    site: dict[str, Any], start_bridge: StartBridge
) -> None:
    text, _count = await ede_text(load_config(site["file"]))
    _head, rows = parse_ede(text)
    listed = {
        (int(row[3]), int(row[4])): row[2] for row in rows if row[0].startswith("basement_u8_")
    }
    assert len(listed) == S2000_OBJECTS
    running = await start_bridge(site["buses"])
    await running.poller.wait_for_cycle(2)  # unit 8 was tried twice, and did not answer
    assert sum(running.bridge.states[2].failed_polls.values()) >= 2
    served = {
        (int(obj.objectIdentifier[0]), obj.objectIdentifier[1]): obj._spec.name
        for obj in running.publisher.objects
        if obj._spec.meter.unit == 8
    }
    assert served == listed


async def test_cli_function_writes_the_file(site: dict[str, Any], tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    output = tmp_path / "objects.csv"
    args = argparse.Namespace(config=str(site["file"]), output=str(output))
    assert await cmd_bacnet_ede(args, out, err) == 0
    assert err.getvalue() == ""
    text = output.read_bytes().decode("utf-8")
    _head, rows = parse_ede(text)
    assert out.getvalue() == f"wrote {len(rows)} objects to {output}\n"
    out = io.StringIO()
    stdout_args = argparse.Namespace(config=str(site["file"]), output=None)
    assert await cmd_bacnet_ede(stdout_args, out, io.StringIO()) == 0
    assert parse_ede(out.getvalue())[1] == rows


async def test_command_line(site: dict[str, Any], tmp_path: Path) -> None:
    output = tmp_path / "objects.csv"
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(
        main, ["bacnet-ede", "--config", str(site["file"]), "--output", str(output)], out, err
    )
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith(f"wrote {1 + 2 * S2000_OBJECTS + S8000_8_OBJECTS} objects to ")
    assert output.read_text(encoding="utf-8").startswith("#Engineering-Data-Exchange")


async def test_ede_refuses_a_config_without_a_device(tmp_path: Path) -> None:
    file = tmp_path / "plain.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "buses": [{"name": "a", "connect": "tcp://127.0.0.1:1", "meters": [{"unit": 1}]}],
                "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="no bacnet: section"):
        await ede_text(load_config(file))


async def test_ede_of_a_silent_series_8000_uses_the_profile(
    start_simulator: StartSimulator, tmp_path: Path
) -> None:
    sim, url = await start_simulator("4:8000-8")
    sim.silence(4)
    file = tmp_path / "bridge.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "buses": [bus("annex", url, {"unit": 4, "name": "Annex", "series": "8000"})],
                "bacnet": {"address": "127.0.0.1/32", "device_instance": 7},
            }
        ),
        encoding="utf-8",
    )
    text, count = await ede_text(load_config(file))
    # The provisional profile describes up to 24 points; a meter that never answered has given
    # no program id.
    assert count == 1 + 3 + 24 * 6
    assert "listed with the 24 points its profile allows" in text

"""``leviton-bridge bacnet-ede``: the EDE file lists exactly the objects the running device has."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from bacpypes3.primitivedata import ObjectType

from leviton_bridge import bacnet_mapping as mapping
from leviton_bridge.bacnet import ede_text
from leviton_bridge.cli import cmd_bacnet_ede, main
from leviton_bridge.config import load_config
from support.inprocess import StartSimulator

from .conftest import DEVICE_INSTANCE, Client, StartBridge, bus, free_udp_port


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
    port = free_udp_port()
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
    assert count == len(rows) == 1 + 7 + (3 + 8 * 6) + 7
    assert all(len(row) == 16 for row in rows)
    ede = {(int(row[3]), int(row[4])): row for row in rows}
    assert ede[(int(ObjectType("device")), DEVICE_INSTANCE)][2] == "Leviton test bridge"

    running = await start_bridge(site["buses"], wait_objects=count - 1)
    client.device = running.address
    await asyncio.sleep(0.5)
    assert running.object_count() == count - 1  # unit 9 (series auto) never answered
    served = {}
    for oid in await client.read(f"device,{DEVICE_INSTANCE}", "object-list"):
        if oid[0].attr == "networkPort":
            continue
        served[(int(oid[0]), oid[1])] = await client.read(oid, "object-name")
    assert served == {key: row[2] for key, row in ede.items()}
    for key, row in ede.items():
        if row[0] == "device":
            continue
        obj = running.publisher.app.get_object_id(key)  # type: ignore[union-attr]
        spec = obj._spec
        assert row[0] == spec.keyname
        assert row[5] == mapping.ede_cell(spec.description)
        assert row[14] == mapping.units_code(spec.units)
        assert row[9] == ("Y" if spec.key == mapping.RESET_KEY else "N")


async def test_cli_function_writes_the_file(site: dict[str, Any], tmp_path: Path) -> None:
    out = io.StringIO()
    output = tmp_path / "objects.csv"
    args = argparse.Namespace(config=str(site["file"]), output=str(output))
    assert await cmd_bacnet_ede(args, out) == 0
    text = output.read_bytes().decode("utf-8")
    _head, rows = parse_ede(text)
    assert out.getvalue() == f"wrote {len(rows)} objects to {output}\n"
    out = io.StringIO()
    assert await cmd_bacnet_ede(argparse.Namespace(config=str(site["file"]), output=None), out) == 0
    assert parse_ede(out.getvalue())[1] == rows


async def test_command_line(site: dict[str, Any], tmp_path: Path) -> None:
    output = tmp_path / "objects.csv"
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(
        main, ["bacnet-ede", "--config", str(site["file"]), "--output", str(output)], out, err
    )
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("wrote 66 objects to ")
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
    assert count == 1 + 3 + 24 * 6  # the provisional profile describes up to 24 points
    assert "listed with the 24 points its profile allows" in text

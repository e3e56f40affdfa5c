"""One description of each meter drives every face: for every kind of meter the simulator
offers (and a Series 8000 whose profile maps fewer readings), the entities Home Assistant
creates, the MQTT discovery components and the BACnet objects are the same set of readings.

Home Assistant's side is read from a real setup here; the bridge's side comes from its own
mappings, run in the project's environment (``support/faces.py``) on the same meter.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.leviton_meters.const import CONF_PROFILE
from custom_components.leviton_meters.driver.profile import DEFAULT_PROFILE_PATH
from tests.support import PATIENCE
from tests.support.simulator_process import bridge_executable

from .conftest import StartSim, make_entry, setup_entry

FACES = Path(__file__).resolve().parents[1] / "support" / "faces.py"


def _partial_profile(folder: Path) -> str:
    """The provisional profile without voltage B and C and reactive energy received."""
    dropped = ("voltage_b:", "voltage_c:", "reactive_energy_received:")
    lines = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8").splitlines()
    path = folder / "partial.yaml"
    path.write_text(
        "\n".join(line for line in lines if not line.strip().startswith(dropped)) + "\n",
        encoding="utf-8",
    )
    return str(path)


async def _bridge_faces(url: str, unit: int, profile: str | None) -> dict[str, list[str]]:
    python = Path(bridge_executable()).with_name("python")
    process = await asyncio.create_subprocess_exec(
        str(python if python.exists() else sys.executable),
        str(FACES),
        url,
        str(unit),
        *([profile] if profile else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE)
    assert process.returncode == 0, err.decode()
    result: dict[str, list[str]] = json.loads(out)
    return result


@pytest.mark.parametrize(
    ("spec", "partial"),
    [
        ("1:1000:model=1N240-01D", False),
        ("1:2000", False),
        ("1:2000:ident=none", False),  # no model number: a Series 1000/2000
        ("1:8000-8", False),
        ("1:8000-12", False),
        ("1:8000-24", False),
        ("1:8000-12:ident=none", False),  # no 0x11 answer: no program id
        ("1:8000-8", True),
    ],
)
async def test_every_face_shows_the_same_readings(
    hass: HomeAssistant,
    start_sim: StartSim,
    entity_registry: er.EntityRegistry,
    tmp_path: Path,
    spec: str,
    partial: bool,
) -> None:
    profile = _partial_profile(tmp_path) if partial else None
    sim = await start_sim(spec, profile=profile)
    options = {CONF_PROFILE: profile} if profile else {}
    entry = await make_entry(sim, 1, series="auto", **options)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    prefix = f"{entry.runtime_data.unique_id}_"
    home_assistant = sorted(
        registered.unique_id.removeprefix(prefix).replace("point_", "point").replace("_", "/", 1)
        for registered in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    )
    bridge = await _bridge_faces(sim.url, 1, profile)
    assert bridge["mqtt"] == home_assistant
    assert bridge["bacnet"] == home_assistant
    assert home_assistant  # not three empty sets

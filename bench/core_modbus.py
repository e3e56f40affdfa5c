"""Benchmark: what one poll of a Series 2000 costs the line, Home Assistant's core ``modbus``
YAML hub against this component, side by side in one Home Assistant.

Run on demand with the project's environment (``make`` builds the Home Assistant ones)::

    .venv/bin/python bench/core_modbus.py [--meters 8] [--baud 9600] [--polls 3] [--ha 2026.2.3]

Two simulator processes, each with ``--meters`` Series 2000 meters behind an emulated RS485
line (RTU over TCP). In one Home Assistant (a real core, in its own environment, through
pytest-homeassistant-custom-component), a core ``modbus:`` hub reads the first line the way a
homeowner writes it, one sensor per value (energy delivered 40001, energy received 40003, peak
demand 40061: 32-bit registers, kWh/10 and kW/100), and this component reads the second (one
entry per meter). Every sensor polls every 10 s; ``--polls`` polls are triggered, and each
simulator lists the requests it served. From them, per meter and poll:

* transactions, and bytes on the line (RTU frames: a read request is 8 bytes, its answer 5 + 2
  per register);
* line time: what the frames need on a real line at ``--baud`` (bytes x 10 / baud, the t3.5
  silences, the meter's 5 ms turnaround);
* meters a line can poll each second at that rate.

The last line::

    RESULT core_transactions=... ours_transactions=... core_bytes=... ours_bytes=...
    core_line_ms=... ours_line_ms=... core_meters_per_s=... ours_meters_per_s=... ratio=...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

ENV_SETTINGS: Final = "LEVITON_CORE_MODBUS_BENCH"
#: The registers a homeowner's core modbus YAML reads for a Series 2000 (wire addresses).
CORE_SENSORS: Final = (
    ("energy delivered", 0x0000, 0.1, "kWh"),
    ("energy received", 0x0002, 0.1, "kWh"),
    ("peak demand", 0x003C, 0.01, "kW"),
)

try:
    from datetime import timedelta

    import pytest

    # Imported while pytest collects this file, before Home Assistant's test harness puts its
    # own (empty) custom_components package first (ha_entries imports it).
    from ha_entries import set_up_series2000
    from homeassistant.core import HomeAssistant
    from homeassistant.setup import async_setup_component
    from homeassistant.util import dt as dt_util
    from pytest_homeassistant_custom_component.common import async_fire_time_changed
    from support.simulator_process import SimulatorProcess
except ImportError:  # the project's environment: it runs the Home Assistant side below
    pass
else:

    @pytest.fixture(autouse=True)
    def _enable(enable_custom_integrations: None, socket_enabled: None) -> None:
        """Load custom_components/leviton_meters; let both reach the simulators on loopback."""

    async def test_core_modbus_and_this_component(hass: HomeAssistant) -> None:
        settings = json.loads(os.environ[ENV_SETTINGS])
        meters, baud, polls = settings["meters"], settings["baud"], settings["polls"]
        specs = [f"{u}:2000:load={1 + u % 7 * 2.5}" for u in range(1, meters + 1)]
        core_sim = await SimulatorProcess.start(*specs, framing="rtu", line_baud=baud)
        our_sim = await SimulatorProcess.start(*specs, framing="rtu", line_baud=baud)
        try:
            assert core_sim.address is not None
            assert our_sim.address is not None
            sensors = [
                {
                    "name": f"core {unit} {name}",
                    "address": address,
                    "device_address": unit,
                    "input_type": "holding",
                    "data_type": "uint32",
                    "scale": scale,
                    "precision": 2,
                    "unit_of_measurement": unit_of,
                    "scan_interval": 10,
                }
                for unit in range(1, meters + 1)
                for name, address, scale, unit_of in CORE_SENSORS
            ]
            hub = {
                "name": "core_hub",
                "type": "rtuovertcp",
                "host": core_sim.address[0],
                "port": core_sim.address[1],
                "sensors": sensors,
            }
            assert await async_setup_component(hass, "modbus", {"modbus": [hub]})
            await hass.async_block_till_done()
            await set_up_series2000(hass, *our_sim.address, meters)
            core_before = len(await core_sim.served())
            our_before = len(await our_sim.served())
            for _ in range(polls):
                async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
                await hass.async_block_till_done(wait_background_tasks=True)
            core_served = (await core_sim.served())[core_before:]
            our_served = (await our_sim.served())[our_before:]
            values = [
                hass.states.get(f"sensor.core_{u}_energy_delivered") for u in range(1, meters + 1)
            ]
            assert all(state is not None and state.state != "unavailable" for state in values)
        finally:
            await core_sim.stop()
            await our_sim.stop()
        print(f"SERVED {json.dumps({'core': core_served, 'ours': our_served})}")


def per_meter(served: list[list[int]], meters: int, polls: int, baud: int) -> dict[str, float]:
    """Transactions, bytes and line seconds per meter and poll, from the requests served."""
    from leviton_bridge.simulator import LineSettings

    line = LineSettings(baud=baud)
    sizes: Counter[tuple[int, int]] = Counter()
    for _unit, function, _address, count in served:
        if function in (0x03, 0x04):
            sizes[(8, 5 + 2 * count)] += 1
    transactions = sum(sizes.values())
    size = sum((q + a) * n for (q, a), n in sizes.items())
    seconds = sum(line.wire_time(q, a) * n for (q, a), n in sizes.items())
    polled = meters * polls
    return {
        "transactions": transactions / polled,
        "bytes": size / polled,
        "line_s": seconds / polled,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=8)
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--ha", default="2026.2.3", help="the Home Assistant environment")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    python = ROOT / f".venv-ha-{args.ha}" / "bin" / "python"
    if not python.exists():
        print(f"{python} is missing: `make test` builds it", file=sys.stderr)
        return 1
    settings = {"meters": args.meters, "baud": args.baud, "polls": args.polls}
    done = subprocess.run(
        [str(python), "-m", "pytest", __file__, "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={
            **os.environ,
            ENV_SETTINGS: json.dumps(settings),
            "LEVITON_BRIDGE": str(ROOT / ".venv" / "bin" / "leviton-bridge"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    found = [line for line in done.stdout.splitlines() if line.startswith("SERVED ")]
    if not found:
        print(f"Home Assistant's run failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        return 1
    served = json.loads(found[0].removeprefix("SERVED "))
    core = per_meter(served["core"], args.meters, args.polls, args.baud)
    ours = per_meter(served["ours"], args.meters, args.polls, args.baud)
    print(
        f"{args.meters} Series 2000 meters per line at {args.baud} baud, {args.polls} polls, "
        f"Home Assistant {args.ha}"
    )
    print(f"{'per meter and poll':32} {'core modbus':>12} {'this project':>13} {'ratio':>6}")
    rows = [
        ("transactions", core["transactions"], ours["transactions"], "{:.2f}"),
        ("bytes on the line", core["bytes"], ours["bytes"], "{:.1f}"),
        ("line time (ms)", core["line_s"] * 1000, ours["line_s"] * 1000, "{:.1f}"),
        ("meters per line per second", 1 / core["line_s"], 1 / ours["line_s"], "{:.1f}"),
    ]
    for name, theirs, mine, shown in rows:
        ratio = mine / theirs if name.startswith("meters") else theirs / mine
        print(f"{name:32} {shown.format(theirs):>12} {shown.format(mine):>13} {ratio:>5.2f}x")
    print(
        f"RESULT core_transactions={core['transactions']:.2f} "
        f"ours_transactions={ours['transactions']:.2f} core_bytes={core['bytes']:.1f} "
        f"ours_bytes={ours['bytes']:.1f} core_line_ms={core['line_s'] * 1000:.1f} "
        f"ours_line_ms={ours['line_s'] * 1000:.1f} core_meters_per_s={1 / core['line_s']:.1f} "
        f"ours_meters_per_s={1 / ours['line_s']:.1f} ratio={core['line_s'] / ours['line_s']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

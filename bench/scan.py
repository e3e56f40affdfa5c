"""Benchmark: how long a bus scan of silent unit ids takes, against what the setup form promises.

Run on demand (it is not a test)::

    .venv/bin/python bench/scan.py [--ids 12] [--link-timeout 1.0] [--framing tcp|rtu]

A simulator process serves one Series 2000 at unit 1. A ``Bus`` opens it with a 1.0 s answer
timeout (a meter set up on the link), reads that meter, then scans ``--ids`` unit ids where
nothing answers, as the Home Assistant setup flow does (``async_scan`` with the scan's own
timeout on the shared link). It prints the time the scan took, the requests each silent id
cost (counted by the simulator), and the promise the form shows for that many ids
(``config_flow.scan_promise``: one request each at 0.6 s, a tenth to spare). The last line is::

    RESULT ids=12 scan_s=... promised_s=... requests_per_silent_id=...
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.simulator_process import SimulatorProcess

from leviton_driver import SCAN_TIMEOUT, Bus


async def main(ids: int, link_timeout: float, framing: str) -> int:
    sim = await SimulatorProcess.start("1:2000", framing=framing)
    bus = Bus(f"{sim.url}?timeout={link_timeout}")
    try:
        meter = await bus.async_meter(1)
        await meter.async_read()
        silent = range(2, 2 + ids)
        started = time.monotonic()
        result = await bus.async_scan(silent)
        took = time.monotonic() - started
        requests = [await sim.unanswered(unit) for unit in silent]
        await meter.async_read()  # the set-up meter reads as before afterwards
    finally:
        await bus.async_close()
        await sim.stop()
    promised = math.ceil(ids * SCAN_TIMEOUT * 1.1)
    per_id = max(requests)
    print(
        f"{ids} silent unit ids on a link with a {link_timeout:g} s timeout, scanned at {SCAN_TIMEOUT} s"
    )
    print(
        f"  scan took {took:.2f} s (the form promises up to {promised} s); found {len(result.found)}"
    )
    print(f"  requests per silent id: {requests}")
    print(
        f"RESULT ids={ids} scan_s={took:.2f} promised_s={promised} requests_per_silent_id={per_id}"
    )
    return 0 if took <= promised and per_id == 1 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, default=12)
    parser.add_argument("--link-timeout", type=float, default=1.0)
    parser.add_argument("--framing", choices=("tcp", "rtu"), default="tcp")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.ids, args.link_timeout, args.framing)))

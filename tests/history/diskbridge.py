"""The bridge with its history on a small filesystem of its own, driven over standard input:
what the full-disk and read-only tests run. Started (by ``conftest.DiskBridge``) inside a
private mount namespace (``unshare --mount --map-root-user``) that has a tmpfs mounted at
FOLDER, so that the disk is real (a full one answers ENOSPC, a read-only one EROFS) without
root and without touching the machine's mounts. SQLite resolves the paths it opens, so the
bridge must run where the mount is, not reach it through ``/proc/<pid>/root``.

It runs simulated meters (a Series 2000 at 12 kW) and the bridge (BACnet/IP, the status page
and the history at FOLDER/history.sqlite3, 5-minute intervals) in one event loop, on a held
clock, prints ``{"ready": ..., "page": URL}``, then answers one JSON line per command:

* ``{"boundary": K}``: the meters' clock to the K-th boundary after the start; waits until
  they have been read there and the history's cycle for it is over (written or failed);
* ``{"fill": true}`` / ``{"free": true}``: a file that fills the filesystem / its removal;
* ``{"remount": "rw"}``: the filesystem read-write again;
* ``{"rows": [K1, K2]}``: the meter's totals at the boundaries K1..K2, as stored;
* ``{"stop": true}``: stop the bridge and exit.

Each answer carries the history's ``problem``, ``until`` (the boundary written up to, as a
K), queued rows, the poll cycles so far, the meter's total at the clock's time (as its
register shows it), and the history's log lines so far.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from leviton_bridge.daemon import Bridge, parse
from leviton_bridge.history.face import HistoryFace
from leviton_bridge.simulator import MeterSimulator, MeterSpec
from leviton_driver import Clocks

INTERVAL = 300
EPOCH = 1_795_000_000 - 1000


class Held:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def _free(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main(folder: Path) -> None:
    lines = Lines()
    logging.getLogger("leviton_bridge.history").addHandler(lines)
    logging.getLogger("leviton_bridge.history").setLevel(logging.INFO)
    clock = Held()
    sim = MeterSimulator([MeterSpec.parse("1:2000:load=12:energy=1000")], clock=clock)
    host, port = await sim.start_tcp("127.0.0.1", 0)
    page = f"127.0.0.1:{_free(socket.SOCK_STREAM)}"
    config = {
        "buses": [
            {
                "name": "lab",
                "connect": f"tcp://{host}:{port}?timeout=0.2",
                "poll_interval": 0.1,
                "meters": [{"unit": 1}],
            }
        ],
        "bacnet": {"address": f"127.0.0.1/32:{_free(socket.SOCK_DGRAM)}", "device_instance": 7},
        "http": {"listen": page},
        "history": {"interval": INTERVAL // 60, "path": str(folder / "history.sqlite3")},
        "state_dir": str(folder.parent / "state"),
    }
    bridge = Bridge(parse(config, "diskbridge"))
    clocks = Clocks(monotonic=clock, wall=lambda: EPOCH + clock.now)
    for poller in bridge.pollers:
        poller.meter_clocks = clocks
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    await bridge.started.wait()
    face = bridge.face("history")
    assert isinstance(face, HistoryFace)
    poller = bridge.pollers[0]
    await poller.wait_for_cycle(poller.cycles + 2)
    first = (int(EPOCH + clock.now) // INTERVAL + 1) * INTERVAL
    ballast = folder / "ballast"

    def k_of(boundary: int | None) -> int | None:
        return None if boundary is None else (boundary - first) // INTERVAL

    def state() -> dict[str, Any]:
        return {
            "problem": face.problem,
            "until": k_of(face.store.until),
            "queued": len(face.queued) if face.queued is not None else 0,
            "polls": poller.cycles,
            "total": int(sim.meters[1].energy_delivered() * 10) / 10,
            "read_at": k_of(int(bridge.states[0].snapshot.time))
            if bridge.states[0].snapshot is not None
            else None,
            "log": lines.lines,
        }

    print(json.dumps({"ready": True, "page": f"http://{page}", **state()}), flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while line := await reader.readline():
        command = json.loads(line)
        answer: dict[str, Any] = {}
        if "boundary" in command:
            boundary = first + command["boundary"] * INTERVAL
            cycles, errors = face.cycles, face.write_errors
            clock.now = boundary - EPOCH
            await poller.wait_for_cycle(poller.cycles + 2)
            await face.changes.wait_until(
                lambda cycles=cycles, errors=errors: (
                    face.cycles > cycles or face.write_errors > errors
                )
            )
        elif command.get("fill"):
            written = 0
            with ballast.open("wb") as out:
                while True:
                    try:
                        out.write(b"\0" * 4096)
                        out.flush()
                        written += 4096
                    except OSError as err:
                        if err.errno != errno.ENOSPC:
                            raise
                        break
            answer["filled"] = written
        elif command.get("free"):
            ballast.unlink()
        elif "remount" in command:
            mount = await asyncio.create_subprocess_exec(
                "mount", "-o", f"remount,{command['remount']}", str(folder)
            )
            assert await mount.wait() == 0
        elif "rows" in command:
            k1, k2 = command["rows"]
            _previous, rows = await face.intervals(
                "lab_u1", first + (k1 - 1) * INTERVAL, first + (k2 - 1) * INTERVAL
            )
            answer["rows"] = {
                str(k_of(row.end(INTERVAL))): row.series[0].delivered if row.series else None
                for row in rows
            }
        elif command.get("stop"):
            break
        print(json.dumps({**answer, **state()}), flush=True)
    stop.set()
    await task
    await sim.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))

"""Soak: thousands of polls with injected faults on TCP, RTU over TCP and a serial pty bus,
published to a real mosquitto; what an operator would see must stay right.

Run on demand (it is not a test; about a minute and a half)::

    .venv/bin/python bench/soak.py [--polls 3000] [--fault-rate 0.05] [--interval 0.1]

Three simulator processes (``leviton-bridge simulate --control``), one per kind of link (a socat
pty pair for the serial one), each with two Series 2000, a Series 1000 and a Series 8000-8. The
bridge runs in this process (so that its cycle reports can be counted) and publishes to a
mosquitto started for the run; a paho client records everything the bridge publishes.

Once every meter has published a first state, faults are switched on in every simulator: about
``--fault-rate`` of the answers time out, come late, fail their CRC, are cut short, are garbage,
or are Modbus exceptions (CRC and short answers only where frames are RTU). Every 10 seconds one
meter of each bus is unplugged (silenced) until the bridge shows it offline, then plugged back.

Counted:

* ``polls``: tries at a meter, from the bridge's cycle reports (at least ``--polls`` a bus);
* ``crashes``: bridge tasks that ended, and errors the event loop saw; ``tracebacks``: log
  records with one;
* ``backwards``: an energy total published lower than the one before it (per meter and point);
* ``wrong``: a value published that the meter does not hold. The meters without load hold
  constant values: every state must equal the first one; those with load must stay between
  their totals at the start and at the end;
* ``flaps_pct``: availability changes not caused by an unplugged meter, per 100 polls;
* ``offline_polls_max``: polls of an unplugged meter until it showed offline (3 expected);
* ``recover_p99_s``: from plugging a meter back until it shows online again.

The last line::

    RESULT polls=... crashes=... tracebacks=... backwards=... wrong=... flaps_pct=...
    offline_polls_max=... recover_p99_s=...

``--restarts N`` soaks restarts instead: the bridge runs as a process (``leviton-bridge run``)
against one simulator whose meters' totals glitch (``--glitch`` of the reads answer 0 or a
thousand times the total) and is killed with SIGKILL at a random moment (after a random number
of its states, up to a few seconds' worth), N times, each time started again. Every total it
published is read in order, per meter and point:

* ``backwards``: a total lower than the one published before it;
* ``spikes``: a total more than ``SPIKE_KWH`` above the one before it (the meters' loads count
  far less than that between two states): a glitch published as a total.

    RESULT restarts=... states=... glitches=... backwards=... spikes=...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import free_port
from support.mosquitto import Broker
from support.serial import pty_pair
from support.simulator_process import SimulatorProcess

from leviton_bridge.config import parse_config
from leviton_bridge.core.meter_state import CycleReport, MeterState
from leviton_bridge.core.poller import BusPoller
from leviton_bridge.daemon import Bridge

METERS = (
    "1:2000:load=0:energy=1000.5:peak=3.25",
    "2:2000:load=7.2",
    "3:1000:load=0",
    "4:8000-8:load=0",
)
LOADED_UNITS = {2}
OUTAGE_UNIT = 3
OUTAGE_EVERY_S = 10.0
#: Readings that change by themselves on a meter without load.
MOVING = {"uptime", "derived_power"}


def fault_rates(framing: str, total: float) -> dict[str, float]:
    kinds = ["timeout", "late", "garbage", "exception"] + (
        ["crc", "short"] if framing == "rtu" else []
    )
    weights = {"late": 0.25, "exception": 0.5}
    raw = {kind: weights.get(kind, 1.0) for kind in kinds}
    scale = total / sum(raw.values())
    return {kind: weight * scale for kind, weight in raw.items()}


class Recorder:
    """Every state and availability message the bridge publishes, in order, with its time."""

    def __init__(self, broker: Broker) -> None:
        self.states: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.availability: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-recorder")
        self.client.on_connect = lambda c, *_: c.subscribe(
            [("leviton/+/state", 1), ("leviton/+/availability", 1)]
        )
        self.client.on_message = self._message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        _, meter_id, kind = message.topic.split("/")
        if not message.payload:
            return
        with self.lock:
            if kind == "state":
                self.states[meter_id].append(json.loads(message.payload))
            else:
                self.availability[meter_id].append((time.monotonic(), message.payload.decode()))

    def count(self) -> int:
        """States received so far."""
        with self.lock:
            return sum(len(messages) for messages in self.states.values())

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Counting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.tracebacks: list[str] = []
        self.warnings = 0
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.tracebacks.append(f"{record.name}: {record.getMessage()}")
        if record.levelno >= logging.WARNING:
            self.warnings += 1
            self.kinds[re.sub(r"[0-9.:]+", "#", record.getMessage())[:110]] += 1


def values_of(state: dict[str, Any]) -> dict[tuple[int, str], float]:
    found = {(0, key): value for key, value in state["readings"].items() if value is not None}
    for point, readings in state.get("points", {}).items():
        found |= {(int(point), key): value for key, value in readings.items() if value is not None}
    return found


async def outage(sim: SimulatorProcess, poller: BusPoller, meter: MeterState) -> tuple[int, float]:
    """Unplug ``meter`` until the bridge shows it offline, then plug it back: (its polls
    until offline, seconds until online again)."""
    await sim.silence(meter.config.unit)
    tries = 0
    number = poller.cycles
    while meter.available:
        report = await poller.wait_for_cycle(number + 1)
        tries += sum(1 for a in report.attempts if a.meter_id == meter.meter_id)
        number = report.number
    await sim.unsilence(meter.config.unit)
    back = time.monotonic()
    while not meter.available:
        await poller.wait_for_cycle(poller.cycles + 1)
    return tries, time.monotonic() - back


async def run(polls_per_bus: int, rate: float, interval: float) -> int:
    counting = Counting()
    logging.getLogger().addHandler(counting)
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # as ``leviton-bridge run`` does
    loop_errors: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _l, ctx: loop_errors.append(str(ctx.get("message")))
    )
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = Broker(mosquitto, folder, free_port())
    broker.start()
    recorder = Recorder(broker)
    with pty_pair(folder) as (meter_tty, client_tty):
        sims = {
            "tcp": await SimulatorProcess.start(*METERS, framing="tcp"),
            "rtu": await SimulatorProcess.start(*METERS, framing="rtu"),
            "serial": await SimulatorProcess.start(*METERS, serial=meter_tty),
        }
        urls = {
            "tcp": sims["tcp"].url,
            "rtu": sims["rtu"].url,
            "serial": f"serial://{client_tty}?baud=9600",
        }
        config = {
            "log_level": "info",
            "mqtt": {"url": broker.url, "client_id": "soak-bridge"},
            "buses": [
                {
                    "name": name,
                    "connect": f"{url}{'&' if '?' in url else '?'}timeout=0.3",
                    "poll_interval": interval,
                    "meters": [{"unit": int(m.split(":")[0])} for m in METERS],
                }
                for name, url in urls.items()
            ],
        }
        bridge = Bridge(parse_config(config, "soak"))
        polls: dict[str, int] = defaultdict(int)

        def counter(name: str) -> Any:
            def count(report: CycleReport) -> None:
                polls[name] += len(report.attempts)

            return count

        for poller in bridge.pollers:
            poller.cycle_listeners.append(counter(poller.config.name))
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        started = time.monotonic()
        while not all(recorder.states.get(s.meter_id) for s in bridge.states):
            if task.done():
                break
            await asyncio.sleep(0.1)  # a benchmark may watch the clock; tests may not
        reference = {s.meter_id: values_of(recorder.states[s.meter_id][0]) for s in bridge.states}
        at_start = {pid: dict(v) for pid, v in reference.items()}
        for sim in sims.values():
            await sim.faults(**fault_rates(sim.framing, rate))
        faults_on = time.monotonic()
        polls.clear()
        outage_windows: dict[str, list[tuple[float, float]]] = defaultdict(list)
        offline_polls: list[int] = []
        recoveries: list[float] = []
        next_outage = time.monotonic() + OUTAGE_EVERY_S
        print(
            f"faults on ({rate:.0%} of answers); polling until every bus has {polls_per_bus} polls"
        )
        while (
            min((polls[p.config.name] for p in bridge.pollers), default=0) < polls_per_bus
            and not task.done()
        ):
            if time.monotonic() >= next_outage:
                jobs = []
                for poller in bridge.pollers:
                    meter = next(s for s in poller.states if s.config.unit == OUTAGE_UNIT)
                    jobs.append(outage(sims[poller.config.name], poller, meter))
                begun = time.monotonic()
                for poller, (tries, recovered) in zip(
                    bridge.pollers, await asyncio.gather(*jobs), strict=True
                ):
                    meter_id = next(
                        s.meter_id for s in poller.states if s.config.unit == OUTAGE_UNIT
                    )
                    outage_windows[meter_id].append((begun, time.monotonic() + 1.0))
                    offline_polls.append(tries)
                    recoveries.append(recovered)
                next_outage = time.monotonic() + OUTAGE_EVERY_S
            await asyncio.sleep(0.2)
        for sim in sims.values():
            await sim.faults()
        at_end = {}
        for poller in bridge.pollers:
            await poller.wait_for_cycle(poller.cycles + 2)
        for state in bridge.states:
            at_end[state.meter_id] = values_of(recorder.states[state.meter_id][-1])
        stopping = time.monotonic()  # the bridge says offline for every meter as it stops
        stop.set()
        crashed = task.done() and task.exception() is not None
        await asyncio.wait_for(task, 30)
        took = time.monotonic() - started
        for sim in sims.values():
            await sim.stop()
    recorder.stop()
    broker.stop()

    backwards = wrong = flaps = 0
    flapped: Counter[str] = Counter()
    problems: list[str] = []
    for state in bridge.states:
        meter_id = state.meter_id
        loaded = state.config.unit in LOADED_UNITS
        last: dict[tuple[int, str], float] = {}
        for message in recorder.states[meter_id]:
            for key, value in values_of(message).items():
                if key[1] in MOVING:
                    continue
                if key[1].startswith("energy") or key[1].startswith("reactive_energy"):
                    if key in last and value < last[key]:
                        backwards += 1
                        problems.append(f"{meter_id} {key}: {last[key]} then {value}")
                    last[key] = value
                if loaded:
                    low, high = at_start[meter_id].get(key), at_end[meter_id].get(key)
                    if (
                        key[1].startswith("energy")
                        and low is not None
                        and high is not None
                        and not low - 0.1 <= value <= high + 0.1
                    ):
                        wrong += 1
                        problems.append(f"{meter_id} {key}: {value} outside {low}..{high}")
                elif value != reference[meter_id].get(key):
                    wrong += 1
                    problems.append(
                        f"{meter_id} {key}: {value}, the meter holds {reference[meter_id].get(key)}"
                    )
        windows = outage_windows.get(meter_id, [])
        for when, value in recorder.availability[meter_id]:
            if (
                value == "offline"
                and faults_on < when < stopping
                and not any(a <= when <= b for a, b in windows)
            ):
                flaps += 1
                flapped[meter_id] += 1
    total = sum(polls.values())
    crashes = int(crashed) + len(loop_errors)
    p99 = sorted(recoveries)[math.ceil(0.99 * len(recoveries)) - 1] if recoveries else 0.0
    print(f"{total} polls in {took:.0f} s: " + ", ".join(f"{b} {n}" for b, n in polls.items()))
    print(f"  {counting.warnings} warnings logged; {len(counting.tracebacks)} tracebacks")
    for message, count in counting.kinds.most_common(8):
        print(f"  {count:5d} x {message}")
    print(f"  availability changes not caused by an outage: {dict(flapped)}")
    for line in (problems + counting.tracebacks + loop_errors)[:10]:
        print(f"  {line}")
    print(
        f"  outages: {len(offline_polls)}; polls until offline {offline_polls}; recovery s {[round(r, 2) for r in recoveries]}"
    )
    flaps_pct = 100 * flaps / total if total else 0.0
    print(
        f"RESULT polls={total} crashes={crashes} tracebacks={len(counting.tracebacks)} "
        f"backwards={backwards} wrong={wrong} flaps_pct={flaps_pct:.3f} "
        f"warnings={counting.warnings} "
        f"offline_polls_max={max(offline_polls, default=0)} recover_p99_s={p99:.2f}"
    )
    healthy = not (crashes or counting.tracebacks or backwards or wrong) and flaps_pct < 0.5
    return 0 if healthy and max(offline_polls, default=0) <= 3 else 1


SPIKE_KWH = 0.5
RESTART_METERS = (
    "1:2000:load=30:energy=3000",
    "2:2000:load=0:energy=2008",
    "3:1000:load=5:energy=800",
    "4:8000-24:load=16:energy=1600",
)


async def run_restarts(restarts: int, glitch: float, interval: float, seed: int) -> int:
    """Kill the bridge (SIGKILL) at random moments while the meters' totals glitch."""
    import random
    import signal

    moments = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="soak-restarts-"))
    broker = Broker(shutil.which("mosquitto") or "/usr/sbin/mosquitto", folder, free_port())
    broker.start()
    recorder = Recorder(broker)
    sim = await SimulatorProcess.start(*RESTART_METERS, framing="tcp")
    config = {
        "log_level": "warning",
        "state_dir": str(folder / "state"),
        "mqtt": {"url": broker.url, "client_id": "soak-restarts"},
        "buses": [
            {
                "name": "lab",
                "connect": f"{sim.url}?timeout=0.3",
                "poll_interval": interval,
                "meters": [{"unit": int(m.split(":")[0])} for m in RESTART_METERS],
            }
        ],
    }
    path = folder / "bridge.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    bridge = (
        shutil.which("leviton-bridge", path=str(Path(sys.executable).parent)) or "leviton-bridge"
    )
    log = (folder / "bridge.log").open("w")
    started = time.monotonic()
    try:
        for restart in range(restarts):
            process = await asyncio.create_subprocess_exec(
                bridge, "run", "--config", str(path), stdout=log, stderr=log
            )
            before = recorder.count()
            wanted = moments.randint(1, 40)
            while recorder.count() < before + wanted and process.returncode is None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # a benchmark may watch the clock; tests may not
            process.send_signal(signal.SIGKILL)
            await process.wait()
            if restart == 0:  # the very first start has nothing to start from
                for unit in (int(m.split(":")[0]) for m in RESTART_METERS):
                    await sim.set(unit, glitch=glitch)
        await asyncio.sleep(0.5)  # the last states in flight
        glitches = 0
        for spec in RESTART_METERS:
            glitches += (await sim.meter(int(spec.split(":")[0])))["glitches"]
    finally:
        log.close()
        await sim.stop()
        recorder.stop()
        broker.stop()
    backwards = spikes = states = 0
    examples: list[str] = []
    for meter_id, messages in recorder.states.items():
        states += len(messages)
        last: dict[tuple[int, str], float] = {}
        for message in messages:
            for key, value in values_of(message).items():
                if not key[1].startswith(("energy", "reactive_energy")):
                    continue
                before_value = last.get(key)
                if before_value is not None and value < before_value:
                    backwards += 1
                    examples.append(f"{meter_id} {key}: {before_value} then {value}")
                elif before_value is not None and value - before_value > SPIKE_KWH:
                    spikes += 1
                    examples.append(f"{meter_id} {key}: {before_value} then {value} (spike)")
                last[key] = value
    print(
        f"{restarts} restarts (SIGKILL) in {time.monotonic() - started:.0f} s; {states} states "
        f"published; {glitches} glitched reads served"
    )
    for line in examples[:10]:
        print(f"  {line}")
    print(
        f"RESULT restarts={restarts} states={states} glitches={glitches} backwards={backwards} "
        f"spikes={spikes}"
    )
    return 0 if backwards == spikes == 0 else 1


def main() -> int:
    # The bridge keeps its state (the totals last shown) in a folder of this run's own.
    os.environ["STATE_DIRECTORY"] = tempfile.mkdtemp(prefix="leviton-bench-state-")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=3000, help="polls per bus (default 3000)")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of answers spoiled")
    parser.add_argument("--interval", type=float, default=0.1, help="poll interval, seconds")
    parser.add_argument(
        "--restarts", type=int, default=0, help="soak N restarts (kill -9) instead, see above"
    )
    parser.add_argument("--glitch", type=float, default=0.3, help="with --restarts: glitch rate")
    parser.add_argument("--seed", type=int, default=1, help="with --restarts: the random moments")
    args = parser.parse_args()
    if args.restarts:
        return asyncio.run(run_restarts(args.restarts, args.glitch, args.interval, args.seed))
    return asyncio.run(run(args.polls, args.fault_rate, args.interval))


if __name__ == "__main__":
    sys.exit(main())

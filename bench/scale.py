"""Benchmark: the bridge with 500 meters behind 25 gateways, publishing to mosquitto.

Run on demand (it is not a test)::

    .venv/bin/python bench/scale.py [--gateways 25] [--s2000 16] [--s8000 4]
        [--points 24] [--interval 10] [--cycles 4] [--baud 9600] [--page]

What runs, each in its own process so that the bridge's CPU is measured alone:

* mosquitto, on a free loopback port (persistence off), started here;
* the simulated meters: ``--gateways`` Modbus TCP gateways (one ``MeterSimulator`` each, all in
  one helper process: this script with ``simulators``), each with ``--s2000`` Series 2000 meters
  (units 1..16) and ``--s8000`` Series 8000 meters of ``--points`` points (units 17..20), behind an
  emulated RS485 line at ``--baud`` (each answer waits its wire time; 0 turns this off);
* the bridge: ``leviton-bridge run --config FILE``, every bus polled every ``--interval`` s;
* a subscriber, here, to everything under the bridge's base topic.

It waits until every meter has published a state (identification is the first cycle), then
measures ``--cycles`` poll intervals:

* ``cpu_per_cycle_s``: the bridge process's CPU time (user + system, all threads) during the
  window, divided by the number of cycles;
* ``rss_mb``: the bridge's peak resident memory (VmHWM, over its whole life, start-up included);
* ``msgs_per_s``: messages the bridge published in the window (everything the subscriber got);
* ``lag_p50_s`` / ``lag_p99_s``: from a read to its publish, end to end: each state's ``time``
  (wall clock right after the meter's answer, to the millisecond) against the wall clock when
  the subscriber received it. This is an upper bound of the bridge's own read-to-publish time:
  it also holds the broker's and the subscriber's share.

With ``--page`` the bridge also serves its status page (an ``http:`` section), and after the
window above the CPU is measured in ``--page-rounds`` rounds of two windows of ``--cycles``
poll intervals each: one with no page open, then one with the page's live stream open (a client
here reads ``/api/events`` as a browser's page does: every update of every meter, and with
``--page-points`` every Series 8000's metering points, as if each were opened on the page; the
window starts once the page's first snapshot has arrived, as a page that stays open has long
had it).
Alternating the two cancels the drift of a machine that is busy with other work.
``page_cpu_rise`` is the open windows' CPU against the closed ones' (the target: under 10 %);
each round's figure is shown too.

With ``--history`` the bridge keeps its interval history (a ``history:`` section, 5-minute
intervals, in its own state folder), and the CPU is measured in ``--history-rounds`` rounds
of two bridges run side by side on the same meters (each gateway answers both, one request at
a time on its line, as a gateway with two masters does): one without the history and one with
it (which starts first alternates), measured over the same ``--cycles`` poll intervals from
one interval after both have published every meter, then stopped (the simulators and the broker stay up; both bridges run
with one ``PYTHONHASHSEED``). Measured in the same window, the two share whatever else the
machine does (run one after the other, rounds swung 10 % either way from bridge to bridge);
``history_cpu_rise`` is the bridges with a history against those without (the target: under
5 %), each round's figure shown too. What a boundary's write costs is measured apart,
by ``bench/history.py``: at 5-minute intervals a window holds a boundary now and then.

The last line is machine-readable::

    RESULT cpu_per_cycle_s=... rss_mb=... msgs_per_s=... lag_p99_s=...
    [page_closed_cpu_per_cycle_s=... page_open_cpu_per_cycle_s=... page_cpu_rise=...]
    [history_off_cpu_per_cycle_s=... history_on_cpu_per_cycle_s=... history_cpu_rise=...]

Targets (for the default 500 meters every 10 s): under 0.4 CPU-second per cycle, under 150 MB,
p99 lag under 0.2 s. The exit code is 1 when a target is missed (or a meter did not publish).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
import psutil
import yaml
from paho.mqtt.enums import CallbackAPIVersion

TARGET_CPU_PER_CYCLE: Final = 0.4
TARGET_RSS_MB: Final = 150.0
TARGET_LAG_P99: Final = 0.2
TARGET_PAGE_RISE: Final = 0.10
TARGET_HISTORY_RISE: Final = 0.05
BASE: Final = "leviton"
BRIDGE: Final = shutil.which("leviton-bridge") or str(
    Path(sys.executable).with_name("leviton-bridge")
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _meter_specs(args: argparse.Namespace) -> list[str]:
    specs = [f"{unit}:2000:load={2 + unit % 7}" for unit in range(1, args.s2000 + 1)]
    specs += [
        f"{unit}:8000-{args.points}:load=30"
        for unit in range(args.s2000 + 1, args.s2000 + args.s8000 + 1)
    ]
    return specs


# -- the simulator helper process ------------------------------------------------------------


async def serve_simulators(args: argparse.Namespace) -> None:
    """Start the gateways, print their ports as one JSON line, serve until stdin closes."""
    import logging

    from leviton_bridge.simulator import LineSettings, MeterSimulator, MeterSpec

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    line = LineSettings(baud=args.baud) if args.baud else None
    simulators = [
        MeterSimulator([MeterSpec.parse(s) for s in _meter_specs(args)], line=line)
        for _ in range(args.gateways)
    ]
    ports = [(await sim.start_tcp("127.0.0.1", 0))[1] for sim in simulators]
    print(json.dumps({"ports": ports}), flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the benchmark ends (or dies)
    for sim in simulators:
        await sim.stop()


# -- the subscriber --------------------------------------------------------------------------


@dataclass
class Counts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: int = 0
    states: int = 0
    lags: list[float] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    offline: set[str] = field(default_factory=set)
    measuring: bool = False


def _subscriber(port: int, counts: Counts) -> mqtt.Client:
    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        received = time.time()
        topic = message.topic
        with counts.lock:
            if counts.measuring:
                counts.messages += 1
            if topic.endswith("/state") and message.payload:
                counts.seen.add(topic)
                if counts.measuring:
                    counts.states += 1
                    read = datetime.fromisoformat(json.loads(message.payload)["time"])
                    counts.lags.append(received - read.timestamp())
            elif topic.endswith("/availability"):
                meter = topic.split("/")[-2]
                if message.payload == b"offline":
                    counts.offline.add(meter)
                else:
                    counts.offline.discard(meter)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-subscriber")
    client.on_connect = lambda c, *_: c.subscribe(f"{BASE}/#", qos=1)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


# -- the benchmark ---------------------------------------------------------------------------


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (Linux): the most resident memory the process ever had."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class PageStream:
    """What a browser's open status page does: read ``/api/events`` (every update of every
    meter), in a thread, until closed."""

    def __init__(self, port: int, points: bool = False) -> None:
        self.events = 0
        self.bytes = 0
        self.snapshot = threading.Event()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        path = b"/api/events?points=all" if points else b"/api/events"
        self._sock.sendall(
            b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, name="page stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        tail = b""
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            self.bytes += len(data)
            seen = tail + data
            self.events += seen.count(b"\nevent: ") - tail.count(b"\nevent: ")
            if b"event: snapshot" in seen:
                self.snapshot.set()
            tail = seen[-16:]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._sock.close()


def _window(process: psutil.Process, seconds: float) -> float:
    """The process's CPU seconds during ``seconds`` of wall time."""
    before = _cpu(process)
    time.sleep(seconds)
    return _cpu(process) - before


@dataclass
class Site:
    """The simulated gateways and the broker a benchmark's bridges talk to."""

    folder: Path
    port: int
    """The broker's."""
    config: dict[str, Any]
    """A bridge's configuration for every gateway's meters, publishing to the broker."""
    counts: Counts


@contextlib.contextmanager
def _site(args: argparse.Namespace, mosquitto: str) -> Iterator[Site]:
    """Start mosquitto, the simulated gateways (this script with ``simulators``, one helper
    process) and a subscriber that counts what is published; stop them all afterwards."""
    with tempfile.TemporaryDirectory(prefix="leviton-scale-") as folder_name:
        folder = Path(folder_name)
        port = _free_port()
        config_file = folder / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        if os.geteuid() == 0:
            lines.append("user root")
        config_file.write_text("\n".join(lines) + "\n")
        broker = subprocess.Popen([mosquitto, "-c", str(config_file)], stderr=subprocess.DEVNULL)
        simulators = subprocess.Popen(
            [sys.executable, __file__, "simulators", *(a for a in sys.argv[1:] if a != "run")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        subscriber: mqtt.Client | None = None
        try:
            assert simulators.stdout is not None
            ports = json.loads(simulators.stdout.readline())["ports"]
            config: dict[str, Any] = {
                "log_level": "warning",
                "buses": [
                    {
                        "name": f"gw{index + 1:02d}",
                        "connect": f"tcp://127.0.0.1:{gateway}",
                        "poll_interval": args.interval,
                        "meters": [
                            {"unit": unit} for unit in range(1, args.s2000 + args.s8000 + 1)
                        ],
                    }
                    for index, gateway in enumerate(ports)
                ],
                "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "base_topic": BASE},
            }
            counts = Counts()
            subscriber = _subscriber(port, counts)
            yield Site(folder, port, config, counts)
        finally:
            if subscriber is not None:
                subscriber.disconnect()
                subscriber.loop_stop()
            if simulators.stdin is not None:
                simulators.stdin.close()
            try:
                simulators.wait(timeout=10)
            except subprocess.TimeoutExpired:
                simulators.kill()
            broker.terminate()
            broker.wait(timeout=10)


def _bridges_side_by_side(
    folder: Path,
    configs: dict[str, dict[str, Any]],
    counts: Counts,
    meters: int,
    args: argparse.Namespace,
    profile: str | None = None,
) -> dict[str, float]:
    """Run a bridge for each of ``configs`` at once, on the same meters (each with a state
    folder, an MQTT client id and a base topic of its own), until every one has published
    every meter; measure each one's CPU a cycle over the same ``--cycles`` poll intervals;
    stop them (SIGTERM). Measured in one window, the bridges share whatever else the
    machine does at the time. With ``profile``, each runs under cProfile (``profile.NAME``)."""
    # One hash seed for every bridge: dicts and sets laid out alike, so that two processes
    # differ in what they run, not in where their objects fell.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    with counts.lock:
        counts.seen.clear()
    bridges: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, config in configs.items():
            own = {
                **config,
                "mqtt": {
                    **config["mqtt"],
                    "client_id": f"leviton-bridge-{name}",
                    "base_topic": f"{config['mqtt']['base_topic']}/{name}",
                },
            }
            path = folder / f"{name}.yaml"
            path.write_text(yaml.safe_dump(own))
            state = folder / f"state-{name}"
            state.mkdir(exist_ok=True)
            command = [BRIDGE, "run", "--config", str(path)]
            if profile:
                command = [sys.executable, "-m", "cProfile", "-o", f"{profile}.{name}", *command]
            with (folder / f"{name}.log").open("ab") as log:
                bridges[name] = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=log,
                    env={**environment, "STATE_DIRECTORY": str(state)},
                )
        processes = {name: psutil.Process(bridge.pid) for name, bridge in bridges.items()}
        started = time.monotonic()
        while len(counts.seen) < meters * len(bridges):
            for name, bridge in bridges.items():
                if bridge.poll() is not None:
                    raise SystemExit(f"the bridge exited ({bridge.returncode}): see {name}.log")
            if time.monotonic() - started > max(120, 6 * args.interval):
                raise SystemExit(
                    f"only {len(counts.seen)} of {meters * len(bridges)} meter states published"
                )
            time.sleep(0.2)
        # A cycle's grace: a fresh history first identifies and starts every meter's series.
        time.sleep(args.interval)
        before = {name: _cpu(process) for name, process in processes.items()}
        time.sleep(args.cycles * args.interval)
        cpu = {
            name: (_cpu(process) - before[name]) / args.cycles
            for name, process in processes.items()
        }
        for bridge in bridges.values():
            bridge.send_signal(signal.SIGTERM)
        for bridge in bridges.values():
            bridge.wait(timeout=60)
        return cpu
    finally:
        for bridge in bridges.values():
            if bridge.poll() is None:
                bridge.kill()
                bridge.wait()


def run_history(args: argparse.Namespace, mosquitto: str) -> int:
    """``--history``: bridges without and with the history, alternated (see the module)."""
    meters = args.gateways * (args.s2000 + args.s8000)
    print(
        f"{meters} meters polled every {args.interval:g} s: {args.history_rounds} rounds of a "
        f"bridge without the history and one with it side by side on the same meters, "
        f"{args.cycles} cycles each",
        flush=True,
    )
    rounds: list[tuple[float, float]] = []
    with _site(args, mosquitto) as site:
        with_history = {**site.config, "history": {"interval": 5}}
        configs = {"off": site.config, "on": with_history}
        for number in range(args.history_rounds):
            # Which starts first (and so which meets the other's requests on the lines first)
            # alternates from round to round.
            order = dict(reversed(configs.items())) if number % 2 else configs
            cpu = _bridges_side_by_side(site.folder, order, site.counts, meters, args)
            off, on = cpu["off"], cpu["on"]
            rounds.append((off, on))
            rise = f"{on / off - 1:+.1%}" if off else "too small to tell"
            print(f"  round {number + 1}: {off:.3f} -> {on:.3f} s ({rise})", flush=True)
        if args.profile:  # apart: cProfile slows the bridges, its figures are not a round's
            _bridges_side_by_side(site.folder, configs, site.counts, meters, args, args.profile)
    off = statistics.fmean(o for o, _ in rounds)
    on = statistics.fmean(o for _, o in rounds)
    if not off:
        print("history: the bridge used too little CPU to compare (more meters, more cycles)")
        return 2
    rise = on / off - 1
    print(
        f"history: bridge CPU {off:.3f} s a cycle without it, {on:.3f} s with it: {rise:+.1%} "
        f"(target under +{TARGET_HISTORY_RISE:.0%})"
    )
    print(
        f"RESULT history_off_cpu_per_cycle_s={off:.3f} history_on_cpu_per_cycle_s={on:.3f} "
        f"history_cpu_rise={rise:.3f}"
    )
    return 0 if rise < TARGET_HISTORY_RISE else 1


def run(args: argparse.Namespace) -> int:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        print("mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    if args.history:
        return run_history(args, mosquitto)
    meters = args.gateways * (args.s2000 + args.s8000)
    print(
        f"{meters} meters ({args.gateways * args.s2000} Series 2000, "
        f"{args.gateways * args.s8000} Series 8000-{args.points}) behind {args.gateways} "
        f"gateways{f' on {args.baud}-baud lines' if args.baud else ''}, polled every "
        f"{args.interval:g} s; measuring {args.cycles} cycles",
        flush=True,
    )
    with _site(args, mosquitto) as site:
        folder, counts = site.folder, site.counts
        bridge: subprocess.Popen[bytes] | None = None
        try:
            bridge_config = dict(site.config)
            page_port = _free_port()
            if args.page:
                bridge_config["http"] = {"listen": f"127.0.0.1:{page_port}"}
            config_path = folder / "bridge.yaml"
            config_path.write_text(yaml.safe_dump(bridge_config))
            log = (folder / "bridge.log").open("wb")
            command = [BRIDGE, "run", "--config", str(config_path)]
            if args.profile:  # cProfile the bridge's main thread (asyncio: polling, publishing)
                command = [sys.executable, "-m", "cProfile", "-o", args.profile, *command]
            bridge = subprocess.Popen(command, stdout=log, stderr=log)
            process = psutil.Process(bridge.pid)
            started = time.monotonic()
            while len(counts.seen) < meters:
                if bridge.poll() is not None:
                    print((folder / "bridge.log").read_text(), file=sys.stderr)
                    raise SystemExit(f"the bridge exited ({bridge.returncode})")
                if time.monotonic() - started > max(120, 6 * args.interval):
                    raise SystemExit(f"only {len(counts.seen)} of {meters} meters published")
                time.sleep(0.2)
            print(
                f"every meter identified and published after {time.monotonic() - started:.1f} s "
                f"(bridge CPU so far {_cpu(process):.2f} s)",
                flush=True,
            )
            with counts.lock:
                counts.measuring = True
            cpu_before, window_start = _cpu(process), time.monotonic()
            time.sleep(args.cycles * args.interval)
            cpu_after, window = _cpu(process), time.monotonic() - window_start
            with counts.lock:
                counts.measuring = False
                offline = sorted(counts.offline)
            page: dict[str, float] = {}
            rounds: list[tuple[float, float]] = []
            if args.page:
                seconds = args.cycles * args.interval
                page["events"] = page["kb"] = 0.0
                for _ in range(args.page_rounds):
                    closed = _window(process, seconds) / args.cycles
                    stream = PageStream(page_port, points=args.page_points)
                    if not stream.snapshot.wait(30):
                        raise SystemExit("the status page's stream sent no snapshot")
                    events, received = stream.events, stream.bytes
                    opened = _window(process, seconds) / args.cycles
                    page["events"] += stream.events - events
                    page["kb"] += (stream.bytes - received) / 1024
                    stream.close()
                    rounds.append((closed, opened))
                page["closed"] = sum(c for c, _ in rounds) / len(rounds)
                page["open"] = sum(o for _, o in rounds) / len(rounds)
            rss_now = process.memory_info().rss / 2**20
            rss_peak = _peak_rss_mb(bridge.pid)
            bridge.send_signal(signal.SIGTERM)
            code = bridge.wait(timeout=30)
        finally:
            if bridge is not None and bridge.poll() is None:
                bridge.kill()
                bridge.wait()

    cpu_per_cycle = (cpu_after - cpu_before) / args.cycles
    msgs_per_s = counts.messages / window
    lags = counts.lags
    p50, p99 = _percentile(lags, 0.5), _percentile(lags, 0.99)
    per_cycle = counts.states / args.cycles
    print(
        f"bridge CPU: {cpu_after - cpu_before:.2f} s in {window:.1f} s = {cpu_per_cycle:.3f} s a cycle"
    )
    print(f"bridge memory: peak RSS {rss_peak:.1f} MB (now {rss_now:.1f} MB)")
    print(
        f"published: {counts.messages} messages in {window:.1f} s = {msgs_per_s:.1f}/s; "
        f"{per_cycle:.1f} states a cycle for {meters} meters; meters offline: {len(offline)}"
    )
    print(
        f"lag read -> received: p50 {p50:.3f} s, p99 {p99:.3f} s, max {max(lags):.3f} s, "
        f"mean {statistics.fmean(lags):.3f} s ({len(lags)} states)"
    )
    print(f"bridge exit code after SIGTERM: {code}")
    page_rise = 0.0
    if page:
        page_rise = page["open"] / page["closed"] - 1
        print(
            f"status page, {len(rounds)} rounds of {args.cycles} cycles closed then open: "
            + ", ".join(f"{c:.3f} -> {o:.3f} s ({o / c - 1:+.0%})" for c, o in rounds)
        )
        print(
            f"status page: CPU {page['closed']:.3f} s a cycle with no page open, "
            f"{page['open']:.3f} s with its live stream open ({page['events']:.0f} events, "
            f"{page['kb'] / len(rounds) / args.cycles:.0f} kB a cycle): "
            f"{page_rise:+.1%} with the page open"
        )
    met = {
        f"CPU < {TARGET_CPU_PER_CYCLE} s a cycle": cpu_per_cycle < TARGET_CPU_PER_CYCLE,
        f"RSS < {TARGET_RSS_MB:g} MB": rss_peak < TARGET_RSS_MB,
        f"p99 lag < {TARGET_LAG_P99} s": p99 < TARGET_LAG_P99,
        "every meter every cycle": per_cycle >= 0.98 * meters and not offline,
        "clean exit": code == 0,
    }
    if page:
        met[f"page open < +{TARGET_PAGE_RISE:.0%} CPU"] = page_rise < TARGET_PAGE_RISE
    print(
        "targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in met.items())
    )
    print(
        f"RESULT cpu_per_cycle_s={cpu_per_cycle:.3f} rss_mb={rss_peak:.1f} "
        f"msgs_per_s={msgs_per_s:.1f} lag_p99_s={p99:.3f}"
        + (
            f" page_closed_cpu_per_cycle_s={page['closed']:.3f}"
            f" page_open_cpu_per_cycle_s={page['open']:.3f} page_cpu_rise={page_rise:.3f}"
            if page
            else ""
        )
    )
    return 0 if all(met.values()) else 1


def main() -> int:
    # The bridge keeps its state (the totals last shown) in a folder of this run's own.
    os.environ["STATE_DIRECTORY"] = tempfile.mkdtemp(prefix="leviton-bench-state-")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("run", "simulators"), default="run")
    parser.add_argument("--gateways", type=int, default=25)
    parser.add_argument("--s2000", type=int, default=16, help="Series 2000 meters per gateway")
    parser.add_argument("--s8000", type=int, default=4, help="Series 8000 meters per gateway")
    parser.add_argument("--points", type=int, choices=(8, 12, 24), default=24)
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval, seconds")
    parser.add_argument("--cycles", type=int, default=4, help="poll intervals to measure")
    parser.add_argument(
        "--baud", type=int, default=9600, help="emulated RS485 line speed (0: no line)"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="write a cProfile of the bridge here (with --history: FILE.off and FILE.on)",
    )
    parser.add_argument(
        "--page",
        action="store_true",
        help="serve the status page and measure the CPU with its live stream open and closed",
    )
    parser.add_argument(
        "--page-rounds", type=int, default=4, help="with --page: closed/open window pairs"
    )
    parser.add_argument(
        "--history",
        action="store_true",
        help="measure the CPU of bridges without and with the history, alternated",
    )
    parser.add_argument(
        "--history-rounds", type=int, default=4, help="with --history: without/with pairs"
    )
    parser.add_argument(
        "--page-points",
        action="store_true",
        help="with --page: the page shows every Series 8000's points (a fresh page shows none)",
    )
    args = parser.parse_args()
    if args.mode == "simulators":
        asyncio.run(serve_simulators(args))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

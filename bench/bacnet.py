"""Benchmark: the bridge's BACnet/IP device with 100 simulated Series 8000-24 meters.

Run on demand (it is not a test)::

    /tmp/venv313/bin/python bench/bacnet.py [--meters 100] [--buses 4] [--interval 1.0]
                                            [--chunk 60] [--cov-seconds 10]

Three kinds of process, so that each number belongs to one of them:

* the simulators: ``--buses`` ``leviton-bridge simulate`` processes on loopback TCP, the meters
  (Series 8000-24, load 15,000 kW so every point's energy moves by more than its 0.1 kWh COV
  increment about every second) spread over them;
* the bridge: this process. ``leviton_bridge.daemon.Bridge`` with a ``bacnet:`` section (no
  MQTT), polling every bus every ``--interval`` seconds; about 100 x 147 = 14,700 objects;
* the BACnet client: a bacpypes3 application in a child process (this script with
  ``--client``), which reports what it measured as JSON lines on its standard output.

Measured:

* the time from the bridge's start until every object exists (identification included);
* ``rpm_sweep_s``: the wall time for the client to read the present value of every object with
  ReadPropertyMultiple, ``--chunk`` objects a request (a request that fits one 1476-byte APDU,
  unsegmented), one request outstanding at a time, as most BMS poll; and the same with four
  outstanding. With each sweep the CPU time the bridge process and the client used during it;
* reading the whole ``object-list`` at once (a ~74 KB, ~52-segment answer);
* COV: the client subscribes (unconfirmed, 300 s) to every point's energy-delivered object
  (2,400 with 100 meters) and counts the notifications that arrive in ``--cov-seconds``;
  notifications per second, and the bridge's CPU time per 1,000 of them;
* the bridge's memory: its resident set size (VmRSS) with every object created and after the
  sweeps and COV run (peak VmHWM).

The last line is machine-readable::

    RESULT objects=... rpm_sweep_s=... rss_mb=... cov_per_s=... sweep_bridge_cpu_s=...

Targets: ``rpm_sweep_s`` under 5 s and ``rss_mb`` under 400.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

TARGET_SWEEP_S: Final = 5.0
TARGET_RSS_MB: Final = 400.0
LOAD_KW: Final = 15000
POINTS: Final = 24
CLIENT_INSTANCE: Final = 599998
DEVICE_INSTANCE: Final = 59001


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()

    def mb(key: str) -> float:
        return int(fields[key].split()[0]) / 1024

    return mb("VmRSS"), mb("VmHWM")


# -- the client (a child process) ------------------------------------------------------------


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def _say(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


async def client_main(args: argparse.Namespace) -> int:
    from bacpypes3.apdu import (
        ReadPropertyMultipleRequest,
        SubscribeCOVRequest,
    )
    from bacpypes3.app import Application
    from bacpypes3.basetypes import PropertyIdentifier, PropertyReference, ReadAccessSpecification
    from bacpypes3.constructeddata import SequenceOf
    from bacpypes3.local.device import DeviceObject
    from bacpypes3.local.networkport import NetworkPortObject
    from bacpypes3.pdu import Address
    from bacpypes3.primitivedata import ObjectIdentifier

    class CountingClient(Application):  # type: ignore[misc]
        notifications = 0

        async def do_UnconfirmedCOVNotificationRequest(self, apdu: Any) -> None:
            CountingClient.notifications += 1

    device = DeviceObject(
        objectIdentifier=("device", CLIENT_INSTANCE),
        objectName="bench client",
        vendorIdentifier=999,
        maxApduLengthAccepted=1476,
        maxSegmentsAccepted=64,
    )
    port = NetworkPortObject(
        f"127.0.0.1/32:{args.client_port}",
        objectIdentifier=("network-port", 1),
        objectName="bench client port",
    )
    app = CountingClient.from_object_list([device, port])
    target = Address(f"127.0.0.1:{args.device_port}")
    objects = [ObjectIdentifier(tuple(oid)) for oid in json.loads(_read(args.objects))]
    cpu = time.process_time

    (i_am,) = await app.who_is(address=target)
    _say("i-am", device=i_am.iAmDeviceIdentifier[1])

    started, cpu0 = time.perf_counter(), cpu()
    try:
        object_list = await app.read_property(
            target, ObjectIdentifier(f"device,{DEVICE_INSTANCE}"), "object-list"
        )
        _say(
            "object-list",
            seconds=time.perf_counter() - started,
            cpu=cpu() - cpu0,
            count=len(object_list),
        )
    except BaseException as err:  # an abort or error is a result here
        _say("object-list", error=str(err))

    requests = []
    for first in range(0, len(objects), args.chunk):
        specs = [
            ReadAccessSpecification(
                objectIdentifier=oid,
                listOfPropertyReferences=[
                    PropertyReference(propertyIdentifier=PropertyIdentifier.presentValue)
                ],
            )
            for oid in objects[first : first + args.chunk]
        ]
        requests.append(specs)

    async def sweep(outstanding: int) -> tuple[int, int]:
        queue = list(reversed(requests))
        values = errors = 0

        async def worker() -> None:
            nonlocal values, errors
            while queue:
                specs = queue.pop()
                request = ReadPropertyMultipleRequest(
                    listOfReadAccessSpecs=SequenceOf(ReadAccessSpecification)(specs),
                    destination=target,
                )
                ack = await app.request(request)
                for result in ack.listOfReadAccessResults:
                    for element in result.listOfResults:
                        if element.readResult.propertyAccessError is None:
                            values += 1
                        else:
                            errors += 1

        await asyncio.gather(*(worker() for _ in range(outstanding)))
        return values, errors

    for name, outstanding in (("first", 1), ("steady", 1), ("steady-4", 4)):
        _say("sweep-start", name=name)
        started, cpu0 = time.perf_counter(), cpu()
        values, errors = await sweep(outstanding)
        _say(
            "sweep-end",
            name=name,
            outstanding=outstanding,
            seconds=time.perf_counter() - started,
            cpu=cpu() - cpu0,
            values=values,
            errors=errors,
            requests=len(requests),
        )

    energy = [ObjectIdentifier(tuple(oid)) for oid in json.loads(_read(args.energy))]
    started = time.perf_counter()
    for number, oid in enumerate(energy, 1):
        await app.request(
            SubscribeCOVRequest(
                subscriberProcessIdentifier=number,
                monitoredObjectIdentifier=oid,
                issueConfirmedNotifications=False,
                lifetime=300,
                destination=target,
            )
        )
    subscribed = time.perf_counter() - started
    await asyncio.sleep(2.0)  # the first notification of each subscription, then steady state
    CountingClient.notifications = 0
    _say("cov-start", subscriptions=len(energy), subscribe_s=subscribed)
    started, cpu0 = time.perf_counter(), cpu()
    await asyncio.sleep(args.cov_seconds)
    _say(
        "cov-end",
        seconds=time.perf_counter() - started,
        notifications=CountingClient.notifications,
        cpu=cpu() - cpu0,
    )
    for number, oid in enumerate(energy, 1):  # cancel
        await app.request(
            SubscribeCOVRequest(
                subscriberProcessIdentifier=number,
                monitoredObjectIdentifier=oid,
                destination=target,
            )
        )
    app.close()
    return 0


# -- the simulators and the bridge (this process) ----------------------------------------------


def bus_names(count: int) -> list[str]:
    from leviton_bridge.bacnet_mapping import bus_code

    names: list[str] = []
    codes: set[int] = set()
    number = 0
    while len(names) < count:
        number += 1
        name = f"riser {number}"
        if bus_code(name) not in codes:
            codes.add(bus_code(name))
            names.append(name)
    return names


async def start_simulators(
    args: argparse.Namespace,
) -> tuple[list[Any], list[tuple[str, list[int]]]]:
    processes = []
    layout: list[tuple[str, list[int]]] = []
    per_bus = -(-args.meters // args.buses)
    units = list(range(1, args.meters + 1))
    for index, name in enumerate(bus_names(args.buses)):
        mine = units[index * per_bus : (index + 1) * per_bus]
        if not mine:
            break
        port = free_port(socket.SOCK_STREAM)
        meters = [f"{unit}:8000-{POINTS}:load={LOAD_KW}" for unit in mine]
        command = [sys.executable, "-m", "leviton_bridge", "simulate"]
        command += ["--listen", f"127.0.0.1:{port}"]
        for meter in meters:
            command += ["--meter", meter]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        processes.append(process)
        layout.append((f"{name}|tcp://127.0.0.1:{port}", mine))
    for spec, _ in layout:
        port = int(spec.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"simulator on port {port} did not start") from None
                await asyncio.sleep(0.1)
    return processes, layout


async def bridge_main(args: argparse.Namespace) -> int:
    from leviton_bridge.bacnet_mapping import LARGE_ANALOG_VALUE
    from leviton_bridge.config import parse_config
    from leviton_bridge.daemon import Bridge

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    lines: list[str] = []

    def report(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    processes, layout = await start_simulators(args)
    device_port = free_port(socket.SOCK_DGRAM)
    config = parse_config(
        {
            "buses": [
                {
                    "name": spec.split("|")[0],
                    "connect": spec.split("|")[1],
                    "poll_interval": args.interval,
                    "meters": [
                        {"unit": unit, "name": f"{spec.split('|')[0]} meter {unit}"}
                        for unit in units
                    ],
                }
                for spec, units in layout
            ],
            "bacnet": {
                "address": f"127.0.0.1/32:{device_port}",
                "device_instance": DEVICE_INSTANCE,
                "device_name": "Leviton bench bridge",
            },
        },
        "bench",
    )
    bridge = Bridge(config)
    stop = asyncio.Event()
    rss_empty, _ = memory_mb()
    started = time.perf_counter()
    task = asyncio.create_task(bridge.run(stop))
    expected = args.meters * (3 + POINTS * 6)
    try:
        while bridge.bacnet is None or len(bridge.bacnet.objects) < expected:
            if task.done():
                task.result()
            if time.perf_counter() - started > 300:
                raise RuntimeError("the meters were not all identified within 300 s")
            await asyncio.sleep(0.1)
        ready = time.perf_counter() - started
        publisher = bridge.bacnet
        assert publisher is not None
        objects = publisher.objects
        await asyncio.sleep(2 * args.interval)  # values for every object
        rss_ready, _ = memory_mb()
        report(
            f"{args.meters} Series 8000-{POINTS} meters on {len(layout)} buses, polled every "
            f"{args.interval:g} s: {len(objects)} meter objects (+ device, network port) "
            f"created in {ready:.1f} s; bridge RSS {rss_ready:.0f} MB "
            f"(before the bridge started: {rss_empty:.0f} MB)"
        )
        workdir = Path(tempfile.mkdtemp(prefix="bacnet-bench-"))
        (workdir / "objects.json").write_text(
            json.dumps([[str(o.objectIdentifier[0]), o.objectIdentifier[1]] for o in objects])
        )
        energy = [o for o in objects if o._spec.key == "energy_delivered" and o._spec.point > 0]
        assert all(o._spec.object_type == LARGE_ANALOG_VALUE for o in energy)
        (workdir / "energy.json").write_text(
            json.dumps([[str(o.objectIdentifier[0]), o.objectIdentifier[1]] for o in energy])
        )
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            "--device-port",
            str(device_port),
            "--client-port",
            str(free_port(socket.SOCK_DGRAM)),
            "--objects",
            str(workdir / "objects.json"),
            "--energy",
            str(workdir / "energy.json"),
            "--chunk",
            str(args.chunk),
            "--cov-seconds",
            str(args.cov_seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        sweeps: dict[str, dict[str, Any]] = {}
        cov: dict[str, Any] = {}
        cpu_at: float = 0.0
        while line := await child.stdout.readline():
            event = json.loads(line)
            kind = event["event"]
            if kind in ("sweep-start", "cov-start"):
                cpu_at = time.process_time()
                if kind == "cov-start":
                    cov.update(event)
            elif kind == "sweep-end":
                event["bridge_cpu"] = time.process_time() - cpu_at
                sweeps[event["name"]] = event
            elif kind == "cov-end":
                cov.update(event, bridge_cpu=time.process_time() - cpu_at)
            elif kind == "object-list":
                if "error" in event:
                    report(f"object-list in one read: failed ({event['error']})")
                else:
                    report(
                        f"object-list in one read ({event['count']} entries, segmented): "
                        f"{event['seconds']:.2f} s"
                    )
        if await child.wait() != 0:
            raise RuntimeError("the benchmark client failed")
        titles = {
            "first": "first sweep (each object's result built)",
            "steady": "steady state",
            "steady-4": "steady state",
        }
        for name, sweep in sweeps.items():
            report(
                f"ReadPropertyMultiple, {titles[name]}, {sweep['outstanding']} request(s) "
                "outstanding: "
                f"{sweep['values']} present values ({sweep['errors']} errors) in "
                f"{sweep['requests']} requests of {args.chunk}: {sweep['seconds']:.2f} s "
                f"({sweep['values'] / sweep['seconds']:.0f} values/s); CPU: bridge "
                f"{sweep['bridge_cpu']:.2f} s, client {sweep['cpu']:.2f} s"
            )
        rate = cov["notifications"] / cov["seconds"]
        per_thousand = cov["bridge_cpu"] / max(cov["notifications"], 1) * 1000
        report(
            f"COV: {cov['subscriptions']} unconfirmed subscriptions (subscribed in "
            f"{cov['subscribe_s']:.1f} s); {cov['notifications']} notifications in "
            f"{cov['seconds']:.1f} s = {rate:.0f}/s; bridge CPU {cov['bridge_cpu']:.2f} s "
            f"({per_thousand:.2f} s per 1000 notifications, polling included), client CPU "
            f"{cov['cpu']:.2f} s"
        )
        rss, peak = memory_mb()
        report(f"bridge memory: RSS {rss:.0f} MB now, peak {peak:.0f} MB")
        sweep_s = sweeps["steady"]["seconds"]
        verdict = "PASS" if sweep_s < TARGET_SWEEP_S and peak < TARGET_RSS_MB else "MISS"
        report(
            f"{verdict}: sweep {sweep_s:.2f} s (target < {TARGET_SWEEP_S:g}), memory "
            f"{peak:.0f} MB (target < {TARGET_RSS_MB:g})"
        )
        report(
            f"RESULT objects={len(objects) + 2} rpm_sweep_s={sweep_s:.2f} rss_mb={peak:.0f} "
            f"cov_per_s={rate:.0f} sweep_bridge_cpu_s={sweeps['steady']['bridge_cpu']:.2f} "
            f"first_sweep_s={sweeps['first']['seconds']:.2f} "
            f"sweep4_s={sweeps['steady-4']['seconds']:.2f}"
        )
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                await process.wait()
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=100, help="Series 8000-24 meters")
    parser.add_argument("--buses", type=int, default=4, help="buses (simulator processes)")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, seconds")
    parser.add_argument("--chunk", type=int, default=60, help="objects per ReadPropertyMultiple")
    parser.add_argument("--cov-seconds", type=float, default=10.0, help="COV measuring window")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--device-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--objects", help=argparse.SUPPRESS)
    parser.add_argument("--energy", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return asyncio.run(client_main(args))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return asyncio.run(bridge_main(args))


if __name__ == "__main__":
    sys.exit(main())

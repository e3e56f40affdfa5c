"""Benchmark: the bridge's BACnet/IP device with 100 simulated Series 8000-24 meters.

Run on demand (not a test): ``.venv/bin/python bench/bacnet.py [--meters 100] [--buses 4]
[--baud 19200] [--turnaround 0.005] [--interval 1.0] [--chunk 60] [--cov-seconds 10]``.

Three kinds of process, so that each figure belongs to one of them:

* simulators (this script with ``--simulator``): one per RS485 line, emulated by
  ``LineSettings`` (``--baud``, the meters' ``--turnaround``) behind a Modbus TCP gateway, with
  the meters (load 15,000 kW: every point's energy passes its 0.1 kWh COV increment between
  polls). The line sets the polling rate, as on a site: a bus whose cycle takes longer than
  ``--interval`` is polled back to back;
* the bridge: ``leviton-bridge run`` in a process of its own (BACnet, no MQTT; about 14,800
  objects), its CPU time and memory read from outside;
* the clients, here: a raw UDP client for the ReadPropertyMultiple sweeps (requests encoded once
  by bacpypes3; answers kept while timing and decoded after), a bacpypes3 one for the rest.

Measured: the bridge's CPU while it only polls (``--quiet-seconds``, no BACnet traffic); three
sweeps reading every object's present value, ``--chunk`` objects a request (one unsegmented
APDU), the first and a steady one with one request outstanding, as most BMS poll, and one with
four; the bridge's CPU time in each (``sweep_bridge_cpu_s``, polling included;
``sweep_net_cpu_s`` without the polling measured alone); the whole ``object-list`` in one read
(~52 segments); COV notifications per second to 2,400 unconfirmed subscriptions (one per point's
energy: about one per subscription per poll cycle); the bridge's resident and peak memory.

The last line is machine-readable::

    RESULT objects= rpm_sweep_s= rss_mb= cov_per_s= sweep_bridge_cpu_s= first_sweep_s= sweep4_s=
           first_sweep_bridge_cpu_s= sweep_net_cpu_s= poll_cpu_per_s= line_baud=

Targets (issue 11): steady sweep < 1 s, first < 2 s, bridge CPU < 0.5 s a sweep, RSS < 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

TARGET_SWEEP_S: Final = 1.0
TARGET_FIRST_SWEEP_S: Final = 2.0
TARGET_SWEEP_CPU_S: Final = 0.5
TARGET_RSS_MB: Final = 250.0
LOAD_KW: Final = 15000
POINTS: Final = 24
CLIENT_INSTANCE: Final = 599998
DEVICE_INSTANCE: Final = 59001
ANSWER_TIMEOUT_S: Final = 10.0


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the simulators (child processes) -----------------------------------------------------------


async def simulator_main(args: argparse.Namespace) -> int:
    """Serve ``--meter``s on one emulated line until terminated."""
    try:
        from leviton_bridge.simulator import LineSettings, MeterSimulator, MeterSpec
    except ImportError:  # the layout before the simulator moved (side-by-side runs)
        from leviton_driver.simulator import LineSettings, MeterSimulator, MeterSpec  # type: ignore
    simulator = MeterSimulator(
        [MeterSpec.parse(text) for text in args.meter],
        line=LineSettings(baud=args.baud, turnaround=args.turnaround),
    )
    await simulator.start_tcp("127.0.0.1", args.listen)
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await simulator.stop()
    return 0


def bus_names(count: int) -> list[str]:
    """Bus names whose BACnet bus codes differ."""
    from leviton_bridge.bacnet.mapping import bus_code

    names: dict[int, str] = {}
    number = 0
    while len(names) < count:
        number += 1
        names.setdefault(bus_code(f"riser {number}"), f"riser {number}")
    return list(names.values())


async def start_simulators(args: argparse.Namespace) -> tuple[list[Any], list[dict[str, Any]]]:
    processes = []
    buses: list[dict[str, Any]] = []
    per_bus = -(-args.meters // args.buses)
    units = list(range(1, args.meters + 1))
    for index, name in enumerate(bus_names(args.buses)):
        mine = units[index * per_bus : (index + 1) * per_bus]
        if not mine:
            break
        port = free_port(socket.SOCK_STREAM)
        command = [sys.executable, __file__, "--simulator", "--listen", str(port), "--baud"]
        command += [str(args.baud), "--turnaround", str(args.turnaround)]
        command += [f"--meter={unit}:8000-{POINTS}:load={LOAD_KW}" for unit in mine]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        processes.append(process)
        meters = [{"unit": unit, "name": f"{name} meter {unit}"} for unit in mine]
        connect = f"tcp://127.0.0.1:{port}"
        buses.append(
            {"name": name, "connect": connect, "poll_interval": args.interval, "meters": meters}
        )
    for process in processes:
        assert process.stdout is not None
        if await asyncio.wait_for(process.stdout.readline(), 60) != b"ready\n":
            raise RuntimeError("a simulator did not start")
    return processes, buses


# -- the bridge (a child process) ---------------------------------------------------------------


@dataclass
class BridgeProcess:
    """``leviton-bridge run`` with a configuration of its own; measured from outside."""

    config: dict[str, Any]
    workdir: Path
    process: Any = None

    async def start(self) -> None:
        import yaml

        path = self.workdir / "bridge.yaml"
        path.write_text(yaml.safe_dump(self.config))
        log = (self.workdir / "bridge.log").open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "leviton_bridge", "run", "--config", str(path), stderr=log
        )

    def cpu(self) -> float:
        """User + system CPU seconds of the bridge so far."""
        import psutil

        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the bridge in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
        kb = {
            k: int(v.split()[0])
            for k, _, v in (line.partition(":") for line in status)
            if k[:2] == "Vm"
        }
        return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


# -- the raw client -----------------------------------------------------------------------------


class RawClient(asyncio.DatagramProtocol):
    """ReadPropertyMultiple over a bare UDP socket: a request's octets (encoded once), its
    invoke id patched in, the answer's octets kept as they come."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.waiting: dict[int, asyncio.Future[bytes]] = {}
        self.next_invoke = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) > 7 and data[6] >> 4 in (3, 5, 6, 7):  # local answers only (no NPDU addresses)
            future = self.waiting.pop(data[7], None)
            if future is not None and not future.done():
                future.set_result(data)

    async def ask(self, request: bytes, device: tuple[str, int]) -> bytes:
        invoke = next(i % 256 for i in range(self.next_invoke, 512) if i % 256 not in self.waiting)
        self.next_invoke = (invoke + 1) % 256
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[invoke] = future
        self.transport.sendto(request[:8] + bytes([invoke]) + request[9:], device)
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        finally:
            self.waiting.pop(invoke, None)

    async def sweep(
        self, requests: list[bytes], device: tuple[str, int], outstanding: int
    ) -> list[bytes]:
        queue = list(reversed(requests))
        answers: list[bytes] = []

        async def worker() -> None:
            while queue:
                answers.append(await self.ask(queue.pop(), device))

        await asyncio.gather(*(worker() for _ in range(outstanding)))
        return answers


def rpm_requests(objects: list[Any], chunk: int, properties: list[str]) -> list[bytes]:
    """ReadPropertyMultiple datagrams (Original-Unicast-NPDU, local), ``chunk`` objects each;
    the service's parameters encoded by bacpypes3."""
    from bacpypes3.apdu import ReadPropertyMultipleRequest
    from bacpypes3.basetypes import PropertyReference, ReadAccessSpecification

    datagrams = []
    for first in range(0, len(objects), chunk):
        specs = [
            ReadAccessSpecification(
                objectIdentifier=oid,
                listOfPropertyReferences=[
                    PropertyReference(propertyIdentifier=p) for p in properties
                ],
            )
            for oid in objects[first : first + chunk]
        ]
        encoded = ReadPropertyMultipleRequest(listOfReadAccessSpecs=specs).encode()
        # confirmed request, segmented answers accepted, up to 64 segments of 1476 octets
        apdu = bytes([0x02, 0x65, 0, encoded.apduService]) + bytes(encoded.pduData)
        npdu = bytes([0x01, 0x04]) + apdu
        datagrams.append(bytes([0x81, 0x0A]) + (len(npdu) + 4).to_bytes(2, "big") + npdu)
    return datagrams


def count_results(answers: list[bytes]) -> tuple[int, int]:
    """(values, errors) in ReadPropertyMultiple answers, decoded by bacpypes3."""
    from bacpypes3.apdu import APDU, APCISequence
    from bacpypes3.pdu import PDU

    elements = [
        element.readResult.propertyAccessError is None
        for answer in answers
        for result in APCISequence.decode(APDU.decode(PDU(answer[6:]))).listOfReadAccessResults
        for element in result.listOfResults
    ]
    return sum(elements), len(elements) - sum(elements)


def faults(answers: list[bytes]) -> tuple[int, int]:
    """(status flags read, those with the fault flag) in answers of status-flags reads."""
    read = sum(answer.count(b"\x29\x6f\x4e\x82\x04") for answer in answers)
    return read, read - sum(answer.count(b"\x29\x6f\x4e\x82\x04\x00\x4f") for answer in answers)


# -- the bacpypes3 client: the object list and COV ------------------------------------------------


def bacpypes3_client(port: int, counter: Counter[str]) -> Any:
    from bacpypes3.app import Application
    from bacpypes3.local.device import DeviceObject
    from bacpypes3.local.networkport import NetworkPortObject

    class CountingClient(Application):  # type: ignore[misc]
        async def do_UnconfirmedCOVNotificationRequest(self, apdu: Any) -> None:
            counter["notifications"] += 1

    device = DeviceObject(
        objectIdentifier=("device", CLIENT_INSTANCE),
        objectName="bench client",
        vendorIdentifier=999,
        maxApduLengthAccepted=1476,
        maxSegmentsAccepted=64,
    )
    network_port = NetworkPortObject(
        f"127.0.0.1/32:{port}", objectIdentifier=("network-port", 1), objectName="bench port"
    )
    return CountingClient.from_object_list([device, network_port])


async def measure_cov(
    app: Any, target: Any, energy: list[Any], counter: Counter[str], seconds: float, bridge: Any
) -> dict[str, Any]:
    from bacpypes3.apdu import SubscribeCOVRequest

    def subscription(number: int, oid: Any, **kwargs: Any) -> Any:
        return app.request(
            SubscribeCOVRequest(
                subscriberProcessIdentifier=number,
                monitoredObjectIdentifier=oid,
                destination=target,
                **kwargs,
            )
        )

    started = time.perf_counter()
    for number, oid in enumerate(energy, 1):
        await subscription(number, oid, issueConfirmedNotifications=False, lifetime=300)
    subscribed = time.perf_counter() - started
    await asyncio.sleep(2.0)  # the first notification of each subscription, then steady state
    counter.clear()
    started, cpu0, bridge0 = time.perf_counter(), time.process_time(), bridge.cpu()
    await asyncio.sleep(seconds)
    result = {
        "subscriptions": len(energy),
        "subscribe_s": subscribed,
        "seconds": time.perf_counter() - started,
        "notifications": counter["notifications"],
        "cpu": time.process_time() - cpu0,
        "bridge_cpu": bridge.cpu() - bridge0,
    }
    for number, oid in enumerate(energy, 1):
        await subscription(number, oid)  # cancel
    return result


def energy_delivered_slot() -> int:
    """The instance slot of energy delivered (catalogue, or the mapping's table before it)."""
    from leviton_bridge.bacnet import mapping

    slots = getattr(mapping, "SLOTS", None)
    if slots is not None:
        return int(slots["energy_delivered"])
    from leviton_driver.catalogue import READINGS

    return int(READINGS["energy_delivered"].bacnet_slot)


# -- the harness (this process) -----------------------------------------------------------------


async def wait_for_objects(app: Any, target: Any, least: int, bridge: BridgeProcess) -> float:
    """Seconds until the device lists at least ``least`` objects and no more come (every meter
    identified)."""
    from bacpypes3.primitivedata import ObjectIdentifier

    device = ObjectIdentifier(f"device,{DEVICE_INSTANCE}")
    started, counts = time.perf_counter(), [0]
    while counts[-4:] != [counts[-1]] * 4 or counts[-1] < least:
        if bridge.process.returncode is not None or time.perf_counter() - started > 600:
            raise RuntimeError(f"{counts[-1]} objects; see {bridge.workdir / 'bridge.log'}")
        await asyncio.sleep(0.5)
        with contextlib.suppress(Exception):
            counts.append(
                await asyncio.wait_for(app.read_property(target, device, "object-list", 0), 5)
            )
    return time.perf_counter() - started


async def harness_main(args: argparse.Namespace) -> int:
    from bacpypes3.pdu import Address
    from bacpypes3.primitivedata import ObjectIdentifier, ObjectType

    report = functools.partial(print, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bacnet-bench-"))
    simulators, buses = await start_simulators(args)
    device_port = free_port(socket.SOCK_DGRAM)
    device = ("127.0.0.1", device_port)
    target = Address(f"127.0.0.1:{device_port}")
    bacnet = {"address": f"127.0.0.1/32:{device_port}", "device_instance": DEVICE_INSTANCE}
    bridge = BridgeProcess({"buses": buses, "bacnet": bacnet, "log_level": "warning"}, workdir)
    counter: Counter[str] = Counter()
    app = bacpypes3_client(free_port(socket.SOCK_DGRAM), counter)
    loop = asyncio.get_running_loop()
    transport, raw = await loop.create_datagram_endpoint(RawClient, local_addr=("127.0.0.1", 0))
    try:
        await bridge.start()
        # three voltages (and, since issue 9, the program id) and six readings a point
        ready = await wait_for_objects(app, target, args.meters * (3 + POINTS * 6) + 2, bridge)
        started, own0 = time.perf_counter(), time.process_time()
        object_list = await app.read_property(
            target, ObjectIdentifier(f"device,{DEVICE_INSTANCE}"), "object-list"
        )
        report(
            f"object-list in one read ({len(object_list)} entries, segmented): "
            f"{time.perf_counter() - started:.2f} s (client CPU {time.process_time() - own0:.2f} s)"
        )
        skip = (ObjectType.device, ObjectType.networkPort)
        objects = [oid for oid in object_list if oid[0] not in skip]
        pv_requests = rpm_requests(objects, args.chunk, ["present-value"])
        sf_requests = rpm_requests(objects, args.chunk, ["status-flags"])
        began = time.perf_counter()
        while True:  # every meter polled once: no object with its fault flag
            read, faulty = faults(await raw.sweep(sf_requests, device, 4))
            if not faulty or time.perf_counter() - began > 600:
                break
            await asyncio.sleep(1.0)
        polled = time.perf_counter() - began
        rss_ready, _ = bridge.memory_mb()
        report(
            f"{args.meters} Series 8000-{POINTS} meters on {len(buses)} lines at {args.baud} baud "
            f"(turnaround {args.turnaround * 1000:g} ms), poll interval {args.interval:g} s: "
            f"{len(objects)} meter objects (+ device, network port) listed after {ready:.1f} s; "
            f"every meter polled {polled:.1f} s later ({faulty} of {read} still faulty); "
            f"bridge RSS {rss_ready:.0f} MB"
        )
        cpu0, began = bridge.cpu(), time.perf_counter()
        await asyncio.sleep(args.quiet_seconds)
        poll_cpu = (bridge.cpu() - cpu0) / (time.perf_counter() - began)
        report(f"bridge CPU while it only polls: {poll_cpu:.3f} s per second")
        sweeps: dict[str, dict[str, Any]] = {}
        for name, outstanding in (("first", 1), ("steady", 1), ("steady-4", 4)):
            began, cpu0, own0 = time.perf_counter(), bridge.cpu(), time.process_time()
            answers = await raw.sweep(pv_requests, device, outstanding)
            seconds = time.perf_counter() - began
            bridge_cpu, own = bridge.cpu() - cpu0, time.process_time() - own0
            values, errors = count_results(answers)
            sweeps[name] = {"seconds": seconds, "bridge_cpu": bridge_cpu}
            report(
                f"ReadPropertyMultiple, {name} sweep, {outstanding} request(s) outstanding: "
                f"{values} present values ({errors} errors) in {len(pv_requests)} requests of "
                f"{args.chunk}: {seconds:.2f} s ({values / seconds:.0f} values/s); CPU: bridge "
                f"{bridge_cpu:.2f} s ({bridge_cpu - poll_cpu * seconds:.2f} s without polling), "
                f"client {own:.2f} s"
            )
        slot, lav = energy_delivered_slot(), ObjectType.largeAnalogValue
        # instance = bus code * 100000 + unit * 400 + point * 16 + slot: every point's energy
        energy = [o for o in objects if o[0] == lav and o[1] % 16 == slot and o[1] % 400 >= 16]
        cov = await measure_cov(app, target, energy, counter, args.cov_seconds, bridge)
        rate = cov["notifications"] / cov["seconds"]
        per_thousand = cov["bridge_cpu"] / max(cov["notifications"], 1) * 1000
        report(
            f"COV: {cov['subscriptions']} unconfirmed subscriptions (subscribed in "
            f"{cov['subscribe_s']:.1f} s); {cov['notifications']} notifications in "
            f"{cov['seconds']:.1f} s = {rate:.0f}/s; bridge CPU {cov['bridge_cpu']:.2f} s "
            f"({per_thousand:.2f} s per 1000 notifications, polling included), client CPU "
            f"{cov['cpu']:.2f} s"
        )
        rss, peak = bridge.memory_mb()
        report(f"bridge memory: RSS {rss:.0f} MB now, peak {peak:.0f} MB")
        steady, first = sweeps["steady"], sweeps["first"]
        checks = [
            ("sweep", steady["seconds"], TARGET_SWEEP_S, "s"),
            ("first sweep", first["seconds"], TARGET_FIRST_SWEEP_S, "s"),
            ("bridge CPU a sweep", steady["bridge_cpu"], TARGET_SWEEP_CPU_S, "s"),
            ("peak memory", peak, TARGET_RSS_MB, "MB"),
        ]
        verdict = "PASS" if all(value < target for _, value, target, _ in checks) else "MISS"
        report(f"{verdict}: " + ", ".join(f"{w} {v:.2f} {u} (< {t:g})" for w, v, t, u in checks))
        report(
            f"RESULT objects={len(object_list)} rpm_sweep_s={steady['seconds']:.2f} "
            f"rss_mb={peak:.0f} cov_per_s={rate:.0f} "
            f"sweep_bridge_cpu_s={steady['bridge_cpu']:.2f} "
            f"first_sweep_s={first['seconds']:.2f} sweep4_s={sweeps['steady-4']['seconds']:.2f} "
            f"first_sweep_bridge_cpu_s={first['bridge_cpu']:.2f} "
            f"sweep_net_cpu_s={steady['bridge_cpu'] - poll_cpu * steady['seconds']:.2f} "
            f"poll_cpu_per_s={poll_cpu:.3f} line_baud={args.baud}"
        )
    finally:
        transport.close()
        app.close()
        await bridge.stop()
        for process in simulators:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in simulators:
            await process.wait()
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=100, help="Series 8000-24 meters")
    parser.add_argument("--buses", type=int, default=4, help="RS485 lines (simulator processes)")
    parser.add_argument("--baud", type=int, default=19200, help="the lines' speed")
    parser.add_argument("--turnaround", type=float, default=0.005, help="meter turnaround, s")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, seconds")
    parser.add_argument("--chunk", type=int, default=60, help="objects per ReadPropertyMultiple")
    parser.add_argument("--cov-seconds", type=float, default=10.0, help="COV measuring window")
    parser.add_argument("--quiet-seconds", type=float, default=5.0, help="polling-only window")
    parser.add_argument("--simulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--listen", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--meter", action="append", default=[], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # The bridge keeps its state (the totals last shown) in a folder of this run's own.
    os.environ["STATE_DIRECTORY"] = tempfile.mkdtemp(prefix="leviton-bench-state-")
    args = parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.simulator:
        return asyncio.run(simulator_main(args))
    return asyncio.run(harness_main(args))


if __name__ == "__main__":
    sys.exit(main())

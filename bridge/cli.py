"""``leviton-bridge``: command-line tools for Leviton meters, and the bridge itself.

Every command prints a clear message and exits non-zero on failure: 1 when the meter or link
failed, 2 when the command line or a setting is wrong, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TextIO

from leviton_bridge.simulator import (
    FAULT_KINDS,
    FaultSettings,
    LineSettings,
    MeterSimulator,
    MeterSpec,
)
from leviton_driver import (
    SERIES_CHOICES,
    Bus,
    ConfigurationError,
    ExceptionResponseError,
    LevitonError,
    LevitonMeter,
    MeterError,
    Series8000Meter,
    check_unit_id,
    load_profile,
    parse_url,
)
from leviton_driver.profile import Profile

from . import explorer, render

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """The command line is wrong (exit 2)."""


def _unit_arg(text: str) -> int:
    try:
        return check_unit_id(text)
    except ConfigurationError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be above 0")
    return value


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connect",
        required=True,
        metavar="URL",
        help="tcp://HOST:PORT, rtu+tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=9600&parity=N&stopbits=1",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="answer timeout (default: the URL's, else 1.0)",
    )


def _add_meter(parser: argparse.ArgumentParser, *, series: bool = True) -> None:
    parser.add_argument(
        "--unit", required=True, type=_unit_arg, metavar="N", help="Modbus unit id, 1-247"
    )
    if series:
        parser.add_argument(
            "--series",
            choices=SERIES_CHOICES,
            default="auto",
            help="meter series; auto asks the meter (default)",
        )
        parser.add_argument(
            "--profile",
            metavar="FILE",
            help="Series 8000 register profile (default: the provisional one shipped with us)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leviton-bridge",
        description="Read, manage and simulate Leviton Series 1000/2000 and Series 8000 meters.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for Modbus traffic)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    read = commands.add_parser("read", help="identify a meter and print every reading")
    _add_connection(read)
    _add_meter(read)
    read.add_argument("--json", action="store_true", help="print one JSON object")

    scan = commands.add_parser("scan", help="find the meters on a bus")
    _add_connection(scan)
    scan.add_argument(
        "--units", default="1-247", metavar="RANGE", help="ids to try, e.g. 1-247 or 1,2,10-20"
    )
    scan.add_argument("--json", action="store_true", help="print the meters found as JSON")

    reset = commands.add_parser("reset-demand", help="reset a Series 1000/2000 meter's peak demand")
    _add_connection(reset)
    _add_meter(reset, series=False)

    set_id = commands.add_parser(
        "set-unit-id", help="give a Series 1000/2000 meter a new Modbus unit id"
    )
    _add_connection(set_id)
    _add_meter(set_id, series=False)
    set_id.add_argument(
        "--new-id", required=True, type=_unit_arg, metavar="M", help="the new unit id, 1-247"
    )
    set_id.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    dump = commands.add_parser(
        "dump",
        help="register explorer: dump a range of registers (to build a Series 8000 profile)",
        description=explorer.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_connection(dump)
    _add_meter(dump, series=False)
    dump.add_argument(
        "--start",
        required=True,
        metavar="A",
        help="first register: 40001-style number or wire address",
    )
    dump.add_argument(
        "--count", required=True, type=int, metavar="C", help="how many registers (1-10000)"
    )
    dump.add_argument(
        "--space", choices=("holding", "input"), default="holding", help="register space"
    )
    dump.add_argument(
        "--wire", action="store_true", help="--start is a wire address even if it looks like 4xxxx"
    )
    dump.add_argument("--json", action="store_true", help="print JSON instead of a table")

    simulate = commands.add_parser(
        "simulate",
        help="simulate meters on a Modbus line",
        description="Simulated Leviton meters that answer like the real ones. Meter keys: "
        + "; ".join(f"{key}: {text}" for key, text in _meter_key_help().items()),
    )
    where = simulate.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--listen", metavar="HOST:PORT", help="serve on TCP (port 0 picks a free one)"
    )
    where.add_argument(
        "--serial",
        metavar="DEVICE",
        help="serve RTU on a serial device (e.g. one end of a socat pty pair)",
    )
    simulate.add_argument(
        "--framing", choices=("tcp", "rtu"), default="tcp", help="framing on TCP: Modbus TCP or RTU"
    )
    simulate.add_argument(
        "--meter",
        action="append",
        required=True,
        metavar="UNIT:SERIES[:key=value...]",
        help="a meter, e.g. 1:2000:load=12.5, 2:1000, 3:8000-24 (repeat for more)",
    )
    simulate.add_argument(
        "--baud", type=int, default=9600, help="serial port speed with --serial (default 9600)"
    )
    simulate.add_argument(
        "--line-baud",
        type=int,
        metavar="BAUD",
        help="emulate an RS485 line at this speed: answers wait their wire time (e.g. 9600)",
    )
    simulate.add_argument(
        "--turnaround",
        type=float,
        default=0.005,
        metavar="SECONDS",
        help="meter turnaround added to each answer with --line-baud (default 0.005)",
    )
    simulate.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help=f"inject faults at a rate 0..1; KIND is one of {', '.join(FAULT_KINDS)} (repeatable)",
    )
    simulate.add_argument("--seed", type=int, help="random seed for repeatable faults")
    simulate.add_argument(
        "--control",
        action="store_true",
        help="print the address as JSON, then take JSON commands on standard input until it "
        "closes (how tests in another Python environment drive the simulator)",
    )
    simulate.add_argument("--profile", metavar="FILE", help="Series 8000 register profile")

    run = commands.add_parser(
        "run",
        help="run the bridge: poll the configured meters, publish them over MQTT (and BACnet)",
    )
    run.add_argument("--config", required=True, metavar="FILE", help="YAML configuration file")

    ede = commands.add_parser(
        "bacnet-ede",
        help="write the EDE file (CSV object list for BMS integrators) of the BACnet device",
    )
    ede.add_argument("--config", required=True, metavar="FILE", help="YAML configuration file")
    ede.add_argument("--output", metavar="FILE", help="write here instead of to standard output")

    check = commands.add_parser(
        "check-config", help="check a configuration file and list every problem"
    )
    check.add_argument("file", metavar="FILE", help="YAML configuration file")

    demo = commands.add_parser(
        "demo",
        help="simulated meters, an embedded MQTT broker and the bridge, shown live",
    )
    demo.add_argument(
        "--broker",
        metavar="URL",
        help="publish to this broker (mqtt://HOST:PORT) instead of an embedded one",
    )
    demo.add_argument(
        "--interval", type=_positive_float, default=2.0, help="seconds between polls (default 2)"
    )
    demo.add_argument(
        "--cycles",
        type=_count_arg,
        default=0,
        help="stop after this many polls (default: run until Ctrl-C)",
    )
    return parser


def _meter_key_help() -> dict[str, str]:
    from leviton_bridge.simulator import METER_KEYS

    return dict(METER_KEYS)


def _settings(args: argparse.Namespace) -> Any:
    settings = parse_url(args.connect)
    if getattr(args, "timeout", None):
        settings = replace(settings, timeout=args.timeout)
    return settings


def _profile(args: argparse.Namespace) -> Profile | None:
    path = getattr(args, "profile", None)
    return load_profile(path) if path else None


async def _with_bus[T](args: argparse.Namespace, job: Callable[[Bus], Awaitable[T]]) -> T:
    bus = Bus(_settings(args))
    try:
        return await job(bus)
    finally:
        await bus.close()


async def cmd_read(args: argparse.Namespace, out: TextIO) -> int:
    profile = _profile(args)

    async def job(bus: Bus) -> int:
        try:
            meter = await bus.meter(args.unit, series=args.series, profile=profile)
        except ExceptionResponseError as refused:
            if args.series == "auto":
                raise
            raise LevitonError(
                f"{refused}. Is it a Series {args.series}? --series auto asks the meter"
            ) from None
        snapshot = await meter.read()
        assert meter.identity is not None
        if args.json:
            json.dump(render.meter_json(meter.identity, snapshot), out, indent=2)
            out.write("\n")
        else:
            out.write(render.meter_text(bus.url, meter.identity, snapshot))
        return 0

    return await _with_bus(args, job)


def parse_units(text: str) -> list[int]:
    """Parse "1-247" or "1,2,10-20" into unit ids."""
    units: list[int] = []
    for part in text.split(","):
        part = part.strip()
        first, sep, last = part.partition("-")
        try:
            low = check_unit_id(first)
            high = check_unit_id(last) if sep else low
        except ConfigurationError as err:
            raise UsageError(f"--units {text!r}: {err}") from None
        if high < low:
            raise UsageError(f"--units {text!r}: range {part} runs backwards")
        units.extend(range(low, high + 1))
    return sorted(set(units))


async def cmd_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    units = parse_units(args.units)
    settings = _settings(args)
    if args.timeout is None and "timeout=" not in args.connect:
        settings = replace(settings, timeout=0.6)  # the manual: answers within 500 ms
    found: list[LevitonMeter] = []
    problems: list[str] = []
    show_progress = len(units) > 1
    bus = Bus(settings)
    try:
        await bus.connect()
        for index, unit in enumerate(units, 1):
            if show_progress:
                render.progress(
                    err,
                    f"scanning unit {unit} ({index}/{len(units)}), found {len(found)}",
                    log=index == 1 or index % 10 == 0,
                )
            try:
                meter = await bus.probe(unit)
            except MeterError as problem:
                problems.append(str(problem))
                continue
            if meter is not None:
                found.append(meter)
        if show_progress:
            render.progress(err, f"scanned {len(units)} unit ids, found {len(found)}", done=True)
    finally:
        await bus.close()
    identities = [m.identity for m in found if m.identity is not None]
    if args.json:
        json.dump([render.identity_json(i) for i in identities], out, indent=2)
        out.write("\n")
    else:
        out.write(render.scan_text(bus.url, identities, problems, units))
    return 0 if found else EXIT_FAILURE


async def cmd_reset(args: argparse.Namespace, out: TextIO) -> int:
    async def job(bus: Bus) -> int:
        meter = await bus.meter(args.unit)
        if isinstance(meter, Series8000Meter):
            raise LevitonError(
                f"unit {args.unit} on {bus.url} is a Series 8000, which has no documented demand reset"
            )
        await meter.read()
        result = await meter.reset_peak_demand()
        out.write(
            f"Peak demand reset on unit {args.unit}: reset counter {result.count_before} -> "
            f"{result.count_after}, peak demand {render.number(result.peak_demand_before, 2)} kW -> "
            f"{render.number(result.peak_demand_after, 2)} kW\n"
        )
        return 0

    return await _with_bus(args, job)


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("refusing to change the unit id without confirmation: add --yes")
    answer: str = input(prompt)
    return answer.strip().lower() in ("y", "yes")


async def cmd_set_unit_id(args: argparse.Namespace, out: TextIO) -> int:
    if args.unit == args.new_id:
        raise UsageError(f"the meter already has unit id {args.unit}")
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(
            "refusing to change the unit id without confirmation: add --yes "
            "(there is no terminal to ask on)"
        )

    async def job(bus: Bus) -> int:
        meter = await bus.meter(args.unit)
        if isinstance(meter, Series8000Meter):
            raise LevitonError(
                "a Series 8000's unit id is set with Leviton's configuration tool, not over Modbus"
            )
        identity = meter.identity
        assert identity is not None
        if not args.yes and not _confirm(
            f"Change unit {args.unit} ({render.identity_line(identity)}) on {bus.url} "
            f"to unit id {args.new_id}? [y/N] "
        ):
            out.write("Nothing changed.\n")
            return EXIT_FAILURE
        await bus.change_unit_id(args.unit, args.new_id)
        out.write(
            f"Unit {args.unit} on {bus.url} now answers as unit {args.new_id} (confirmed by reading back 45001).\n"
        )
        return 0

    return await _with_bus(args, job)


async def cmd_dump(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        start = explorer.parse_start(args.start, args.space, wire=args.wire)
    except ValueError as problem:
        raise UsageError(f"--start: {problem}") from None
    if not 1 <= args.count <= 10000 or start + args.count > 0x10000:
        raise UsageError("--count must be 1..10000 and stay within addresses 0..65535")

    async def job(bus: Bus) -> int:
        await bus.connect()
        rows = await explorer.dump(
            bus,
            args.unit,
            start,
            args.count,
            space=args.space,
            progress=lambda text: render.progress(err, text),
        )
        render.progress(err, "", done=True)
        if args.json:
            json.dump(explorer.rows_json(rows, args.space), out, indent=2)
            out.write("\n")
        else:
            out.write(explorer.rows_text(rows, args.space))
        if any(row.value is not None for row in rows):
            return 0
        err.write(
            f"leviton-bridge dump: unit {args.unit} on {bus.url} refused every {args.space} "
            f"register from {explorer.describe(start, args.space)} to "
            f"{explorer.describe(start + args.count - 1, args.space)}\n"
        )
        return EXIT_FAILURE

    return await _with_bus(args, job)


def _simulator(args: argparse.Namespace) -> MeterSimulator:
    meters = [MeterSpec.parse(text) for text in args.meter]
    line = LineSettings(baud=args.line_baud, turnaround=args.turnaround) if args.line_baud else None
    faults = FaultSettings.parse(args.fault, args.seed)
    framing = "rtu" if args.serial else args.framing
    return MeterSimulator(meters, framing=framing, line=line, faults=faults, profile=_profile(args))


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:5020")
    return host.strip("[]") or "127.0.0.1", int(port)


async def cmd_simulate(args: argparse.Namespace, out: TextIO) -> int:
    address = None if args.serial else _listen_address(args.listen)
    simulator = _simulator(args)
    try:
        if address is None:
            await simulator.start_serial(args.serial, args.baud)
            url = f"serial://{args.serial}?baud={args.baud}"
        else:
            host, port = await simulator.start_tcp(*address)
            scheme = "tcp" if simulator.framing == "tcp" else "rtu+tcp"
            url = f"{scheme}://{host}:{port}"
    except (OSError, RuntimeError) as problem:
        await simulator.stop()
        # pymodbus reports a failed listen or open only as "Could not start listen".
        if address is None:
            why = "does the device exist, and may this user open it?"
            where = f"serial port {args.serial}"
        else:
            why = "is the port in use, or the address not one of this host's?"
            where = f"{address[0]}:{address[1]}"
        if isinstance(problem, OSError) and problem.strerror:
            why = problem.strerror
        raise LevitonError(f"cannot serve on {where}: {why}") from None
    try:
        if args.control:
            from .simulator.control import serve_control

            ready = {
                "ready": True,
                "url": url,
                "address": list(simulator.address) if simulator.address else None,
                "framing": simulator.framing,
            }
            await serve_control(simulator, ready, out)
            return 0
        out.write(
            render.simulator_text(
                url, simulator, serial=(args.serial, args.baud) if args.serial else None
            )
        )
        out.flush()
        await asyncio.Event().wait()  # serve until interrupted
    finally:
        await simulator.stop()
    return 0


async def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .demo import run_demo

    return await run_demo(out, interval=args.interval, cycles=args.cycles, broker_url=args.broker)


async def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .daemon import run_until_signalled

    config = load_config(args.config)
    _configure_logging_level(config.log_level)
    await run_until_signalled(config)
    return 0


async def cmd_bacnet_ede(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from .bacnet import ede_text
    from .config import load_config

    config = load_config(args.config)
    if config.bacnet is None:
        raise UsageError(f"{args.config} has no bacnet: section")
    text, count = await ede_text(config)
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
        out.write(f"wrote {count} objects to {args.output}\n")
    else:
        out.write(text)
    return 0


def cmd_check_config(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as problem:
        err.write(f"{problem.source}: {len(problem.problems)} problem(s):\n")
        for line in problem.problems:
            err.write(f"  {line}\n")
        return EXIT_USAGE
    meters = config.meters
    out.write(
        f"{config.source}: OK. {len(config.buses)} bus(es), {len(meters)} meter(s); "
        f"MQTT {config.mqtt.url if config.mqtt else 'off'}; "
        f"BACnet {config.bacnet.address if config.bacnet else 'off'}\n"
    )
    for bus in config.buses:
        units = ", ".join(f"{m.unit} ({m.name})" for m in bus.meters)
        out.write(f"  {bus.name}: {bus.connect} every {bus.poll_interval:g} s: units {units}\n")
    return 0


def _configure_logging_level(level: str) -> None:
    """The config file's log_level, unless -v asked for more."""
    root = logging.getLogger()
    wanted = getattr(logging, level.upper())
    if wanted < root.level:
        root.setLevel(wanted)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbosity < 2:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    match args.command:
        case "read":
            return await cmd_read(args, out)
        case "scan":
            return await cmd_scan(args, out, err)
        case "reset-demand":
            return await cmd_reset(args, out)
        case "set-unit-id":
            return await cmd_set_unit_id(args, out)
        case "dump":
            return await cmd_dump(args, out, err)
        case "simulate":
            return await cmd_simulate(args, out)
        case "demo":
            return await cmd_demo(args, out)
        case "run":
            return await cmd_run(args)
        case "bacnet-ede":
            return await cmd_bacnet_ede(args, out)
    raise UsageError(f"unknown command {args.command}")


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        # argparse writes usage errors and --help to the process's streams; send them to ours.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    _configure_logging(args.verbose)
    if args.command == "check-config":
        return cmd_check_config(args, out, err)
    try:
        return asyncio.run(_dispatch(args, out, err))
    except (UsageError, ConfigurationError) as problem:
        err.write(f"leviton-bridge {args.command}: {problem}\n")
        return EXIT_USAGE
    except LevitonError as problem:
        err.write(f"leviton-bridge {args.command}: {problem}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return EXIT_INTERRUPTED

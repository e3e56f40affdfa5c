"""What each ``leviton-bridge`` command does; ``cli.py`` holds the table of commands and their
arguments. Each command is a coroutine taking the parsed arguments and the output and error
streams, and returns the exit code; errors are raised (``UsageError`` for exit 2, the driver's
errors otherwise), and ``cli.main`` turns them into one line of text."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final, TextIO

from leviton_driver import (
    Bus,
    ConfigurationError,
    ExceptionResponseError,
    LevitonError,
    LinkSettings,
    Profile,
    ScanResult,
    check_unit_id,
    load_profile,
    parse_url,
)

from ..core import codec
from . import explorer, render

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


class UsageError(Exception):
    """The command line is wrong (exit 2)."""


def configure_logging_level(level: str) -> None:
    """The config file's log_level, unless -v asked for more."""
    root = logging.getLogger()
    wanted = getattr(logging, level.upper())
    if wanted < root.level:
        root.setLevel(wanted)


# -- helpers ---------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> LinkSettings:
    settings = parse_url(args.connect)
    if getattr(args, "timeout", None):
        settings = replace(settings, timeout=args.timeout)
    return settings


def _profile(args: argparse.Namespace) -> Profile | None:
    path = getattr(args, "profile", None)
    return load_profile(path) if path else None


async def _with_bus[T](
    args: argparse.Namespace,
    job: Callable[[Bus], Awaitable[T]],
    settings: LinkSettings | None = None,
) -> T:
    bus = Bus(settings or _settings(args))
    try:
        return await job(bus)
    finally:
        await bus.async_close()


def _write_json(out: TextIO, data: Any) -> None:
    out.write(codec.dumps(data, indented=True) + "\n")


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


# -- the commands ----------------------------------------------------------------------------


async def cmd_read(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = _profile(args)

    async def job(bus: Bus) -> int:
        try:
            meter = await bus.async_meter(args.unit, series=args.series, profile=profile)
        except ExceptionResponseError as refused:
            if args.series == "auto":
                raise
            raise LevitonError(
                f"{refused}. Is it a Series {args.series}? --series auto asks the meter"
            ) from None
        snapshot = await meter.async_read()
        assert meter.identity is not None
        if args.json:
            _write_json(out, codec.meter_json(meter.identity, snapshot))
        else:
            out.write(render.meter_text(bus.url, meter, snapshot))
        return 0

    return await _with_bus(args, job)


async def cmd_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    units = parse_units(args.units)
    settings = _settings(args)
    show_progress = len(units) > 1

    def progress(done: int, total: int, result: ScanResult) -> None:
        if show_progress:
            render.progress(
                err,
                f"scanned {done}/{total} unit ids, found {len(result.found)}",
                log=done == 1 or done % 10 == 0,
            )

    async def job(bus: Bus) -> ScanResult:
        # The manual: a meter answers within 500 ms, so a scan waits 0.6 s per id unless told.
        if args.timeout is None and "timeout=" not in args.connect:
            return await bus.async_scan(units, progress=progress)
        return await bus.async_scan(units, answer_timeout=settings.timeout, progress=progress)

    result = await _with_bus(args, job, settings)
    if show_progress:
        render.progress(err, f"scanned {len(units)} unit ids, found {len(result.found)}", done=True)
    identities = [m.identity for m in result.found.values() if m.identity is not None]
    problems = [str(problem) for problem in result.problems.values()]
    if args.json:
        _write_json(out, [codec.identity_json(i) for i in identities])
    else:
        out.write(render.scan_text(settings.url, identities, problems, units))
    return 0 if identities else EXIT_FAILURE


async def cmd_reset(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async def job(bus: Bus) -> int:
        meter = await bus.async_meter(args.unit)
        await meter.async_read()
        result = await meter.async_reset_peak_demand()
        out.write(
            f"Peak demand reset on unit {args.unit}: reset counter {result.count_before} -> "
            f"{result.count_after}, peak demand {render.number(result.peak_demand_before, 2)} kW -> "
            f"{render.number(result.peak_demand_after, 2)} kW\n"
        )
        return 0

    return await _with_bus(args, job)


def _confirm(prompt: str) -> bool:
    answer: str = input(prompt)
    return answer.strip().lower() in ("y", "yes")


async def cmd_set_unit_id(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.unit == args.new_id:
        raise UsageError(f"the meter already has unit id {args.unit}")
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(
            "refusing to change the unit id without confirmation: add --yes "
            "(there is no terminal to ask on)"
        )

    async def job(bus: Bus) -> int:
        meter = await bus.async_meter(args.unit)
        identity = meter.identity
        assert identity is not None
        if not args.yes and not _confirm(
            f"Change unit {args.unit} ({render.identity_line(identity)}) on {bus.url} "
            f"to unit id {args.new_id}? [y/N] "
        ):
            out.write("Nothing changed.\n")
            return EXIT_FAILURE
        await bus.async_change_unit_id(meter, args.new_id)
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
        await bus.async_connect()
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
            _write_json(out, explorer.rows_json(rows, args.space))
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


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:5020")
    return host.strip("[]") or "127.0.0.1", int(port)


async def cmd_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..simulator import FaultSettings, LineSettings, MeterSimulator, MeterSpec

    address = None if args.serial else _listen_address(args.listen)
    line = LineSettings(baud=args.line_baud, turnaround=args.turnaround) if args.line_baud else None
    simulator = MeterSimulator(
        [MeterSpec.parse(text) for text in args.meter],
        framing="rtu" if args.serial else args.framing,
        line=line,
        faults=FaultSettings.parse(args.fault, args.seed, args.late_by),
        profile=_profile(args),
    )
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
            from ..simulator.control import serve_control

            ready = {
                "ready": True,
                "url": url,
                "address": list(simulator.address) if simulator.address else None,
                "framing": simulator.framing,
            }
            await serve_control(simulator, ready, out)
            return 0
        out.write(simulator.describe(url, serial=(args.serial, args.baud) if args.serial else None))
        out.flush()
        await asyncio.Event().wait()  # serve until interrupted
    finally:
        await simulator.stop()
    return 0


async def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .demo import run_demo

    return await run_demo(out, interval=args.interval, cycles=args.cycles, broker_url=args.broker)


async def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..daemon import load, run_until_signalled

    config = load(args.config)
    configure_logging_level(config.log_level)
    await run_until_signalled(config)
    return 0


async def cmd_bacnet_ede(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pathlib import Path

    from ..bacnet.ede import ede_text
    from ..daemon import load

    config = load(args.config)
    if config.bacnet is None:
        raise UsageError(f"{args.config} has no bacnet: section")
    text, count = await ede_text(config)
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
        out.write(f"wrote {count} objects to {args.output}\n")
    else:
        out.write(text)
    return 0


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _month(text: str) -> tuple[int, int]:
    year, sep, month = text.partition("-")
    if not sep or not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        raise UsageError(f"--month {text[:20]!r}: expected a month as YYYY-MM, e.g. 2026-11")
    if not 1970 <= int(year) <= 9999:
        raise UsageError(f"--month {text[:20]!r}: the year is out of range")
    return int(year), int(month)


async def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Each meter's (and point's) energy in a month, from the history file (read only)."""
    from ..daemon import load
    from ..history.report import month_report, report_csv, report_text
    from ..history.store import HistoryStore, StoreError

    year, month = _month(args.month)
    config = load(args.config)
    if config.history is None:
        raise UsageError(f"{args.config} has no history: section (the bridge keeps no history)")
    store = HistoryStore(config.history.path, config.history.interval_s)
    meters = {meter.meter_id: meter.name for meter in config.meters}

    def run() -> list[Any]:
        try:
            store.open_reader()
            return month_report(store, year, month, meters)
        finally:
            store.close()

    try:
        lines = await asyncio.to_thread(run)
    except StoreError as problem:
        raise LevitonError(f"history: {problem}") from None
    out.write(report_csv(lines) if args.csv else report_text(lines, year, month))
    return 0


async def cmd_check_config(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..config import ConfigError
    from ..daemon import load

    try:
        config = await asyncio.to_thread(load, args.file)
    except ConfigError as problem:
        err.write(f"{problem.source}: {len(problem.problems)} problem(s):\n")
        for line in problem.problems:
            err.write(f"  {line}\n")
        return EXIT_USAGE
    meters = config.meters
    http, modbus = config.http, config.modbus_server
    out.write(
        f"{config.source}: OK. {len(config.buses)} bus(es), {len(meters)} meter(s); "
        f"MQTT {config.mqtt.url if config.mqtt else 'off'}; "
        f"BACnet {config.bacnet.address if config.bacnet else 'off'}; "
        f"Modbus server {_host_port(modbus.host, modbus.port) if modbus else 'off'}; "
        f"status page {_host_port(http.host, http.port) if http else 'off'}; "
        + (
            f"history {config.history.path} every {config.history.interval} min"
            if config.history
            else "history off"
        )
        + "\n"
    )
    for bus in config.buses:
        units = ", ".join(f"{m.unit} ({m.name})" for m in bus.meters)
        out.write(f"  {bus.name}: {bus.connect} every {bus.poll_interval:g} s: units {units}\n")
    return 0

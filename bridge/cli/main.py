"""``leviton-bridge``: command-line tools for Leviton meters, and the bridge itself.

Every command prints a clear message and exits non-zero on failure: 1 when the meter or link
failed, 2 when the command line or a setting is wrong, 130 when interrupted. The commands are
one table (``COMMANDS``): name, help, arguments, and the coroutine that runs it. Heavy imports
(the simulator's pymodbus server, MQTT, BACnet) happen inside the commands that need them, so
``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from leviton_driver import (
    SERIES_CHOICES,
    ConfigurationError,
    LevitonError,
    check_unit_id,
)

from . import explorer
from .commands import (
    EXIT_FAILURE,
    EXIT_USAGE,
    UsageError,
    cmd_bacnet_ede,
    cmd_check_config,
    cmd_demo,
    cmd_dump,
    cmd_read,
    cmd_report,
    cmd_reset,
    cmd_run,
    cmd_scan,
    cmd_set_unit_id,
    cmd_simulate,
)

EXIT_INTERRUPTED: Final = 130
#: The bounds of every answer timeout (the URL's ``timeout=`` has the same).
TIMEOUT_RANGE: Final = (0.05, 60.0)


# -- argument types ------------------------------------------------------------------------


def _unit_arg(text: str) -> int:
    try:
        return check_unit_id(text)
    except ConfigurationError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low:g} and {high:g} seconds")
        return value

    return parse


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


@dataclass(frozen=True)
class Arg:
    """One argument: its flags and ``argparse.add_argument`` keywords."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


CONNECT: Final = (
    arg(
        "--connect",
        required=True,
        metavar="URL",
        help="tcp://HOST:PORT, rtu+tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=9600&parity=N&stopbits=1",
    ),
    arg(
        "--timeout",
        type=_seconds(*TIMEOUT_RANGE),
        metavar="SECONDS",
        help="answer timeout, 0.05-60 (default: the URL's, else 1.0)",
    ),
)
UNIT: Final = (
    arg("--unit", required=True, type=_unit_arg, metavar="N", help="Modbus unit id, 1-247"),
)
SERIES: Final = (
    arg(
        "--series",
        choices=SERIES_CHOICES,
        default="auto",
        help="meter series; auto asks the meter (default)",
    ),
    arg(
        "--profile",
        metavar="FILE",
        help="Series 8000 register profile (default: the provisional one shipped with us)",
    ),
)
JSON: Final = arg("--json", action="store_true", help="print JSON")
CONFIG: Final = arg("--config", required=True, metavar="FILE", help="YAML configuration file")


def _simulate_description() -> str:
    # The meter keys' help needs no pymodbus: it lives beside the simulated meters' data.
    from ..simulator.keys import METER_KEYS

    return "Simulated Leviton meters that answer like the real ones. Meter keys: " + "; ".join(
        f"{key}: {text}" for key, text in METER_KEYS.items()
    )


@dataclass(frozen=True)
class Command:
    """One subcommand: what ``--help`` says, its arguments, and what runs it."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, TextIO, TextIO], Awaitable[int]]
    args: tuple[Arg, ...] = ()
    description: str | Callable[[], str] | None = None
    exclusive: tuple[Arg, ...] = ()
    """Arguments of which exactly one must be given."""


COMMANDS: Final[tuple[Command, ...]] = (
    Command(
        "read",
        "identify a meter and print every reading",
        cmd_read,
        (*CONNECT, *UNIT, *SERIES, JSON),
    ),
    Command(
        "scan",
        "find the meters on a bus",
        cmd_scan,
        (
            *CONNECT,
            arg(
                "--units",
                default="1-247",
                metavar="RANGE",
                help="ids to try, e.g. 1-247 or 1,2,10-20",
            ),
            JSON,
        ),
    ),
    Command(
        "reset-demand", "reset a Series 1000/2000 meter's peak demand", cmd_reset, (*CONNECT, *UNIT)
    ),
    Command(
        "set-unit-id",
        "give a Series 1000/2000 meter a new Modbus unit id",
        cmd_set_unit_id,
        (
            *CONNECT,
            *UNIT,
            arg(
                "--new-id",
                required=True,
                type=_unit_arg,
                metavar="M",
                help="the new unit id, 1-247",
            ),
            arg("--yes", action="store_true", help="do not ask for confirmation"),
        ),
    ),
    Command(
        "dump",
        "register explorer: dump a range of registers (to build a Series 8000 profile)",
        cmd_dump,
        (
            *CONNECT,
            *UNIT,
            arg(
                "--start",
                required=True,
                metavar="A",
                help="first register: 40001-style number or wire address",
            ),
            arg(
                "--count", required=True, type=int, metavar="C", help="how many registers (1-10000)"
            ),
            arg("--space", choices=("holding", "input"), default="holding", help="register space"),
            arg(
                "--wire",
                action="store_true",
                help="--start is a wire address even if it looks like 4xxxx",
            ),
            JSON,
        ),
        description=explorer.DESCRIPTION,
    ),
    Command(
        "simulate",
        "simulate meters on a Modbus line",
        cmd_simulate,
        (
            arg(
                "--framing",
                choices=("tcp", "rtu"),
                default="tcp",
                help="framing on TCP: Modbus TCP or RTU",
            ),
            arg(
                "--meter",
                action="append",
                required=True,
                metavar="UNIT:SERIES[:key=value...]",
                help="a meter, e.g. 1:2000:load=12.5, 2:1000, 3:8000-24 (repeat for more)",
            ),
            arg(
                "--baud",
                type=int,
                default=9600,
                help="serial port speed with --serial (default 9600)",
            ),
            arg(
                "--line-baud",
                type=int,
                metavar="BAUD",
                help="emulate an RS485 line at this speed: answers wait their wire time (e.g. 9600)",
            ),
            arg(
                "--turnaround",
                type=_seconds(0.0, 1.0),
                default=0.005,
                metavar="SECONDS",
                help="meter turnaround added to each answer with --line-baud (default 0.005)",
            ),
            arg(
                "--fault",
                action="append",
                default=[],
                metavar="KIND=RATE",
                help="inject faults at a rate 0..1; KIND is one of timeout, garbage, crc, short, "
                "exception, late (repeatable)",
            ),
            arg(
                "--late-by",
                type=_seconds(0.0, 60.0),
                default=1.5,
                metavar="SECONDS",
                help="how late a late answer comes (default 1.5)",
            ),
            arg("--seed", type=int, help="random seed for repeatable faults"),
            arg("--profile", metavar="FILE", help="Series 8000 register profile"),
            arg(
                "--control",
                action="store_true",
                help="print the address as JSON, then take JSON commands on standard input until "
                "it closes (how tests in another Python environment drive the simulator)",
            ),
        ),
        description=_simulate_description,
        exclusive=(
            arg("--listen", metavar="HOST:PORT", help="serve on TCP (port 0 picks a free one)"),
            arg(
                "--serial",
                metavar="DEVICE",
                help="serve RTU on a serial device (e.g. one end of a socat pty pair)",
            ),
        ),
    ),
    Command(
        "run",
        "run the bridge: poll the configured meters, publish them over MQTT (and BACnet)",
        cmd_run,
        (CONFIG,),
    ),
    Command(
        "bacnet-ede",
        "write the EDE file (CSV object list for BMS integrators) of the BACnet device",
        cmd_bacnet_ede,
        (CONFIG, arg("--output", metavar="FILE", help="write here instead of to standard output")),
    ),
    Command(
        "report",
        "each meter's energy in a month, from the history (what a property manager bills from)",
        cmd_report,
        (
            CONFIG,
            arg("--month", required=True, metavar="YYYY-MM", help="the local month, e.g. 2026-11"),
            arg("--csv", action="store_true", help="print CSV instead of a table"),
        ),
    ),
    Command(
        "check-config",
        "check a configuration file and list every problem",
        cmd_check_config,
        (arg("file", metavar="FILE", help="YAML configuration file"),),
    ),
    Command(
        "demo",
        "simulated meters, an MQTT broker and the bridge, shown live",
        cmd_demo,
        (
            arg(
                "--broker",
                metavar="URL",
                help="publish to this broker (mqtt://HOST:PORT) instead of starting one",
            ),
            arg(
                "--interval",
                type=_seconds(0.1, 3600),
                default=2.0,
                help="seconds between polls (default 2)",
            ),
            arg(
                "--cycles",
                type=_count_arg,
                default=0,
                help="stop after this many polls (default: run until Ctrl-C)",
            ),
        ),
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The parser, from ``COMMANDS``. ``-v`` goes before or after the command."""
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logging (-vv for Modbus traffic)",
    )
    parser = argparse.ArgumentParser(
        prog="leviton-bridge",
        description="Read, manage and simulate Leviton Series 1000/2000 and Series 8000 meters.",
        parents=[verbose],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        description = command.description
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=description() if callable(description) else description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[verbose],
        )
        for argument in command.args:
            sub.add_argument(*argument.flags, **argument.options)
        if command.exclusive:
            group = sub.add_mutually_exclusive_group(required=True)
            for argument in command.exclusive:
                group.add_argument(*argument.flags, **argument.options)
        sub.set_defaults(run=command.run)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbosity < 2:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def _main(
    run: Callable[[argparse.Namespace, TextIO, TextIO], Awaitable[int]],
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> int:
    return await run(args, out, err)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a faster loop for the same code), unless
    ``LEVITON_BRIDGE_LOOP=asyncio`` asks for the standard one; None: the standard one."""
    if os.environ.get("LEVITON_BRIDGE_LOOP", "uvloop") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


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
    _configure_logging(getattr(args, "verbose", 0))
    run: Callable[[argparse.Namespace, TextIO, TextIO], Awaitable[int]] = args.run
    try:
        return asyncio.run(_main(run, args, out, err), loop_factory=event_loop_factory())
    except (UsageError, ConfigurationError) as problem:
        err.write(f"leviton-bridge {args.command}: {problem}\n")
        return EXIT_USAGE
    except LevitonError as problem:
        err.write(f"leviton-bridge {args.command}: {problem}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``read --json | head``): nothing more to say, and nowhere to.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE


__all__ = ["COMMANDS", "build_parser", "main"]

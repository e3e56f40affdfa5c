"""Remote control of a simulator process over its standard input and output.

``leviton-bridge simulate --control`` serves the meters and then takes commands, one JSON
object a line on standard input, answering each with one JSON line on standard output. It stops
when its input closes, so a simulator started by a test never outlives it. This is how the Home
Assistant tests, which run in Home Assistant's own Python environment (whose pymodbus has no
server API the simulator can use), drive simulated meters in another process.

The first line the process prints is ``{"ready": true, "url": ..., "address": [host, port],
"framing": ...}`` (``address`` is null on a serial port). Then each request::

    {"id": 7, "op": "meter", "unit": 1}
    -> {"id": 7, "ok": true, "result": {"unit": 1, "reset_count": 3, ...}}

and a request that cannot be done answers ``{"id": 7, "ok": false, "error": "..."}``.

Operations:

* ``meter`` (``unit``): the meter's state: series, points, model, program id, reset count,
  peak demand, energy delivered now, load, requests received; ``point_loads`` (kW per point).
* ``set`` (``unit``, then any of ``program_id``, ``reset_count``, ``load``, ``peak``,
  ``energy``, ``glitch``): change it (``energy`` makes the total jump there; ``glitch`` is the
  share of reads whose totals glitch).
* ``refuse_reads`` (``unit``, ``address``, ``code``, ``after``): reads starting at the wire
  address get exception ``code`` after ``after`` more good answers; ``accept_reads``
  (``unit``, ``address``) answers them again.
* ``faults`` (``rates``: {kind: rate}): replace the fault rates (``{}`` stops all faults).
* ``silence`` / ``unsilence`` (``unit``): the meter stops answering / answers again.
* ``requests``: requests received per unit id a meter answers; ``unanswered``: per unit id
  nobody answers (no meter there, or one silenced).
* ``restart`` (``unit``): the meter loses power and comes back (uptime from zero).
* ``late`` (``unit``, ``seconds``, ``count``): its next ``count`` answers come that late.
* ``lose`` (``unit``, ``count``): its next ``count`` answers are lost on the way (a lost
  frame: unlike a late answer, the line is free again at once).
* ``fewer_registers`` (``unit``, ``count``): its next ``count`` reads answer one register fewer
  than asked, in a well-formed frame.
* ``press_reset`` (``unit``): someone resets peak demand with the meter's own button.
* ``replace`` (``meter``: ``UNIT:SERIES[:key=value...]``): swap the meter at that unit id for
  another, as an electrician would.
* ``served``: the latest requests meters served, in order: [unit, function, address, count].
* ``connections``: how many clients are connected (TCP).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any, Final, TextIO

from pymodbus.constants import ExcCodes

from leviton_driver.errors import ConfigurationError

from .line import FAULT_KINDS
from .meters import MeterSpec
from .server import MeterSimulator

SETTABLE: Final = ("program_id", "reset_count", "load", "peak", "energy", "glitch")


class ControlError(Exception):
    """A request that cannot be carried out; its text goes back to the caller."""


class Controller:
    """Carries out control requests on one simulator."""

    def __init__(self, simulator: MeterSimulator) -> None:
        self.simulator = simulator
        self._undo: dict[int, Callable[[], None]] = {}

    def _meter_unit(self, request: dict[str, Any]) -> int:
        unit = request.get("unit")
        if not isinstance(unit, int) or unit not in self.simulator.meters:
            raise ControlError(f"no simulated meter with unit id {unit!r}")
        return unit

    def handle(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        simulator = self.simulator
        if op == "meter":
            return simulator.meter_state(self._meter_unit(request))
        if op == "set":
            unit = self._meter_unit(request)
            meter = simulator.meters[unit]
            changes = {k: v for k, v in request.items() if k not in ("op", "id", "unit")}
            unknown = sorted(set(changes) - set(SETTABLE))
            if unknown:
                raise ControlError(f"cannot set {', '.join(unknown)}; settable: {SETTABLE}")
            for key, value in changes.items():
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ControlError(f"{key}={value!r} is not a number")
                if key == "load":
                    meter.set_load(float(value))
                elif key == "energy":
                    meter.set_energy(float(value))
                elif key == "peak":
                    meter.peak = float(value)
                    meter.peak_reset_at = None
                elif key == "glitch":
                    if not 0 <= value <= 1:
                        raise ControlError(f"glitch={value!r}: expected a share of reads, 0..1")
                    meter.spec.glitch = float(value)
                else:
                    setattr(meter, key, int(value))
            return simulator.meter_state(unit)
        if op == "refuse_reads":
            unit = self._meter_unit(request)
            address, code, after = (request.get(k) for k in ("address", "code", "after"))
            if not (isinstance(address, int) and isinstance(code, int) and isinstance(after, int)):
                raise ControlError("refuse_reads needs whole numbers address, code and after")
            try:
                exception = ExcCodes(code)
            except ValueError:
                raise ControlError(f"{code} is not a Modbus exception code") from None
            simulator.meters[unit].refuse_reads(address, exception, after=after)
            return None
        if op == "accept_reads":
            unit = self._meter_unit(request)
            address = request.get("address")
            if not isinstance(address, int):
                raise ControlError("accept_reads needs a whole number address")
            simulator.meters[unit].accept_reads(address)
            return None
        if op == "accept_reads":
            unit = self._meter_unit(request)
            address = request.get("address")
            if not isinstance(address, int):
                raise ControlError("accept_reads needs a whole number address")
            simulator.meters[unit].accept_reads(address)
            return None
        if op == "faults":
            rates = request.get("rates")
            if not isinstance(rates, dict) or not all(
                kind in FAULT_KINDS and isinstance(rate, (int, float)) and 0 <= rate <= 1
                for kind, rate in rates.items()
            ):
                raise ControlError(f"rates must map {', '.join(FAULT_KINDS)} to 0..1")
            simulator.faults.rates.clear()
            simulator.faults.rates.update({k: float(v) for k, v in rates.items()})
            return dict(simulator.faults.rates)
        if op == "silence":
            unit = self._meter_unit(request)
            if unit not in self._undo:
                self._undo[unit] = simulator.silence(unit)
            return None
        if op == "unsilence":
            unit = self._meter_unit(request)
            undo = self._undo.pop(unit, None)
            if undo is not None:
                undo()
            return None
        if op == "requests":
            return {str(unit): count for unit, count in simulator.requests.items()}
        if op == "unanswered":
            return {str(unit): count for unit, count in simulator.unanswered.items()}
        if op == "late":
            unit = self._meter_unit(request)
            seconds, count = request.get("seconds"), request.get("count", 1)
            if not isinstance(seconds, (int, float)) or not isinstance(count, int):
                raise ControlError("late needs seconds (a number) and count (a whole number)")
            simulator.meters[unit].late_answers.extend([float(seconds)] * count)
            return None
        if op == "lose":
            unit = self._meter_unit(request)
            count = request.get("count", 1)
            if not isinstance(count, int):
                raise ControlError("lose needs count (a whole number)")
            simulator.meters[unit].lost_answers += count
            return None
        if op == "fewer_registers":
            unit = self._meter_unit(request)
            count = request.get("count", 1)
            if not isinstance(count, int):
                raise ControlError("fewer_registers needs count (a whole number)")
            simulator.meters[unit].fewer_registers += count
            return None
        if op == "restart":
            simulator.meters[self._meter_unit(request)].restart()
            return None
        if op == "press_reset":
            simulator.meters[self._meter_unit(request)].reset_demand()
            return None
        if op == "replace":
            spec = request.get("meter")
            if not isinstance(spec, str):
                raise ControlError("replace needs meter: UNIT:SERIES[:key=value...]")
            try:
                unit = simulator.replace(MeterSpec.parse(spec)).unit
            except ConfigurationError as err:
                raise ControlError(str(err)) from None
            return simulator.meter_state(unit)
        if op == "served":
            return [list(request) for request in simulator.served]
        if op == "connections":
            return simulator.connection_count()
        raise ControlError(f"unknown op {op!r}")


async def serve_control(simulator: MeterSimulator, ready: dict[str, Any], out: TextIO) -> None:
    """Print ``ready``, then answer requests from standard input until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    controller = Controller(simulator)

    def answer(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    answer(ready)
    try:
        while line := await reader.readline():
            request_id: Any = None
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ControlError("a request is a JSON object")
                request_id = request.get("id")
                result = controller.handle(request)
            except (ControlError, ValueError) as err:
                answer({"id": request_id, "ok": False, "error": str(err)})
            else:
                answer({"id": request_id, "ok": True, "result": result})
    finally:
        transport.close()

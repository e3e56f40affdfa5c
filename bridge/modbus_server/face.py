"""The Modbus TCP server face: the meters served from their last poll, as a gateway serves them.

``ModbusServerFace`` hears every poll (a ``MeterListener``) and keeps each meter's image
(``image``) current; its server (``server``) answers requests from those images:

* a read of a meter's registers: the image's words, or its exception (02, 01);
* function 0x11: the meter's own answer, as it gave it when identified;
* a unit id no configured meter is served at: exception 0x0A (gateway path unavailable);
* a meter that is offline, never answered, or whose last poll is older than ``max_age``:
  exception 0x0B (gateway target device failed to respond);
* with ``writes: true``, a write of the demand-reset register (function 0x06 of 0x00AA to
  0x01F4) of a Series 1000/2000 goes through the core's one reset path (confirmed by reading
  the meter back, folded with resets asked on the other faces) and is answered once the reset
  is confirmed, or exception 04 when it failed; every other write (the unit id at 45001
  included: a client never renumbers a meter through the bridge) is exception 02, or 01 for a
  function no meter has; with ``writes: false`` every write is exception 01.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
)

from leviton_driver import ConfigurationError
from leviton_driver import registers as reg
from leviton_driver.modbus_compat import ReportServerIdAnswer

from ..config.settings import ModbusServerConfig
from ..core.faces import FaceStatus, Figure
from ..core.meter_state import MeterState
from .image import (
    DEVICE_FAILURE,
    ILLEGAL_ADDRESS,
    ILLEGAL_FUNCTION,
    ILLEGAL_VALUE,
    PATH_UNAVAILABLE,
    READ_INPUT,
    TARGET_FAILED,
    MeterImage,
    image_of,
)
from .server import ModbusServer

if TYPE_CHECKING:
    from ..core.bridge import BridgeCore

_LOGGER = logging.getLogger(__name__)

MAX_READ: Final = 125
"""Registers one read may ask for (the Modbus limit)."""


@dataclass(eq=False, slots=True)
class Served:
    """One meter as served: at which unit id, its image, what it answered."""

    state: MeterState
    unit: int
    max_age: float
    image: MeterImage | None = None
    answers: int = 0


@dataclass(eq=False)
class ModbusServerFace:
    """Serves the bridge's meters over Modbus TCP."""

    core: BridgeCore
    config: ModbusServerConfig
    clock: Callable[[], float] = time.monotonic
    served: dict[int, Served] = field(default_factory=dict)
    """Every served meter, by the unit id it is served at."""
    since: float | None = None
    problem: str | None = "not started"

    def __post_init__(self) -> None:
        units = dict(self.config.units)
        for state in self.core.states:
            unit = units.get(state.meter_id, state.config.unit)
            age = self.config.max_age or default_max_age(state.bus.poll_interval)
            self.served[unit] = Served(state, unit, age)
        self._by_meter = {served.state.meter_id: served for served in self.served.values()}
        self.server = ModbusServer(
            self.answer,
            allow=self.config.allow,
            max_clients=self.config.max_clients,
            idle_timeout=self.config.idle_timeout,
            clock=lambda: self.clock(),
        )

    # -- Face ------------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        try:
            await self.server.start(config.host, config.port)
        except OSError as err:
            raise ConfigurationError(
                f"modbus_server.listen {config.listen}: cannot listen there "
                f"({err.strerror or err}); is the port in use (a Modbus gateway or another "
                "bridge), or 502 without the right to (a port below 1024 needs it)?"
            ) from None
        self.since, self.problem = time.time(), None
        _LOGGER.info(
            "Modbus TCP server on %s: %d meter(s) at unit(s) %s; writes %s",
            config.listen,
            len(self.served),
            ", ".join(str(unit) for unit in sorted(self.served)),
            "of the demand reset only" if config.writes else "refused",
        )

    async def stop(self) -> None:
        await self.server.stop()
        if self.since is not None:
            self.since, self.problem = time.time(), "stopped"

    def status(self) -> FaceStatus:
        server, config = self.server, self.config
        up = self.problem is None
        now = self.clock()
        requests = sum(server.requests.values())
        summary = (
            f"{'serving' if up else 'not serving'} {len(self.served)} meter(s) on "
            f"{config.listen} to {len(server.clients)} client(s), {requests} request(s) answered"
        )
        meters = {}
        figures: list[Figure] = [
            Figure(
                "leviton_modbus_server_clients", "Modbus TCP clients connected", len(server.clients)
            ),
        ]
        for (function, outcome), count in sorted(server.requests.items()):
            figures.append(
                Figure(
                    "leviton_modbus_server_requests",
                    "Modbus requests answered, by function and outcome",
                    count,
                    counter=True,
                    labels={"function": f"{function:#04x}", "outcome": outcome},
                )
            )
        for why, count in sorted(server.counts.items()):
            figures.append(
                Figure(
                    "leviton_modbus_server_connections_closed",
                    "Connections the server refused or closed, by why",
                    count,
                    counter=True,
                    labels={"why": why},
                )
            )
        for served in self.served.values():
            state = served.state
            age = now - state.read_at if state.read_at is not None else None
            meters[state.meter_id] = {
                "unit": served.unit,
                "answers": served.answers,
                "age_s": round(age, 1) if age is not None else None,
            }
            labels = {"bus": state.bus.name, "meter": state.meter_id}
            figures.append(
                Figure(
                    "leviton_modbus_server_answers",
                    "Requests answered from the meter's last poll",
                    served.answers,
                    counter=True,
                    labels=labels,
                )
            )
            if age is not None:
                figures.append(
                    Figure(
                        "leviton_modbus_server_poll_age_seconds",
                        "How old the poll is that the meter's registers are served from",
                        age,
                        labels=labels,
                    )
                )
        return FaceStatus(
            key="modbus_server",
            title="Modbus TCP server",
            up=up,
            since=self.since,
            summary=summary,
            problem=self.problem,
            details={
                "listen": config.listen,
                "clients": len(server.clients),
                "writes": config.writes,
                "requests": requests,
                "meters": meters,
            },
            figures=figures,
        )

    # -- MeterListener ---------------------------------------------------------------------

    def meter_identified(self, state: MeterState) -> None:
        self._refresh(state)

    def meter_updated(self, state: MeterState) -> None:
        self._refresh(state)

    def meter_unavailable(self, state: MeterState) -> None:
        return None  # an offline meter answers 0x0B: the state says so

    def _refresh(self, state: MeterState) -> None:
        served = self._by_meter.get(state.meter_id)
        if served is None:
            return
        meter, snapshot = state.meter, state.snapshot
        served.image = (
            image_of(meter, snapshot, served.unit)
            if meter is not None and snapshot is not None
            else None
        )

    # -- answering ---------------------------------------------------------------------------

    def answer(self, unit: int, request: ModbusPDU | int) -> ModbusPDU | Awaitable[ModbusPDU]:
        function = request if isinstance(request, int) else request.function_code
        served = self.served.get(unit)
        if served is None:
            return ExceptionResponse(function, PATH_UNAVAILABLE)
        image = self._fresh(served)
        if image is None:
            return ExceptionResponse(function, TARGET_FAILED)
        served.answers += 1
        if isinstance(request, int):
            return ExceptionResponse(function, ILLEGAL_FUNCTION)
        if isinstance(request, ReadHoldingRegistersRequest):  # 0x03, and 0x04 (a subclass)
            count = request.count
            if not 1 <= count <= MAX_READ:
                return ExceptionResponse(function, ILLEGAL_VALUE)
            words = image.read(function, request.address, count)
            if isinstance(words, int):
                return ExceptionResponse(function, words)
            if function == READ_INPUT:
                return ReadInputRegistersResponse(registers=words)
            return ReadHoldingRegistersResponse(registers=words)
        if function == 0x11:
            if image.report_id is None:
                return ExceptionResponse(function, ILLEGAL_FUNCTION)
            return ReportServerIdAnswer(image.report_id)
        if not self.config.writes:
            return ExceptionResponse(function, ILLEGAL_FUNCTION)
        if isinstance(request, WriteSingleRegisterRequest):
            address, value = request.address, request.registers[0] if request.registers else -1
            if address != reg.DEMAND_RESET_ADDRESS or not image.can_reset:
                return ExceptionResponse(function, ILLEGAL_ADDRESS)
            if value != reg.DEMAND_RESET_VALUE:
                return ExceptionResponse(function, ILLEGAL_VALUE)
            return self._reset(served, address, value)
        if isinstance(request, WriteMultipleRegistersRequest):
            return ExceptionResponse(function, ILLEGAL_ADDRESS)  # 45001 included
        return ExceptionResponse(function, ILLEGAL_FUNCTION)

    def _fresh(self, served: Served) -> MeterImage | None:
        """The image to answer from: None when the meter is offline, never answered, or its
        last poll is older than its ``max_age``."""
        state, image = served.state, served.image
        if image is None or not state.available or state.read_at is None:
            return None
        if self.clock() - state.read_at > served.max_age:
            return None
        return image

    async def _reset(self, served: Served, address: int, value: int) -> ModbusPDU:
        outcome = await self.core.reset_peak_demand(served.state.meter_id, "modbus_server")
        if not outcome.ok:
            return ExceptionResponse(0x06, DEVICE_FAILURE)
        return WriteSingleRegisterResponse(address=address, registers=[value])


def default_max_age(poll_interval: float) -> float:
    """A meter's registers are served while its last poll is this young (3 polls, at least
    10 s): older, the bridge has lost it and says so (0x0B)."""
    return max(10.0, 3 * poll_interval)


__all__ = ["ModbusServerFace", "default_max_age"]

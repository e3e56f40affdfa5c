"""Fixtures of the Modbus TCP server face's tests: the bridge in this loop with a
``modbus_server:`` section, simulated meters whose clock stands still (so that the meter and
what the bridge serves of it can be compared register for register), and a Modbus client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from leviton_bridge.daemon import Bridge
from leviton_bridge.modbus_server.face import ModbusServerFace
from leviton_driver import Clocks
from tests.mqtt.conftest import watch
from tests.support import free_port
from tests.support.inprocess import StartSimulator, start_simulator
from tests.support.mosquitto import mosquitto, start_broker
from tests.support.running import RunBridge, RunningBridge, run_bridge
from tests.support.statuspage import HeldClock, http

__all__ = [
    "http",
    "mosquitto",
    "run_bridge",
    "start_broker",
    "start_simulator",
    "watch",
]

METERS = (
    "1:2000:model=2N208-021:load=0:energy=5000:peak=9.5:resets=3:uptime=100",
    "2:1000:model=1N240-01D:load=0:energy=800:export=12.5:uptime=7",
    "3:8000-8:model=S8UTS-083:load=16:energy=1600",
)


@dataclass
class Site:
    """The simulated meters, the bridge serving them, and where."""

    sim: Any
    meter_url: str
    running: RunningBridge
    port: int

    @property
    def bridge(self) -> Bridge:
        return self.running.bridge

    @property
    def face(self) -> ModbusServerFace:
        face = self.bridge.face("modbus_server")
        assert isinstance(face, ModbusServerFace)
        return face

    @property
    def served_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def cycles(self, count: int = 2) -> None:
        """Let every bus finish ``count`` more poll cycles."""
        for poller in self.bridge.pollers:
            await poller.wait_for_cycle(poller.cycles + count)


StartSite = Callable[..., Awaitable[Site]]


def served_config(meter_url: str, port: int, *units: int, **server: Any) -> dict[str, Any]:
    return {
        "buses": [
            {
                "name": "lab",
                "connect": f"{meter_url}?timeout=0.3",
                "poll_interval": 0.2,
                "meters": [{"unit": unit} for unit in units],
            }
        ],
        "modbus_server": {"listen": f"127.0.0.1:{port}", **server},
        "log_level": "debug",
    }


@pytest.fixture
async def start_site(start_simulator: StartSimulator, run_bridge: RunBridge) -> StartSite:
    """``await start_site(**modbus_server)``: the three meters (their clock held still), the
    bridge polling them every 0.2 s and serving them."""

    async def start(meters: tuple[str, ...] = METERS, **server: Any) -> Site:
        clock = HeldClock()
        sim, url = await start_simulator(*meters, clock=clock)
        port = free_port()
        units = [int(spec.split(":")[0]) for spec in meters]

        def prepare(bridge: Bridge) -> None:
            for poller in bridge.pollers:  # the bridge counts uptime on the same held clock
                poller.meter_clocks = Clocks(monotonic=clock)

        running = await run_bridge(served_config(url, port, *units, **server), prepare)
        site = Site(sim, url, running, port)
        await site.cycles()
        return site

    return start


@pytest.fixture
async def client() -> AsyncIterator[Callable[[str], Awaitable[AsyncModbusTcpClient]]]:
    """``await client(url)``: a connected pymodbus client (closed at teardown)."""
    clients: list[AsyncModbusTcpClient] = []

    async def connect(url: str) -> AsyncModbusTcpClient:
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        modbus = AsyncModbusTcpClient(host, port=int(port), timeout=3, retries=0)
        assert await modbus.connect()
        clients.append(modbus)
        return modbus

    yield connect
    for modbus in clients:
        modbus.close()
    await asyncio.sleep(0)


async def read(
    modbus: AsyncModbusTcpClient, unit: int, address: int, count: int, function: int = 3
) -> list[int] | int:
    """The registers, or the exception code of the answer."""
    call = modbus.read_holding_registers if function == 3 else modbus.read_input_registers
    answer = await call(address, count=count, device_id=unit)
    if answer.isError():
        return int(answer.exception_code)
    return list(answer.registers)

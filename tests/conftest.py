"""Shared fixtures: simulated meters on loopback, and serial port pairs from socat."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leviton_driver.simulator import FaultSettings, LineSettings, MeterSimulator, MeterSpec

StartSimulator = Callable[..., Awaitable[tuple[MeterSimulator, str]]]


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """Start a simulator on a free loopback port; returns (simulator, connection URL)."""
    running: list[MeterSimulator] = []

    async def start(
        *meters: str,
        framing: str = "tcp",
        line: LineSettings | None = None,
        faults: FaultSettings | None = None,
        **kwargs: Any,
    ) -> tuple[MeterSimulator, str]:
        simulator = MeterSimulator(
            [MeterSpec.parse(m) for m in meters],
            framing=framing,
            line=line,
            faults=faults,
            **kwargs,
        )
        host, port = await simulator.start_tcp("127.0.0.1", 0)
        running.append(simulator)
        scheme = "tcp" if framing == "tcp" else "rtu+tcp"
        return simulator, f"{scheme}://{host}:{port}"

    yield start
    for simulator in running:
        await simulator.stop()
    await asyncio.sleep(0)


@pytest.fixture
def serial_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked pseudo-terminals from socat: (meter side, client side)."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed; .ci/run installs it (apt-get install socat)")
    meter_side, client_side = tmp_path / "meter-tty", tmp_path / "client-tty"
    process = subprocess.Popen(
        [
            socat,
            f"pty,raw,echo=0,link={meter_side}",
            f"pty,raw,echo=0,link={client_side}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not (meter_side.exists() and client_side.exists()):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("socat did not create the pty pair")
        time.sleep(0.02)
    yield str(meter_side), str(client_side)
    process.terminate()
    process.wait(timeout=5)


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Every test talks to real servers on loopback.

    pytest-homeassistant-custom-component blocks sockets for every test and allows connections
    only to 127.0.0.1; this re-enables creating them (still loopback only).
    """

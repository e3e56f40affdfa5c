"""Simulated meters in the test's own process (the project's environment only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from leviton_bridge.simulator import FaultSettings, LineSettings, MeterSimulator, MeterSpec

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
    await asyncio.sleep(0)  # let the server's closing callbacks run before the loop ends

"""Helpers shared by every test folder; standard library only, so that the Home Assistant
environments (which run tests/ha) and the project's environment can both import them.

* ``free_port``: a free loopback TCP port.
* ``until``: wait for a condition (an event), never for a fixed time.
* ``SteppedClock``: a monotonic clock a test moves forward, to step over a time window.
* ``simulator_process``: simulated meters in a process of the project's environment.
* ``serial``: linked pseudo-terminal pairs from socat.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Final

#: How long a test waits for something that should happen at once before it fails; generous,
#: because the suite must pass on a busy machine. Waiting ends as soon as the event happens.
PATIENCE: Final = 30.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nobody listens on now (TCP by default, UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(
    check: Callable[[], bool | Awaitable[bool]],
    what: str,
    *,
    within: float = PATIENCE,
    step: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Wait until ``check()`` holds (it may be a coroutine function); fail saying ``what``.

    ``step`` lets the system under test work between checks (default: a short yield to the
    event loop). The time limit only turns a hang into a failure; a passing test never waits
    for it.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        if step is not None:
            await step()
        else:
            await asyncio.sleep(0.01)


class SteppedClock:
    """``time.monotonic()`` plus the time a test says has passed: code that takes a clock
    sees a window (a coalescing period, a check interval) go by without the test waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

"""Connections nobody uses, closed: one reaper for every face that listens.

A keep-alive left open, a request sent half (a slow-loris), a port scan: each holds a file
descriptor until someone closes it, and neither aiohttp nor asyncio's server does. A face
keeps its connections in a mapping of ``Tracked`` entries (``last``: when the peer last sent
something or an answer was finished, monotonic; ``busy``: an answer is being worked on, so
the silence is ours, not the peer's) and lends it to an ``IdleReaper``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, MutableMapping
from typing import Any, Protocol


class Tracked(Protocol):
    """One open connection, as the reaper sees it."""

    @property
    def transport(self) -> asyncio.BaseTransport: ...
    @property
    def last(self) -> float: ...
    @property
    def busy(self) -> int: ...  # a count or a flag: anything but 0/False is busy


class IdleReaper[TrackedT: Tracked]:
    """Closes every connection of ``connections`` idle for longer than ``idle_timeout``."""

    def __init__(
        self,
        connections: MutableMapping[Any, TrackedT],
        *,
        idle_timeout: float,
        counts: Counter[str],
        counted_as: str,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connections = connections
        self.idle_timeout = idle_timeout
        self.counts = counts
        self.counted_as = counted_as
        self.name = name
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        # A quarter of the timeout, so a connection is closed at most 25 % late; at least
        # every second and at most 20 times a second, whatever the timeout.
        every = max(0.05, min(1.0, self.idle_timeout / 4))
        while True:
            await asyncio.sleep(every)
            self.close_idle()

    def close_idle(self) -> int:
        """Close the connections idle for longer than ``idle_timeout``; how many."""
        cutoff = self.clock() - self.idle_timeout
        stale = [c for c in self.connections.values() if not c.busy and c.last < cutoff]
        for connection in stale:
            self.counts[self.counted_as] += 1
            # Forgotten now, not when the loop reports the close: counted once.
            self.connections.pop(connection.transport, None)
            connection.transport.close()
        return len(stale)

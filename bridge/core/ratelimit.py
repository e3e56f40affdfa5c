"""Warnings about what peers send, at most one per peer and kind per window.

A face is open to whatever reaches it: a BACnet port to anything on the network (one
misbehaving device or a scan sends thousands of bad datagrams a second), the status page to
anyone who can reach it (oversized headers, wrong tokens), MQTT to any client of the broker
(garbage commands). Each kind of problem from each peer is worth one line in the log, not one
per request; the next line for it, a window later, says how many were left out. The number of
(peer, kind) pairs remembered is bounded too, so spoofed source addresses cannot grow it: past
the bound, new peers share one entry.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

WINDOW_S: Final = 600.0
"""At most one warning per peer and kind in this many seconds."""
MAX_KEYS: Final = 1024
OTHER_PEERS: Final = "other peers"


@dataclass(slots=True)
class _Seen:
    logged_at: float
    left_out: int = 0


class PeerWarnings:
    """Rate-limited warnings, keyed by peer and kind, each line starting with ``face``.

    A record carries ``peer`` and ``kind`` attributes (for tests and log filters).
    """

    def __init__(
        self,
        logger: logging.Logger,
        face: str,
        *,
        window: float = WINDOW_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.face = face
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._seen: OrderedDict[tuple[str, str], _Seen] = OrderedDict()
        self.counts: dict[str, int] = {}
        """Every problem reported, logged or not, by kind."""

    def warn(self, peer: str, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` for this peer and kind unless it was logged within the
        window; True when it was logged."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        key = (peer, kind)
        seen = self._seen.get(key)
        if seen is None and len(self._seen) >= self.max_keys:
            key = (OTHER_PEERS, kind)
            seen = self._seen.get(key)
        now = self.clock()
        if seen is not None and now - seen.logged_at < self.window:
            seen.left_out += 1
            return False
        left_out = seen.left_out if seen is not None else 0
        if seen is None:
            self._seen[key] = _Seen(now)
        else:
            seen.logged_at, seen.left_out = now, 0
            self._seen.move_to_end(key)
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        text = message % args if args else message
        if left_out:
            text += f" ({left_out} more like it since the last report)"
        self.logger.warning(
            "%s: %s: %s%s",
            self.face,
            key[0],
            text,
            f" (reported at most once in {self.window:g} s per peer)" if seen is None else "",
            extra={"peer": key[0], "kind": kind},
        )
        return True


__all__ = ["PeerWarnings"]

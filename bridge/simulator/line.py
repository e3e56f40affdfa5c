"""The emulated RS485 line and the faults the simulator can inject."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from leviton_driver.errors import ConfigurationError

#: timeout: no answer; garbage: random bytes; crc: a damaged frame; short: a cut-short frame;
#: exception: exception 04; late: the answer comes ``late_by`` seconds after it should.
FAULT_KINDS: Final = ("timeout", "garbage", "crc", "short", "exception", "late")


#: Bits on the line for each byte: start, 8 data, stop (8N1, as the Series 1000/2000 use).
BITS_PER_CHARACTER: Final = 10
#: Silence that ends a Modbus RTU frame, in characters; above 19200 baud a fixed 1.75 ms.
GAP_CHARACTERS: Final = 3.5
FAST_LINE_GAP_S: Final = 0.00175


@dataclass(kw_only=True)
class LineSettings:
    """An emulated RS485 line, timed as a real one: the request's bytes, the 3.5-character
    silence that ends it, the meter's turnaround, the answer's bytes, and another silence before
    the line is free for the next request (the Modbus RTU spec's t3.5)."""

    baud: int = 9600
    turnaround: float = 0.005

    @property
    def character(self) -> float:
        """Seconds one byte takes on the line."""
        return BITS_PER_CHARACTER / self.baud

    @property
    def gap(self) -> float:
        """The silence that ends a frame (t3.5)."""
        return GAP_CHARACTERS * self.character if self.baud <= 19200 else FAST_LINE_GAP_S

    def answer_time(self, request_bytes: int, answer_bytes: int) -> float:
        """From the request's first bit to the answer's last: request, gap, turnaround, answer."""
        return (request_bytes + answer_bytes) * self.character + self.gap + self.turnaround

    def wire_time(self, request_bytes: int, answer_bytes: int) -> float:
        """How long one exchange holds the line: until the silence after the answer has passed
        and the next request may start."""
        return self.answer_time(request_bytes, answer_bytes) + self.gap


@dataclass(kw_only=True)
class FaultSettings:
    """Fault rates (0..1 per answer) and the random seed that makes them repeatable."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    late_by: float = 1.5
    """Seconds a late answer comes after it should (longer than a client's timeout)."""

    @classmethod
    def parse(
        cls, items: list[str], seed: int | None = None, late_by: float = 1.5
    ) -> FaultSettings:
        rates: dict[str, float] = {}
        for item in items:
            kind, sep, value = item.partition("=")
            if not sep or kind not in FAULT_KINDS:
                raise ConfigurationError(
                    f"fault {item!r}: expected KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}"
                )
            try:
                rate = float(value)
            except ValueError:
                rate = -1.0
            if not 0 <= rate <= 1:
                raise ConfigurationError(f"fault {item!r}: rate must be between 0 and 1")
            rates[kind] = rate
        return cls(rates=rates, seed=seed, late_by=late_by)

"""The emulated RS485 line and the faults the simulator can inject."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from leviton_driver.errors import ConfigurationError

#: timeout: no answer; garbage: random bytes; crc: a damaged frame; short: a cut-short frame;
#: exception: exception 04; late: the answer comes ``late_by`` seconds after it should.
FAULT_KINDS: Final = ("timeout", "garbage", "crc", "short", "exception", "late")


@dataclass(kw_only=True)
class LineSettings:
    """An emulated RS485 line: answers wait their wire time plus the meter's turnaround."""

    baud: int = 9600
    turnaround: float = 0.005

    def wire_time(self, request_bytes: int, answer_bytes: int) -> float:
        return (request_bytes + answer_bytes) * 10 / self.baud


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

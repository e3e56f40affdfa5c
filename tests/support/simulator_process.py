"""Simulated meters in a process of the project's environment, driven over its control channel.

The Home Assistant tests run in Home Assistant's own environment, whose pymodbus has no server
API the simulator can use, so the simulator runs as ``leviton-bridge simulate --control`` from
the project's environment (``.venv``) and the tests reach its meters over real sockets or a pty
pair, as a real installation reaches real meters. See ``leviton_bridge.simulator.control``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import PATIENCE

REPOSITORY = Path(__file__).resolve().parents[2]


def bridge_executable() -> str:
    """``leviton-bridge`` of the project's environment (``$LEVITON_BRIDGE`` overrides it)."""
    path = os.environ.get("LEVITON_BRIDGE") or str(REPOSITORY / ".venv" / "bin" / "leviton-bridge")
    if not Path(path).is_file():
        raise AssertionError(
            f"{path} does not exist: the simulated meters run from the project's environment; "
            "`make setup` builds it (or set LEVITON_BRIDGE to a leviton-bridge executable)"
        )
    return path


class SimulatorProcess:
    """One ``leviton-bridge simulate --control`` process and its meters."""

    def __init__(self, process: asyncio.subprocess.Process, ready: dict[str, Any], log: Any):
        self.process = process
        self.url: str = ready["url"]
        self.address: tuple[str, int] | None = (
            (ready["address"][0], ready["address"][1]) if ready["address"] else None
        )
        self.framing: str = ready["framing"]
        self._log = log
        self._next_id = 0
        self._lock = asyncio.Lock()

    @classmethod
    async def start(
        cls,
        *meters: str,
        framing: str = "tcp",
        serial: str | None = None,
        faults: dict[str, float] | None = None,
        seed: int | None = 1,
        line_baud: int | None = None,
        line_turnaround: float | None = None,
        profile: str | None = None,
    ) -> SimulatorProcess:
        """Start meters given as ``UNIT:SERIES[:key=value...]`` on TCP, or on ``serial``."""
        args = [bridge_executable(), "simulate", "--control"]
        args += (
            ["--serial", serial] if serial else ["--listen", "127.0.0.1:0", "--framing", framing]
        )
        for meter in meters:
            args += ["--meter", meter]
        for kind, rate in (faults or {}).items():
            args += ["--fault", f"{kind}={rate}"]
        if seed is not None:
            args += ["--seed", str(seed)]
        if line_baud:
            args += ["--line-baud", str(line_baud)]
        if line_turnaround is not None:
            args += ["--turnaround", str(line_turnaround)]
        if profile:
            args += ["--profile", profile]
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
            ready = json.loads(line) if line else None
        except (TimeoutError, ValueError):
            ready = None
        if not ready or not ready.get("ready"):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            log.seek(0)
            raise AssertionError(
                f"the simulator did not start ({' '.join(args)}): {log.read().decode(errors='replace')}"
            )
        return cls(process, ready, log)

    async def request(self, op: str, **fields: Any) -> Any:
        """Send one control request; return its result (fail the test on an error)."""
        process = self.process
        assert process.stdin is not None
        assert process.stdout is not None
        async with self._lock:
            self._next_id += 1
            request_id = self._next_id
            process.stdin.write(
                (json.dumps({"id": request_id, "op": op, **fields}) + "\n").encode()
            )
            await process.stdin.drain()
            line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
        if not line:
            raise AssertionError(f"the simulator exited: {self.log()}")
        answer = json.loads(line)
        assert answer["id"] == request_id, answer
        if not answer["ok"]:
            raise AssertionError(f"simulator {op}: {answer['error']}")
        return answer["result"]

    async def meter(self, unit: int) -> dict[str, Any]:
        """A meter's state: program_id, reset_count, peak_demand, energy_delivered, requests..."""
        result: dict[str, Any] = await self.request("meter", unit=unit)
        return result

    async def set(self, unit: int, **fields: float) -> dict[str, Any]:
        """Change a meter: program_id, reset_count, load, peak, energy (a jump)."""
        result: dict[str, Any] = await self.request("set", unit=unit, **fields)
        return result

    async def refuse_reads(self, unit: int, address: int, code: int, *, after: int = 0) -> None:
        """Reads of ``unit`` starting at ``address`` get exception ``code`` after ``after``
        more good answers."""
        await self.request("refuse_reads", unit=unit, address=address, code=code, after=after)

    async def accept_reads(self, unit: int, address: int) -> None:
        """Undo ``refuse_reads``."""
        await self.request("accept_reads", unit=unit, address=address)

    async def faults(self, **rates: float) -> None:
        """Replace the fault rates (timeout, garbage, crc, short, exception); none: no faults."""
        await self.request("faults", rates=rates)

    async def silence(self, unit: int) -> None:
        await self.request("silence", unit=unit)

    async def unsilence(self, unit: int) -> None:
        await self.request("unsilence", unit=unit)

    async def requests(self, unit: int) -> int:
        """Requests the simulator received for ``unit`` so far."""
        counts: dict[str, int] = await self.request("requests")
        return counts.get(str(unit), 0)

    async def unanswered(self, unit: int) -> int:
        """Requests for ``unit`` that nobody answered (no meter there, or one silenced)."""
        counts: dict[str, int] = await self.request("unanswered")
        return counts.get(str(unit), 0)

    async def late(self, unit: int, seconds: float, count: int = 1) -> None:
        """The meter's next ``count`` answers come ``seconds`` late."""
        await self.request("late", unit=unit, seconds=seconds, count=count)

    async def lose(self, unit: int, count: int = 1) -> None:
        """Its next ``count`` answers are lost on the way (the line stays free)."""
        await self.request("lose", unit=unit, count=count)

    async def fewer_registers(self, unit: int, count: int = 1) -> None:
        """The meter's next ``count`` reads answer one register fewer than asked."""
        await self.request("fewer_registers", unit=unit, count=count)

    async def restart(self, unit: int) -> None:
        """The meter loses power and comes back: its uptime counts from zero."""
        await self.request("restart", unit=unit)

    async def press_reset(self, unit: int) -> None:
        """Someone resets peak demand with the meter's own button."""
        await self.request("press_reset", unit=unit)

    async def replace(self, meter: str) -> dict[str, Any]:
        """Swap the meter at the spec's unit id for the one ``meter`` describes."""
        result: dict[str, Any] = await self.request("replace", meter=meter)
        return result

    async def served(self) -> list[tuple[int, int, int, int]]:
        """The latest requests meters served, in order: (unit, function, address, count)."""
        result: list[list[int]] = await self.request("served")
        return [(u, f, a, n) for u, f, a, n in result]

    async def connections(self) -> int:
        result: int = await self.request("connections")
        return result

    def log(self) -> str:
        self._log.seek(0)
        return str(self._log.read().decode(errors="replace"))

    async def stop(self) -> None:
        """Close its input (it stops by itself), and make sure it is gone."""
        process = self.process
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), PATIENCE)
            except TimeoutError:
                process.kill()
                await process.wait()
        self._log.close()

"""``leviton-bridge run`` as a real process of the project's environment."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import PATIENCE
from .simulator_process import bridge_executable


@dataclass
class BridgeProcess:
    """One bridge process, its configuration file and its log."""

    process: subprocess.Popen[str]
    log_path: Path

    @classmethod
    def start(cls, config: dict[str, Any], folder: Path, name: str = "bridge") -> BridgeProcess:
        """Write ``config`` (JSON is YAML) and run ``leviton-bridge -v run`` on it."""
        path = folder / f"{name}.yaml"
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        log_path = folder / f"{name}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [bridge_executable(), "-v", "run", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        return cls(process, log_path)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    async def exit_code(self, within: float = PATIENCE) -> int:
        """Wait for the process to end (it was told to); fail with its log if it does not."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.process.wait), within)
        except TimeoutError:
            raise AssertionError(
                f"the bridge did not exit within {within} s:\n{self.log}"
            ) from None

    async def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns its exit code."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        return await self.exit_code()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=PATIENCE)

"""Linked pseudo-terminal pairs from socat: a serial line without hardware."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def pty_pair(folder: Path) -> Iterator[tuple[str, str]]:
    """Two linked pseudo-terminals: (meter side, client side); gone when the block ends."""
    socat = shutil.which("socat")
    if socat is None:
        raise AssertionError(
            "socat is not installed; `make test` installs it (apt-get install socat)"
        )
    meter_side, client_side = folder / "meter-tty", folder / "client-tty"
    process = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={meter_side}", f"pty,raw,echo=0,link={client_side}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        # socat creates both links at start; this waits for that event, polling the files.
        while not (meter_side.exists() and client_side.exists()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("socat did not create the pty pair")
            time.sleep(0.01)
        yield str(meter_side), str(client_side)
    finally:
        process.terminate()
        process.wait(timeout=10)

"""An echoing "gateway": ``socat TCP-LISTEN:PORT,fork EXEC:cat`` sends every request back as
its answer (what a transparent RS485 server with nothing on its line can look like)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import pytest

from . import PATIENCE, free_port, until


@pytest.fixture
async def echo_gateway() -> AsyncIterator[int]:
    """The port of a local echoing TCP server (socat), stopped at teardown."""
    socat = shutil.which("socat")
    assert socat is not None, "socat is not installed; `make test` installs it"
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        socat,
        f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
        "EXEC:cat",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def listening() -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    await until(listening, "socat listening")
    yield port
    process.terminate()
    await asyncio.wait_for(process.wait(), PATIENCE)

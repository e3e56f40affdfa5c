"""The driver against the manual's own example frames, byte for byte, on RTU framing with CRC.

A scripted meter on loopback answers only the exact request frames of the Series 1000/2000
manual (section 2.5.3, Table 4) with the exact answer frames printed there; any other request
goes unanswered. So these tests check both what the driver sends and how it decodes.
CRCs come from pymodbus (the manual prints "CRC16" without values).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymodbus.framer.rtu import FramerRTU

from leviton_driver import Bus, VerificationError
from leviton_driver import registers as reg
from leviton_driver.series1000 import Series1000Meter

EXAMPLE_32 = "00 98 96 6C"  # 9,999,980: 999998.0 kWh at kWh/10, 99999.80 kW at kW/100
REPORT_ID_TEXT = b"Leviton 2N208-021, V3.2-V3.2," + b"fn" + b"45678" + b"001"


def frame(text: str | bytes) -> bytes:
    """Bytes of a frame written as hex (or given raw) with its Modbus CRC appended."""
    body = bytes.fromhex(text) if isinstance(text, str) else text
    return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")


# Request -> answer, exactly as printed in the manual (unit id 0x01).
MANUAL_FRAMES: dict[bytes, bytes] = {
    # 40001 total energy delivered
    frame("01 03 00 00 00 02"): frame(f"01 03 04 {EXAMPLE_32}"),
    # 40003 total energy received
    frame("01 03 00 02 00 02"): frame(f"01 03 04 {EXAMPLE_32}"),
    # 40061 peak demand
    frame("01 03 00 3C 00 02"): frame(f"01 03 04 {EXAMPLE_32}"),
    # all readings: 6 registers from 40001
    frame("01 03 00 00 00 06"): frame(f"01 03 0C {EXAMPLE_32} {EXAMPLE_32} {EXAMPLE_32}"),
    # 45007 uptime
    frame("01 03 13 8E 00 02"): frame("01 03 04 00 00 00 02"),
    # 45002 hardware version, 45003 software version
    frame("01 03 13 89 00 01"): frame("01 03 02 03 02"),
    frame("01 03 13 8A 00 01"): frame("01 03 02 03 02"),
    # 45004 program id
    frame("01 03 13 8B 00 01"): frame("01 03 02 FF FF"),
    # 45006 demand reset counter
    frame("01 03 13 8D 00 01"): frame("01 03 02 00 02"),
    # 0x11 report slave id
    frame("01 11"): frame(
        bytes([0x01, 0x11, 2 + len(REPORT_ID_TEXT), 0x31, 0xFF]) + REPORT_ID_TEXT
    ),
    # 0x06 peak-demand reset: the answer to a write single register echoes it
    frame("01 06 01 F4 00 AA"): frame("01 06 01 F4 00 AA"),
}

# The driver reads the identity and status registers as blocks; these answers are composed
# from the manual's single-register examples (45001 holds the unit id, 1).
COMPOSED_FRAMES: dict[bytes, bytes] = {
    frame("01 03 13 88 00 04"): frame("01 03 08 00 01 03 02 03 02 FF FF"),
    frame("01 03 13 8D 00 03"): frame("01 03 06 00 02 00 00 00 02"),
}


class ScriptedMeter:
    """Answers known request frames with fixed answer frames; records everything received."""

    def __init__(
        self, script: dict[bytes, bytes], unlocks: dict[bytes, dict[bytes, bytes]] | None = None
    ) -> None:
        self.script = dict(script)
        self.unlocks = unlocks or {}
        self.received: list[bytes] = []
        self.unanswered: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"rtu+tcp://127.0.0.1:{port}?timeout=0.3"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        try:
            while data := await reader.read(256):
                buffer += data
                if buffer in self.script:
                    self.received.append(buffer)
                    self.script |= self.unlocks.get(buffer, {})
                    writer.write(self.script[buffer])
                    await writer.drain()
                    buffer = b""
                elif not any(request.startswith(buffer) for request in self.script):
                    # Not the start of any known request: a real meter stays silent.
                    self.unanswered.append(buffer)
                    buffer = b""
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedMeter]:
    meter = ScriptedMeter(MANUAL_FRAMES | COMPOSED_FRAMES)
    await meter.start()
    yield meter
    await meter.stop()


@pytest.mark.parametrize(
    ("component", "field", "request_frame", "expected"),
    [
        (reg.ReadingBlock, "energy_delivered", "01 03 00 00 00 02", 999998.0),
        (reg.ReadingBlock, "energy_received", "01 03 00 02 00 02", 999998.0),
        (reg.PeakDemandRegister, "peak_demand", "01 03 00 3C 00 02", 99999.8),
        (reg.StatusRegisters, "uptime", "01 03 13 8E 00 02", 2),
        (reg.IdentityRegisters, "hardware_version", "01 03 13 89 00 01", 0x0302),
        (reg.IdentityRegisters, "software_version", "01 03 13 8A 00 01", 0x0302),
        (reg.IdentityRegisters, "program_id", "01 03 13 8B 00 01", 65535),
        (reg.StatusRegisters, "demand_reset_count", "01 03 13 8D 00 01", 2),
    ],
)
async def test_single_register_examples(
    scripted: ScriptedMeter, component: type, field: str, request_frame: str, expected: float
) -> None:
    """Each example query goes out byte for byte and its example answer decodes as printed."""
    bus = Bus(scripted.url)
    try:
        model = component(bus.unit(1))
        model.restrict_fields([field])
        await model.async_update()
        assert getattr(model, field) == expected
    finally:
        await bus.async_close()
    assert scripted.received == [frame(request_frame)]
    assert scripted.unanswered == []


def test_version_encoding() -> None:
    assert reg.decode_version(0x0302) == "3.2"


def test_register_numbering() -> None:
    assert reg.wire_address(40061) == 0x003C
    assert reg.wire_address(45007) == 0x138E
    assert reg.register_number(0x1388) == 45001


async def test_identify_and_read_from_manual_frames(scripted: ScriptedMeter) -> None:
    bus = Bus(scripted.url)
    try:
        meter = await bus.async_meter(1)
        snapshot = await meter.async_read()
    finally:
        await bus.async_close()
    identity = meter.identity
    assert identity is not None
    assert isinstance(meter, Series1000Meter)
    assert identity.series == "2000"
    assert identity.model == "2N208-021"
    assert (identity.hardware_version, identity.software_version) == ("3.2", "3.2")
    # The manual's examples disagree (0x11 says program 45678, register 45004 holds 65535):
    # the register wins and the disagreement is noted.
    assert identity.program_id == 65535
    assert any("45678" in note for note in identity.notes)
    assert snapshot.readings["energy_delivered"] == 999998.0
    assert snapshot.readings["energy_received"] == 999998.0
    assert snapshot.readings["peak_demand"] == 99999.8
    assert snapshot.readings["demand_reset_count"] == 2
    assert snapshot.readings["uptime"] is not None
    assert snapshot.readings["uptime"] >= 2
    assert scripted.received.count(frame("01 11")) == 1  # detection and identity share one 0x11
    assert frame("01 03 00 00 00 06") in scripted.received
    assert scripted.unanswered == []
    # 40005 and 40061 agree in the manual's example: one transaction per poll.
    assert not meter.poll_peak_register


async def test_report_slave_id_arrives_whole(scripted: ScriptedMeter) -> None:
    """The counter's last digit survives (pymodbus alone would take it as the run status)."""
    bus = Bus(scripted.url)
    try:
        meter = Series1000Meter(bus.unit(1), unit_id=1, where=bus.url, trace=bus.connection.trace)
        reported = await meter.async_report_server_id()
    finally:
        await bus.async_close()
    assert reported.device_id == 0x31
    assert reported.run_status == 0xFF
    assert reported.program_id == 45678
    assert reported.demand_reset_count == 1
    assert reported.model == "2N208-021"


async def test_demand_reset_frame_and_verification(scripted: ScriptedMeter) -> None:
    """The reset goes out as the manual's frame; a meter that then shows no change is reported."""
    bus = Bus(scripted.url)
    try:
        meter = await bus.async_meter(1)
        await meter.async_read()
        with pytest.raises(VerificationError, match="did not act on it"):
            await meter.async_reset_peak_demand()
    finally:
        await bus.async_close()
    assert frame("01 06 01 F4 00 AA") in scripted.received


async def test_unit_id_change_frame() -> None:
    """The id change is sent as valid Modbus (quantity 1, byte count 2), not the manual's frame.

    The manual prints quantity 2 with byte count 2, which no Modbus stack can send.
    """
    change = frame("01 10 13 88 00 01 02 00 12")
    read_back = frame("12 03 13 88 00 04")
    # Unit 0x12 answers only once the change has been made.
    unlocks = {change: {read_back: frame("12 03 08 00 12 03 02 03 02 FF FF")}}
    meter = ScriptedMeter({change: frame("01 10 13 88 00 01")}, unlocks)
    await meter.start()
    bus = Bus(meter.url)
    try:
        source = Series1000Meter(bus.unit(1), unit_id=1, where=bus.url, trace=bus.connection.trace)
        await bus.async_change_unit_id(source, 0x12)
    finally:
        await bus.async_close()
        await meter.stop()
    # The first read at the new id (nothing there yet) goes unanswered, as it should.
    assert meter.unanswered == [read_back]
    assert meter.received == [change, read_back]

"""The door of the BACnet port: every datagram, screened before bacpypes3 sees it.

bacpypes3 logs a traceback for every datagram its stack cannot decode (5,000 malformed ones
wrote about 650 KB of log), answers nothing to a service it does not know, and decodes each
request with a generic decoder that costs milliseconds. So every datagram comes here first
(``compat.take_datagrams``):

* a datagram that is not BACnet/IP, or whose BVLL, NPDU or APDU header is malformed
  (``wire.read_frame``), is dropped with at most one warning per peer and kind
  (``core.ratelimit.PeerWarnings``);
* a confirmed request for a service the device does not execute (file access, ReadRange
  without trend logs, DeviceCommunicationControl, an unknown service choice, ...) is rejected with
  ``unrecognized-service``; a segmented one is aborted with ``segmentation-not-supported``;
  one whose parameters do not decode is rejected with the reason the decoder gives
  (``invalid-tag`` by default) and a rate-limited warning;
* a ReadPropertyMultiple or ReadProperty of known objects' properties is answered from bytes
  (``fastpath``);
* unconfirmed requests other than Who-Is and Who-Has are ignored;
* everything else goes to bacpypes3, and if it fails there, that costs one rate-limited warning,
  not a traceback.

Requests from a remote network (routed) go to bacpypes3, whose application rejects what it does
not execute.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from bacpypes3.apdu import APDU, AbortPDU, AbortReason, APCISequence, RejectPDU, RejectReason
from bacpypes3.errors import RejectException
from bacpypes3.pdu import PDU

from ..core.ratelimit import PeerWarnings
from . import compat, fastpath
from .application import CONFIRMED_EXECUTED, UNCONFIRMED_EXECUTED
from .objects import MeterObject
from .wire import (
    CARRIES_NPDU,
    CONFIRMED_REQUEST,
    ORIGINAL_UNICAST,
    RESULT,
    UNCONFIRMED_REQUEST,
    Frame,
    Malformed,
    answer_datagram,
    read_frame,
)

_LOGGER = logging.getLogger(__name__)

_FAST_SERVICES: Final = frozenset((fastpath.READ_PROPERTY, fastpath.READ_PROPERTY_MULTIPLE))
_NETWORK_MESSAGES: Final = compat.network_messages()
_IGNORED_BVLL: Final = frozenset((0x03, 0x07))
"""Read-BDT-Ack and Read-FDT-Ack: answers to requests this device never makes."""


class Ingress:
    """Screens every datagram of the device's BACnet/IP port (see the module's docstring)."""

    def __init__(
        self, objects: Mapping[int, MeterObject], warnings: PeerWarnings, *, foreign: bool
    ) -> None:
        self.objects = objects
        self.warnings = warnings
        self.foreign = foreign
        self.confirmed_executed = CONFIRMED_EXECUTED
        """Confirmed services passed on (with trend logs: ReadRange too)."""
        self.fast_path = True
        """Answer ReadPropertyMultiple from bytes (tests turn it off to compare)."""
        self.received = 0
        self.handled = 0
        """Datagrams whose handling is over (for tests, which wait for a count)."""
        self.verdicts: Counter[str] = Counter()

    async def screen(self, server: Any, pdu: PDU) -> None:
        self.received += 1
        try:
            verdict = await self._screen(server, pdu)
        except Exception as err:  # a bug here: one line per peer, and the port stays open
            verdict = "failed"
            self.warnings.warn(_peer(pdu), "ingress", "a datagram could not be screened: %r", err)
            _LOGGER.debug("BACnet: screening failed", exc_info=True)
        self.verdicts[verdict] += 1
        self.handled += 1

    async def _screen(self, server: Any, pdu: PDU) -> str:
        if compat.is_own_datagram(server, pdu):
            return "own"  # a broadcast of ours, heard back
        data = bytes(pdu.pduData)
        try:
            frame = read_frame(data)
        except Malformed as err:
            self.warnings.warn(_peer(pdu), err.kind, "dropped a malformed datagram: %s", err)
            return "malformed"
        if frame.function not in CARRIES_NPDU:
            if frame.function in _IGNORED_BVLL or (frame.function == RESULT and not self.foreign):
                return "ignored"
            return await self._pass_up(server, pdu, frame)
        if frame.network_message >= 0:
            if frame.network_message not in _NETWORK_MESSAGES:
                return "ignored"
            return await self._pass_up(server, pdu, frame)
        answers = frame.function == ORIGINAL_UNICAST and not frame.routed
        if frame.apdu_type == CONFIRMED_REQUEST:
            if answers:
                verdict = await self._confirmed(server, pdu, data, frame)
                if verdict:
                    return verdict
            return await self._pass_up(server, pdu, frame)
        if frame.apdu_type == UNCONFIRMED_REQUEST and frame.service not in UNCONFIRMED_EXECUTED:
            return "ignored"
        return await self._pass_up(server, pdu, frame)

    async def _confirmed(self, server: Any, pdu: PDU, data: bytes, frame: Frame) -> str:
        """Answer a local confirmed request here, or return "" to pass it to bacpypes3."""
        if frame.segmented:
            abort = AbortPDU(True, frame.invoke_id, AbortReason.segmentationNotSupported)
            self._send(server, pdu, frame, abort)
            return "segmented"
        if frame.service not in self.confirmed_executed:
            _LOGGER.debug("BACnet: rejected service %d from %s", frame.service, _peer(pdu))
            reject = RejectPDU(frame.invoke_id, RejectReason.unrecognizedService)
            self._send(server, pdu, frame, reject)
            return "unsupported"
        if self.fast_path and frame.service in _FAST_SERVICES:
            apdu = await fastpath.answer(data, frame, self.objects)
            if apdu is not None:
                compat.send_datagram(server, answer_datagram(frame, apdu), _address(pdu))
                return "fast"
        reason = _undecodable(data[frame.apdu_at :])
        if reason is not None:
            self.warnings.warn(
                _peer(pdu),
                "service-parameters",
                "rejected a request (service %d) whose parameters do not decode (%s)",
                frame.service,
                reason,
            )
            self._send(server, pdu, frame, RejectPDU(frame.invoke_id, reason))
            return "undecodable"
        return ""

    def _send(self, server: Any, pdu: PDU, frame: Frame, apdu: APDU) -> None:
        encoded = bytes(apdu.encode().pduData)
        compat.send_datagram(server, answer_datagram(frame, encoded), _address(pdu))

    async def _pass_up(self, server: Any, pdu: PDU, frame: Frame) -> str:
        try:
            await compat.pass_up(server, pdu)
        except Exception as err:
            self.warnings.warn(
                _peer(pdu),
                "stack",
                "bacpypes3 could not handle a datagram (%s): %r",
                _describe(frame),
                err,
            )
            return "failed"
        return "passed"


def _undecodable(apdu: bytes) -> Any:
    """The reject reason of a confirmed request whose parameters bacpypes3 cannot decode (None:
    it decodes)."""
    try:
        APCISequence.decode(APDU.decode(PDU(apdu)))
    except RejectException as err:
        return err.rejectReason
    except Exception:
        return RejectReason.invalidTag
    return None


def _address(pdu: PDU) -> tuple[str, int]:
    host, port = pdu.pduSource.addrTuple[:2]
    return str(host), int(port)


def _peer(pdu: PDU) -> str:
    host, port = _address(pdu)
    return f"{host}:{port}"


def _describe(frame: Frame) -> str:
    if frame.network_message >= 0:
        return f"network message 0x{frame.network_message:02X}"
    if frame.apdu_type >= 0:
        return f"APDU type {frame.apdu_type}, service {frame.service}"
    return f"BVLL function 0x{frame.function:02X}"


__all__ = ["Ingress"]

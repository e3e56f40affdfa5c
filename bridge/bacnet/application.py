"""The BACnet application: which services the device executes, and how.

bacpypes3's ``Application`` executes whatever it has a handler for and logs a traceback for
every request a handler fails on (a ReadRange: NotImplementedError). This application executes
a fixed list of services (``SERVICES_EXECUTED``, also what Protocol_Services_Supported says),
rejects every other confirmed request with ``unrecognized-service``, ignores every other
unconfirmed one, and turns a handler's unexpected failure into an error answer plus one
rate-limited log line. Its own handlers:

* WriteProperty / WritePropertyMultiple: only a reset object's present value is writable
  (``active`` resets; a value other than active or inactive is ``value-out-of-range``); every
  other write is refused with ``write-access-denied`` (bacpypes3 would accept them). A
  WritePropertyMultiple is refused whole when any part of it is, and resets each meter once
  however many times it names its reset object.
* ReadPropertyMultiple: ALL, REQUIRED and OPTIONAL return the object's properties in its
  property order (ALL including Property_List), and result elements are kept per object until a
  property changes. The common request (properties of known meter objects) does not get here:
  ``ingress`` answers it from bytes (``fastpath``).
* SubscribeCOV: ``cov.CovService``.
* ReadRange (only when the device has trend logs: a ``history:`` section): the trend logs'
  ``Log_Buffer`` (``trendlog``); any other object or property is not a list
  (``property-is-not-a-list``).

ReadProperty, Who-Is and Who-Has are bacpypes3's (a ReadProperty of a meter object's property
is answered by ``fastpath`` too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final

from bacpypes3.apdu import (
    AbortPDU,
    ConfirmedRequestPDU,
    Error,
    ReadPropertyMultipleACK,
    ReadPropertyMultipleRequest,
    ReadPropertyRequest,
    ReadRangeRequest,
    RejectPDU,
    RejectReason,
    SimpleAckPDU,
    SubscribeCOVRequest,
    WhoHasRequest,
    WhoIsRequest,
    WritePropertyMultipleError,
    WritePropertyMultipleRequest,
    WritePropertyRequest,
)
from bacpypes3.app import Application
from bacpypes3.basetypes import (
    BinaryPV,
    ErrorType,
    ObjectPropertyReference,
    PropertyIdentifier,
    ReadAccessResult,
    ReadAccessResultElement,
    ReadAccessResultElementChoice,
    ServicesSupported,
)
from bacpypes3.errors import AbortException, ExecutionError, ObjectError, RejectException
from bacpypes3.primitivedata import ObjectType
from bacpypes3.service.object import read_property_to_result_element

from ..core.ratelimit import PeerWarnings
from . import compat
from .objects import MeterObject, MeterResetValue, writable
from .trendlog import MeterTrendLog
from .wire import MAX_APDU_BY_CODE

_LOGGER = logging.getLogger(__name__)

WILDCARD_DEVICE: Final = 4194303

SERVICES_EXECUTED: Final = (
    "readProperty",
    "readPropertyMultiple",
    "writeProperty",
    "writePropertyMultiple",
    "subscribeCOV",
    "whoIs",
    "whoHas",
)
TREND_LOG_SERVICES: Final = ("readRange",)
"""Executed too when the device has trend logs (a ``history:`` section)."""
_REQUESTS: Final = (
    ReadPropertyRequest,
    ReadPropertyMultipleRequest,
    WritePropertyRequest,
    WritePropertyMultipleRequest,
    SubscribeCOVRequest,
    WhoIsRequest,
    WhoHasRequest,
)
_HANDLERS: Final = {kind: f"do_{kind.__name__}" for kind in (*_REQUESTS, ReadRangeRequest)}
"""Each request executed, and its handler (bacpypes3's naming)."""
CONFIRMED_EXECUTED: Final = frozenset(
    int(kind.service_choice) for kind in _REQUESTS if issubclass(kind, ConfirmedRequestPDU)
)
"""Service choices of the confirmed services executed."""
CONFIRMED_WITH_TREND_LOGS: Final = CONFIRMED_EXECUTED | {int(ReadRangeRequest.service_choice)}
UNCONFIRMED_EXECUTED: Final = frozenset(
    int(kind.service_choice) for kind in _REQUESTS if not issubclass(kind, ConfirmedRequestPDU)
)
_PROPERTY_GROUPS: Final = (
    PropertyIdentifier.all,
    PropertyIdentifier.required,
    PropertyIdentifier.optional,
)

Subscribe = Callable[[Any], Awaitable[None]]


class BridgeApplication(Application):  # type: ignore[misc]
    """bacpypes3's application with a fixed list of services, writes refused, and a faster
    ReadPropertyMultiple."""

    _group_cache: ClassVar[dict[tuple[type, Any], tuple[str, ...]]] = {}
    warnings: PeerWarnings
    subscribe: Subscribe | None = None
    """Executes SubscribeCOV (set by the publisher: ``CovService.subscribe``)."""
    max_apdu: int = 1476
    """The longest APDU this device sends without segmenting (a ReadRange answer never is)."""
    trend_logs: bool = False
    """Whether the device has trend logs: ReadRange is executed then, and only then."""

    def get_services_supported(self) -> Any:
        """The services this device executes (bacpypes3 derives the list from its handlers and
        maps the unconfirmed ones onto the wrong bits)."""
        supported = ServicesSupported([])
        for service in (*SERVICES_EXECUTED, *(TREND_LOG_SERVICES if self.trend_logs else ())):
            supported[getattr(ServicesSupported, service)] = 1
        return supported

    async def indication(self, apdu: Any) -> None:
        """Execute a request: one of ``SERVICES_EXECUTED``; reject every other confirmed one."""
        confirmed = isinstance(apdu, ConfirmedRequestPDU)
        name = _HANDLERS.get(type(apdu))
        if isinstance(apdu, ReadRangeRequest) and not self.trend_logs:
            name = None
        if name is None:
            if confirmed:
                await self.response(
                    RejectPDU(reason=RejectReason.unrecognizedService, context=apdu)
                )
            return
        answer: Any = None
        try:
            await getattr(self, name)(apdu)
        except RejectException as err:
            answer = RejectPDU(reason=err.rejectReason, context=apdu)
        except AbortException as err:
            answer = AbortPDU(reason=err.abortReason, context=apdu)
        except ExecutionError as err:
            answer = Error(
                service_choice=apdu.apduService,
                errorClass=err.errorClass,
                errorCode=err.errorCode,
                context=apdu,
            )
        except Exception as err:
            self.warnings.warn(
                str(apdu.pduSource),
                "failed-request",
                "%s failed: %r",
                type(apdu).__name__,
                err,
            )
            _LOGGER.debug("BACnet: %s failed", type(apdu).__name__, exc_info=True)
            answer = Error(
                service_choice=apdu.apduService,
                errorClass="device",
                errorCode="operationalProblem",
                context=apdu,
            )
        if answer is not None and confirmed:
            await self.response(answer)

    async def do_SubscribeCOVRequest(self, apdu: Any) -> None:
        if self.subscribe is None:
            raise ExecutionError(errorClass="services", errorCode="covSubscriptionFailed")
        await self.subscribe(apdu)

    async def do_ReadRangeRequest(self, apdu: Any) -> None:
        """A trend log's buffer, within one APDU of the size the client accepts (and this
        device sends: ``max_apdu``)."""
        obj = self.get_object_id(apdu.objectIdentifier)
        if obj is None:
            raise ObjectError("unknownObject")
        if isinstance(obj, MeterTrendLog):
            code = apdu.apduMaxResp
            accepted = MAX_APDU_BY_CODE[code] if code < len(MAX_APDU_BY_CODE) else 50
            await self.response(await obj.read_range(apdu, min(accepted, self.max_apdu)))
            return
        if obj.get_property_type(apdu.propertyIdentifier) is None:
            raise ExecutionError(errorClass="property", errorCode="unknownProperty")
        raise ExecutionError(errorClass="property", errorCode="propertyIsNotAList")

    # -- writes --------------------------------------------------------------------------------

    async def do_WritePropertyRequest(self, apdu: Any) -> None:
        obj = self.get_object_id(apdu.objectIdentifier)
        if obj is None:
            raise ObjectError("unknownObject")
        if obj.get_property_type(apdu.propertyIdentifier) is None:
            raise ExecutionError(errorClass="property", errorCode="unknownProperty")
        if not writable(obj, apdu.propertyIdentifier):
            raise ExecutionError(errorClass="property", errorCode="writeAccessDenied")
        if apdu.propertyArrayIndex is not None:
            raise ExecutionError(errorClass="property", errorCode="propertyIsNotAnArray")
        value = self._binary_value(apdu.propertyValue, apdu.priority)
        await obj.write_property(
            apdu.propertyIdentifier, value, apdu.propertyArrayIndex, apdu.priority
        )
        await self.response(SimpleAckPDU(context=apdu))

    @staticmethod
    def _binary_value(value: Any, priority: int | None) -> Any:
        """The written value as a BinaryPV (or Null with a priority: a relinquish), refused
        unless it is active or inactive."""
        try:
            cast = value.cast_out(BinaryPV, null=priority is not None)
        except Exception:
            raise ExecutionError(errorClass="property", errorCode="invalidDataType") from None
        MeterResetValue.wants_reset(cast)  # raises value-out-of-range
        return cast

    async def do_WritePropertyMultipleRequest(self, apdu: Any) -> None:
        """Refuse the whole request unless every write is to a reset object's present value
        with a valid value; then reset each meter named once."""
        resets: dict[int, MeterResetValue] = {}
        for spec in apdu.listOfWriteAccessSpecs:
            obj = self.get_object_id(spec.objectIdentifier)
            for prop in spec.listOfProperties:
                problem: tuple[str, str] | None = None
                if obj is None:
                    problem = ("object", "unknownObject")
                elif obj.get_property_type(prop.propertyIdentifier) is None:
                    problem = ("property", "unknownProperty")
                elif not writable(obj, prop.propertyIdentifier):
                    problem = ("property", "writeAccessDenied")
                elif prop.propertyArrayIndex is not None:
                    problem = ("property", "propertyIsNotAnArray")
                else:
                    try:
                        value = self._binary_value(prop.value, prop.priority)
                    except ExecutionError as err:
                        problem = (str(err.errorClass), str(err.errorCode))
                    else:
                        if obj.wants_reset(value):
                            resets[id(obj)] = obj
                if problem is not None:
                    await self._refuse_writes(
                        apdu,
                        spec.objectIdentifier,
                        prop.propertyIdentifier,
                        prop.propertyArrayIndex,
                        problem,
                    )
                    return
        if resets:
            outcomes = await asyncio.gather(
                *(obj.write_property("presentValue", BinaryPV.active) for obj in resets.values()),
                return_exceptions=True,
            )
            for obj, outcome in zip(resets.values(), outcomes, strict=True):
                if isinstance(outcome, ExecutionError):
                    await self._refuse_writes(
                        apdu,
                        obj.objectIdentifier,
                        PropertyIdentifier.presentValue,
                        None,
                        (str(outcome.errorClass), str(outcome.errorCode)),
                    )
                    return
                if isinstance(outcome, BaseException):
                    raise outcome
        await self.response(SimpleAckPDU(context=apdu))

    async def _refuse_writes(
        self, apdu: Any, identifier: Any, prop: Any, index: int | None, problem: tuple[str, str]
    ) -> None:
        """Answer a WritePropertyMultiple with its first failed write."""
        reference = ObjectPropertyReference(objectIdentifier=identifier, propertyIdentifier=prop)
        if index is not None:
            reference.propertyArrayIndex = index
        await self.response(
            WritePropertyMultipleError(
                errorType=ErrorType(errorClass=problem[0], errorCode=problem[1]),
                firstFailedWriteAttempt=reference,
                context=apdu,
            )
        )

    # -- ReadPropertyMultiple -------------------------------------------------------------------

    async def do_ReadPropertyMultipleRequest(self, apdu: Any) -> None:
        results = []
        found = False
        for spec in apdu.listOfReadAccessSpecs:
            identifier = spec.objectIdentifier
            if (
                self.device_object is not None
                and identifier[0] == ObjectType.device
                and identifier[1] == WILDCARD_DEVICE
            ):
                identifier = self.device_object.objectIdentifier
            obj = self.get_object_id(identifier)
            found = found or obj is not None
            elements: list[Any] = []
            for reference in spec.listOfPropertyReferences:
                elements.extend(
                    await self._read_elements(
                        obj, reference.propertyIdentifier, reference.propertyArrayIndex
                    )
                )
            results.append(ReadAccessResult(objectIdentifier=identifier, listOfResults=elements))
        if not found:
            raise ObjectError("unknownObject")
        await self.response(ReadPropertyMultipleACK(listOfReadAccessResults=results, context=apdu))

    async def _read_elements(self, obj: Any, prop: Any, index: int | None) -> list[Any]:
        if obj is None:
            return [
                ReadAccessResultElement(
                    propertyIdentifier=prop,
                    propertyArrayIndex=index,
                    readResult=ReadAccessResultElementChoice(
                        propertyAccessError=ErrorType(
                            errorClass="object", errorCode="unknownObject"
                        )
                    ),
                )
            ]
        if prop in _PROPERTY_GROUPS:
            elements = []
            for name in self._property_group(type(obj), prop):
                if not compat.has_property(obj, name):
                    continue
                element = await self._read_one(obj, name, None)
                if element.readResult.propertyAccessError is None:
                    elements.append(element)
            return elements
        return [await self._read_one(obj, prop, index)]

    @classmethod
    def _property_group(cls, object_class: type, group: Any) -> tuple[str, ...]:
        """The properties ALL, REQUIRED or OPTIONAL stand for, in the class's order."""
        key = (object_class, group)
        names = cls._group_cache.get(key)
        if names is None:
            required = compat.required_properties(object_class)
            elements = list(compat.element_types(object_class))
            if group == PropertyIdentifier.required:
                elements = [n for n in elements if n in required]
            elif group == PropertyIdentifier.optional:
                elements = [n for n in elements if n not in required]
            names = cls._group_cache[key] = tuple(elements)
        return names

    @staticmethod
    async def _read_one(obj: Any, prop: Any, index: int | None) -> Any:
        if index is None and isinstance(obj, MeterObject):
            key = str(PropertyIdentifier(prop).attr)
            element = obj._rpm_cache.get(key)
            if element is None:
                element = await read_property_to_result_element(obj, prop, None)
                if element.readResult.propertyAccessError is None:
                    obj._rpm_cache[key] = element
            return element
        return await read_property_to_result_element(obj, prop, index)


__all__ = [
    "CONFIRMED_EXECUTED",
    "CONFIRMED_WITH_TREND_LOGS",
    "SERVICES_EXECUTED",
    "UNCONFIRMED_EXECUTED",
    "BridgeApplication",
]

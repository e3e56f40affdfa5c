"""The BACnet/IP device: the meters as BACnet objects, served with bacpypes3.

Started by the daemon when the configuration has ``bacnet:``. One device (``device_instance``,
``device_name``, ...) on ``address``, optionally registered as a foreign device with a BBMD.
``bacnet_mapping`` says which objects exist and how they are named and numbered; this module
makes them, keeps them current from the poller (``MeterListener``) and serves them.

* Objects appear when a meter is identified (a meter configured as Series 1000 or 2000 has its
  objects from the start); ``databaseRevision`` goes up by one whenever objects are added or
  removed. It starts from the start time (seconds since 1970, modulo 2^32), because the bridge
  keeps nothing on disk: a BMS that caches the object list sees a new revision after a restart.
* A meter that stops answering: its objects get reliability ``communication-failure`` (status
  flag fault) and keep their last values; the next good read clears it. An object whose reading
  has never had a value reads 0 with reliability ``unreliable-other``.
* COV: every object supports SubscribeCOV (confirmed and unconfirmed notifications); analog
  objects notify when the value moves by their COV increment, every object when its status
  flags change.
* Writes: only the present value of the "Reset peak demand" binary values is writable (write
  ``active``); every other WriteProperty / WritePropertyMultiple is refused with
  ``property, write-access-denied`` (bacpypes3 would accept them), both by the application's
  service handlers and by the objects themselves.
* Property_List follows the standard (it omits Object_Identifier, Object_Name, Object_Type and
  itself; bacpypes3 lists them); ReadPropertyMultiple ALL, REQUIRED and OPTIONAL return the
  object's properties in its property order, ALL including Property_List.

Speed (see ``bench/bacnet.py``: 100 Series 8000-24 meters, 14,700 objects): bacpypes3 inspects
an object's class on every property assignment and builds every ReadPropertyMultiple result from
scratch. So a meter object keeps its values and reliability outside bacpypes3 and assigns a
property only when it changed (``_store``, which still tells the COV machinery); it keeps the
ReadPropertyMultiple result of its present value (what a BMS polls) with its encoding and
re-encodes it only after a change, and the result element of any other property until a property
changes. COV notifications do not scan all 15,000 objects for the device object, as bacpypes3's
do. Encoding and decoding are bacpypes3's throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Final

from bacpypes3.apdu import (
    ConfirmedCOVNotificationRequest,
    ReadPropertyMultipleACK,
    SimpleAckPDU,
    UnconfirmedCOVNotificationRequest,
    WritePropertyMultipleError,
)
from bacpypes3.app import Application
from bacpypes3.basetypes import (
    BinaryPV,
    EngineeringUnits,
    ErrorType,
    EventState,
    HostNPort,
    IPMode,
    ObjectPropertyReference,
    ObjectTypesSupported,
    PropertyIdentifier,
    PropertyValue,
    ReadAccessResult,
    ReadAccessResultElement,
    ReadAccessResultElementChoice,
    Reliability,
    ServicesSupported,
    StatusFlags,
)
from bacpypes3.constructeddata import Any as AnyValue
from bacpypes3.constructeddata import ArrayOf
from bacpypes3.errors import ExecutionError, ObjectError
from bacpypes3.local.cov import COVIncrementCriteria, GenericCriteria
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.local.object import Object as LocalObject
from bacpypes3.pdu import IPv4Address
from bacpypes3.primitivedata import (
    Boolean,
    CharacterString,
    Double,
    Null,
    ObjectType,
    Real,
    Unsigned,
)
from bacpypes3.service.object import read_property_to_result_element

from leviton_driver import (
    Bus,
    ConfigurationError,
    DemandResetResult,
    LevitonError,
    async_configured_meter,
    async_load_profile,
)

from . import bacnet_mapping as mapping
from .poller import MeterState, ResetOutcome
from .settings import BacnetConfig, BridgeConfig, BusConfig, MeterConfig

_LOGGER = logging.getLogger(__name__)

ResetFunction = Callable[[MeterState], Awaitable[ResetOutcome]]

RESET_ANSWER_S: Final = 2.0
"""How long a write to a reset object waits for the meter before it is acknowledged anyway
(BACnet clients commonly time out after 3 s); the object reads active until the reset ends."""
BIND_TIMEOUT_S: Final = 5.0
MAX_APDU: Final = 1476
WILDCARD_DEVICE: Final = 4194303

NO_FAULT: Final = Reliability.noFaultDetected
COMMUNICATION_FAILURE: Final = Reliability.communicationFailure
NO_VALUE_YET: Final = Reliability.unreliableOther

SERVICES_EXECUTED: Final = (
    "readProperty",
    "readPropertyMultiple",
    "writeProperty",
    "writePropertyMultiple",
    "subscribeCOV",
    "whoIs",
    "whoHas",
)

_PROPERTY_GROUPS: Final = (
    PropertyIdentifier.all,
    PropertyIdentifier.required,
    PropertyIdentifier.optional,
)


def _version() -> str:
    try:
        return metadata.version("leviton-meters")
    except metadata.PackageNotFoundError:
        return "unknown"


def _write_access_denied() -> ExecutionError:
    return ExecutionError(errorClass="property", errorCode="writeAccessDenied")


def _attr(prop: Any) -> Any:
    """A property identifier (enumeration, number or name) as the attribute name bacpypes3 uses."""
    if isinstance(prop, PropertyIdentifier):
        return prop.attr
    return PropertyIdentifier(prop).attr


# -- COV: bacpypes3's criteria, with the device found directly -------------------------------


def _send_cov_notifications(detection: Any, subscription: Any = None) -> None:
    """bacpypes3's COVDetection.send_cov_notifications, without scanning every object of the
    application for the device object on each notification (15,000 objects: 1 ms each)."""
    if not detection.cov_subscriptions:
        return
    app = detection.obj._app
    if app is None or app.device_object is None:
        return
    values = [
        PropertyValue(propertyIdentifier=name, value=AnyValue(getattr(detection, name)))
        for name in detection.properties_reported
    ]
    now = asyncio.get_running_loop().time()
    targets = [subscription] if subscription is not None else list(detection.cov_subscriptions)
    for cov in targets:
        remaining = 0
        if cov.cancel_handle:
            remaining = max(1, int(cov.cancel_handle.when() - now))
        request = (
            ConfirmedCOVNotificationRequest()
            if cov.confirmed
            else UnconfirmedCOVNotificationRequest()
        )
        request.pduDestination = cov.client_addr
        request.subscriberProcessIdentifier = cov.proc_id
        request.initiatingDeviceIdentifier = app.device_object.objectIdentifier
        request.monitoredObjectIdentifier = cov.obj_id
        request.timeRemaining = remaining
        request.listOfValues = values
        app.cov_notification(cov, request)


class _IncrementCriteria(COVIncrementCriteria):  # type: ignore[misc]
    def send_cov_notifications(self, subscription: Any = None) -> None:
        self.previously_reported_value = self.presentValue
        _send_cov_notifications(self, subscription)


class _ChangeCriteria(GenericCriteria):  # type: ignore[misc]
    def send_cov_notifications(self, subscription: Any = None) -> None:
        _send_cov_notifications(self, subscription)


# -- objects -----------------------------------------------------------------------------------


#: The class of a ReadPropertyMultiple result's value (an Any, context-tagged 4).
_CHOICE_VALUE: Final = ReadAccessResultElementChoice._elements["propertyValue"]


class _EncodedResult(ReadAccessResult):  # type: ignore[misc]
    """A ReadAccessResult that remembers its encoding (bacpypes3's own encoder, run once)."""

    _encoded: Any = None

    def encode(self) -> Any:
        if self._encoded is None:
            self._encoded = super().encode()
        return self._encoded


_NOT_IN_PROPERTY_LIST: Final = frozenset(
    ("objectIdentifier", "objectName", "objectType", "propertyList")
)


class _ReadOnlyMixin:
    """Refuses every write at the object (the application refuses them first), and lists its
    properties as the standard says (bacpypes3 lists the four that it must not)."""

    async def write_property(
        self, attr: Any, value: Any, index: int | None = None, priority: int | None = None
    ) -> None:
        raise _write_access_denied()

    @property
    def propertyList(self) -> Any:
        """Every property present except Object_Identifier, Object_Name, Object_Type and
        Property_List itself (ASHRAE 135 clause 12.1.1.4.1)."""
        return ArrayOf(PropertyIdentifier)(
            [
                PropertyIdentifier(name)
                for name in type(self)._elements  # type: ignore[attr-defined]
                if name not in _NOT_IN_PROPERTY_LIST
                and inspect.getattr_static(self, name, None) is not None
            ]
        )

    @propertyList.setter
    def propertyList(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""


class _MeterObject(_ReadOnlyMixin, LocalObject):  # type: ignore[misc]
    """A meter's object: read-only, with the value and reliability kept by the bridge.

    Its present value's ReadPropertyMultiple result is kept with its encoding until the value
    changes; any other property's result element until a property changes.
    """

    _vendor_id = None  # do not register these classes as a vendor's standard object classes
    _spec: mapping.ObjectSpec
    if TYPE_CHECKING:  # bacpypes3 properties, declared by the subclasses
        presentValue: Any
        reliability: Any
        statusFlags: Any
        _property_monitors: dict[str, list[Callable[[Any, Any], None]]]
        _elements: dict[str, Any]
    _value: float | None
    _reliability: Any
    _rpm_cache: dict[Any, Any]
    _pv_result: _EncodedResult | None
    _pv_choice: Any
    _pv_dirty: bool

    def __init__(self, spec: mapping.ObjectSpec, **kwargs: Any) -> None:
        self._spec = spec
        self._value = None
        self._reliability = COMMUNICATION_FAILURE
        self._rpm_cache = {}
        self._pv_result = None
        self._pv_dirty = True
        super().__init__(
            objectIdentifier=spec.identifier,
            objectName=spec.name,
            description=spec.description,
            eventState=EventState.normal,
            outOfService=False,
            reliability=COMMUNICATION_FAILURE,
            **kwargs,
        )

    def __setattr__(self, attr: str, value: Any) -> None:
        if not attr.startswith("_"):
            self._rpm_cache.clear()
            self._pv_dirty = True
        super().__setattr__(attr, value)

    def present_value_result(self) -> _EncodedResult:
        """The ReadPropertyMultiple result for just this object's present value (what a BMS
        polls): built once, then only its value replaced and encoded again when it changed."""
        result = self._pv_result
        if result is None:
            self._pv_choice = ReadAccessResultElementChoice(
                propertyValue=_CHOICE_VALUE(self.__dict__["presentValue"])
            )
            result = self._pv_result = _EncodedResult(
                objectIdentifier=self.objectIdentifier,
                listOfResults=[
                    ReadAccessResultElement(
                        propertyIdentifier=PropertyIdentifier.presentValue,
                        readResult=self._pv_choice,
                    )
                ],
            )
        elif self._pv_dirty:
            self._pv_choice.propertyValue = _CHOICE_VALUE(self.__dict__["presentValue"])
            result._encoded = None
        self._pv_dirty = False
        return result

    def _store(self, attr: str, value: Any) -> Any:
        """Set an atomic property as bacpypes3's ``__setattr__`` does (cast, store, tell the
        property's monitors, which drive COV), without its introspection of the class on every
        assignment: with 15,000 objects updated every poll that introspection was most of the
        bridge's CPU time. Returns the previous value."""
        element = self._elements[attr]
        if type(value) is not element:
            value = element(element.cast(value))
        old = self.__dict__.get(attr)
        if value != old:
            self.__dict__[attr] = value
            self._rpm_cache.clear()
            self._pv_dirty = True
            for monitor in list(self._property_monitors.get(attr, ())):
                monitor(old, value)
        return old

    def set_value(self, value: float) -> None:
        if value != self._value:
            self._value = value
            self._store("presentValue", value)

    def set_reliability(self, reliability: Any) -> None:
        """Change reliability and tell COV subscribers that the status flags changed."""
        if reliability == self._reliability:
            return
        self._reliability = reliability
        before = self.statusFlags
        self._store("reliability", reliability)
        after = self.statusFlags
        if before != after:
            for monitor in list(self._property_monitors.get("statusFlags", ())):
                monitor(before, after)


class _MeasuredObject(_MeterObject):
    """A reading with units, resolution and a COV increment from its catalogue entry."""

    def __init__(self, spec: mapping.ObjectSpec) -> None:
        super().__init__(
            spec,
            presentValue=0.0,
            units=EngineeringUnits(spec.units),
            resolution=spec.resolution,
            covIncrement=spec.cov_increment,
        )


class MeterAnalogInput(_MeasuredObject):
    """A measurement (REAL)."""

    _cov_criteria = _IncrementCriteria
    _required = ("presentValue", "statusFlags", "eventState", "outOfService", "units")
    objectType = ObjectType.analogInput
    presentValue: Real
    statusFlags: StatusFlags
    eventState: EventState
    reliability: Reliability
    outOfService: Boolean
    units: EngineeringUnits
    resolution: Real
    covIncrement: Real
    notificationClass: Unsigned


class MeterLargeAnalogValue(_MeasuredObject):
    """A total (Double: full precision above 16.7 million)."""

    _cov_criteria = _IncrementCriteria
    _required = ("presentValue", "statusFlags", "units")
    objectType = ObjectType.largeAnalogValue
    presentValue: Double
    statusFlags: StatusFlags
    eventState: EventState
    reliability: Reliability
    outOfService: Boolean
    units: EngineeringUnits
    resolution: Double
    covIncrement: Double
    notificationClass: Unsigned


class MeterResetValue(_MeterObject):
    """Reset peak demand: write active to reset; returns to inactive when the reset is done."""

    _cov_criteria = _ChangeCriteria
    _required = ("presentValue", "statusFlags", "eventState", "outOfService")
    objectType = ObjectType.binaryValue
    presentValue: BinaryPV
    statusFlags: StatusFlags
    eventState: EventState
    reliability: Reliability
    outOfService: Boolean
    inactiveText: CharacterString
    activeText: CharacterString
    notificationClass: Unsigned

    _on_reset: Callable[[], Awaitable[None]] | None = None

    def __init__(self, spec: mapping.ObjectSpec) -> None:
        super().__init__(
            spec,
            presentValue=BinaryPV.inactive,
            inactiveText="idle",
            activeText="resetting",
        )

    def set_active(self, active: bool) -> None:
        self._store("presentValue", BinaryPV.active if active else BinaryPV.inactive)

    async def write_property(
        self, attr: Any, value: Any, index: int | None = None, priority: int | None = None
    ) -> None:
        if _attr(attr) != "presentValue" or index is not None:
            raise _write_access_denied()
        if isinstance(value, Null) or value != BinaryPV.active:
            return  # inactive (or relinquish): the resting state, nothing to do
        if self._on_reset is None:
            raise ExecutionError(errorClass="device", errorCode="operationalProblem")
        await self._on_reset()


OBJECT_CLASSES: Final[dict[str, type[_MeterObject]]] = {
    mapping.ANALOG_INPUT: MeterAnalogInput,
    mapping.LARGE_ANALOG_VALUE: MeterLargeAnalogValue,
    mapping.BINARY_VALUE: MeterResetValue,
}


class BridgeDevice(_ReadOnlyMixin, DeviceObject):  # type: ignore[misc]
    """The device object (read-only)."""

    @property
    def protocolObjectTypesSupported(self) -> Any:
        return ObjectTypesSupported(
            [
                ObjectTypesSupported.analogInput,
                ObjectTypesSupported.binaryValue,
                ObjectTypesSupported.device,
                ObjectTypesSupported.largeAnalogValue,
                ObjectTypesSupported.networkPort,
            ]
        )

    @protocolObjectTypesSupported.setter
    def protocolObjectTypesSupported(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""


class BridgeNetworkPort(_ReadOnlyMixin, NetworkPortObject):  # type: ignore[misc]
    """The BACnet/IP port (read-only)."""


def _writable(obj: Any, prop: Any) -> bool:
    return isinstance(obj, MeterResetValue) and _attr(prop) == "presentValue"


# -- the application ----------------------------------------------------------------------------


class BridgeApplication(Application):  # type: ignore[misc]
    """bacpypes3's application with writes refused and a faster ReadPropertyMultiple."""

    _group_cache: ClassVar[dict[tuple[type, Any], tuple[str, ...]]] = {}

    def get_services_supported(self) -> Any:
        """The services this device executes (bacpypes3 derives the list from its handlers and
        maps the unconfirmed ones onto the wrong bits)."""
        supported = ServicesSupported([])
        for service in SERVICES_EXECUTED:
            supported[getattr(ServicesSupported, service)] = 1
        return supported

    async def do_WritePropertyRequest(self, apdu: Any) -> None:
        obj = self.get_object_id(apdu.objectIdentifier)
        if obj is None:
            raise ObjectError("unknownObject")
        if obj.get_property_type(apdu.propertyIdentifier) is None:
            raise ExecutionError(errorClass="property", errorCode="unknownProperty")
        if not _writable(obj, apdu.propertyIdentifier):
            raise _write_access_denied()
        if apdu.propertyArrayIndex is not None:
            raise ExecutionError(errorClass="property", errorCode="propertyIsNotAnArray")
        value = self._binary_value(apdu.propertyValue, apdu.priority)
        await obj.write_property(
            apdu.propertyIdentifier, value, apdu.propertyArrayIndex, apdu.priority
        )
        await self.response(SimpleAckPDU(context=apdu))

    @staticmethod
    def _binary_value(value: Any, priority: int | None) -> Any:
        try:
            return value.cast_out(BinaryPV, null=priority is not None)
        except Exception:
            raise ExecutionError(errorClass="property", errorCode="invalidDataType") from None

    async def do_WritePropertyMultipleRequest(self, apdu: Any) -> None:
        """Refuse the whole request unless every write is to a reset object's present value."""
        writes: list[tuple[Any, Any]] = []
        for spec in apdu.listOfWriteAccessSpecs:
            obj = self.get_object_id(spec.objectIdentifier)
            for prop in spec.listOfProperties:
                problem: tuple[str, str] | None = None
                if obj is None:
                    problem = ("object", "unknownObject")
                elif obj.get_property_type(prop.propertyIdentifier) is None:
                    problem = ("property", "unknownProperty")
                elif not _writable(obj, prop.propertyIdentifier):
                    problem = ("property", "writeAccessDenied")
                elif prop.propertyArrayIndex is not None:
                    problem = ("property", "propertyIsNotAnArray")
                if problem is not None:
                    reference = ObjectPropertyReference(
                        objectIdentifier=spec.objectIdentifier,
                        propertyIdentifier=prop.propertyIdentifier,
                    )
                    if prop.propertyArrayIndex is not None:
                        reference.propertyArrayIndex = prop.propertyArrayIndex
                    await self.response(
                        WritePropertyMultipleError(
                            errorType=ErrorType(errorClass=problem[0], errorCode=problem[1]),
                            firstFailedWriteAttempt=reference,
                            context=apdu,
                        )
                    )
                    return
                writes.append((obj, prop))
        for obj, prop in writes:
            value = self._binary_value(prop.value, prop.priority)
            await obj.write_property(prop.propertyIdentifier, value, None, prop.priority)
        await self.response(SimpleAckPDU(context=apdu))

    # -- ReadPropertyMultiple -------------------------------------------------------------------

    async def do_ReadPropertyMultipleRequest(self, apdu: Any) -> None:
        results = []
        found = False
        for spec in apdu.listOfReadAccessSpecs:
            references = spec.listOfPropertyReferences
            if len(references) == 1:
                reference = references[0]
                if (
                    reference.propertyIdentifier == PropertyIdentifier.presentValue
                    and reference.propertyArrayIndex is None
                ):
                    obj = self.get_object_id(spec.objectIdentifier)
                    if isinstance(obj, _MeterObject):
                        results.append(obj.present_value_result())
                        found = True
                        continue
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
        ack = ReadPropertyMultipleACK(listOfReadAccessResults=[], context=apdu)
        for result in results:  # append keeps the remembered encodings (a cast would copy)
            ack.listOfReadAccessResults.append(result)
        await self.response(ack)

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
                if inspect.getattr_static(obj, name, None) is None:
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
            required: set[str] = set()
            for klass in object_class.__mro__:
                required.update(getattr(klass, "_required", ()))
            elements = list(object_class._elements)  # type: ignore[attr-defined]
            if group == PropertyIdentifier.required:
                elements = [n for n in elements if n in required]
            elif group == PropertyIdentifier.optional:
                elements = [n for n in elements if n not in required]
            names = cls._group_cache[key] = tuple(elements)
        return names

    @staticmethod
    async def _read_one(obj: Any, prop: Any, index: int | None) -> Any:
        if index is None and isinstance(obj, _MeterObject):
            key = _attr(prop)
            element = obj._rpm_cache.get(key)
            if element is None:
                element = await read_property_to_result_element(obj, prop, None)
                if element.readResult.propertyAccessError is None:
                    obj._rpm_cache[key] = element
            return element
        return await read_property_to_result_element(obj, prop, index)


# -- the publisher ---------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Slot:
    """One object of a meter and what it last showed, kept outside the bacpypes3 object (whose
    every attribute access is slow) so that an unchanged reading costs a comparison."""

    point: int
    key: str
    obj: _MeterObject
    value: float | None = None
    reliability: Any = COMMUNICATION_FAILURE


@dataclass(eq=False)
class _MeterObjects:
    """The objects of one configured meter."""

    state: MeterState
    objects: dict[tuple[int, str], _MeterObject] = field(default_factory=dict)
    slots: list[_Slot] = field(default_factory=list)
    reset_task: asyncio.Task[DemandResetResult] | None = None

    @property
    def reset_object(self) -> MeterResetValue | None:
        obj = self.objects.get((0, mapping.RESET_KEY))
        return obj if isinstance(obj, MeterResetValue) else None


def _parse_address(text: str) -> Any:
    try:
        return IPv4Address(text)
    except ValueError as err:
        raise ConfigurationError(
            f"bacnet.address {text!r} is not usable ({err}); expected this host's IPv4 address "
            "with its netmask, e.g. 192.168.1.10/24, optionally with a UDP port, "
            "e.g. 192.168.1.10/24:47809"
        ) from None


def _check_bindable(address: Any, text: str) -> None:
    """bacpypes3 retries a failed bind forever in the background: check it here first."""
    host, port = address.addrTuple
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((host, port))
    except OSError as err:
        why = err.strerror or str(err)
        raise ConfigurationError(
            f"bacnet.address {text!r}: cannot listen on UDP {host}:{port} ({why}); is "
            f"{host} an address of this host, and is no other BACnet software using port {port}?"
        ) from None
    finally:
        probe.close()


class BacnetPublisher:
    """The bridge's BACnet/IP device, kept current by the poller (a ``MeterListener``)."""

    def __init__(
        self, config: BacnetConfig, states: Sequence[MeterState], reset: ResetFunction
    ) -> None:
        self.config = config
        self.states = list(states)
        self._reset = reset
        buses = list({state.bus.name: state.bus for state in self.states}.values())
        problems = mapping.check_objects(config, buses, [state.config for state in self.states])
        if problems:
            raise ConfigurationError("bacnet: " + "; ".join(problems))
        self.address = _parse_address(config.address)
        self.app: BridgeApplication | None = None
        self.device: BridgeDevice | None = None
        self._meters: dict[str, _MeterObjects] = {}

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        _check_bindable(self.address, config.address)
        self.device = BridgeDevice(
            objectIdentifier=("device", config.device_instance),
            objectName=config.device_name,
            vendorIdentifier=config.vendor_identifier,
            vendorName="leviton-meters project",
            modelName="leviton-bridge",
            firmwareRevision=_version(),
            applicationSoftwareVersion=_version(),
            location=config.location,
            description=config.description,
            databaseRevision=int(time.time()) & 0xFFFFFFFF,
            maxApduLengthAccepted=MAX_APDU,
        )
        port = BridgeNetworkPort(
            self.address,
            objectIdentifier=("network-port", 1),
            objectName=mapping.network_port_name(config),
        )
        if config.bbmd:
            try:
                bbmd = HostNPort(config.bbmd if ":" in config.bbmd else f"{config.bbmd}:47808")
            except ValueError as err:
                raise ConfigurationError(
                    f"bacnet.bbmd {config.bbmd!r} is not an IPv4 address[:port] ({err})"
                ) from None
            port.bacnetIPMode = IPMode.foreign
            port.fdBBMDAddress = bbmd
            port.fdSubscriptionLifetime = config.ttl
        self.app = BridgeApplication.from_object_list([self.device, port])
        await self._wait_bound()
        for state in self.states:
            self._sync(state)
        codes = ", ".join(
            f"{bus} = {mapping.bus_code(bus)}" for bus in sorted({s.bus.name for s in self.states})
        )
        _LOGGER.info(
            "BACnet/IP device %s (%r) on %s:%s%s; bus codes: %s",
            config.device_instance,
            config.device_name,
            *self.address.addrTuple,
            f", foreign device of BBMD {config.bbmd} (TTL {config.ttl} s)" if config.bbmd else "",
            codes,
        )
        if not config.bbmd and self.address.addrBroadcastTuple != self.address.addrTuple:
            self.app.i_am()

    async def _wait_bound(self) -> None:
        assert self.app is not None
        tasks = [
            task
            for layer in self.app.link_layers.values()
            for task in getattr(getattr(layer, "server", None), "_transport_tasks", ())
        ]
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=BIND_TIMEOUT_S)
        if pending:
            self.app.close()
            self.app = None
            host, port = self.address.addrTuple
            raise ConfigurationError(
                f"bacnet.address {self.config.address!r}: could not listen on UDP {host}:{port} "
                f"(and its broadcast address) within {BIND_TIMEOUT_S:g} s"
            )

    async def stop(self) -> None:
        tasks = [m.reset_task for m in self._meters.values() if m.reset_task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        app, self.app = self.app, None
        if app is None:
            return
        for detection in list(getattr(app, "_cov_detections", {}).values()):
            for cov in list(detection.cov_subscriptions):
                app.cancel_subscription(cov)
        for layer in app.link_layers.values():
            if hasattr(layer, "unregister"):
                layer.unregister()  # a foreign device: deregister from the BBMD
        await asyncio.sleep(0.05)  # let the deregistration leave
        app.close()

    # -- MeterListener ---------------------------------------------------------------------

    def meter_identified(self, state: MeterState) -> None:
        try:
            self._sync(state)
        except Exception:
            _LOGGER.exception("BACnet: cannot create the objects of %s", state.config.name)

    def meter_updated(self, state: MeterState) -> None:
        try:
            meter = self._meters.get(state.meter_id)
            if meter is None:
                meter = self._sync(state)
            if meter is not None:
                self._apply(meter)
        except Exception:
            _LOGGER.exception("BACnet: cannot update the objects of %s", state.config.name)

    def meter_unavailable(self, state: MeterState) -> None:
        try:
            meter = self._meters.get(state.meter_id)
            if meter is not None:
                self._apply(meter)
        except Exception:
            _LOGGER.exception("BACnet: cannot mark the objects of %s", state.config.name)

    # -- objects ---------------------------------------------------------------------------

    @property
    def objects(self) -> list[_MeterObject]:
        return [obj for meter in self._meters.values() for obj in meter.objects.values()]

    def _sync(self, state: MeterState) -> _MeterObjects | None:
        """Make the meter's objects match what it is now; bump the revision if they changed."""
        if self.app is None:
            return None
        meter = self._meters.setdefault(state.meter_id, _MeterObjects(state=state))
        meter.state = state
        wanted = {(spec.point, spec.key): spec for spec in mapping.state_objects(state)}
        changed = False
        for key, obj in list(meter.objects.items()):
            spec = wanted.get(key)
            if spec is None or spec != obj._spec:
                self._delete(obj)
                del meter.objects[key]
                changed = True
        for key, spec in wanted.items():
            if key not in meter.objects:
                obj = OBJECT_CLASSES[spec.object_type](spec)
                self.app.add_object(obj)
                meter.objects[key] = obj
                changed = True
        reset_object = meter.reset_object
        if reset_object is not None:
            reset_object._on_reset = lambda: self._reset_requested(meter)
        if changed:
            meter.slots = [
                _Slot(point, key, obj, obj._value, obj._reliability)
                for (point, key), obj in meter.objects.items()
            ]
            self._bump_revision()
        self._apply(meter)
        return meter

    def _delete(self, obj: _MeterObject) -> None:
        assert self.app is not None
        detections = getattr(self.app, "_cov_detections", {})
        detection = detections.get(obj.objectIdentifier)
        if detection is not None:
            for cov in list(detection.cov_subscriptions):
                self.app.cancel_subscription(cov)
        self.app.delete_object(obj)

    def _bump_revision(self) -> None:
        if self.device is not None:
            self.device.databaseRevision = (self.device.databaseRevision + 1) & 0xFFFFFFFF

    def _apply(self, meter: _MeterObjects) -> None:
        """Values and reliability from the meter's last poll (called for every poll)."""
        state = meter.state
        snapshot = state.snapshot
        readings = snapshot.readings if snapshot is not None else {}
        points = snapshot.points if snapshot is not None else {}
        available = state.available
        for slot in meter.slots:
            if slot.key == mapping.RESET_KEY:
                reliability = NO_FAULT if available else COMMUNICATION_FAILURE
            else:
                values = readings if slot.point == 0 else points.get(slot.point, {})
                value = values.get(slot.key)
                if value is not None and value != slot.value:
                    slot.value = value
                    slot.obj.set_value(float(value))
                if not available:
                    reliability = COMMUNICATION_FAILURE
                else:
                    reliability = NO_FAULT if slot.value is not None else NO_VALUE_YET
            if reliability is not slot.reliability:
                slot.reliability = reliability
                slot.obj.set_reliability(reliability)

    # -- peak-demand reset -----------------------------------------------------------------

    async def _reset_requested(self, meter: _MeterObjects) -> None:
        """A write of active to a reset object: reset, and answer within ``RESET_ANSWER_S``."""
        task = meter.reset_task
        if task is None or task.done():
            reset_object = meter.reset_object
            if reset_object is not None:
                reset_object.set_active(True)
            task = meter.reset_task = asyncio.create_task(
                self._run_reset(meter), name=f"BACnet reset {meter.state.meter_id}"
            )
            # logged by _run_reset; retrieved here for when no write waits for it any more
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            await asyncio.wait_for(asyncio.shield(task), RESET_ANSWER_S)
        except TimeoutError:
            return  # acknowledged; the object returns to inactive when the reset ends
        except asyncio.CancelledError:
            raise
        except Exception:
            raise ExecutionError(errorClass="device", errorCode="operationalProblem") from None

    async def _run_reset(self, meter: _MeterObjects) -> DemandResetResult:
        state = meter.state
        try:
            outcome = await self._reset(state)
            result = outcome.result
        except LevitonError as err:
            _LOGGER.warning("BACnet: peak-demand reset of %s failed: %s", state.config.name, err)
            raise
        except Exception:
            _LOGGER.exception("BACnet: peak-demand reset of %s failed", state.config.name)
            raise
        else:
            if outcome.coalesced:
                return result  # one reset for a burst of writes: logged once, when it ran
            _LOGGER.info(
                "BACnet: reset peak demand of %s (%s kW -> %s kW, counter %s -> %s)",
                state.config.name,
                result.peak_demand_before,
                result.peak_demand_after,
                result.count_before,
                result.count_after,
            )
            return result
        finally:
            reset_object = meter.reset_object
            if reset_object is not None:
                reset_object.set_active(False)


# -- the EDE export ------------------------------------------------------------------------------


async def _identify_bus(
    bus: BusConfig,
) -> list[tuple[MeterConfig, list[mapping.ObjectSpec], str | None]]:
    """Each meter of a bus: its objects, and a note when they come from its configuration."""
    link = Bus(bus.connect)
    found: list[tuple[MeterConfig, list[mapping.ObjectSpec], str | None]] = []
    try:
        for config in bus.meters:
            try:
                profile = await async_load_profile(config.profile) if config.profile else None
                meter = await link.async_meter(config.unit, series=config.series, profile=profile)
                found.append((config, mapping.meter_objects(config, meter), None))
            except LevitonError as err:
                found.append((config, *await _fallback(link, config, str(err))))
    finally:
        await link.async_close()
    return found


async def _fallback(
    link: Bus, config: MeterConfig, why: str
) -> tuple[list[mapping.ObjectSpec], str]:
    """The objects of a meter that did not answer, from its configuration where possible."""
    where = f"{config.name} (bus {config.bus}, unit {config.unit}) did not answer ({why})"
    try:
        meter = await async_configured_meter(
            link.unit(config.unit),
            unit_id=config.unit,
            where=link.url,
            series=config.series,
            profile_path=config.profile,
        )
    except LevitonError as err:
        return [], f"{where} and its profile cannot be read ({err}): not listed"
    if meter is None:
        return (
            [],
            f"{where}: not listed; give it series: 1000, 2000 or 8000 to list it without an answer",
        )
    if meter.max_points:
        specs = mapping.meter_objects(config, meter, points=meter.max_points)
        return specs, (
            f"{where}: listed with the {meter.max_points} points its profile allows; the "
            "bridge creates only the points the meter reports"
        )
    return mapping.meter_objects(config, meter), f"{where}: listed from its series"


async def ede_text(config: BridgeConfig) -> tuple[str, int]:
    """The EDE file of the bridge's BACnet device, and how many objects it lists.

    Every configured meter is identified once (buses in parallel), so that a Series 8000's
    point count and each meter's series are the ones the running bridge will use. A meter that
    does not answer is listed from its configured series (Series 8000: the profile's largest
    point count) with a comment line saying so; a meter with ``series: auto`` that does not
    answer cannot be listed.
    """
    if config.bacnet is None:
        raise ConfigurationError(f"{config.source or 'the configuration'} has no bacnet: section")
    mapping.raise_for_problems(config)
    identified = await asyncio.gather(*(_identify_bus(bus) for bus in config.buses))
    specs: list[mapping.ObjectSpec] = []
    notes = [
        "bus codes (instance = bus code * 100000 + unit * 400 + point * 16 + slot): "
        + ", ".join(f"{bus.name} = {mapping.bus_code(bus.name)}" for bus in config.buses)
    ]
    for bus_meters in identified:
        for _config, objects, note in bus_meters:
            specs.extend(objects)
            if note is not None:
                notes.append(note)
                _LOGGER.warning("bacnet-ede: %s", note)
    return mapping.ede_document(config.bacnet, specs, notes=notes)


__all__ = [
    "BacnetPublisher",
    "BridgeApplication",
    "MeterAnalogInput",
    "MeterLargeAnalogValue",
    "MeterResetValue",
    "ede_text",
]

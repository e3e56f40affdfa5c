"""The device's objects: one per meter reading, one per demand reset, the device and its port.

Every object is read-only to the network except the reset objects' present value. A meter
object keeps its value and reliability outside bacpypes3 too, and stores a property only when
it changed (``compat.store_value``): bacpypes3 inspects the class on every assignment, and with
15,000 objects updated every poll that was most of the bridge's CPU. A change drops the
object's cached answers (``_rpm_cache`` for the slow ReadPropertyMultiple path, ``_encoded``
for the fast one, see ``fastpath``) and tells its COV subscriptions (``cov``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from bacpypes3.basetypes import (
    BinaryPV,
    EngineeringUnits,
    EventState,
    ObjectTypesSupported,
    PropertyIdentifier,
    Reliability,
    Segmentation,
    StatusFlags,
)
from bacpypes3.constructeddata import ArrayOf
from bacpypes3.errors import ExecutionError
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.local.object import Object as LocalObject
from bacpypes3.primitivedata import (
    Boolean,
    CharacterString,
    Double,
    Null,
    ObjectType,
    Real,
    Unsigned,
)

from . import compat, mapping

NO_FAULT: Final = Reliability.noFaultDetected
COMMUNICATION_FAILURE: Final = Reliability.communicationFailure
NO_VALUE_YET: Final = Reliability.unreliableOther

PRESENT_VALUE: Final = int(PropertyIdentifier.presentValue)
STATUS_FLAGS: Final = int(PropertyIdentifier.statusFlags)
RELIABILITY: Final = int(PropertyIdentifier.reliability)

_ENCODINGS_OF: Final = {
    "presentValue": (PRESENT_VALUE,),
    "reliability": (RELIABILITY, STATUS_FLAGS),
}
"""The cached encodings (``_encoded``) a property stored by ``_store`` appears in."""
_NOT_IN_PROPERTY_LIST: Final = frozenset(
    ("objectIdentifier", "objectName", "objectType", "propertyList")
)


def write_access_denied() -> ExecutionError:
    return ExecutionError(errorClass="property", errorCode="writeAccessDenied")


def attribute(prop: Any) -> str:
    """A property identifier (enumeration, number or name) as bacpypes3's attribute name."""
    if isinstance(prop, PropertyIdentifier):
        return str(prop.attr)
    return str(PropertyIdentifier(prop).attr)


class ReadOnlyMixin:
    """Refuses every write at the object (the application refuses them first), and lists its
    properties as the standard says (bacpypes3 lists the four that it must not)."""

    async def write_property(
        self, attr: Any, value: Any, index: int | None = None, priority: int | None = None
    ) -> None:
        raise write_access_denied()

    @property
    def propertyList(self) -> Any:
        """Every property present except Object_Identifier, Object_Name, Object_Type and
        Property_List itself (ASHRAE 135 clause 12.1.1.4.1)."""
        return ArrayOf(PropertyIdentifier)(
            [
                PropertyIdentifier(name)
                for name in compat.element_types(type(self))
                if name not in _NOT_IN_PROPERTY_LIST and compat.has_property(self, name)
            ]
        )

    @propertyList.setter
    def propertyList(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""


CovHook = Callable[["MeterObject"], None]


class MeterObject(ReadOnlyMixin, LocalObject):  # type: ignore[misc]
    """A meter's object: read-only, with the value and reliability kept by the bridge."""

    _vendor_id = compat.NOT_A_VENDOR_CLASS
    _pv_format: str | None = None
    """The ``struct`` format of the present value's encoding (REAL, Double), for ``fastpath``."""
    if TYPE_CHECKING:
        # bacpypes3 properties, declared by the subclasses
        objectIdentifier: Any
        presentValue: Any
        reliability: Any
        statusFlags: Any
        covIncrement: Any
        # the bridge's own (hidden from bacpypes3, which evaluates a class's annotations)
        _spec: mapping.ObjectSpec
        _value: float | None
        _reliability: Any
        _rpm_cache: dict[str, Any]
        _encoded: dict[int, bytes]
        """Result elements' encodings by property identifier, for ``fastpath``."""
        _cov_hook: CovHook | None
        """Called when a change is worth a COV notification (set while subscribed)."""
        _cov_reported: Any
        """The present value last reported to COV subscribers."""

    def __init__(self, spec: mapping.ObjectSpec, **kwargs: Any) -> None:
        self._spec = spec
        self._value = None
        self._reliability = COMMUNICATION_FAILURE
        self._rpm_cache = {}
        self._encoded = {}
        self._cov_hook = None
        self._cov_reported = None
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
            self._encoded.clear()
        super().__setattr__(attr, value)

    @property
    def fault(self) -> bool:
        """The status flags' fault bit."""
        return bool(self._reliability != NO_FAULT)

    def _store(self, attr: str, value: Any) -> bool:
        """Set an atomic property as bacpypes3's ``__setattr__`` would (cast, store), without
        its introspection of the class; True when the value changed."""
        element = compat.element_types(type(self))[attr]
        if type(value) is not element:
            value = element(element.cast(value))
        if value == compat.stored_value(self, attr):
            return False
        compat.store_value(self, attr, value)
        self._rpm_cache.clear()
        for prop in _ENCODINGS_OF.get(attr, ()):
            self._encoded.pop(prop, None)
        return True

    def set_value(self, value: float) -> None:
        if value != self._value:
            self._value = value
            changed = self._store("presentValue", value)
            if changed and self._cov_hook is not None and self._cov_moved(value):
                self._cov_hook(self)

    def _cov_moved(self, value: Any) -> bool:
        """Whether a new present value is worth a COV notification (any change by default)."""
        return bool(value != self._cov_reported)

    def set_reliability(self, reliability: Any) -> None:
        """Change reliability; COV subscribers hear of it when the status flags change."""
        if reliability == self._reliability:
            return
        was_fault = self.fault
        self._reliability = reliability
        self._store("reliability", reliability)
        if self.fault != was_fault and self._cov_hook is not None:
            self._cov_hook(self)

    def cov_values(self) -> tuple[Any, StatusFlags]:
        """The present value and status flags a COV notification reports (and remembers the
        value as the one reported)."""
        value = compat.stored_value(self, "presentValue")
        self._cov_reported = value
        return value, StatusFlags([0, int(self.fault), 0, 0])


class _MeasuredObject(MeterObject):
    """A reading with units, resolution and a COV increment from its catalogue entry."""

    def __init__(self, spec: mapping.ObjectSpec) -> None:
        super().__init__(
            spec,
            presentValue=0.0,
            units=EngineeringUnits(spec.units),
            resolution=spec.resolution,
            covIncrement=spec.cov_increment,
        )

    def _cov_moved(self, value: Any) -> bool:
        """Moved by the COV increment or more since the value last reported."""
        reported = self._cov_reported
        return reported is None or abs(value - reported) >= (self._spec.cov_increment or 0.0)


class MeterAnalogInput(_MeasuredObject):
    """A measurement (REAL)."""

    _vendor_id = compat.NOT_A_VENDOR_CLASS
    _pv_format = ">f"
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

    _vendor_id = compat.NOT_A_VENDOR_CLASS
    _pv_format = ">d"
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


ResetHook = Callable[[], Awaitable[None]]


class MeterResetValue(MeterObject):
    """Reset peak demand: write active to reset; returns to inactive when the reset is done."""

    _vendor_id = compat.NOT_A_VENDOR_CLASS
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

    _on_reset: ResetHook | None = None

    def __init__(self, spec: mapping.ObjectSpec) -> None:
        super().__init__(
            spec,
            presentValue=BinaryPV.inactive,
            inactiveText="idle",
            activeText="resetting",
        )

    def set_active(self, active: bool) -> None:
        changed = self._store("presentValue", BinaryPV.active if active else BinaryPV.inactive)
        if changed and self._cov_hook is not None:
            self._cov_hook(self)

    @staticmethod
    def wants_reset(value: Any) -> bool:
        """Whether a written value asks for a reset: active does; inactive and a relinquish
        (Null) are the resting state; anything else is out of range."""
        if value is Null or isinstance(value, Null):  # bacpypes3's Null() is the class
            return False
        if not isinstance(value, int) or isinstance(value, bool):
            raise ExecutionError(errorClass="property", errorCode="invalidDataType")
        number = int(value)
        if number not in (int(BinaryPV.inactive), int(BinaryPV.active)):
            raise ExecutionError(errorClass="property", errorCode="valueOutOfRange")
        return number == int(BinaryPV.active)

    async def write_property(
        self, attr: Any, value: Any, index: int | None = None, priority: int | None = None
    ) -> None:
        if attribute(attr) != "presentValue" or index is not None:
            raise write_access_denied()
        if not self.wants_reset(value):
            return
        if self._on_reset is None:
            raise ExecutionError(errorClass="device", errorCode="operationalProblem")
        await self._on_reset()


OBJECT_CLASSES: Final[dict[str, type[MeterObject]]] = {
    mapping.ANALOG_INPUT: MeterAnalogInput,
    mapping.LARGE_ANALOG_VALUE: MeterLargeAnalogValue,
    mapping.BINARY_VALUE: MeterResetValue,
}


class BridgeDevice(ReadOnlyMixin, DeviceObject):  # type: ignore[misc]
    """The device object (read-only). It sends segmented answers but takes no segmented
    request (the ingress refuses them; a BMS sizes its requests to one APDU)."""

    _vendor_id = compat.NOT_A_VENDOR_CLASS
    segmentationSupported = Segmentation.segmentedTransmit
    _trend_logs = False
    """Whether the device has trend logs (a ``history:`` section)."""

    @property
    def protocolObjectTypesSupported(self) -> Any:
        return ObjectTypesSupported(
            [
                ObjectTypesSupported.analogInput,
                ObjectTypesSupported.binaryValue,
                ObjectTypesSupported.device,
                ObjectTypesSupported.largeAnalogValue,
                ObjectTypesSupported.networkPort,
                *([ObjectTypesSupported.trendLog] if self._trend_logs else []),
            ]
        )

    @protocolObjectTypesSupported.setter
    def protocolObjectTypesSupported(self, value: Any) -> None:
        """Computed; set only while bacpypes3 initialises the object."""


class BridgeNetworkPort(ReadOnlyMixin, NetworkPortObject):  # type: ignore[misc]
    """The BACnet/IP port (read-only)."""

    _vendor_id = compat.NOT_A_VENDOR_CLASS


def writable(obj: Any, prop: Any) -> bool:
    """The only writable property of the device: a reset object's present value."""
    return isinstance(obj, MeterResetValue) and attribute(prop) == "presentValue"


__all__ = [
    "COMMUNICATION_FAILURE",
    "NO_FAULT",
    "NO_VALUE_YET",
    "OBJECT_CLASSES",
    "BridgeDevice",
    "BridgeNetworkPort",
    "MeterAnalogInput",
    "MeterLargeAnalogValue",
    "MeterObject",
    "MeterResetValue",
    "writable",
]

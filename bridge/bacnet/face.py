"""The BACnet/IP face: the device's life cycle, and its objects kept current from the poller.

``BacnetFace`` hears from the poller (a ``MeterListener``) when a meter is identified, polled,
or stops answering, and makes the meter's objects match (creating and deleting them, bumping
``databaseRevision``), copies values and reliability into them, and runs peak-demand resets
written to a reset object through the core's one reset path (which folds a burst of presses
into one reset). With a history (``BridgeCore.history``, lent by the history face), each
energy-delivered total also has a trend log (``trendlog``), read from the history with
ReadRange.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final

from bacpypes3.basetypes import HostNPort, IPMode
from bacpypes3.errors import ExecutionError
from bacpypes3.pdu import IPv4Address

from leviton_driver import ConfigurationError, DemandResetResult

from ..config.settings import BacnetConfig
from ..core.faces import FaceStatus, Figure
from ..core.meter_state import MeterState
from ..core.ratelimit import PeerWarnings
from . import compat, mapping
from .application import CONFIRMED_WITH_TREND_LOGS, BridgeApplication
from .cov import CovService
from .ingress import Ingress
from .objects import (
    COMMUNICATION_FAILURE,
    NO_FAULT,
    NO_VALUE_YET,
    OBJECT_CLASSES,
    BridgeDevice,
    BridgeNetworkPort,
    MeterObject,
    MeterResetValue,
)
from .trendlog import MeterTrendLog

if TYPE_CHECKING:
    from ..core.bridge import BridgeCore

_LOGGER = logging.getLogger(__name__)

RESET_ANSWER_S: Final = 2.0
"""How long a write to a reset object waits for the meter before it is acknowledged anyway
(BACnet clients commonly time out after 3 s); the object reads active until the reset ends."""
BIND_TIMEOUT_S: Final = 5.0
MAX_APDU: Final = 1476


def _version() -> str:
    try:
        return metadata.version("leviton-meters")
    except metadata.PackageNotFoundError:
        return "unknown"


def raw_identifier(identifier: Any) -> int:
    """An object identifier as the 32 bits that encode it (type << 22 | instance)."""
    return int(identifier[0]) << 22 | int(identifier[1])


@dataclass(eq=False, slots=True)
class _Slot:
    """One object of a meter and what it last showed, kept outside the bacpypes3 object (whose
    every attribute access is slow) so that an unchanged reading costs a comparison."""

    point: int
    key: str
    obj: MeterObject
    value: float | None = None
    reliability: Any = COMMUNICATION_FAILURE


@dataclass(eq=False)
class _MeterObjects:
    """The objects of one configured meter."""

    state: MeterState
    objects: dict[tuple[int, str], MeterObject] = field(default_factory=dict)
    trend_logs: dict[int, MeterTrendLog] = field(default_factory=dict)
    """By metering point (0: the meter's own total)."""
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


class BacnetFace:
    """The bridge's BACnet/IP device, kept current by the poller (a ``MeterListener``)."""

    def __init__(self, core: BridgeCore, config: BacnetConfig) -> None:
        self.core = core
        self.config = config
        self.states = core.states
        buses = list({state.bus.name: state.bus for state in self.states}.values())
        problems = mapping.check_objects(config, buses, [state.config for state in self.states])
        if problems:
            raise ConfigurationError("bacnet: " + "; ".join(problems))
        self.since: float | None = None
        """Wall-clock time since when the device has served (or stopped serving)."""
        self.problem: str | None = "not started"
        self.address = _parse_address(config.address)
        self.app: BridgeApplication | None = None
        self.device: BridgeDevice | None = None
        self.warnings = PeerWarnings(logging.getLogger("leviton_bridge.bacnet"), "BACnet")
        self.index: dict[int, MeterObject] = {}
        """Every meter object by its encoded identifier (for the fast path)."""
        self.ingress = Ingress(self.index, self.warnings, foreign=bool(config.bbmd))
        self.cov: CovService | None = None
        self._meters: dict[str, _MeterObjects] = {}

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        _check_bindable(self.address, config.address)
        compat.fix_segmented_response_timeout()
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
        trend_logs = self.core.history is not None
        self.device._trend_logs = trend_logs
        app = self.app = BridgeApplication.from_object_list([self.device, port])
        app.warnings = self.warnings
        app.max_apdu = MAX_APDU
        app.trend_logs = trend_logs
        if trend_logs:
            self.ingress.confirmed_executed = CONFIRMED_WITH_TREND_LOGS
        compat.take_datagrams(app, self.ingress.screen)
        self.cov = CovService(app, self.warnings)
        app.subscribe = self.cov.subscribe
        if not await compat.wait_bound(app, BIND_TIMEOUT_S):
            app.close()
            self.app = None
            host, udp = self.address.addrTuple
            raise ConfigurationError(
                f"bacnet.address {config.address!r}: could not listen on UDP {host}:{udp} "
                f"(and its broadcast address) within {BIND_TIMEOUT_S:g} s"
            )
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
            app.i_am()
        self.since, self.problem = time.time(), None

    async def stop(self) -> None:
        """Stop the device: resets in progress are cancelled, COV subscriptions end, a foreign
        device deregisters from its BBMD (sent before the socket closes), the socket closes."""
        tasks = [m.reset_task for m in self._meters.values() if m.reset_task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        app, self.app = self.app, None
        if app is None:
            return
        self.since, self.problem = time.time(), "stopped"
        if self.cov is not None:
            self.cov.close()
        await compat.deregister_foreign(app)
        app.close()

    def status(self) -> FaceStatus:
        config = self.config
        serving = self.app is not None
        objects = len(self.index)
        subscriptions = len(self.cov) if self.cov is not None else 0
        verdicts = self.ingress.verdicts
        served = verdicts.get("fast", 0) + verdicts.get("passed", 0)
        summary = (
            f"{'serving' if serving else 'not serving'} device {config.device_instance} on "
            f"{config.address}, {objects} objects, {subscriptions} COV subscriptions"
        )
        figures = [
            Figure("leviton_bacnet_serving", "1 while the BACnet/IP device is serving", serving),
            Figure("leviton_bacnet_objects", "BACnet objects of the meters", objects),
            Figure(
                "leviton_bacnet_requests_served",
                "BACnet requests the device answered or handled",
                served,
                counter=True,
            ),
            Figure(
                "leviton_bacnet_cov_subscriptions",
                "COV subscriptions the device holds",
                subscriptions,
            ),
        ]
        figures += [
            Figure(
                "leviton_bacnet_datagrams",
                "BACnet/IP datagrams received, by what became of them (fast: answered from the "
                "object cache; passed: handled by the BACnet stack; the rest refused or dropped)",
                count,
                counter=True,
                labels={"verdict": str(verdict)},
            )
            for verdict, count in sorted(verdicts.items())
        ]
        return FaceStatus(
            key="bacnet",
            title="BACnet/IP",
            up=serving,
            since=self.since,
            summary=summary,
            problem=None if serving else self.problem,
            details={
                "address": config.address,
                "device_instance": config.device_instance,
                "serving": serving,
                "objects": objects,
                "cov_subscriptions": subscriptions,
                "requests_served": served,
            },
            figures=figures,
        )

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
    def objects(self) -> list[MeterObject]:
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
                self.index[raw_identifier(obj.objectIdentifier)] = obj
                meter.objects[key] = obj
                changed = True
        changed = self._sync_trend_logs(meter) or changed
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

    def _sync_trend_logs(self, meter: _MeterObjects) -> bool:
        """Make the meter's trend logs match its series (with a history); whether they
        changed."""
        assert self.app is not None
        view = self.core.history
        state = meter.state
        wanted = (
            {spec.point: spec for spec in mapping.trend_logs(state.config, state.meter)}
            if view is not None
            else {}
        )
        changed = False
        for point, log in list(meter.trend_logs.items()):
            if wanted.get(point) != log._spec:
                self.app.delete_object(log)
                del meter.trend_logs[point]
                changed = True
        for point, spec in wanted.items():
            if point in meter.trend_logs or view is None:
                continue
            logged = mapping.trend_logged(state.config, point).identifier
            log = MeterTrendLog(
                spec,
                view,
                logged=logged,
                buffer_size=self.config.trend_log_buffer,
                series_index=point - 1 if point else 0,
            )
            self.app.add_object(log)
            meter.trend_logs[point] = log
            changed = True
        return changed

    @property
    def trend_logs(self) -> list[MeterTrendLog]:
        return [log for meter in self._meters.values() for log in meter.trend_logs.values()]

    def _delete(self, obj: MeterObject) -> None:
        assert self.app is not None
        if self.cov is not None:
            self.cov.cancel_object(obj)
        self.index.pop(raw_identifier(obj.objectIdentifier), None)
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
            # logged by the core; retrieved here for when no write waits for it any more
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
        try:
            outcome = await self.core.reset_peak_demand(meter.state.meter_id, "bacnet")
        finally:
            reset_object = meter.reset_object
            if reset_object is not None:
                reset_object.set_active(False)
        if outcome.result is None:
            raise ExecutionError(errorClass="device", errorCode="operationalProblem")
        return outcome.result


__all__ = ["RESET_ANSWER_S", "BacnetFace", "raw_identifier"]

"""COV subscriptions: SubscribeCOV, the notifications, and the limits that keep them bounded.

The bridge keeps its own subscriptions instead of bacpypes3's: bacpypes3 accepts any number
(6,000 from one peer cost 17 MB), scans every object for the device object on each
notification, and logs a traceback for every confirmed notification that is not acknowledged,
forever when the lifetime is 0. Here:

* a peer holds at most ``per_peer`` subscriptions and the device ``total``; a subscription past
  either is refused with the standard resources error (``resources``,
  ``no-space-to-add-list-element``) and one rate-limited warning;
* a confirmed subscription has at most one notification outstanding; changes meanwhile are
  folded into one notification of the latest values once it is answered;
* a confirmed subscriber whose notifications fail ``max_failures`` times in a row (an error, a
  reject, an abort, or no answer at all: a peer that has gone away) is dropped, with one
  rate-limited warning per peer;
* analog objects notify when the present value moves by the COV increment since the value last
  reported, every object when its status flags change (ASHRAE 135 clause 13.1), as bacpypes3's
  criteria did. Notifications of one object are sent once per event-loop turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from bacpypes3.apdu import (
    ConfirmedCOVNotificationRequest,
    SimpleAckPDU,
    UnconfirmedCOVNotificationRequest,
)
from bacpypes3.basetypes import PropertyIdentifier, PropertyValue
from bacpypes3.constructeddata import Any as AnyValue
from bacpypes3.errors import ExecutionError, MissingRequiredParameter

from ..core.ratelimit import PeerWarnings
from .objects import MeterObject

if TYPE_CHECKING:
    from .application import BridgeApplication

MAX_PER_PEER: Final = 4096
"""Subscriptions one peer (address and network) may hold: a BMS that subscribes to a few
thousand points fits; one that subscribes without end does not."""
MAX_TOTAL: Final = 16384
MAX_FAILURES: Final = 3
"""Confirmed notifications in a row that may fail before their subscription is dropped."""

_LOGGER = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Subscription:
    """One SubscribeCOV of one peer (process identifier) to one object."""

    peer: Any
    process_id: int
    obj: MeterObject
    confirmed: bool
    lifetime: int
    expiry: asyncio.TimerHandle | None = None
    active: bool = True
    failures: int = 0
    in_flight: bool = False
    pending: bool = False
    """A change came while a confirmed notification was outstanding."""


@dataclass(eq=False)
class CovService:
    """The device's COV subscriptions (SubscribeCOV is executed by ``subscribe``)."""

    app: BridgeApplication
    warnings: PeerWarnings
    per_peer: int = MAX_PER_PEER
    total: int = MAX_TOTAL
    max_failures: int = MAX_FAILURES
    sent: int = 0
    """Notifications sent (for tests and the benchmark)."""
    dropped: int = 0
    """Subscriptions dropped because their notifications failed."""
    _subscriptions: dict[tuple[Any, int, int], Subscription] = field(default_factory=dict)
    _of_object: dict[int, list[Subscription]] = field(default_factory=dict)
    _of_peer: Counter[Any] = field(default_factory=Counter)
    _due: dict[int, MeterObject] = field(default_factory=dict)
    _closed: bool = False

    def __len__(self) -> int:
        return len(self._subscriptions)

    def of_peer(self, peer: Any) -> int:
        return self._of_peer[peer]

    # -- SubscribeCOV --------------------------------------------------------------------------

    async def subscribe(self, apdu: Any) -> None:
        """Create, renew or cancel a subscription; answer the request; and send a new or
        renewed subscription its first notification."""
        peer = apdu.pduSource
        confirmed, lifetime = apdu.issueConfirmedNotifications, apdu.lifetime
        cancel = confirmed is None and lifetime is None
        if not cancel and (confirmed is None or lifetime is None):
            raise MissingRequiredParameter("issueConfirmedNotifications and lifetime go together")
        obj = self.app.get_object_id(apdu.monitoredObjectIdentifier)
        if obj is None and not cancel:
            raise ExecutionError(errorClass="object", errorCode="unknownObject")
        if obj is not None and not isinstance(obj, MeterObject):
            raise ExecutionError(errorClass="services", errorCode="covSubscriptionFailed")
        key = (peer, int(apdu.subscriberProcessIdentifier), id(obj))
        subscription = self._subscriptions.get(key)
        if cancel:
            if subscription is not None:
                self.cancel(subscription)
            await self.app.response(SimpleAckPDU(context=apdu))
            return
        assert obj is not None
        assert lifetime is not None
        if subscription is None:
            if self._of_peer[peer] >= self.per_peer or len(self._subscriptions) >= self.total:
                self.warnings.warn(
                    str(peer),
                    "cov-limit",
                    "COV subscription refused: %d subscriptions of this peer, %d in all "
                    "(limits %d and %d)",
                    self._of_peer[peer],
                    len(self._subscriptions),
                    self.per_peer,
                    self.total,
                )
                raise ExecutionError(errorClass="resources", errorCode="noSpaceToAddListElement")
            subscription = Subscription(peer, key[1], obj, bool(confirmed), int(lifetime))
            self._add(key, subscription)
        else:
            subscription.confirmed = bool(confirmed)
            subscription.lifetime = int(lifetime)
            subscription.failures = 0
        self._expire_after(subscription)
        await self.app.response(SimpleAckPDU(context=apdu))
        asyncio.get_running_loop().call_soon(self._notify_one, subscription)

    def _add(self, key: tuple[Any, int, int], subscription: Subscription) -> None:
        self._subscriptions[key] = subscription
        self._of_peer[subscription.peer] += 1
        obj = subscription.obj
        self._of_object.setdefault(id(obj), []).append(subscription)
        obj._cov_hook = self.changed

    def _expire_after(self, subscription: Subscription) -> None:
        if subscription.expiry is not None:
            subscription.expiry.cancel()
            subscription.expiry = None
        if subscription.lifetime > 0:
            subscription.expiry = asyncio.get_running_loop().call_later(
                subscription.lifetime, self.cancel, subscription
            )

    def cancel(self, subscription: Subscription) -> None:
        """End a subscription (cancelled, expired, dropped, or its object deleted)."""
        if not subscription.active:
            return
        subscription.active = False
        if subscription.expiry is not None:
            subscription.expiry.cancel()
            subscription.expiry = None
        obj = subscription.obj
        del self._subscriptions[(subscription.peer, subscription.process_id, id(obj))]
        self._of_peer[subscription.peer] -= 1
        if not self._of_peer[subscription.peer]:
            del self._of_peer[subscription.peer]
        watchers = self._of_object[id(obj)]
        watchers.remove(subscription)
        if not watchers:
            del self._of_object[id(obj)]
            self._due.pop(id(obj), None)
            obj._cov_hook = None

    def cancel_object(self, obj: MeterObject) -> None:
        """End every subscription to an object (it is being deleted)."""
        for subscription in list(self._of_object.get(id(obj), ())):
            self.cancel(subscription)

    def close(self) -> None:
        """End every subscription (the device stops)."""
        self._closed = True
        for subscription in list(self._subscriptions.values()):
            self.cancel(subscription)

    # -- notifications -------------------------------------------------------------------------

    def changed(self, obj: MeterObject) -> None:
        """An object's present value moved enough, or its status flags changed: notify its
        subscribers once this turn of the event loop is over."""
        if not self._due:
            asyncio.get_running_loop().call_soon(self._flush)
        self._due[id(obj)] = obj

    def _flush(self) -> None:
        due, self._due = self._due, {}
        for key, obj in due.items():
            watchers = self._of_object.get(key)
            if watchers:
                values = self._values(obj)
                for subscription in list(watchers):
                    self._send(subscription, values)

    def _notify_one(self, subscription: Subscription) -> None:
        if subscription.active:
            self._send(subscription, self._values(subscription.obj))

    @staticmethod
    def _values(obj: MeterObject) -> list[Any]:
        value, flags = obj.cov_values()
        return [
            PropertyValue(
                propertyIdentifier=PropertyIdentifier.presentValue, value=AnyValue(value)
            ),
            PropertyValue(propertyIdentifier=PropertyIdentifier.statusFlags, value=AnyValue(flags)),
        ]

    def _send(self, subscription: Subscription, values: list[Any]) -> None:
        device = self.app.device_object
        if self._closed or device is None:
            return
        if subscription.confirmed and subscription.in_flight:
            subscription.pending = True
            return
        remaining = 0
        if subscription.expiry is not None:
            remaining = max(1, int(subscription.expiry.when() - asyncio.get_running_loop().time()))
        kind = (
            ConfirmedCOVNotificationRequest
            if subscription.confirmed
            else UnconfirmedCOVNotificationRequest
        )
        request = kind(
            subscriberProcessIdentifier=subscription.process_id,
            initiatingDeviceIdentifier=device.objectIdentifier,
            monitoredObjectIdentifier=subscription.obj.objectIdentifier,
            timeRemaining=remaining,
            listOfValues=values,
            destination=subscription.peer,
        )
        future = self.app.request(request)
        self.sent += 1
        if subscription.confirmed:
            subscription.in_flight = True
            future.add_done_callback(partial(self._answered, subscription))

    def _answered(self, subscription: Subscription, future: asyncio.Future[Any]) -> None:
        """A confirmed notification was acknowledged, refused, or never answered."""
        subscription.in_flight = False
        problem = "cancelled" if future.cancelled() else future.exception()
        if not subscription.active or self._closed:
            return
        if problem is None:
            subscription.failures = 0
        else:
            subscription.failures += 1
            if subscription.failures >= self.max_failures:
                self.dropped += 1
                self.cancel(subscription)
                self.warnings.warn(
                    str(subscription.peer),
                    "cov-subscriber",
                    "dropped its COV subscription (process %d) to %s after %d failed confirmed "
                    "notifications in a row (last: %s)",
                    subscription.process_id,
                    subscription.obj._spec.name,
                    subscription.failures,
                    _describe(problem),
                )
                return
        if subscription.pending:
            subscription.pending = False
            self._notify_one(subscription)


def _describe(problem: object) -> str:
    text = str(problem).strip()
    return f"{type(problem).__name__} {text}".strip() if text else type(problem).__name__


__all__ = ["MAX_FAILURES", "MAX_PER_PEER", "MAX_TOTAL", "CovService", "Subscription"]

"""The link to the MQTT broker: paho-mqtt's client (callback API 2), and how the link fares.

paho's network loop runs in its own thread and reconnects by itself; ``BrokerLink`` hands
every callback to the asyncio loop and counts what happens (``connections``,
``connect_failures``, ``published``), and since when the link has been up or down, for the
face's status. ``wait_until`` lets a coroutine (a test, the demo) wait for a condition on those
counts.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from ..config.settings import MqttConfig
from ..core.meter_state import Changes

_LOGGER = logging.getLogger(__name__)

RECONNECT_MAX_S: Final = 2
"""The longest wait between two connection attempts (paho doubles from 1 s up to this)."""


def reason_text(err: BaseException | None) -> str:
    """Why a connection attempt failed, in words a person can act on."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS: {err.verify_message or err} (does mqtt.ca_file name the CA that signed the broker's certificate?)"
    if isinstance(err, ssl.SSLError):
        return f"TLS: {err.reason or err}"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (is the broker running, and on this port?)"
    if isinstance(err, OSError):
        return err.strerror or str(err) or type(err).__name__
    return f"{type(err).__name__}: {err}" if err is not None else "unknown reason"


class _Client(mqtt.Client):
    """paho's client, remembering why the last connection attempt failed.

    paho retries a failed connection by itself but hands ``on_connect_fail`` no reason.
    """

    connect_error: BaseException | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as err:
            self.connect_error = err
            raise


class BrokerLink:
    """paho's client for one bridge, its callbacks on the event loop, and the link's state."""

    def __init__(
        self,
        config: MqttConfig,
        loop: asyncio.AbstractEventLoop,
        *,
        will_topic: str,
        will_payload: str,
        on_connected: Callable[[], None],
        on_message: Callable[[str, bytes, bool], None],
    ) -> None:
        self.config = config
        self.loop = loop
        self._on_connected = on_connected
        self._on_message_cb = on_message
        self.ready = asyncio.Event()
        """Set once connected and subscribed (``subscribed``): publishing is allowed."""
        self.connections = 0
        """Times the broker accepted the connection (the first time and each reconnection)."""
        self.connect_failures = 0
        """Connection attempts that failed (broker unreachable or refusing, TLS, login)."""
        self.published = 0
        """Messages handed to the broker connection."""
        self.connected_since: float | None = None
        """Wall-clock time of the current connection (None while there is none)."""
        self.disconnected_since: float | None = time.time()
        """Wall-clock time since when there has been no connection (None while connected)."""
        self.problem: str | None = None
        """Why the last connection attempt failed (None once connected)."""
        self.stopping = False
        self._changes = Changes()
        client = self.client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            context = ssl.create_default_context(cafile=config.ca_file)
            if config.cert_file and config.key_file:
                context.load_cert_chain(config.cert_file, config.key_file)
            if config.tls_insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            client.tls_set_context(context)
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        # Retry within seconds, however long the broker was away (a connection attempt every
        # RECONNECT_MAX_S costs nothing): every meter's state is back within a few seconds of
        # the broker's return, as Home Assistant's and zigbee2mqtt's clients do.
        client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_S)
        client.max_queued_messages_set(10000)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self.disconnected_since is None

    def start(self) -> None:
        """Connect in the background; a broker that is down is retried with backoff, forever."""
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive
        )
        self.client.loop_start()

    async def stop(self) -> None:
        self.stopping = True
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    async def wait_until(self, check: Callable[[], bool]) -> None:
        """Return once ``check()`` holds, checking again whenever ``connections``,
        ``connect_failures`` or ``published`` change."""
        await self._changes.wait_until(check)

    def publish(self, topic: str, payload: str, *, retain: bool = False, qos: int = 1) -> bool:
        """Hand a message to the broker connection; False when there is none (everything is
        published again on the next connection)."""
        # paho says connected as soon as the broker accepted us, in its own thread; publish only
        # once ``_connected`` has subscribed on this loop (``ready``), so that a command sent in
        # answer to something we published is never sent before our subscription.
        if self.stopping or not self.ready.is_set() or not self.client.is_connected():
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.published += 1
            self._changes.notify()
            return True
        _LOGGER.debug("could not publish to %s: %s", topic, mqtt.error_string(info.rc))
        return False

    def subscribed(self, subscriptions: list[tuple[str, int]]) -> None:
        """Subscribe (on a new connection), then allow publishing."""
        self.client.subscribe(subscriptions)
        self.ready.set()

    # -- paho callbacks (its thread) -------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            self._connect_failed(f"the broker refused the connection: {reason}")
            return
        self.loop.call_soon_threadsafe(self._connected)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._connect_failed(f"cannot connect: {reason_text(self.client.connect_error)}")

    def _connect_failed(self, problem: str) -> None:
        # Said once per outage and reason (paho retries every 1..60 s); the rest is debug.
        level = logging.DEBUG if problem == self.problem else logging.WARNING
        _LOGGER.log(level, "MQTT broker %s: %s; retrying with backoff", self.config.url, problem)
        self.problem = problem
        self.loop.call_soon_threadsafe(self._count_connect_failure)

    def _count_connect_failure(self) -> None:
        self.connect_failures += 1
        self._changes.notify()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.loop.call_soon_threadsafe(self._disconnected)
        if not self.stopping and self.problem is None:
            _LOGGER.warning("lost the MQTT broker %s (%s); reconnecting", self.config.url, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.loop.call_soon_threadsafe(
            self._on_message_cb, message.topic, bytes(message.payload), message.retain
        )

    # -- on the event loop -----------------------------------------------------------------

    def _connected(self) -> None:
        if self.stopping:
            return
        _LOGGER.info("connected to MQTT broker %s", self.config.url)
        self.connections += 1
        self.connected_since, self.disconnected_since = time.time(), None
        self.problem = None
        self._changes.notify()
        self._on_connected()

    def _disconnected(self) -> None:
        self.ready.clear()
        if self.disconnected_since is None:
            self.connected_since, self.disconnected_since = None, time.time()
            self._changes.notify()

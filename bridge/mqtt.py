"""Publishing meters over MQTT with Home Assistant discovery (paho-mqtt, callback API 2).

paho's network loop runs in its own thread and reconnects with backoff by itself (1 s, doubling
to 60 s, forever); its callbacks hand everything to the asyncio loop, where the poller and the
publishing state live. (Driving paho from the event loop instead saved no CPU measurably at 500
meters: ``bench/scale.py`` 0.140 and 0.122 CPU-s a cycle against 0.135 and 0.128 with paho's
thread.) See ``mqtt_mapping`` for the topics and payloads.

How the link to the broker fares is counted on the publisher (``connections``,
``connect_failures``, ``published``); ``wait_until`` lets a coroutine (a status page, a test)
wait for a condition on those counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from leviton_driver import LevitonError

from .meter_state import Changes, MeterState
from .mqtt_mapping import OFFLINE, ONLINE, PRESS, Topics, discovery_messages, state_payload
from .settings import MeterConfig, MqttConfig

_LOGGER = logging.getLogger(__name__)

ResetHandler = Callable[[MeterState], Any]


def _reason_text(err: BaseException | None) -> str:
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


class MqttPublisher:
    """A ``MeterListener`` that publishes to MQTT and takes demand-reset commands."""

    def __init__(
        self,
        config: MqttConfig,
        meters: list[MeterConfig],
        loop: asyncio.AbstractEventLoop,
        reset: Callable[[MeterState], Any],
    ) -> None:
        self.config = config
        self.topics = Topics(config)
        self.loop = loop
        self.reset = reset
        self.states: dict[str, MeterState] = {}
        self.configured = {meter.meter_id for meter in meters}
        self.connected = asyncio.Event()
        self.connections = 0
        """Times the broker accepted the connection (the first time and each reconnection)."""
        self.connect_failures = 0
        """Connection attempts that failed (broker unreachable or refusing, TLS, login)."""
        self.published = 0
        """Messages handed to the broker connection."""
        # -- link state, read by /healthz and the status page -------------------------------
        self.connected_since: float | None = None
        """Monotonic time of the current connection to the broker (None while there is none)."""
        self.disconnected_since: float | None = time.monotonic()
        """Monotonic time since when there has been no connection (None while connected)."""
        self._changes = Changes()
        self.lags: deque[float] = deque(maxlen=100_000)
        """Seconds from each read to its publish (the newest, for the benchmark)."""
        self._stopping = False
        self._availability: dict[str, str] = {}
        """What each meter's availability topic says now (as far as this connection knows)."""
        self._point_topics: dict[str, dict[int, str]] = {}
        """Discovery topics of metering points found on the broker, per meter: checked once
        the meter says how many points it has."""
        self._cleared: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._connect_problem: str | None = None
        self.client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if config.username:
            self.client.username_pw_set(config.username, config.password)
        if config.tls:
            context = ssl.create_default_context(cafile=config.ca_file)
            if config.cert_file and config.key_file:
                context.load_cert_chain(config.cert_file, config.key_file)
            if config.tls_insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self.client.tls_set_context(context)
        self.client.will_set(self.topics.bridge_status, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.max_queued_messages_set(10000)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; a broker that is down is retried with backoff, forever."""
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive
        )
        self.client.loop_start()

    async def wait_until(self, check: Callable[[], bool]) -> None:
        """Return once ``check()`` holds, checking again whenever ``connections``,
        ``connect_failures`` or ``published`` change."""
        await self._changes.wait_until(check)

    async def announce_offline(self) -> None:
        """Say offline (retained) before anything else stops; publish nothing after this."""
        if self._stopping:
            return
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if not self.client.is_connected():
            return
        for meter_id in self.states:
            self.client.publish(self.topics.availability(meter_id), OFFLINE, qos=1, retain=True)
        info = self.client.publish(self.topics.bridge_status, OFFLINE, qos=1, retain=True)
        try:
            await asyncio.wait_for(asyncio.to_thread(info.wait_for_publish, 3), 4)
        except (TimeoutError, RuntimeError, ValueError):
            _LOGGER.warning("could not confirm the offline message before stopping")

    async def stop(self) -> None:
        """Say offline (if not said yet) and disconnect cleanly."""
        await self.announce_offline()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    # -- paho callbacks (its thread) -------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            self._connect_failed(f"the broker refused the connection: {reason}")
            return
        self.loop.call_soon_threadsafe(self._connected)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._connect_failed(f"cannot connect: {_reason_text(self.client.connect_error)}")

    def _connect_failed(self, problem: str) -> None:
        # Said once per outage and reason (paho retries every 1..60 s); the rest is debug.
        level = logging.DEBUG if problem == self._connect_problem else logging.WARNING
        _LOGGER.log(level, "MQTT broker %s: %s; retrying with backoff", self.config.url, problem)
        self._connect_problem = problem
        self.loop.call_soon_threadsafe(self._count_connect_failure)

    def _count_connect_failure(self) -> None:
        self.connect_failures += 1
        self._changes.notify()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.loop.call_soon_threadsafe(self.connected.clear)
        self.loop.call_soon_threadsafe(self._note_disconnected)  # link state
        if not self._stopping and self._connect_problem is None:
            _LOGGER.warning("lost the MQTT broker %s (%s); reconnecting", self.config.url, reason)

    # -- link state, read by /healthz and the status page ------------------------------------

    def _note_disconnected(self) -> None:
        if self.disconnected_since is None:
            self.connected_since, self.disconnected_since = None, time.monotonic()

    @property
    def connect_problem(self) -> str | None:
        """Why the last connection attempt failed (None once connected)."""
        return self._connect_problem

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.loop.call_soon_threadsafe(
            self._message, message.topic, bytes(message.payload), message.retain
        )

    # -- on the event loop -----------------------------------------------------------------

    def _connected(self) -> None:
        if self._stopping:
            return
        _LOGGER.info("connected to MQTT broker %s", self.config.url)
        self.connections += 1
        self.connected_since, self.disconnected_since = time.monotonic(), None  # link state
        self._changes.notify()
        self._connect_problem = None
        self._availability.clear()
        self._cleared.clear()
        self.client.subscribe(
            [
                (self.topics.homeassistant_status, 1),
                (self.topics.command_wildcard, 2),
                (self.topics.discovery_wildcard, 1),
            ]
        )
        self.connected.set()
        self.publish_all()

    def publish_all(self) -> None:
        """Birth, discovery, availability and current state: on every (re)connect and HA birth."""
        self._publish(self.topics.bridge_status, ONLINE, retain=True)
        for state in self.states.values():
            self._publish_meter(state)

    def _publish_meter(self, state: MeterState) -> None:
        for topic, payload in discovery_messages(self.topics, state).items():
            self._publish(topic, json.dumps(payload), retain=True)
        self._publish_availability(state, force=True)
        if state.snapshot is not None and state.available:
            self._publish_state(state)

    def _publish_availability(self, state: MeterState, *, force: bool = False) -> None:
        value = ONLINE if state.available else OFFLINE
        if not force and self._availability.get(state.meter_id) == value:
            return
        if self._publish(self.topics.availability(state.meter_id), value, retain=True):
            self._availability[state.meter_id] = value

    def _publish_state(self, state: MeterState) -> None:
        assert state.snapshot is not None
        # QoS 0: a state is retained and published again at every poll and every reconnect,
        # so the broker's acknowledgement buys nothing; it cost a fifth of the bridge's CPU at
        # 500 meters (bench/scale.py).
        published = self._publish(
            self.topics.state(state.meter_id), state_payload(state), retain=True, qos=0
        )
        if published and state.read_at is not None:
            self.lags.append(time.monotonic() - state.read_at)

    def _publish(self, topic: str, payload: str, *, retain: bool = False, qos: int = 1) -> bool:
        # paho says connected as soon as the broker accepted us, in its own thread; publish only
        # once ``_connected`` has subscribed on this loop (``connected``), so that a command
        # sent in answer to something we published is never sent before our subscription.
        # Everything is published again then, and on every reconnect.
        if self._stopping or not self.connected.is_set() or not self.client.is_connected():
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.published += 1
            self._changes.notify()
            return True
        _LOGGER.debug("could not publish to %s: %s", topic, mqtt.error_string(info.rc))
        return False

    def _message(self, topic: str, payload: bytes, retained: bool) -> None:
        if self._stopping:
            return
        if topic == self.topics.homeassistant_status:
            # A retained birth is an old one (Home Assistant's own is not retained): it arrives
            # when we subscribe, right after we published everything anyway.
            if payload.decode(errors="replace") == ONLINE and not retained:
                _LOGGER.info("Home Assistant is online: publishing discovery and state again")
                self.publish_all()
            return
        if topic.startswith(f"{self.topics.discovery_prefix}/device/"):
            self._discovery_seen(topic, payload)
            return
        meter_id = self.topics.meter_id_of_command(topic)
        if meter_id is None or not payload:
            return  # an empty message: a retained command being cleared
        # A command published with retain while we are subscribed arrives with retain=0, but
        # the broker keeps it and would hand it over again at every restart: clear the topic
        # after every command (an empty retained message clears nothing else).
        self._publish(topic, "", retain=True)
        if retained:
            # A retained command would fire again on every restart: never act on one.
            _LOGGER.warning(
                "ignored a retained command on %s (send commands without retain); cleared it",
                topic,
            )
            return
        state = self.states.get(meter_id)
        text = payload.decode(errors="replace").strip()
        problem = None
        if meter_id not in self.configured:
            problem = f"unknown meter {meter_id!r}"
        elif state is None:
            problem = "the meter has not answered yet"
        elif not state.can_reset_demand:
            problem = "this meter has no documented peak-demand reset"
        elif text != PRESS:
            problem = f"expected {PRESS}, got {text[:40]!r}"
        if problem is not None or state is None:
            _LOGGER.warning("peak-demand reset on %s refused: %s", topic, problem)
            self._publish(
                self.topics.reset_result(meter_id),
                json.dumps({"ok": False, "error": problem, "time": _now()}),
            )
            return
        task = self.loop.create_task(self._reset(state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reset(self, state: MeterState) -> None:
        result: dict[str, Any] = {}
        try:
            outcome = await self.reset(state)
        except LevitonError as err:
            result = {"ok": False, "error": str(err)}
            _LOGGER.warning("peak-demand reset of %s failed: %s", state.config.name, err)
        except Exception as err:  # say so on the result topic, and keep running
            _LOGGER.exception("peak-demand reset of %s failed", state.config.name)
            result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        else:
            done = outcome.result
            if not outcome.coalesced:
                _LOGGER.info(
                    "%s: peak demand reset (counter %s -> %s)",
                    state.config.name,
                    done.count_before,
                    done.count_after,
                )
            result = outcome.as_dict()
        result["time"] = _now()
        self._publish(self.topics.reset_result(state.meter_id), json.dumps(result))

    def _discovery_seen(self, topic: str, payload: bytes) -> None:
        """A discovery message on the broker: clear it if it is ours and no longer wanted."""
        if not payload:
            return
        try:
            config = json.loads(payload)
        except ValueError:
            return
        meter_id = self.topics.meter_id_of_state(
            config.get("state_topic") if isinstance(config, dict) else None
        )
        if meter_id is None:
            return  # not one of this bridge's
        if meter_id not in self.configured:
            self._clear_meter(meter_id, topic)
            return
        object_id = topic.split("/")[-2]
        meter_object_id = self.topics.object_id(meter_id)
        if object_id == meter_object_id:
            return
        point = object_id.removeprefix(f"{meter_object_id}_p")
        if object_id.startswith(f"{meter_object_id}_p") and point.isdigit():
            self._point_topics.setdefault(meter_id, {})[int(point)] = topic
            self._clear_stale_points(meter_id)
            return
        # Ours (its state topic says so) under an id this bridge no longer uses.
        _LOGGER.info("clearing discovery of %s, which this bridge no longer uses", object_id)
        self._publish(topic, "", retain=True)

    def _clear_meter(self, meter_id: str, topic: str) -> None:
        _LOGGER.info("clearing %s: meter %s is no longer configured", topic, meter_id)
        self._publish(topic, "", retain=True)
        if meter_id not in self._cleared:
            self._cleared.add(meter_id)
            self._publish(self.topics.state(meter_id), "", retain=True)
            self._publish(self.topics.availability(meter_id), "", retain=True)

    def _clear_stale_points(self, meter_id: str) -> None:
        state = self.states.get(meter_id)
        if state is None or state.meter is None or state.identity is None:
            return  # checked again once the meter is identified
        points = state.meter.points
        for point, topic in list(self._point_topics.get(meter_id, {}).items()):
            if point > points:
                _LOGGER.info("clearing %s: %s has %d points", topic, state.config.name, points)
                self._publish(topic, "", retain=True)
            del self._point_topics[meter_id][point]

    # -- MeterListener ---------------------------------------------------------------------

    def meter_identified(self, state: MeterState) -> None:
        self.states[state.meter_id] = state
        for topic, payload in discovery_messages(self.topics, state).items():
            self._publish(topic, json.dumps(payload), retain=True)
        self._clear_stale_points(state.meter_id)

    def meter_updated(self, state: MeterState) -> None:
        if state.meter_id not in self.states:
            self.states[state.meter_id] = state
            self._publish_meter(state)
            return
        self._publish_availability(state)
        if state.snapshot is not None:
            self._publish_state(state)

    def meter_unavailable(self, state: MeterState) -> None:
        if state.meter_id not in self.states:
            self.states[state.meter_id] = state
            self._publish_meter(state)
            return
        self._publish_availability(state)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")

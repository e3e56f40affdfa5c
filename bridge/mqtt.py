"""Publishing meters over MQTT with Home Assistant discovery (paho-mqtt, callback API 2).

paho's network loop runs in its own thread and reconnects with backoff by itself; its callbacks
hand everything to the asyncio loop, where the poller and the publishing state live.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
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

from .config import MeterConfig, MqttConfig
from .mqtt_mapping import OFFLINE, ONLINE, PRESS, Topics, discovery_messages, state_payload
from .poller import MeterState

_LOGGER = logging.getLogger(__name__)
_OBJECT_ID = re.compile(r"^(?P<meter>.+_u\d+)(?:_p(?P<point>\d+))?$")

ResetHandler = Callable[[MeterState], Any]


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
        self.published = 0
        self.lags: deque[float] = deque(maxlen=100_000)
        """Seconds from each read to its publish (the newest, for the benchmark)."""
        self._stopping = False
        self.client = mqtt.Client(
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
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; a broker that is down is retried with backoff, forever."""
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive
        )
        self.client.loop_start()

    async def stop(self) -> None:
        """Say offline (retained) and disconnect cleanly."""
        self._stopping = True
        if self.client.is_connected():
            for meter_id in self.states:
                self.client.publish(self.topics.availability(meter_id), OFFLINE, qos=1, retain=True)
            info = self.client.publish(self.topics.bridge_status, OFFLINE, qos=1, retain=True)
            try:
                await asyncio.wait_for(asyncio.to_thread(info.wait_for_publish, 3), 4)
            except (TimeoutError, RuntimeError, ValueError):
                _LOGGER.warning("could not confirm the offline message before stopping")
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    # -- paho callbacks (its thread) -------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            _LOGGER.error("MQTT broker %s refused the connection: %s", self.config.url, reason)
            return
        self.loop.call_soon_threadsafe(self._connected)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.loop.call_soon_threadsafe(self.connected.clear)
        if not self._stopping:
            _LOGGER.warning("lost the MQTT broker %s (%s); reconnecting", self.config.url, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.loop.call_soon_threadsafe(
            self._message, message.topic, bytes(message.payload), message.retain
        )

    # -- on the event loop -----------------------------------------------------------------

    def _connected(self) -> None:
        _LOGGER.info("connected to MQTT broker %s", self.config.url)
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
        self._publish(
            self.topics.availability(state.meter_id),
            ONLINE if state.available else OFFLINE,
            retain=True,
        )
        if state.snapshot is not None and state.available:
            self._publish(
                self.topics.state(state.meter_id), state_payload(state.snapshot), retain=True
            )

    def _publish(self, topic: str, payload: str, *, retain: bool = False, qos: int = 1) -> None:
        if not self.client.is_connected():
            return  # everything is published again on reconnect
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.published += 1

    def _message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic == self.topics.homeassistant_status:
            if payload.decode(errors="replace") == ONLINE:
                _LOGGER.info("Home Assistant is online: publishing discovery and state again")
                self.publish_all()
            return
        if topic.startswith(f"{self.topics.discovery_prefix}/device/"):
            self._clear_if_stale(topic, payload)
            return
        meter_id = self.topics.meter_id_of_command(topic)
        if meter_id is None:
            return
        if retained:
            # A retained command would fire again on every restart: never act on one.
            _LOGGER.warning("ignored a retained command on %s; send commands without retain", topic)
            return
        state = self.states.get(meter_id)
        text = payload.decode(errors="replace").strip()
        if state is None or text != PRESS:
            self._publish(
                self.topics.reset_result(meter_id),
                json.dumps(
                    {
                        "ok": False,
                        "error": "unknown meter" if state is None else f"expected {PRESS}",
                    }
                ),
            )
            return
        self.loop.create_task(self._reset(state))

    async def _reset(self, state: MeterState) -> None:
        result: dict[str, Any] = {"time": datetime.now(UTC).isoformat(timespec="seconds")}
        try:
            outcome = await self.reset(state)
        except LevitonError as err:
            result |= {"ok": False, "error": str(err)}
            _LOGGER.warning("peak-demand reset of %s failed: %s", state.config.name, err)
        else:
            result |= {
                "ok": True,
                "reset_count_before": outcome.count_before,
                "reset_count_after": outcome.count_after,
                "peak_demand_before": outcome.peak_demand_before,
                "peak_demand_after": outcome.peak_demand_after,
            }
        self._publish(self.topics.reset_result(state.meter_id), json.dumps(result))

    def _clear_if_stale(self, topic: str, payload: bytes) -> None:
        """Empty the retained discovery of meters (or points) no longer configured."""
        object_id = topic.split("/")[-2]
        if not payload or not object_id.startswith(self.topics.id_prefix):
            return
        match = _OBJECT_ID.match(object_id.removeprefix(self.topics.id_prefix))
        if match is None:
            return
        meter_id, point = match["meter"], match["point"]
        stale = meter_id not in self.configured
        state = self.states.get(meter_id)
        if not stale and point is not None and state is not None and state.identity is not None:
            stale = int(point) > (state.identity.points or 0)
        if stale:
            _LOGGER.info("clearing discovery of %s, which is no longer configured", object_id)
            self._publish(topic, "", retain=True)

    # -- MeterListener ---------------------------------------------------------------------

    def meter_identified(self, state: MeterState) -> None:
        self.states[state.meter_id] = state
        for topic, payload in discovery_messages(self.topics, state).items():
            self._publish(topic, json.dumps(payload), retain=True)

    def meter_updated(self, state: MeterState) -> None:
        first = state.meter_id not in self.states
        self.states[state.meter_id] = state
        if first:
            self._publish_meter(state)
            return
        self._publish(self.topics.availability(state.meter_id), ONLINE, retain=True)
        if state.snapshot is not None:
            self._publish(
                self.topics.state(state.meter_id), state_payload(state.snapshot), retain=True
            )
            if state.read_at is not None:
                self.lags.append(time.monotonic() - state.read_at)

    def meter_unavailable(self, state: MeterState) -> None:
        if state.meter_id not in self.states:
            self.states[state.meter_id] = state
            self._publish_meter(state)
            return
        self._publish(self.topics.availability(state.meter_id), OFFLINE, retain=True)

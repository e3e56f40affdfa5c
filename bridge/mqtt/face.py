"""The MQTT face: every meter published with Home Assistant discovery, and its commands taken.

``MqttFace`` hears from the poller (a ``MeterListener``) and publishes each meter's
availability and state as they change, and everything again on every (re)connection and
whenever Home Assistant says it is online. ``mapping`` holds the topics and payloads,
``link`` the broker connection, ``commands`` the reset command, ``cleanup`` the clearing of
discovery this bridge no longer wants.

(Driving paho from the event loop instead of its own thread saved no CPU measurably at 500
meters: ``bench/scale.py`` 0.140 and 0.122 CPU-s a cycle against 0.135 and 0.128.)
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..config.settings import MqttConfig
from ..core.codec import dumps, state_text
from ..core.faces import FaceStatus, Figure
from ..core.meter_state import MeterState
from .cleanup import DiscoveryCleanup
from .commands import Commands
from .link import BrokerLink
from .mapping import OFFLINE, ONLINE, Topics, discovery_messages
from .seeds import saved_totals

if TYPE_CHECKING:
    from ..core.bridge import BridgeCore

_LOGGER = logging.getLogger(__name__)

REPUBLISH_DELAY_S: Final = (0.5, 2.5)
"""After Home Assistant's birth, everything is published again once it has been quiet for a
random delay in this range (bridges sharing a broker spread out): a storm of births is one
republish, at most ``REPUBLISH_MAX_WAIT_S`` after the storm began."""
REPUBLISH_MAX_WAIT_S: Final = 10.0
SEED_WAIT_S: Final = 5.0
"""How long the start waits for the broker to read the totals last published (a broker that is
down at start delays polling by this much at most)."""


class MqttFace:
    """Publishes the meters to MQTT and takes their demand-reset commands."""

    def __init__(
        self, core: BridgeCore, config: MqttConfig, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.core = core
        self.config = config
        self.topics = Topics(config)
        self.states: dict[str, MeterState] = {}
        """The meters this face has heard of from the poller (it publishes only those)."""
        self._stopping = False
        self._republish: asyncio.TimerHandle | None = None
        self._storm_began = 0.0
        self.births = 0
        """Home Assistant births (``online``) heard."""
        self.republished = 0
        """Times everything was published again for them."""
        self._retained: dict[str, bytes] | None = None
        """While the start reads the states last published: what came, by meter."""
        self._marker: tuple[str, asyncio.Event] | None = None
        self._availability: dict[str, str] = {}
        """What each meter's availability topic says now (as far as this connection knows)."""
        self.link = BrokerLink(
            config,
            loop,
            will_topic=self.topics.bridge_status,
            will_payload=OFFLINE,
            on_connected=self._connected,
            on_message=self._message,
        )
        self.commands = Commands(core, self.topics, self.link.publish)
        self.cleanup = DiscoveryCleanup(
            self.topics,
            {state.meter_id for state in core.states},
            core.state,
            self.link.publish,
        )

    # -- what tests, the demo and the benchmarks look at ---------------------------------------

    @property
    def connections(self) -> int:
        return self.link.connections

    @property
    def connect_failures(self) -> int:
        return self.link.connect_failures

    @property
    def published(self) -> int:
        return self.link.published

    @property
    def disconnected_since(self) -> float | None:
        return self.link.disconnected_since

    @property
    def connected(self) -> asyncio.Event:
        """Set while connected and subscribed."""
        return self.link.ready

    async def wait_until(self, check: Callable[[], bool]) -> None:
        await self.link.wait_until(check)

    # -- Face ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (a broker that is down is retried, forever, in the background), and read
        back the totals last published, for the core to seed its guards before polling."""
        self.link.start()
        await self._seed_from_retained()

    async def _seed_from_retained(self) -> None:
        """The retained state of every meter, read once: subscribe, then a marker of our own
        comes back after every retained message (the broker queues those first)."""
        try:
            await asyncio.wait_for(self.link.ready.wait(), SEED_WAIT_S)
        except TimeoutError:
            _LOGGER.info(
                "MQTT broker %s not reached within %g s: the totals last shown come from the "
                "state file only",
                self.config.url,
                SEED_WAIT_S,
            )
            return
        marker = f"{self.topics.base}/bridge/seeded/{secrets.token_hex(6)}"
        done = asyncio.Event()
        self._retained, self._marker = {}, (marker, done)
        states = self.topics.state("+")
        client = self.link.client
        try:
            client.subscribe([(states, 1), (marker, 1)])
            client.publish(marker, "", qos=1)
            await asyncio.wait_for(done.wait(), SEED_WAIT_S)
        except TimeoutError:
            _LOGGER.info("the states last published did not come back in time; not used")
            return
        finally:
            client.unsubscribe([states, marker])
            retained, self._retained, self._marker = self._retained or {}, None, None
        for meter_id, payload in retained.items():
            saved = saved_totals(payload)
            if saved is not None:
                self.core.seed(meter_id, saved)

    async def stop(self) -> None:
        """Say offline (retained; nothing is published after it) and disconnect cleanly."""
        await self.announce_offline()
        if self.commands.tasks:
            await asyncio.gather(*self.commands.tasks, return_exceptions=True)
        await self.link.stop()

    async def announce_offline(self) -> None:
        """Say offline (retained) before anything else stops; publish nothing after this."""
        if self._stopping:
            return
        self._stopping = True
        self.commands.cancel()
        if self._republish is not None:
            self._republish.cancel()
            self._republish = None
        link = self.link
        if not link.client.is_connected():
            return
        for meter_id in self.states:
            link.client.publish(self.topics.availability(meter_id), OFFLINE, qos=1, retain=True)
        info = link.client.publish(self.topics.bridge_status, OFFLINE, qos=1, retain=True)
        try:
            await asyncio.wait_for(asyncio.to_thread(info.wait_for_publish, 3), 4)
        except (TimeoutError, RuntimeError, ValueError):
            _LOGGER.warning("could not confirm the offline message before stopping")

    def status(self) -> FaceStatus:
        link, url = self.link, self.config.url
        up = link.connected
        summary = f"connected to {url}" if up else f"not connected to {url}"
        reconnects = max(0, link.connections - 1)
        return FaceStatus(
            key="mqtt",
            title="MQTT",
            up=up,
            since=link.connected_since if up else link.disconnected_since,
            summary=summary,
            problem=None if up else (link.problem or "the connection was lost"),
            details={
                "url": url,
                "connected": up,
                "published": link.published,
                "reconnects": reconnects,
            },
            figures=(
                Figure("leviton_mqtt_connected", "1 while connected to the MQTT broker", up),
                Figure(
                    "leviton_mqtt_published_messages",
                    "Messages handed to the broker connection",
                    link.published,
                    counter=True,
                ),
                Figure(
                    "leviton_mqtt_reconnects",
                    "Connections to the broker after the first",
                    reconnects,
                    counter=True,
                ),
                Figure(
                    "leviton_mqtt_connect_failures",
                    "Connection attempts that failed",
                    link.connect_failures,
                    counter=True,
                ),
                Figure(
                    "leviton_mqtt_commands_refused",
                    "Commands refused (not PRESS, retained, an unknown meter)",
                    self.commands.refused,
                    counter=True,
                ),
                Figure(
                    "leviton_mqtt_homeassistant_births",
                    "Home Assistant births heard (each storm of them is one republish)",
                    self.births,
                    counter=True,
                ),
                Figure(
                    "leviton_mqtt_republishes",
                    "Times discovery and state were published again for Home Assistant",
                    self.republished,
                    counter=True,
                ),
            ),
        )

    # -- publishing ----------------------------------------------------------------------------

    def _publish(self, topic: str, payload: str, *, retain: bool = False, qos: int = 1) -> bool:
        if self._stopping:
            return False
        return self.link.publish(topic, payload, retain=retain, qos=qos)

    def _connected(self) -> None:
        if self._stopping:
            return
        self._availability.clear()
        self.cleanup.reconnected()
        self.link.subscribed(
            [
                (self.topics.homeassistant_status, 1),
                (self.topics.command_wildcard, 2),
                (self.topics.discovery_wildcard, 1),
            ]
        )
        self.publish_all()

    def _republish_soon(self) -> None:
        """Home Assistant is online: everything again, once, when births have been quiet for
        ``REPUBLISH_DELAY_S`` (the jitter spreads the bridges on one broker), at most
        ``REPUBLISH_MAX_WAIT_S`` after the first: a storm of births is one republish."""
        self.births += 1
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._republish is None:
            self._storm_began = now
        else:
            self._republish.cancel()
        at = min(now + random.uniform(*REPUBLISH_DELAY_S), self._storm_began + REPUBLISH_MAX_WAIT_S)
        self._republish = loop.call_at(at, self._republish_now)

    def _republish_now(self) -> None:
        self._republish = None
        self.republished += 1
        _LOGGER.info("Home Assistant is online: publishing discovery and state again")
        self.publish_all()

    def publish_all(self) -> None:
        """Birth, discovery, availability and current state: on every (re)connect and HA birth."""
        self._publish(self.topics.bridge_status, ONLINE, retain=True)
        for state in self.states.values():
            self._publish_meter(state)

    def _publish_meter(self, state: MeterState) -> None:
        self._publish_discovery(state)
        self._publish_availability(state, force=True)
        if state.snapshot is not None and state.available:
            self._publish_state(state)

    def _publish_discovery(self, state: MeterState) -> None:
        for topic, payload in discovery_messages(self.topics, state).items():
            self._publish(topic, dumps(payload, compact=True), retain=True)

    def _publish_availability(self, state: MeterState, *, force: bool = False) -> None:
        value = ONLINE if state.available else OFFLINE
        if not force and self._availability.get(state.meter_id) == value:
            return
        if self._publish(self.topics.availability(state.meter_id), value, retain=True):
            self._availability[state.meter_id] = value

    def _publish_state(self, state: MeterState) -> None:
        snapshot = state.snapshot
        assert snapshot is not None
        # QoS 0: a state is retained and published again at every poll and every reconnect,
        # so the broker's acknowledgement buys nothing; it cost a fifth of the bridge's CPU at
        # 500 meters (bench/scale.py).
        self._publish(
            self.topics.state(state.meter_id),
            state_text(snapshot, state.points_json()),
            retain=True,
            qos=0,
        )

    def _message(self, topic: str, payload: bytes, retained: bool) -> None:
        if self._stopping:
            return
        if self._marker is not None:  # the start reads back the states last published
            marker, done = self._marker
            if topic == marker:
                done.set()
                return
            meter_id = self.topics.meter_id_of_state(topic)
            if meter_id is not None and self._retained is not None:
                if retained and payload:
                    self._retained[meter_id] = payload
                return
        if topic == self.topics.homeassistant_status:
            # A retained birth is an old one (Home Assistant's own is not retained): it arrives
            # when we subscribe, right after we published everything anyway.
            if payload.decode(errors="replace") == ONLINE and not retained:
                self._republish_soon()
            return
        if topic.startswith(f"{self.topics.discovery_prefix}/device/"):
            self.cleanup.seen(topic, payload)
            return
        self.commands.handle(topic, payload, retained)

    # -- MeterListener ---------------------------------------------------------------------

    def meter_identified(self, state: MeterState) -> None:
        self.states[state.meter_id] = state
        self._publish_discovery(state)
        self.cleanup.clear_stale_points(state.meter_id)

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

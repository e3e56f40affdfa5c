"""MQTT fixtures: a real mosquitto broker, a test client that records what it sees, the bridge.

Every test runs the bridge against a mosquitto started for it (anonymous, or with a password
file, or TLS with a CA made in the test) and meters simulated on loopback. The bridge runs in the
test's own event loop (``run_bridge``), or as a real ``leviton-bridge run`` process
(``bridge_process``) where a signal or ``kill -9`` is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import itertools
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from leviton_bridge.core.meter_state import CycleReport
from leviton_bridge.daemon import Bridge
from tests.support import PATIENCE
from tests.support.bridge_process import BridgeProcess
from tests.support.inprocess import start_simulator
from tests.support.mosquitto import Broker, StartBroker, mosquitto, start_broker
from tests.support.running import RunBridge, RunningBridge, run_bridge

# Fixtures defined in support and used by the tests here.
__all__ = [
    "BridgeProcess",
    "Broker",
    "RunBridge",
    "RunningBridge",
    "StartBroker",
    "mosquitto",
    "run_bridge",
    "start_broker",
    "start_simulator",
]

_client_ids = itertools.count(1)


# -- a test client that records everything ---------------------------------------------------


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool
    qos: int

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A paho client (callback API 2) subscribed to ``topics``, keeping every message it
    receives in order. A position in that log (``mark()``) says "after this point"."""

    def __init__(
        self, broker: Broker, topics: list[str], name: str = "watcher", qos: int = 2
    ) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self._news = asyncio.Event()  # replaced after each arrival: waiters hold the old one
        self._subscribed = asyncio.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{name}-{os.getpid()}-{next(_client_ids)}",
        )
        self.client.on_connect = lambda client, *_: client.subscribe([(t, qos) for t in topics])
        self.client.on_subscribe = lambda *_: self._loop.call_soon_threadsafe(self._subscribed.set)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        broker.prepare(self.client)
        self.client.connect_async(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(
                Message(
                    message.topic,
                    message.payload.decode(errors="replace"),
                    bool(message.retain),
                    message.qos,
                )
            )
        with contextlib.suppress(RuntimeError):  # the test's loop is gone: nobody waits
            self._loop.call_soon_threadsafe(self._arrived)

    def _arrived(self) -> None:
        news, self._news = self._news, asyncio.Event()
        news.set()

    async def subscribed(self, within: float = PATIENCE) -> Watcher:
        try:
            await asyncio.wait_for(self._subscribed.wait(), within)
        except TimeoutError:
            raise AssertionError("the test client could not subscribe") from None
        return self

    def mark(self) -> int:
        """The position after the last message received so far (for ``since=``)."""
        with self._lock:
            return len(self.messages)

    def all(self, topic: str | None = None, *, since: int = 0) -> list[Message]:
        """Messages received (on ``topic``), from position ``since`` on."""
        with self._lock:
            return [m for m in self.messages[since:] if topic is None or m.topic == topic]

    def last(self, topic: str) -> Message | None:
        found = self.all(topic)
        return found[-1] if found else None

    def current(self) -> dict[str, Message]:
        """Each topic's last message, without topics whose last message is empty."""
        latest: dict[str, Message] = {}
        for message in self.all():
            latest[message.topic] = message
        return {topic: m for topic, m in latest.items() if m.payload}

    async def wait_until(
        self, check: Callable[[], bool], what: str, *, within: float = PATIENCE
    ) -> None:
        """Wait until ``check()`` holds, checking again as each message arrives."""
        deadline = self._loop.time() + within
        while True:
            news = self._news
            if check():
                return
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {within:g} s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(news.wait(), remaining)

    async def wait_for(
        self,
        topic: str,
        check: Callable[[Message], bool] = lambda _m: True,
        *,
        since: int = 0,
        within: float = PATIENCE,
        what: str = "",
    ) -> Message:
        """The first message on ``topic`` (from position ``since`` on) that passes ``check``."""
        found: list[Message] = []

        def arrived() -> bool:
            found.extend(m for m in self.all(topic, since=since) if check(m))
            return bool(found)

        try:
            await self.wait_until(arrived, f"a message on {topic} {what}", within=within)
        except AssertionError:
            seen = [m.payload[:120] for m in self.all(topic)][-5:]
            raise AssertionError(
                f"no message on {topic} {what} within {within} s; last seen: {seen}"
            ) from None
        return found[0]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watch() -> Iterator[Callable[..., Awaitable[Watcher]]]:
    """``await watch(broker)``: a subscribed recording client; stopped at teardown."""
    watchers: list[Watcher] = []

    async def start(broker: Broker, topics: str = "#") -> Watcher:
        watcher = Watcher(broker, [topics], name=f"w{len(watchers)}")
        watchers.append(watcher)
        return await watcher.subscribed()

    yield start
    for watcher in watchers:
        watcher.stop()


async def retained(broker: Broker, topics: str = "#") -> dict[str, Message]:
    """What a newcomer sees: the retained message of every topic (empty ones are none).

    The broker queues a new subscription's retained messages before anything published after
    the subscription, so once a marker that the newcomer publishes after subscribing has come
    back, it has them all. (At QoS 1 at most: paho hands a QoS 2 message over only after one
    more exchange with the broker, so it could come after the marker.)
    """
    marker = f"test/retained-marker/{os.getpid()}-{next(_client_ids)}"
    watcher = Watcher(broker, [topics, marker], name="newcomer", qos=1)
    try:
        await watcher.subscribed()
        watcher.client.publish(marker, "end", qos=1)
        await watcher.wait_for(marker, what="(the newcomer's marker)")
        return {m.topic: m for m in watcher.all() if m.retain}
    finally:
        watcher.stop()


async def publish(
    broker: Broker, topic: str, payload: str, *, qos: int = 2, retain: bool = False
) -> None:
    """Publish one message and wait until the broker has it."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"test-pub-{os.getpid()}-{next(_client_ids)}"
    )
    broker.prepare(client)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=qos, retain=retain)
        await asyncio.to_thread(info.wait_for_publish, PATIENCE)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


async def refused_command(broker: Broker, watcher: Watcher, meter_id: str = "lab_u1") -> None:
    """A barrier: send the bridge a command it refuses, and wait for the refusal.

    The bridge handles its messages in the order the broker delivers them, so once the refusal
    is back it has handled every message published before this one.
    """
    since = watcher.mark()
    await publish(broker, f"leviton/{meter_id}/reset_peak_demand/set", "barrier", qos=2)
    result = await watcher.wait_for(
        f"leviton/{meter_id}/reset_peak_demand/result", since=since, what="(the barrier)"
    )
    assert result.json()["error"] == "expected PRESS, got 'barrier'", result.payload


# -- the bridge ------------------------------------------------------------------------------


def bus(name: str, url: str, *units: int | dict[str, Any], interval: float = 0.5) -> dict[str, Any]:
    """A bus section; a unit is a number or a meter mapping."""
    meters = [u if isinstance(u, dict) else {"unit": u} for u in units]
    return {"name": name, "connect": url, "poll_interval": interval, "meters": meters}


def bridge_config(broker: Broker, *buses: dict[str, Any], **mqtt_options: Any) -> dict[str, Any]:
    return {
        "buses": list(buses),
        "mqtt": {"url": broker.url, "client_id": f"bridge-{broker.port}", **mqtt_options},
        "log_level": "debug",
    }


def fast(url: str, timeout: float = 0.3) -> str:
    """A connection URL with a short answer timeout."""
    return f"{url}{'&' if '?' in url else '?'}timeout={timeout}"


def record_cycles(reports: list[CycleReport]) -> Callable[[Bridge], None]:
    """A ``prepare`` for ``run_bridge``: every cycle report of the bridge's first bus goes to
    ``reports``, in order, from the first cycle on."""

    def prepare(bridge: Bridge) -> None:
        bridge.pollers[0].cycle_listeners.append(reports.append)

    return prepare


StartBridgeProcess = Callable[[dict[str, Any]], BridgeProcess]


@pytest.fixture
def bridge_process(tmp_path: Path) -> Iterator[StartBridgeProcess]:
    """``bridge_process(config)``: ``leviton-bridge -v run --config FILE`` as a real process."""
    processes: list[BridgeProcess] = []

    def start(config: dict[str, Any]) -> BridgeProcess:
        handle = BridgeProcess.start(config, tmp_path, name=f"bridge-{len(processes)}")
        processes.append(handle)
        return handle

    yield start
    for handle in processes:
        handle.kill()


# -- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def _pem(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_pki(folder: Path) -> Pki:
    """A self-signed CA, and a server (127.0.0.1, localhost) and a client certificate it signed."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leviton test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def issue(
        name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return _pem(folder, name, builder.sign(ca_key, hashes.SHA256()), key)

    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert, key = issue(
        "server",
        x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_cert, client_key = issue("client", x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return Pki(ca_path, cert, key, client_cert, client_key)

"""MQTT fixtures: a real mosquitto broker, a test client that records what it sees, the bridge.

Every test runs the bridge against a mosquitto started for it (anonymous, or with a password
file, or TLS with a CA made in the test) and meters simulated on loopback. The bridge runs in the
test's own event loop (``run_bridge``), or as a real ``leviton-bridge run`` process
(``bridge_process``) where a signal or ``kill -9`` is the point.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from leviton_bridge.config import parse_config
from leviton_bridge.daemon import Bridge
from support import free_port
from support.inprocess import start_simulator
from support.mosquitto import Broker, StartBroker, mosquitto, start_broker

# Fixtures defined in support and used by the tests here.
__all__ = ["Broker", "StartBroker", "free_port", "mosquitto", "start_broker", "start_simulator"]

BRIDGE_COMMAND = shutil.which("leviton-bridge") or str(
    Path(sys.executable).with_name("leviton-bridge")
)
DEFAULT_WAIT = 10.0


# -- a test client that records everything ---------------------------------------------------


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool
    qos: int
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A paho client (callback API 2) subscribed to ``#``, keeping every message it receives."""

    def __init__(self, broker: Broker, topics: str = "#", name: str = "watcher") -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{name}-{os.getpid()}-{id(self)}"
        )
        self.client.on_connect = lambda client, *_: client.subscribe(topics, qos=2)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
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
                    time.monotonic(),
                )
            )

    async def subscribed(self, within: float = DEFAULT_WAIT) -> Watcher:
        deadline = time.monotonic() + within
        while not self._subscribed.is_set():
            if time.monotonic() > deadline:
                raise AssertionError("the test client could not subscribe")
            await asyncio.sleep(0.02)
        return self

    def all(self, topic: str | None = None, *, since: float = 0.0) -> list[Message]:
        with self._lock:
            return [
                m for m in self.messages if (topic is None or m.topic == topic) and m.at >= since
            ]

    def last(self, topic: str) -> Message | None:
        found = self.all(topic)
        return found[-1] if found else None

    def current(self) -> dict[str, Message]:
        """Each topic's last message, without topics whose last message is empty."""
        latest: dict[str, Message] = {}
        for message in self.all():
            latest[message.topic] = message
        return {topic: m for topic, m in latest.items() if m.payload}

    async def wait_for(
        self,
        topic: str,
        check: Callable[[Message], bool] = lambda _m: True,
        *,
        since: float = 0.0,
        within: float = DEFAULT_WAIT,
        what: str = "",
    ) -> Message:
        """The first message on ``topic`` (received at or after ``since``) that passes ``check``."""
        deadline = time.monotonic() + within
        while True:
            for message in self.all(topic, since=since):
                if check(message):
                    return message
            if time.monotonic() > deadline:
                seen = [m.payload[:120] for m in self.all(topic)][-5:]
                raise AssertionError(
                    f"no message on {topic} {what} within {within} s; last seen: {seen}"
                )
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watch() -> Iterator[Callable[..., Awaitable[Watcher]]]:
    """``await watch(broker)``: a subscribed recording client; stopped at teardown."""
    watchers: list[Watcher] = []

    async def start(broker: Broker, topics: str = "#") -> Watcher:
        watcher = Watcher(broker, topics, name=f"w{len(watchers)}")
        watchers.append(watcher)
        return await watcher.subscribed()

    yield start
    for watcher in watchers:
        watcher.stop()


async def retained(broker: Broker, topics: str = "#", settle: float = 0.4) -> dict[str, Message]:
    """What a newcomer sees: the retained message of every topic (empty ones are none)."""
    watcher = Watcher(broker, topics, name="newcomer")
    try:
        await watcher.subscribed()
        count = -1
        deadline = time.monotonic() + DEFAULT_WAIT
        while count != (count := sum(m.retain for m in watcher.all())):
            if time.monotonic() > deadline:
                raise AssertionError("retained messages keep coming")
            await asyncio.sleep(settle)
        return {m.topic: m for m in watcher.all() if m.retain}
    finally:
        watcher.stop()


async def publish(
    broker: Broker, topic: str, payload: str, *, qos: int = 2, retain: bool = False
) -> None:
    """Publish one message and wait until the broker has it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.monotonic_ns()}")
    broker.prepare(client)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=qos, retain=retain)
        await asyncio.to_thread(info.wait_for_publish, 5)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


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


@dataclass
class RunningBridge:
    bridge: Bridge
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(asyncio.shield(self.task), 15)


RunBridge = Callable[..., Awaitable[RunningBridge]]


@pytest.fixture
async def run_bridge() -> AsyncIterator[RunBridge]:
    """``await run_bridge(config[, prepare])``: the bridge running in this loop until the test
    ends; ``prepare(bridge)`` runs before it starts."""
    running: list[RunningBridge] = []

    async def start(
        config: dict[str, Any], prepare: Callable[[Bridge], None] | None = None
    ) -> RunningBridge:
        bridge = Bridge(parse_config(config, "test"))
        if prepare is not None:
            prepare(bridge)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        handle = RunningBridge(bridge, stop, task)
        running.append(handle)
        await asyncio.wait_for(bridge.started.wait(), 10)
        return handle

    yield start
    for handle in running:
        await handle.stop()


@dataclass
class BridgeProcess:
    process: subprocess.Popen[str]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    async def exit_code(self, within: float = 10) -> int:
        deadline = time.monotonic() + within
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the bridge did not exit within {within} s:\n{self.log}")
            await asyncio.sleep(0.05)
        return code


StartBridgeProcess = Callable[[dict[str, Any]], BridgeProcess]


@pytest.fixture
def bridge_process(tmp_path: Path) -> Iterator[StartBridgeProcess]:
    """``bridge_process(config)``: ``leviton-bridge -v run --config FILE`` as a real process."""
    processes: list[BridgeProcess] = []

    def start(config: dict[str, Any]) -> BridgeProcess:
        path = tmp_path / f"bridge-{len(processes)}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        log_path = tmp_path / f"bridge-{len(processes)}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [BRIDGE_COMMAND, "-v", "run", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        handle = BridgeProcess(process, log_path)
        processes.append(handle)
        return handle

    yield start
    for handle in processes:
        if handle.process.poll() is None:
            handle.process.send_signal(signal.SIGKILL)
        handle.process.wait(timeout=10)


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

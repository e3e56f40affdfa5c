"""A real mosquitto broker for tests: started on a free loopback port, stopped at teardown."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
import pytest

from . import PATIENCE, free_port


class Pki(Protocol):
    """The CA a TLS broker's clients trust, and a client certificate (see tests/mqtt)."""

    ca: Path
    client_cert: Path
    client_key: Path


@dataclass
class Broker:
    """One mosquitto process on a fixed loopback port; stop, start and restart keep the port."""

    executable: str
    folder: Path
    port: int
    extra: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    credentials: tuple[str, str] | None = None
    """What the test clients log in with (a broker with a password file)."""
    tls: Pki | None = None
    """The CA the test clients trust, and their certificate (a TLS listener)."""

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def prepare(self, client: mqtt.Client) -> None:
        """Set a test client up to log in here."""
        if self.credentials:
            client.username_pw_set(*self.credentials)
        if self.tls:
            client.tls_set(
                ca_certs=str(self.tls.ca),
                certfile=str(self.tls.client_cert),
                keyfile=str(self.tls.client_key),
            )

    @property
    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        assert self.process is None, "already running"
        lines = [
            f"listener {self.port} {self.host}",
            "persistence false",
            f"log_dest file {self.folder / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *self.extra,
        ]
        if not any(line.startswith("allow_anonymous") for line in self.extra):
            lines.append("allow_anonymous true")
        if os.geteuid() == 0:
            lines.append("user root")  # do not drop to "mosquitto", who cannot read tmp_path
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.process = subprocess.Popen(
            [self.executable, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.starts += 1
        deadline = time.monotonic() + PATIENCE
        while True:
            if self.process.poll() is not None:
                _, err = self.process.communicate()
                self.process = None
                pytest.fail(f"mosquitto exited at start: {err.decode(errors='replace')}{self.log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"mosquitto does not accept connections on {self.port}")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


StartBroker = Callable[..., Broker]


@pytest.fixture
def start_broker(tmp_path: Path) -> Iterator[StartBroker]:
    """Start a mosquitto on a free port with extra config lines; all are killed at teardown."""
    executable = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if executable is None:
        pytest.fail(
            "mosquitto is not installed; .ci/run installs it (apt-get install mosquitto), "
            "or install it by hand to run the MQTT tests"
        )
    brokers: list[Broker] = []

    def start(*extra: str, port: int | None = None, running: bool = True) -> Broker:
        folder = tmp_path / f"mosquitto-{len(brokers)}"
        folder.mkdir()
        broker = Broker(executable, folder, port or free_port(), list(extra))
        brokers.append(broker)
        if running:
            broker.start()
        return broker

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(start_broker: StartBroker) -> Broker:
    """An anonymous mosquitto on a free loopback port, persistence off."""
    return start_broker()

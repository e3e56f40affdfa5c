"""Logging in: username and password (mosquitto password file) and TLS (a CA made here)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.inprocess import StartSimulator

from .conftest import (
    RunBridge,
    RunningBridge,
    StartBroker,
    bridge_config,
    bus,
    make_pki,
    retained,
)

STATUS = "leviton/bridge/status"


async def _refused_twice(running: RunningBridge) -> None:
    """Wait until the bridge has tried to connect and failed twice (so it retries, and a
    warning said at every retry would show)."""
    publisher = running.mqtt
    await publisher.wait_until(lambda: publisher.connect_failures >= 2)
    assert publisher.connections == 0


def _bridge_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("leviton_bridge.mqtt") and r.levelno >= logging.WARNING
    ]


async def test_username_and_password(
    tmp_path: Path,
    start_broker: StartBroker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    password_file = tmp_path / "passwords"
    await asyncio.to_thread(
        subprocess.run,
        [passwd, "-b", "-c", str(password_file), "leviton", "s3cret"],
        check=True,
        timeout=10,
    )
    broker = start_broker(f"password_file {password_file}", "allow_anonymous false")
    broker.credentials = ("leviton", "s3cret")
    _sim, url = await start_simulator("1:2000")
    watcher = await watch(broker)

    # A wrong password: said clearly, retried, and the bridge keeps running.
    wrong = await run_bridge(
        bridge_config(
            broker, bus("lab", url, 1), username="leviton", password="wrong", client_id="wrong"
        )
    )
    await _refused_twice(wrong)
    assert not wrong.task.done()
    assert watcher.all(STATUS) == []
    assert _bridge_warnings(caplog) == [
        f"MQTT broker {broker.url}: the broker refused the connection: Not authorized; "
        "retrying with backoff"
    ]
    await wrong.stop()

    # The right one, from a password file.
    (tmp_path / "bridge-password").write_text("s3cret\n", encoding="utf-8")
    await run_bridge(
        bridge_config(
            broker,
            bus("lab", url, 1),
            username="leviton",
            password_file=str(tmp_path / "bridge-password"),
        )
    )
    await watcher.wait_for(STATUS, lambda m: m.payload == "online")
    await watcher.wait_for("leviton/lab_u1/state")
    assert "homeassistant/device/leviton_lab_u1/config" in await retained(broker)


async def test_tls_with_a_private_ca(
    tmp_path: Path,
    start_broker: StartBroker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pki = make_pki(tmp_path)
    tls = [f"cafile {pki.ca}", f"certfile {pki.cert}", f"keyfile {pki.key}"]
    broker = start_broker(*tls)
    broker.tls = pki
    _sim, url = await start_simulator("1:2000")
    watcher = await watch(broker)
    assert broker.url.startswith("mqtts://127.0.0.1:")

    # Without the CA the broker's certificate is not trusted: said clearly, and retried.
    untrusting = await run_bridge(bridge_config(broker, bus("lab", url, 1), client_id="no-ca"))
    await _refused_twice(untrusting)
    assert not untrusting.task.done()
    assert watcher.all(STATUS) == []
    [warning] = _bridge_warnings(caplog)
    assert warning.startswith(f"MQTT broker {broker.url}: cannot connect: TLS: ")
    assert "certificate" in warning
    assert "does mqtt.ca_file name the CA that signed the broker's certificate?" in warning
    await untrusting.stop()

    await run_bridge(bridge_config(broker, bus("lab", url, 1), ca_file=str(pki.ca)))
    await watcher.wait_for(STATUS, lambda m: m.payload == "online")
    await watcher.wait_for("leviton/lab_u1/state")


async def test_tls_with_a_client_certificate(
    tmp_path: Path,
    start_broker: StartBroker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
    watch: Any,
) -> None:
    pki = make_pki(tmp_path)
    broker = start_broker(
        f"cafile {pki.ca}",
        f"certfile {pki.cert}",
        f"keyfile {pki.key}",
        "require_certificate true",
    )
    broker.tls = pki
    _sim, url = await start_simulator("1:2000")
    watcher = await watch(broker)
    await run_bridge(
        bridge_config(
            broker,
            bus("lab", url, 1),
            ca_file=str(pki.ca),
            cert_file=str(pki.client_cert),
            key_file=str(pki.client_key),
        )
    )
    await watcher.wait_for(STATUS, lambda m: m.payload == "online")
    await watcher.wait_for("leviton/lab_u1/state")

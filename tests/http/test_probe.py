"""The container's HEALTHCHECK command, ``python -m leviton_bridge.http.probe CONFIG``, run as
the image runs it (a process of the project's environment) against a bridge running here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from tests.support import PATIENCE, free_port
from tests.support.inprocess import StartSimulator
from tests.support.mosquitto import Broker
from tests.support.running import RunBridge
from tests.support.statuspage import bridge_config, http_section


async def probe(config: dict[str, Any], folder: Path) -> tuple[int, str]:
    path = folder / "bridge.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "leviton_bridge.http.probe",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), PATIENCE)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_probe(
    tmp_path: Path,
    mosquitto: Broker,
    start_simulator: StartSimulator,
    run_bridge: RunBridge,
) -> None:
    _sim, url = await start_simulator("1:2000:load=0")
    config = bridge_config(mosquitto, url, 1)
    config["http"]["listen"] = config["http"]["listen"].replace("127.0.0.1", "0.0.0.0")
    config["http"]["token"] = "a-long-enough-token-1234"
    running = await run_bridge(config)
    assert await probe(config, tmp_path) == (0, "ok\n")
    publisher = running.mqtt
    mosquitto.stop()
    await publisher.wait_until(lambda: publisher.connect_failures >= 1)
    # A broker away is no reason to restart the container: alive, degraded.
    code, text = await probe(config, tmp_path)
    assert code == 0
    assert text.startswith("ok\ndegraded: MQTT is down")
    task = running.bridge.tasks[0]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    code, text = await probe(config, tmp_path)
    assert code == 1
    assert ": 503: unhealthy\nbus lab: its polling task was cancelled" in text
    await running.stop()
    code, text = await probe(config, tmp_path)
    assert code == 1
    assert "Connection refused" in text


async def test_probe_without_a_page_checks_the_configuration(tmp_path: Path) -> None:
    config = bridge_config(None, "tcp://127.0.0.1:5020", 1, http=http_section())
    del config["http"]
    config["mqtt"] = {"url": "mqtt://127.0.0.1:1883"}
    code, text = await probe(config, tmp_path)
    assert code == 0
    assert text.endswith("valid; no http: section, so the bridge itself cannot be asked\n")
    config["buses"][0]["meters"] = []
    code, text = await probe(config, tmp_path)
    assert code == 1
    assert "buses[0].meters: list at least one meter" in text
    config = bridge_config(
        None, "tcp://127.0.0.1:5020", 1, http={"listen": f"127.0.0.1:{free_port()}"}
    )
    config["mqtt"] = {"url": "mqtt://127.0.0.1:1883"}
    assert (await probe(config, tmp_path))[0] == 1  # nothing listens there

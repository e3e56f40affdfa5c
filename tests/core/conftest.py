"""Fixtures of the core's tests: the bridge in this loop, simulated meters, a real mosquitto and
a client that watches what the bridge publishes (the MQTT tests' own)."""

from __future__ import annotations

from tests.mqtt.conftest import watch
from tests.support.inprocess import start_simulator
from tests.support.mosquitto import mosquitto, start_broker
from tests.support.running import run_bridge
from tests.support.statuspage import http

__all__ = ["http", "mosquitto", "run_bridge", "start_broker", "start_simulator", "watch"]

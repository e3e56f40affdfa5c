"""Fixtures of the status-page tests (see ``tests.support.statuspage``). ``tests`` is a package,
so this folder is ``tests.http`` and never hides the standard library's ``http``."""

from tests.support.inprocess import start_simulator
from tests.support.mosquitto import mosquitto, start_broker
from tests.support.running import run_bridge
from tests.support.statuspage import chromium, http

__all__ = ["chromium", "http", "mosquitto", "run_bridge", "start_broker", "start_simulator"]

"""Fixtures of the status-page tests (see ``support.statuspage``).

This folder has no ``__init__.py`` on purpose: as a package, ``tests/http`` would be imported
as ``http`` (pytest puts ``tests/`` on ``sys.path``) and hide the standard library's ``http``
from every test. Its modules import their helpers from ``support.statuspage``.
"""

from support.inprocess import start_simulator
from support.mosquitto import mosquitto, start_broker
from support.running import run_bridge
from support.statuspage import chromium, http

__all__ = ["chromium", "http", "mosquitto", "run_bridge", "start_broker", "start_simulator"]

"""The in-process simulator for these tests."""

from tests.support.inprocess import start_simulator

__all__ = ["start_simulator"]

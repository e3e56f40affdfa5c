"""The in-process simulator for these tests."""

from support.inprocess import start_simulator

__all__ = ["start_simulator"]

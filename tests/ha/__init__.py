"""Tests of the Home Assistant component against the simulator over real Modbus."""

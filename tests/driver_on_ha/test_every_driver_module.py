"""Every module of tests/driver runs here too, or says why it cannot."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
DRIVER_TESTS = HERE.parent / "driver"

#: Modules that need the bridge's simulator in the test's own process (which needs the current
#: pymodbus's server API, not in Home Assistant's environments).
NEEDS_THE_BRIDGE = {"test_faults", "test_simulator_and_meter"}


def test_every_driver_test_module_runs_here_or_needs_the_bridge() -> None:
    theirs = {path.stem for path in DRIVER_TESTS.glob("test_*.py")}
    mine = {path.stem for path in HERE.glob("test_*.py")} - {Path(__file__).stem}
    assert mine == theirs - NEEDS_THE_BRIDGE
    for name in mine:
        text = (HERE / f"{name}.py").read_text(encoding="utf-8")
        assert f"from tests.driver.{name} import *" in text, name
    for name in NEEDS_THE_BRIDGE:
        text = (DRIVER_TESTS / f"{name}.py").read_text(encoding="utf-8")
        assert "leviton_bridge" in text or "support.inprocess" in text, name

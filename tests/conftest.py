"""Fixtures every test folder may use; standard library and pytest only, because tests/ha runs
in Home Assistant's environments, where neither the bridge nor the simulator is installed.

Folders that run in the project's environment take the in-process simulator from
``support.inprocess`` in their own conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serial import pty_pair


@pytest.fixture(autouse=True)
def _state_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every bridge a test starts (in this process or as a process) keeps its state in a folder
    of the test's own, as systemd's ``StateDirectory=`` would give it one."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("STATE_DIRECTORY", str(folder))
    return folder


@pytest.fixture
def serial_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked pseudo-terminals from socat: (meter side, client side)."""
    with pty_pair(tmp_path) as pair:
        yield pair

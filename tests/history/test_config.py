"""The ``history:`` section and ``leviton-bridge report`` on the command line: defaults, every
problem in words, and a report that says why it cannot be made."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from leviton_bridge.cli import main
from leviton_bridge.config import ConfigError
from leviton_bridge.daemon import parse

BASE: dict[str, Any] = {
    "buses": [{"name": "lab", "connect": "tcp://127.0.0.1:5020", "meters": [{"unit": 1}]}],
    "mqtt": {"url": "mqtt://127.0.0.1"},
}


def test_the_history_defaults_to_the_state_directory(tmp_path: Path) -> None:
    config = parse({**BASE, "state_dir": str(tmp_path), "history": None}, "test")
    assert config.history is not None
    assert config.history.path == str(tmp_path / "history.sqlite3")
    assert (config.history.interval, config.history.keep) == (15, 400)
    assert config.history.interval_s == 900
    assert parse(BASE, "test").history is None  # no section, no history
    config = parse({**BASE, "history": {"path": str(tmp_path / "h.db"), "interval": 60}}, "test")
    assert config.history is not None
    assert (config.history.path, config.history.interval) == (str(tmp_path / "h.db"), 60)
    assert config.bacnet is None
    with_bacnet = parse(
        {**BASE, "bacnet": {"address": "127.0.0.1/32", "device_instance": 1}}, "test"
    )
    assert with_bacnet.bacnet is not None
    assert with_bacnet.bacnet.trend_log_buffer == 1000


@pytest.mark.parametrize(
    ("history", "problem"),
    [
        ({"interval": 10}, "history.interval: expected minutes: 5, 15, 30 or 60"),
        ({"interval": True}, "history.interval: expected a number, not true/false"),
        ({"keep": 0}, "history.keep: 0 is out of range; expected days of intervals 1..3653"),
        ({"path": ""}, "history.path: expected a file path"),
        ({"colour": "red"}, "history.colour: unknown key"),
    ],
)
def test_every_history_problem_is_said(history: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse({**BASE, "history": history}, "test")
    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def test_a_folder_is_not_a_history_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        parse({**BASE, "history": {"path": str(tmp_path)}}, "test")
    assert raised.value.problems == [
        f"history.path: {tmp_path} is a folder; expected a file in it, e.g. "
        f"{tmp_path / 'history.sqlite3'}"
    ]
    with pytest.raises(ConfigError) as raised:
        parse(
            {
                **BASE,
                "bacnet": {"address": "127.0.0.1/32", "device_instance": 1, "trend_log_buffer": 5},
            },
            "test",
        )
    assert raised.value.problems == [
        "bacnet.trend_log_buffer: 5 is out of range; expected trend log records 10..100000"
    ]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_check_config_names_the_history(tmp_path: Path) -> None:
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps({**BASE, "state_dir": str(tmp_path), "history": {"interval": 5}}))
    code, out, _err = run("check-config", str(path))
    assert code == 0
    assert f"history {tmp_path / 'history.sqlite3'} every 5 min" in out


def test_the_report_says_why_it_cannot_be_made(tmp_path: Path) -> None:
    without = tmp_path / "without.json"
    without.write_text(json.dumps(BASE))
    code, _out, err = run("report", "--config", str(without), "--month", "2026-11")
    assert code == 2
    assert "has no history: section" in err
    with_history = tmp_path / "with.json"
    with_history.write_text(
        json.dumps({**BASE, "history": {"path": str(tmp_path / "none" / "h.sqlite3")}})
    )
    code, _out, err = run("report", "--config", str(with_history), "--month", "2026-11")
    assert code == 1
    assert "h.sqlite3 does not exist (yet)" in err
    for month in ("2026-13", "November", "2026-1x", "0001-01"):
        code, _out, err = run("report", "--config", str(with_history), "--month", month)
        assert code == 2, month
        assert "--month" in err

"""Every key the component's code shows a user exists in strings.json, with its placeholders.

Home Assistant 2025.4's test harness checks only part of this, so it is checked here from the
source: translation keys of exceptions, issues, entities and selectors, the config and options
flows' steps, menus, errors, aborts and progress, the services and the icons.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from custom_components.leviton_meters.driver.catalogue import READINGS

from .conftest import COMPONENT, STRINGS, translation

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_SOURCES = sorted(COMPONENT.glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _literal(node: ast.expr | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(_tree(path)) if isinstance(node, ast.Call)]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _placeholders_given(call: ast.Call) -> set[str] | None:
    """The keys of a literal translation_placeholders dict (None when not a literal)."""
    node = _keyword(call, "translation_placeholders") or _keyword(call, "description_placeholders")
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
        return {k.value for k in node.keys if isinstance(k, ast.Constant)}
    return None


def test_strings_and_english_translation_are_identical() -> None:
    english = json.loads((COMPONENT / "translations" / "en.json").read_text(encoding="utf-8"))
    assert english == STRINGS
    assert (COMPONENT / "translations" / "en.json").read_bytes() == (
        COMPONENT / "strings.json"
    ).read_bytes()


def test_translation_keys_in_the_code_exist() -> None:
    checked: list[str] = []
    for path in _SOURCES:
        for call in _calls(path):
            key = _literal(_keyword(call, "translation_key"))
            if not isinstance(key, str):
                continue
            callee = _name(call.func)
            if callee == "async_create_issue":
                section = f"issues.{key}"
                text = STRINGS["issues"][key]
                strings = [text["title"]]
                strings += [text["description"]] if "description" in text else []
                if "fix_flow" in text:
                    strings += [text["fix_flow"]["step"]["confirm"]["description"]]
            elif callee.endswith(("Error", "NotReady", "Failed")):
                section = f"exceptions.{key}.message"
                strings = [translation(section)]
            elif callee == "ButtonEntityDescription":
                section = f"entity.button.{key}.name"
                strings = [translation(section)]
            elif callee == "SelectSelectorConfig":
                section = f"selector.{key}.options"
                options = _literal(_keyword(call, "options"))
                assert set(STRINGS["selector"][key]["options"]) == set(options), section
                strings = []
            else:
                pytest.fail(f"{path.name}: translation_key {key!r} in a call to {callee}")
            given = _placeholders_given(call)
            if given is not None:
                for text in strings:
                    missing = set(_PLACEHOLDER.findall(text)) - given
                    assert not missing, f"{path.name}: {section} needs {sorted(missing)}"
            checked.append(section)
    assert "exceptions.meter_unreachable.message" in checked
    assert "exceptions.line_settings_conflict.message" in checked
    assert "issues.unreachable" in checked
    assert "issues.identity_changed" in checked
    assert "entity.button.reset_peak_demand.name" in checked


def test_flow_steps_errors_and_aborts_exist() -> None:
    flows = {
        node.name: node
        for module in ("config_flow.py", "options_flow.py")
        for node in _tree(COMPONENT / module).body
        if isinstance(node, ast.ClassDef) and node.name.endswith("Flow")
    }
    assert set(flows) == {"LevitonConfigFlow", "LevitonOptionsFlow"}
    for class_name, section in (("LevitonConfigFlow", "config"), ("LevitonOptionsFlow", "options")):
        steps = STRINGS[section]["step"]
        for call in (n for n in ast.walk(flows[class_name]) if isinstance(n, ast.Call)):
            step_id = _literal(_keyword(call, "step_id"))
            if isinstance(step_id, str):
                assert step_id in steps, f"{section}.step.{step_id}"
                for option in _literal(_keyword(call, "menu_options")) or ():
                    assert option in steps[step_id]["menu_options"], f"{step_id}: {option}"
                given = _placeholders_given(call)
                description = steps[step_id].get("description", "")
                if given is not None:
                    assert set(_PLACEHOLDER.findall(description)) <= given, step_id
            for name in ("reason",):
                reason = _literal(_keyword(call, name))
                if isinstance(reason, str):
                    translation(f"{section}.abort.{reason}")
            action = _literal(_keyword(call, "progress_action"))
            if isinstance(action, str):
                translation(f"{section}.progress.{action}")
        # errors[...] = "key" and the error keys a helper returns
        for node in ast.walk(flows[class_name]):
            if (
                isinstance(node, ast.Assign)
                and isinstance(target := node.targets[0], ast.Subscript)
                and _name(target.value) == "errors"
                and isinstance(key := _literal(node.value), str)
            ):
                translation(f"{section}.error.{key}")
            if isinstance(node, ast.Return) and isinstance(_literal(node.value), str):
                translation(f"{section}.error.{_literal(node.value)}")
    # What Home Assistant's own helpers abort with.
    for reason in ("already_configured", "reconfigure_successful"):
        translation(f"config.abort.{reason}")


def test_every_sensor_reading_and_icon_is_named() -> None:
    for key in READINGS:
        translation(f"entity.sensor.{key}.name")
    icons = json.loads((COMPONENT / "icons.json").read_text(encoding="utf-8"))
    for platform, entities in icons["entity"].items():
        for key in entities:
            translation(f"entity.{platform}.{key}.name")
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    assert set(services) == set(STRINGS["services"]) == set(icons["services"])
    for service in services:
        translation(f"services.{service}.name")
        translation(f"services.{service}.description")


def test_every_string_is_used() -> None:
    """No stale strings: every exception and error in strings.json is raised somewhere."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in _SOURCES)
    for key in STRINGS["exceptions"]:
        assert f'"{key}"' in source, f"exceptions.{key} is never raised"
    for section in ("config", "options"):
        for key in STRINGS[section]["error"]:
            assert f'"{key}"' in source, f"{section}.error.{key} is never shown"

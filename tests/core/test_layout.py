"""The bridge's layout holds: the core imports no face, no face imports another face or the
daemon, the configuration and the simulator stand on the driver alone, nothing but the package
markers and the daemon sits at the top of ``bridge/``, and no module imports itself back
through others. Read from the source (every import, those for type checking too), so that a
rule broken anywhere fails here with the import that breaks it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

BRIDGE: Final = Path(__file__).resolve().parents[2] / "bridge"
PACKAGE: Final = "leviton_bridge"
FACES: Final = frozenset({"mqtt", "bacnet", "http", "modbus_server", "history"})
TOP: Final = frozenset({"daemon", "cli"})

#: What each part of the bridge may import of the bridge (the driver and libraries always).
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "config": frozenset({"config"}),
    "simulator": frozenset({"simulator"}),
    "core": frozenset({"core", "config"}),
    **{face: frozenset({face, "core", "config"}) for face in FACES},
    "daemon": frozenset({"daemon", "core", "config", *FACES}),
    "cli": frozenset({"cli", "daemon", "core", "config", "simulator", *FACES}),
}


def module_name(path: Path, root: Path = BRIDGE) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def imports(path: Path, root: Path = BRIDGE) -> set[str]:
    """The ``leviton_bridge`` modules (or packages) a file imports, absolute."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith(PACKAGE):
                continue
            # "from . import mapping" names a module; "from .x import y" names x.
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if _exists(candidate, root) else source)
    found.discard(name)
    return found


def _exists(module: str, root: Path) -> bool:
    relative = Path(*module.split(".")[1:])
    return (root / relative).with_suffix(".py").is_file() or (root / relative).is_dir()


def part(module: str) -> str:
    """The part of the bridge a module belongs to: its folder, or the top module's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph(root: Path = BRIDGE) -> dict[str, set[str]]:
    return {module_name(path, root): imports(path, root) for path in sorted(root.rglob("*.py"))}


def forbidden(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} imports {target}"
        for module, targets in edges.items()
        if part(module) in ALLOWED
        for target in sorted(targets)
        if part(target) and part(target) not in ALLOWED[part(module)]
    ]


def cycles_of(edges: dict[str, set[str]]) -> list[list[str]]:
    # A package's own __init__ importing its modules is how packages work, not a cycle.
    edges = {
        module: {t for t in targets if not (module.startswith(t + ".") or t.startswith(module))}
        for module, targets in edges.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return cycles


def test_each_part_imports_only_what_it_may() -> None:
    assert forbidden(graph()) == []


def test_the_top_of_bridge_holds_only_the_daemon() -> None:
    top = sorted(path.name for path in BRIDGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "daemon.py"]
    assert {path.name for path in BRIDGE.iterdir() if path.is_dir()} >= {
        "core",
        "config",
        "mqtt",
        "bacnet",
        "http",
        "cli",
        "simulator",
    }


def test_every_folder_says_what_it_is_and_what_it_may_import() -> None:
    for folder in sorted(p for p in BRIDGE.iterdir() if (p / "__init__.py").is_file()):
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text("utf-8")))
        assert docstring, folder.name
        assert "import" in docstring, f"{folder.name}/__init__.py: say what it may import"


def test_no_import_cycles() -> None:
    assert cycles_of(graph()) == []


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    """On a small tree that breaks them: a face importing another face (for type checking
    too), the core importing a face, and two core modules importing each other."""
    files = {
        "mqtt/__init__.py": "",
        "mqtt/face.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..bacnet.face import X\n",
        "bacnet/__init__.py": "",
        "bacnet/face.py": "X = 1\n",
        "core/__init__.py": "",
        "core/a.py": "from . import b\nfrom leviton_bridge.http import face\n",
        "core/b.py": "from .a import something\n",
        "http/__init__.py": "",
        "http/face.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    edges = graph(tmp_path)
    assert forbidden(edges) == [
        "leviton_bridge.core.a imports leviton_bridge.http.face",
        "leviton_bridge.mqtt.face imports leviton_bridge.bacnet.face",
    ]
    assert cycles_of(edges) == [
        ["leviton_bridge.core.a", "leviton_bridge.core.b", "leviton_bridge.core.a"]
    ]

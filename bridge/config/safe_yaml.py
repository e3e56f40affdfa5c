"""YAML that cannot hang or crash the bridge: a bridge configuration is small, so anything far
larger, deeper or stranger (not UTF-8, NUL characters, duplicate keys, numbers of thousands of
digits, aliases that expand without bound) is refused with one line saying what is wrong."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Final

import yaml

#: Sizes beyond any real configuration, which a hostile file must not get past.
MAX_FILE_BYTES: Final = 1_000_000
MAX_VALUES: Final = 100_000
"""Values in the parsed file, counting each use of a YAML alias (a "billion laughs" file
expands to billions)."""
MAX_DEPTH: Final = 64


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (the second one would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} is given twice (first at line {seen[key] + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _size_problem(data: Any) -> str | None:
    """Whether the parsed file is absurdly large or deep once its aliases are expanded."""
    budget = MAX_VALUES
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return (
                f"more than {MAX_VALUES} values (counting every use of a YAML alias); a bridge "
                "configuration is far smaller"
            )
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None


def parse_yaml(raw: bytes) -> Any:
    """The file's data; raises ``ValueError`` with one line saying what is wrong with it."""
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{len(raw)} bytes; a bridge configuration is far smaller")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"not UTF-8 text (byte {err.start + 1} is {raw[err.start]:#04x})"
        ) from None
    if "\0" in text:
        raise ValueError(f"contains a NUL character (at offset {text.index(chr(0))})")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        raise ValueError(_yaml_problem(err)) from None
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise ValueError(f"a value cannot be read ({err})") from None
    if (problem := _size_problem(data)) is not None:
        raise ValueError(problem)
    return data


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line: where the YAML broke, and how."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where}: {problem}" + (f" ({context})" if context else "")

"""Issue "one place for each thing": no public name is defined at module level in two modules of the library."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "lib" / "wsnas"


def module_level_names(path: Path) -> list[str]:
    """Public functions, classes and assigned constants defined at the top level of one module."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [name for name in names if not name.startswith("_")]


def test_no_public_name_is_defined_in_two_modules():
    where = defaultdict(list)
    for path in sorted(LIBRARY.rglob("*.py")):
        for name in module_level_names(path):
            where[name].append(str(path.relative_to(LIBRARY)))
    assert where, "no module found"
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}


def test_no_colour_means_both_a_space_and_a_mode_or_variant():
    from wsnas import names

    spaces = {colour.lower() for colour in names.SPACE_COLOURS.values()}
    others = {colour.lower() for colour in (*names.MODE_COLOURS.values(), *names.COLUMN_COLOURS.values())}
    assert not spaces & others

"""The library's three layers: the benchmark and the analyses never import torch, nor a lower layer."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

import wsnas

PACKAGE = Path(wsnas.__file__).parent
BENCHMARK = ("space", "graph_hash", "enumeration", "tfrecord", "nb101", "nasbench_api", "datafiles", "safe_pickle")
ANALYSES = ("metrics", "reference", "search", "bias", "claims", "names", "runs", "results", "ours", "baselines",
            "profiles", "settings")
EXPERIMENTS = ("data", "supernet", "checkpoints", "optim", "train", "evaluate", "proxies", "study", "sweep", "protocol", "cli")  # may import torch and any module above; plots/ draws for the chapters from all three


def wsnas_imports(module: str) -> set[str]:
    """The wsnas modules that `module` imports anywhere in its source (top level, inside functions, for types)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("wsnas")):
            base = (node.module or "").removeprefix("wsnas").lstrip(".")
            found |= {base.split(".")[0]} if base else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("wsnas.")}
    return found - {module}


def test_importing_the_benchmark_and_the_analyses_does_not_import_torch() -> None:
    # One fresh interpreter imports the modules in turn and names the first one after which torch is loaded.
    code = ("import importlib, sys\n"
            f"for module in {BENCHMARK + ANALYSES!r}:\n"
            "    importlib.import_module('wsnas.' + module)\n"
            "    if 'torch' in sys.modules:\n"
            "        sys.exit('importing wsnas.' + module + ' imports torch')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("module", BENCHMARK + ANALYSES)
def test_no_import_from_a_lower_layer(module: str) -> None:
    allowed = set(BENCHMARK) if module in BENCHMARK else set(BENCHMARK + ANALYSES)
    assert wsnas_imports(module) <= allowed, f"wsnas.{module} imports {sorted(wsnas_imports(module) - allowed)}"


def test_every_module_of_the_library_is_in_one_layer() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    layers = BENCHMARK + ANALYSES + EXPERIMENTS
    assert len(set(layers)) == len(layers), "a module is listed in two layers"
    assert modules == set(layers), f"not in a layer: {sorted(modules - set(layers))}; gone: {sorted(set(layers) - modules)}"


def test_no_import_circle_among_the_modules() -> None:
    modules = [path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"]
    graph = {module: wsnas_imports(module) & set(modules) for module in modules}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import circle: {' -> '.join(error.args[1])}")

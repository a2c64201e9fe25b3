"""Every chapter's parameters cell parses cleanly with papermill's own inspection (no 'Unable to parse line')."""

import ast
import logging
from pathlib import Path

import nbformat
import pytest
from papermill.translators import PythonTranslator

from wsnas import sweep

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))


def tagged_cells(path: Path) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if "parameters" in cell.get("metadata", {}).get("tags", [])]


def parameters_cell(path: Path) -> nbformat.NotebookNode:
    tagged = tagged_cells(path)
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', expected one"
    return tagged[0]


PARAMETERISED = [path for path in CHAPTERS if tagged_cells(path)]  # a chapter may have no parameters (a glossary)


def assigned_names(source: str) -> list[str]:
    """Names assigned at the top level of a cell, in order (what papermill should report)."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names += [target.id for target in targets if isinstance(target, ast.Name)]
    return names


def test_there_are_chapters_with_parameters() -> None:
    assert {path.name for path in PARAMETERISED} >= {"intro.ipynb", "training.ipynb", "ranking.ipynb", "variants.ipynb"}
    assert all(len(tagged_cells(path)) <= 1 for path in CHAPTERS)


@pytest.mark.parametrize("path", PARAMETERISED, ids=[path.name for path in PARAMETERISED])
def test_papermill_reads_every_parameter(path: Path, caplog) -> None:
    cell = parameters_cell(path)
    with caplog.at_level(logging.WARNING, logger="papermill"):
        inspected = [parameter.name for parameter in PythonTranslator.inspect(cell)]
    unparsed = [record.getMessage() for record in caplog.records if "Unable to parse" in record.getMessage()]
    assert not unparsed, f"{path.name}: {unparsed} (papermill's parser stops at '=' or quotes in a comment: reword it)"
    assert inspected == assigned_names(cell.source)


def test_the_sweep_passes_only_parameters_the_training_chapter_declares() -> None:
    declared = {parameter.name for parameter in PythonTranslator.inspect(parameters_cell(BOOK / sweep.CHAPTER))}
    assert set(sweep.chapter_parameters(sweep.RunSpec("A4", "baseline", 0), "smoke", Path("/r"), "cpu", None)) <= declared

"""Chapters run through papermill with other parameters, as the README says users do."""

import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_PAGES = {"glossary"}  # pages that run no stage of the study, so take no parameters
CHAPTERS = sorted(path for path in ROOT.glob("book/*.ipynb") if path.stem not in REFERENCE_PAGES)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_chapter_has_a_papermill_parameters_cell_with_a_profile(chapter: Path) -> None:
    notebook = nbformat.read(chapter, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code_cells[0].metadata.get("tags", []), "the first code cell must be tagged parameters"
    assert 'profile = "demo"' in code_cells[0].source


@pytest.mark.slow
def test_training_chapter_runs_through_papermill_with_other_parameters(tmp_path: Path) -> None:
    output = tmp_path / "out.ipynb"
    subprocess.run(
        ["papermill", str(ROOT / "book" / "training.ipynb"), str(output), "-p", "space", "A4",
         "-p", "variant", "single_k", "-p", "profile", "smoke", "-p", "results_root", str(tmp_path / "results")],
        check=True, cwd=ROOT, capture_output=True,
    )
    executed = nbformat.read(output, as_version=4)
    errors = [out for cell in executed.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    assert (tmp_path / "results" / "training" / "A4_single_k_seed0_smoke" / "evaluations.parquet").exists()


# Chapters hold narrative, parameters and one library call per figure or table (issue 19): the limits.
MAX_CELL_LINES = 15
MAX_BOOK_CODE_LINES = 430


def code_lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if line.strip()]


def book_code_cells() -> list[tuple[str, int, str]]:
    """(chapter, index among its code cells, source) of every code cell of the book."""
    notebooks = sorted(ROOT.glob("book/*.ipynb"))
    return [(path.stem, index, cell.source.strip()) for path in notebooks
            for index, cell in enumerate(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")]


def test_chapters_are_thin_no_code_cell_is_long_and_none_is_copied() -> None:
    cells = book_code_cells()
    long = [(chapter, index, len(code_lines(source))) for chapter, index, source in cells
            if len(code_lines(source)) > MAX_CELL_LINES]
    assert not long, f"code cells over {MAX_CELL_LINES} lines (chapter, code cell, lines): {long}"
    first: dict[str, tuple[str, int]] = {}
    copies = []
    for chapter, index, source in cells:
        if source in first:
            copies.append((first[source], (chapter, index)))
        first.setdefault(source, (chapter, index))
    assert not copies, f"identical code cells: {copies}"
    total = sum(len(code_lines(source)) for _, _, source in cells)
    assert total < MAX_BOOK_CODE_LINES, f"the chapters hold {total} lines of code (limit {MAX_BOOK_CODE_LINES})"

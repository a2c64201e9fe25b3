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

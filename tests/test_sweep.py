"""A sweep of papermill runs of the training chapter: executed, recorded, and skipped once finished."""

from pathlib import Path

import pytest

from wsnas import runs, sweep
from wsnas.cli import main


def test_grid_is_the_papers_and_rejects_unknown_names() -> None:
    assert len(sweep.grid()) == 7 * 5 * 5
    with pytest.raises(ValueError, match="A9"):
        sweep.grid(["A9"], ["baseline"], [0])


@pytest.mark.slow
def test_sweep_runs_each_chapter_once_and_resumes(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    argv = ["sweep", "--profile", "smoke", "--spaces", "A4", "--variants", "baseline", "avg3",
            "--seeds", "1", "--results", str(results)]
    assert main(argv) == 0
    catalogue = runs.catalogue(results)
    assert sorted(catalogue["run"]) == ["A4_avg3_seed1_smoke", "A4_baseline_seed1_smoke"]
    assert set(catalogue["state"]) == {"done"}
    for run in catalogue["path"]:
        assert (Path(run) / "training.ipynb").exists()  # the executed chapter is kept with the run
    capsys.readouterr()
    table = sweep.run_sweep(sweep.grid(["A4"], ["baseline", "avg3"], [1]), "smoke", results_root=results)
    assert not table["ran_now"].any()


@pytest.mark.slow
def test_a_diverged_run_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    specs = sweep.grid(["A4"], ["baseline"], [0, 1])
    table = sweep.run_sweep(specs, "smoke", results_root=tmp_path, overrides={"learning_rate": 1e12})
    assert list(table["state"]) == ["diverged", "diverged"]  # both ran: the first did not stop the grid
    for run in runs.catalogue(tmp_path)["path"]:
        assert (Path(run) / "training.ipynb").exists()

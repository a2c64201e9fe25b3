"""A sweep of papermill runs of the training chapter: executed, recorded, and skipped once finished."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from wsnas import runs, sweep
from wsnas.cli import main


def test_grid_is_the_papers_and_rejects_unknown_names() -> None:
    assert len(sweep.grid()) == 7 * 5 * 5
    with pytest.raises(ValueError, match="A9"):
        sweep.grid(["A9"], ["baseline"], [0])


def test_runs_share_a_gpu_through_fractional_ray_requests() -> None:
    assert sweep.ray_resources("cuda", 4) == {"num_gpus": 0.25, "num_cpus": 1}
    assert sweep.ray_resources("cuda:0", 1) == {"num_gpus": 1.0, "num_cpus": 1}
    assert sweep.ray_resources("cpu", 3) == {"num_gpus": 0, "num_cpus": 1}


def test_bad_sweep_settings_are_refused_before_any_run(tmp_path: Path) -> None:
    specs = sweep.grid(["A4"], ["baseline"], [0])
    with pytest.raises(ValueError, match="runs_per_device must be a positive integer"):
        sweep.run_sweep(specs, "smoke", results_root=tmp_path, runs_per_device=0)
    with pytest.raises(ValueError, match="Ray assigns the GPUs"):
        sweep.run_sweep(specs, "smoke", results_root=tmp_path, executor="ray", device="cuda:0,cuda:1")
    with pytest.raises(ValueError, match="unknown executor"):
        sweep.run_sweep(specs, "smoke", results_root=tmp_path, executor="slurm")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_sweep_runs_each_chapter_once_and_resumes(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    # Two processes on the one device: the local executor's --runs-per-device.
    argv = ["sweep", "--profile", "smoke", "--spaces", "A4", "--variants", "baseline", "avg3",
            "--seeds", "1", "--runs-per-device", "2", "--results", str(results)]
    assert main(argv) == 0
    catalogue = runs.catalogue(results)
    assert sorted(catalogue["run"]) == ["A4_avg3_seed1_smoke", "A4_baseline_seed1_smoke"]
    assert set(catalogue["state"]) == {"done"}
    for run in catalogue["path"]:
        assert (Path(run) / "training.ipynb").exists()  # the executed chapter is kept with the run
    workers = {json.loads((Path(run) / sweep.WORKER_FILE).read_text())["pid"] for run in catalogue["path"]}
    assert len(workers) == 2 and os.getpid() not in workers  # each run in its own worker process
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


def test_a_trained_run_without_evaluations_is_not_finished(tmp_path: Path) -> None:
    spec = sweep.RunSpec("A4", "baseline", 0)
    directory = sweep.spec_directory(spec, "smoke", tmp_path, None)
    directory.mkdir(parents=True)
    runs.set_status(directory, "done", epoch=2)  # stopped after training, before its evaluations were stored
    assert sweep.state_of(spec, "smoke", tmp_path, None) == sweep.NOT_EVALUATED
    assert sweep.NOT_EVALUATED not in sweep.FINISHED  # so the next sweep runs it (and evaluates it)
    runs.write_table(directory, "evaluations", pd.DataFrame({"hash": ["0" * 32], "proxy_accuracy": [0.1]}))
    assert sweep.state_of(spec, "smoke", tmp_path, None) == "done"

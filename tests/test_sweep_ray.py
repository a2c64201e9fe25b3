"""The grid on Ray: a local instance without any running cluster, a smoke grid, and a worker killed mid-run."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import ray

from wsnas import runs, sweep
from wsnas.cli import main

pytestmark = pytest.mark.slow
# Smoke runs with a few more epochs, so that a kill lands between checkpoints, and fewer cells to evaluate.
LONGER = ["--set", "epochs=4", "--set", "num_eval_cells=2"]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs, started here (no cluster needed)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_the_ray_executor_starts_a_local_instance_when_no_cluster_runs(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    script = ("import ray; from wsnas import sweep; "
              f"sweep.run_sweep([], 'smoke', results_root={str(tmp_path)!r}, executor='ray', progress=False); "
              "print('cpus', ray.cluster_resources().get('CPU', 0)); ray.shutdown()")
    # A fresh process, no address, no $RAY_ADDRESS: it used to stop at "Could not find any running Ray instance".
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cpus" in done.stdout


def test_a_smoke_grid_through_ray(local_ray, tmp_path: Path, capsys) -> None:
    argv = ["sweep", "--executor", "ray", "--profile", "smoke", "--spaces", "A4", "--variants", "baseline",
            "--seeds", "0", "1", "--results", str(tmp_path)]
    assert main(argv) == 0
    catalogue = runs.catalogue(tmp_path)
    assert sorted(catalogue["run"]) == ["A4_baseline_seed0_smoke", "A4_baseline_seed1_smoke"]
    assert set(catalogue["state"]) == {"done"}
    for run in catalogue["path"]:
        assert (Path(run) / sweep.CHAPTER).exists()
        worker = json.loads((Path(run) / sweep.WORKER_FILE).read_text())
        assert worker["pid"] != os.getpid()  # each run went through a Ray worker
    capsys.readouterr()
    assert main(["runs", "--results", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "epoch" in listing and listing.count("2/2") == 2  # each run's status and epoch


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_worker_after_first_checkpoint(directory: Path, killed: dict) -> None:
    """Wait until the run has checkpointed an epoch, then kill its Ray worker and the kernel it started."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = runs.get_status(directory) or {}
        if status.get("state") == "running" and status.get("epoch", 0) >= 1 and (directory / sweep.WORKER_FILE).exists():
            pid = json.loads((directory / sweep.WORKER_FILE).read_text())["pid"]
            killed["epoch"] = status["epoch"]
            killed["epochs_logged"] = pd.read_parquet(directory / "train_epochs.parquet")
            for process in [*children_of(pid), pid]:  # the kernel first, so that nothing goes on training
                os.kill(process, signal.SIGKILL)
            killed["pid"] = pid
            return
        time.sleep(0.1)


def test_a_killed_worker_is_reported_and_the_rerun_resumes_it(local_ray, tmp_path: Path) -> None:
    argv = ["sweep", "--executor", "ray", "--profile", "smoke", "--spaces", "A4", "--variants", "baseline",
            "--seeds", "0", "1", *LONGER, "--results", str(tmp_path)]
    specs = sweep.grid(["A4"], ["baseline"], [0, 1])
    overrides = {"epochs": 4, "num_eval_cells": 2}
    victim, survivor = (sweep.spec_directory(spec, "smoke", tmp_path, overrides) for spec in specs[::-1])
    killed: dict = {}
    killer = threading.Thread(target=kill_worker_after_first_checkpoint, args=(victim, killed))
    killer.start()
    assert main(argv) == 1  # not every run finished
    killer.join()
    assert "pid" in killed, "the run finished before it could be killed"
    status = runs.get_status(victim)
    assert status["state"] == "failed" and "Ray task failed" in status["error"]
    assert status["epoch"] >= killed["epoch"]  # the failed run keeps its last epoch
    assert runs.get_status(survivor)["state"] == "done"
    survivor_files = {path.name: path.stat().st_mtime_ns for path in survivor.iterdir()}

    table = sweep.run_sweep(specs, "smoke", results_root=tmp_path, overrides=overrides, executor="ray", progress=False)
    assert list(table["state"]) == ["done", "done"]
    assert list(table["ran_now"]) == [False, True]  # the finished run is not redone
    assert {path.name: path.stat().st_mtime_ns for path in survivor.iterdir()} == survivor_files
    # Resumed, not restarted: the epochs logged before the kill come back unchanged, wall-clock seconds included.
    after = pd.read_parquet(victim / "train_epochs.parquet")
    assert len(after) == 4
    before = killed["epochs_logged"]
    pd.testing.assert_frame_equal(after.iloc[: len(before)].reset_index(drop=True), before)

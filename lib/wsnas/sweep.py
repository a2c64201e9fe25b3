"""The paper's grid of super-net runs (spaces × variants × seeds), each a papermill execution of
the training chapter, run one after another on this machine or in parallel on a Ray cluster.

A sweep is resumable: finished and diverged runs are skipped, an interrupted one resumes from its
last checkpoint (`wsnas.train`), and every run keeps its executed notebook in its run directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from wsnas import runs
from wsnas.space import SPACES
from wsnas.supernet import VARIANTS

BOOK = Path(__file__).resolve().parents[2] / "book"
CHAPTER = "training.ipynb"
FINISHED = ("done", "diverged")


@dataclass(frozen=True)
class RunSpec:
    space: str
    variant: str
    seed: int


def grid(spaces: Iterable[str] = SPACES, variants: Iterable[str] = VARIANTS,
         seeds: Iterable[int] = range(5)) -> list[RunSpec]:
    """Every (space, variant, seed) combination, checked against the known names."""
    spaces, variants, seeds = list(spaces), list(variants), [int(seed) for seed in seeds]
    unknown = [name for name in spaces if name not in SPACES] + [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown space or variant {unknown}: spaces are {SPACES}, variants {VARIANTS}")
    return [RunSpec(*combination) for combination in product(spaces, variants, seeds)]


def run_directory(spec: RunSpec, profile: str, results_root: Path, overrides: dict[str, Any] | None) -> Path:
    return results_root / "training" / runs.run_name(spec.space, spec.variant, spec.seed, profile, overrides)


def state_of(spec: RunSpec, profile: str, results_root: Path, overrides: dict[str, Any] | None) -> str:
    status = runs.get_status(run_directory(spec, profile, results_root, overrides))
    return status["state"] if status else "not started"


def execute(spec: RunSpec, profile: str, results_root: Path, device: str,
            overrides: dict[str, Any] | None) -> str:
    """Run the training chapter for `spec` with papermill; the executed notebook lands in the run directory."""
    import papermill

    directory = run_directory(spec, profile, results_root, overrides)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(BOOK / CHAPTER), str(directory / CHAPTER), cwd=str(BOOK), progress_bar=False,
            parameters={"profile": profile, "space": spec.space, "variant": spec.variant, "seed": spec.seed,
                        "device": device, "results_root": str(results_root), "overrides": overrides or None},
        )
    except papermill.PapermillExecutionError as error:
        # One failing run must not stop the grid: record it (the executed notebook shows the cell) and go on.
        if state_of(spec, profile, results_root, overrides) not in FINISHED:
            runs.set_status(directory, "failed", error=f"{error.ename}: {error.evalue}",
                            notebook=str(directory / CHAPTER))
    return state_of(spec, profile, results_root, overrides)


def run_sweep(specs: list[RunSpec], profile: str, *, results_root: str | Path | None = None, device: str = "cpu",
              overrides: dict[str, Any] | None = None, executor: str = "local", gpus_per_run: float = 1.0) -> pd.DataFrame:
    """Execute the runs of `specs` that are not finished yet; one row per spec with its final state."""
    results_root = runs.resolve_root(results_root)
    todo = [spec for spec in specs if state_of(spec, profile, results_root, overrides) not in FINISHED]
    if executor == "local":
        for spec in todo:
            execute(spec, profile, results_root, device, overrides)
    elif executor == "ray":
        _run_on_ray(todo, profile, results_root, device, overrides, gpus_per_run)
    else:
        raise ValueError(f"unknown executor {executor!r}: use 'local' or 'ray'")
    return pd.DataFrame([{**vars(spec), "state": state_of(spec, profile, results_root, overrides),
                          "ran_now": spec in todo} for spec in specs])


def _run_on_ray(specs: list[RunSpec], profile: str, results_root: Path, device: str,
                overrides: dict[str, Any] | None, gpus_per_run: float) -> None:
    try:
        import ray
    except ImportError as error:
        raise RuntimeError("the Ray executor needs Ray: pip install -e '.[cluster]'") from error
    ray.init(address="auto", ignore_reinit_error=True)  # joins the running cluster (`ray start --head`)
    remote = ray.remote(num_gpus=gpus_per_run if device.startswith("cuda") else 0)(execute)
    pending = [remote.remote(spec, profile, results_root, device, overrides) for spec in specs]
    while pending:  # wait for every run, even when one task crashes; its state says what happened
        finished, pending = ray.wait(pending)
        for task in finished:
            try:
                ray.get(task)
            except ray.exceptions.RayError as error:
                print(f"a sweep task failed: {error}")

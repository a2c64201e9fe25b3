"""The paper's grid of super-net runs (spaces × variants × seeds), each a papermill execution of
the training chapter, run on this machine or in parallel on a Ray cluster.

A sweep is resumable: finished and diverged runs are skipped, an interrupted or failed one
resumes from its last checkpoint (`wsnas.train`), and every run keeps its executed notebook in
its run directory. Several runs can share a device (`runs_per_device`): with Ray through
fractional GPU requests, locally as that many processes per device.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import product
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
import papermill
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from wsnas import runs
from wsnas.datafiles import project_root
from wsnas.evaluate import evaluations_name
from wsnas.settings import VARIANTS
from wsnas.space import SPACES

CHAPTER = "training.ipynb"
FINISHED = ("done", "diverged")
NOT_EVALUATED = "trained, not evaluated"  # a run stopped between the end of training and its evaluations
WORKER_FILE = "worker.json"  # which host and process runs (or last ran) the chapter
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: a super-net of `variant` on `space` with `seed`, at the sweep's profile."""

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


def book_dir() -> Path:
    """The `book/` folder of the book being built (`datafiles.project_root()`), which holds the training chapter."""
    root = project_root()
    book = (root or Path.cwd()) / "book"
    if not (book / CHAPTER).is_file():
        raise FileNotFoundError(f"no {CHAPTER} in {book}: run the sweep from inside the wsnas repository")
    return book


def spec_directory(spec: RunSpec, profile: str, results_root: Path, overrides: dict[str, Any] | None) -> Path:
    """The training run directory of `spec` (`runs.run_directory`)."""
    params = {"space": spec.space, "variant": spec.variant, "seed": spec.seed, "profile": profile}
    return runs.run_directory("training", params, overrides, results_root)


def state_of(spec: RunSpec, profile: str, results_root: Path, overrides: dict[str, Any] | None) -> str:
    """The run's state; a trained run counts as done only once its evaluations are stored."""
    directory = spec_directory(spec, profile, results_root, overrides)
    status = runs.get_status(directory)
    if not status:
        return "not started"
    if status["state"] == "done" and not (directory / f"{evaluations_name()}.parquet").exists():
        return NOT_EVALUATED
    return status["state"]


def chapter_parameters(spec: RunSpec, profile: str, results_root: Path, device: str,
                       overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The papermill parameters of the training chapter for one run."""
    return {"profile": profile, "space": spec.space, "variant": spec.variant, "seed": spec.seed,
            "device": device, "results_root": str(results_root), "overrides": overrides or None}


def execute(spec: RunSpec, profile: str, results_root: Path, device: str,
            overrides: dict[str, Any] | None, book: Path | None = None) -> str:
    """Run the training chapter (of `book`, default `book_dir()`) for `spec` with papermill; the executed
    notebook lands in the run directory."""
    book = Path(book) if book is not None else book_dir()
    directory = spec_directory(spec, profile, results_root, overrides)
    directory.mkdir(parents=True, exist_ok=True)
    runs.write_json(directory / WORKER_FILE, {"host": socket.gethostname(), "pid": os.getpid(), "device": device})
    try:
        papermill.execute_notebook(
            str(book / CHAPTER), str(directory / CHAPTER), cwd=str(book), progress_bar=False,
            parameters=chapter_parameters(spec, profile, results_root, device, overrides),
        )
    except papermill.PapermillExecutionError as error:
        # One failing run must not stop the grid: record it (the executed notebook shows the cell) and go on.
        mark_failed(spec, profile, results_root, overrides, f"{error.ename}: {error.evalue}")
    return state_of(spec, profile, results_root, overrides)


def mark_failed(spec: RunSpec, profile: str, results_root: Path, overrides: dict[str, Any] | None, error: str) -> None:
    """Record that an unfinished run stopped (its last epoch kept), so that `wsnas runs` shows it and a rerun resumes it."""
    directory = spec_directory(spec, profile, results_root, overrides)
    status = runs.get_status(directory) or {}
    if status.get("state") in FINISHED:
        return
    kept = {key: value for key, value in status.items() if key not in ("state", "updated", "error")}
    runs.set_status(directory, "failed", **kept, error=error, notebook=str(directory / CHAPTER))


def run_sweep(specs: list[RunSpec], profile: str, *, results_root: str | Path | None = None, device: str = "cpu",
              overrides: dict[str, Any] | None = None, executor: str = "local", runs_per_device: int = 1,
              address: str | None = None, retries: int = 0, progress: bool = True) -> pd.DataFrame:
    """Execute the runs of `specs` that are not finished yet; one row per spec with its final state.

    `device` may list several devices separated by commas (local executor: each gets
    `runs_per_device` processes). With Ray, `address` (or $RAY_ADDRESS) joins a running
    cluster; without one a local Ray instance is started, as `ray.init()` does. `retries`: how
    many times Ray reruns a run whose worker died (each retry resumes from the last checkpoint).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if int(runs_per_device) != runs_per_device or runs_per_device < 1:
        raise ValueError(f"runs_per_device must be a positive integer, got {runs_per_device!r}")
    if executor == "ray" and "," in device:
        raise ValueError(f"--device {device}: with Ray pass one device type (cpu or cuda); Ray assigns the GPUs")
    results_root = runs.resolve_root(results_root)
    book = book_dir()  # resolved here, so that workers started elsewhere run this repository's chapter
    todo = [spec for spec in specs if state_of(spec, profile, results_root, overrides) not in FINISHED]
    with tqdm(total=len(todo), desc=f"{len(todo)} of {len(specs)} runs to do", unit="run", disable=not progress) as bar:
        def finished(spec: RunSpec, state: str) -> None:
            bar.set_postfix_str(f"{spec.space} {spec.variant} seed {spec.seed}: {state}")
            bar.update(1)

        if executor == "local":
            _run_locally(todo, profile, results_root, device, overrides, book, int(runs_per_device), finished)
        else:
            _run_on_ray(todo, profile, results_root, device, overrides, book, int(runs_per_device), address, retries,
                        finished)
    return pd.DataFrame([{**vars(spec), "state": state_of(spec, profile, results_root, overrides),
                          "ran_now": spec in todo} for spec in specs])


def _run_locally(specs: list[RunSpec], profile: str, results_root: Path, device: str,
                 overrides: dict[str, Any] | None, book: Path, runs_per_device: int, finished) -> None:
    devices = [name.strip() for name in device.split(",") if name.strip()]
    if len(devices) * runs_per_device == 1:
        for spec in specs:
            finished(spec, execute(spec, profile, results_root, devices[0], overrides, book))
        return
    # runs_per_device worker processes per device; the runs are dealt to the devices in turn.
    pools = [ProcessPoolExecutor(runs_per_device, mp_context=get_context("spawn")) for _ in devices]
    try:
        futures = {pools[i % len(devices)].submit(execute, spec, profile, results_root, devices[i % len(devices)],
                                                  overrides, book): spec for i, spec in enumerate(specs)}
        for future in as_completed(futures):
            spec = futures[future]
            try:
                state = future.result()
            except (BrokenProcessPool, RuntimeError, OSError) as error:  # a crashed worker or kernel: record it, go on
                mark_failed(spec, profile, results_root, overrides, f"worker process failed: {error!r}")
                state = "failed"
            finished(spec, state)
    finally:
        for pool in pools:
            pool.shutdown(wait=True)


def ray_resources(device: str, runs_per_device: int) -> dict[str, float]:
    """What Ray reserves per run: a 1/runs_per_device share of a GPU for CUDA runs, one CPU otherwise."""
    if device.startswith("cuda"):
        return {"num_gpus": 1.0 / runs_per_device, "num_cpus": 1}
    return {"num_gpus": 0, "num_cpus": 1}


def _run_on_ray(specs: list[RunSpec], profile: str, results_root: Path, device: str, overrides: dict[str, Any] | None,
                book: Path, runs_per_device: int, address: str | None, retries: int, finished) -> None:
    try:
        import ray  # noqa: PLC0415 (optional: the cluster extra)
    except ImportError as error:
        raise RuntimeError("the Ray executor needs Ray: pip install -e '.[cluster]'") from error
    if not ray.is_initialized():
        # An address (or $RAY_ADDRESS, or a cluster from `ray start`) is joined; else a local instance starts,
        # as ray.init() does, but without the dashboard's dozen processes (`ray start --head` has it).
        ray.init(address=address, include_dashboard=False)
    remote = ray.remote(max_retries=retries, **ray_resources(device, runs_per_device))(execute)
    pending = {remote.remote(spec, profile, results_root, device, overrides, book): spec for spec in specs}
    while pending:  # wait for every run, even when one task crashes; its state says what happened
        done, _ = ray.wait(list(pending))
        for task in done:
            spec = pending.pop(task)
            try:
                state = ray.get(task)
            except ray.exceptions.RayError as error:
                mark_failed(spec, profile, results_root, overrides, f"Ray task failed: {type(error).__name__}: {error}")
                state = "failed"
            finished(spec, state)

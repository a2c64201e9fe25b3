"""Run directories: one per (stage, parameters) under `results/`, written atomically, and their catalogue.

Layout: `<root>/<stage>/<space>_<variant>_seed<k>_<profile>[_<hash of overrides>]/` holding
`params.json` (the full resolved parameters), `status.json` (running / done / diverged), and the
stage's artifacts (checkpoint, logs and evaluation parquet files, the executed notebook).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .datafiles import atomic_path, project_root

PARAMS_FILE = "params.json"
STATUS_FILE = "status.json"
STATES = ("running", "done", "diverged", "failed")


class RunConflictError(RuntimeError):
    """A run directory already holds a run with other parameters under the same key."""


def resolve_root(results_root: str | Path | None = None) -> Path:
    """Where runs live, as an absolute path: `results_root` if given (relative to the working directory),
    else $WSNAS_RESULTS, else `results/` beside the book being built (`datafiles.project_root()`), else
    `results/` in the working directory.

    Chapters default to None, so jupyter-book (running in `book/`), papermill and the CLI, run
    anywhere in the repository, all find the same runs; never the installed package's location.
    """
    if results_root is None:
        results_root = os.environ.get("WSNAS_RESULTS") or (project_root() or Path.cwd()) / "results"
    return Path(results_root).expanduser().resolve()


def overrides_hash(overrides: dict[str, Any] | None) -> str:
    """Eight hex digits identifying a set of overrides ('' when there are none)."""
    if not overrides:
        return ""
    text = json.dumps(overrides, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def run_name(space: str, variant: str, seed: int, profile: str, overrides: dict[str, Any] | None = None) -> str:
    name = f"{space}_{variant}_seed{seed}_{profile}"
    suffix = overrides_hash(overrides)
    return f"{name}_{suffix}" if suffix else name


def run_directory(stage: str, params: dict[str, Any], overrides: dict[str, Any] | None = None,
                  root: str | Path | None = None) -> Path:
    """Where the run of `params` (which name space, variant, seed, profile) lives under `root` (not created)."""
    for key in ("space", "variant", "seed", "profile"):
        if key not in params:
            raise ValueError(f"run parameters need {key!r}; got {sorted(params)}")
    return resolve_root(root) / stage / run_name(params["space"], params["variant"], params["seed"], params["profile"],
                                                 overrides)


def open_run(stage: str, params: dict[str, Any], *, overrides: dict[str, Any] | None = None,
             root: str | Path | None = None) -> Path:
    """The run directory of `params` (`run_directory`), created or reopened.

    A directory that already holds different parameters is refused: delete it, or change the
    overrides, to run again.
    """
    directory = run_directory(stage, params, overrides, root)
    record = {"stage": stage, "overrides": overrides or {}, **_jsonable(params)}
    existing = directory / PARAMS_FILE
    if existing.exists():
        stored = read_json(existing)
        if stored != record:
            changed = sorted(key for key in set(stored) | set(record) if stored.get(key) != record.get(key))
            raise RunConflictError(
                f"{directory} already holds a run with other parameters (differing: {changed}); "
                "delete that directory to rerun, or pass overrides to get a separate run"
            )
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    write_json(existing, record)
    return directory


def write_json(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise RunConflictError(f"{path} is not valid JSON ({error}); the run directory is damaged, delete it") from error


def set_status(directory: Path, state: str, **details: Any) -> None:
    """Record the run's state (running / done / diverged / failed) with `details`, atomically."""
    if state not in STATES:
        raise ValueError(f"unknown run state {state!r}; choose one of {STATES}")
    write_json(Path(directory) / STATUS_FILE, {"state": state, "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), **_jsonable(details)})


def get_status(directory: Path) -> dict[str, Any] | None:
    """The run's status record, or None when it has none yet."""
    path = Path(directory) / STATUS_FILE
    return read_json(path) if path.exists() else None


def write_table(directory: Path, name: str, table: pd.DataFrame) -> Path:
    """Write `table` as `<directory>/<name>.parquet`, atomically."""
    path = Path(directory) / f"{name}.parquet"
    with atomic_path(path) as temporary:
        table.to_parquet(temporary, index=False)
    return path


def read_table(directory: Path, name: str) -> pd.DataFrame | None:
    path = Path(directory) / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def catalogue(root: str | Path | None = None) -> pd.DataFrame:
    """One row per run directory found under `root`: stage, name, state and its parameters."""
    rows = []
    for params_path in sorted(resolve_root(root).glob(f"*/*/{PARAMS_FILE}")):
        directory = params_path.parent
        params = read_json(params_path)
        status = get_status(directory) or {"state": "not started"}
        rows.append({"stage": directory.parent.name, "run": directory.name, "state": status["state"],
                     "epoch": status.get("epoch"), "updated": status.get("updated"), "path": str(directory),
                     **{key: value for key, value in params.items() if key != "stage" and not isinstance(value, dict)}})
    columns = ["stage", "run", "state", "epoch", "updated", "path"]
    return pd.DataFrame(rows, columns=None if rows else columns)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """`values` round-tripped through JSON, so that stored and fresh records compare equal."""
    return json.loads(json.dumps(values, sort_keys=True, default=str))

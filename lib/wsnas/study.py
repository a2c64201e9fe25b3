"""The CPU study "how long must a super-net train?": A4 super-nets trained with the authors' protocol for
3, 9, 27 and 81 epochs (each run its own cosine schedule), a second seed at 27 epochs, the 81-epoch
run's checkpoints at epochs 9 and 27, all ranking the same 300 A4 cells (profile `cpu-study`).

`run_study` trains and evaluates (resumable, in `results/`), then commits each run's evaluations to
`data/study/<run>/` (evaluations.parquet, train_log.parquet, params.json, with MANIFEST rows) as soon
as they exist; `study_correlations` reads them back for the book and `wsnas study`.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from . import runs
from .checkpoints import load_trained_supernet
from .data import TrainingBatches, load_training_data, training_precision, validation_precision
from .datafiles import atomic_path, data_dir, data_path, manifest, record_in_manifest
from .evaluate import (
    evaluate_run,
    evaluations_name,
    proxy_accuracy,
    replayed_statistics,
    run_evaluation_cells,
    second_statistics,
    validation_indices,
)
from .nb101 import NB101
from .results import (
    BN_READINGS_COLUMNS,
    BN_READINGS_FILE,
    CHECKPOINT_CELLS,
    CORRECTED_MOMENTUM,
    EARLIER_PRECISION,
    MAIN_PY_MOMENTUM,
    READINGS_CHUNK,
    READINGS_COLUMNS,
    SPREAD_CELLS,
    SPREAD_DRAWS,
    STUDY_DIR,
    STUDY_RUNS,
    STUDY_SPACE,
    WHOLE_SPACE_CHUNK,
    WHOLE_SPACE_COLUMNS,
    StudyRun,
    committed,
    committed_epochs,
    draw_reading,
    reading_names,
    readings_chunk,
    study_run,
    whole_space_chunk,
    with_precision,
)
from .settings import RunSettings, run_settings
from .space import cells_at, sample_cells, space_mask
from .train import train_supernet

STATE_DIR = "state"  # data/study/<run>/state/: the run directory's checkpoints and logs (a fresh clone resumes from them)
STATE_FILES = ("checkpoint.pt", "status.json", "train_epochs.parquet", "train_steps.parquet")  # + checkpoint_epoch*.pt
SECONDS_FILE = "evaluation_seconds_e{epoch}.json"  # in the run directory: what evaluating that epoch cost
STUDY_EVALUATION_COLUMNS = ["hash", "epoch", "mode", "proxy_accuracy", "precision"]  # data/study/<run>/evaluations.parquet


def run_overrides(run: StudyRun) -> dict:
    """The profile overrides of one committed run (its settings, the budget; mid-run checkpoints only where evaluated)."""
    return {**dict(run.settings), "epochs": run.epochs, "keep_checkpoints": list(run.checkpoints)}


def run_study(names: list[str] | None = None, *, results_root: str | Path | None = None, progress: bool = True,
              allow_precision_switch: bool = False, train_only: bool = False) -> None:
    """Train, evaluate and commit to data/study/ each named run (default: the budget study's), skipping what exists.

    Each evaluated epoch is committed as soon as it exists (the final epoch first), so an interruption loses
    at most the epoch being evaluated. `allow_precision_switch`: see `wsnas.train.train_supernet`;
    `train_only` stops after training (and commits its state).
    """
    _git_commit()  # read now: a run ends hours later, perhaps after other commits
    for run in [study_run(name) for name in names] if names else STUDY_RUNS:
        if committed(run):
            continue
        spec, run_dir = open_study_run(run, results_root)
        result = train_supernet(spec.train, run_dir, progress=progress, allow_precision_switch=allow_precision_switch)
        if result.diverged:
            raise RuntimeError(f"study run {run.name} diverged ({result.reason}); see {run_dir}")
        if train_only:
            preserve_state(run, run_dir)
            continue
        for epoch in run.evaluated_epochs:
            if epoch not in committed_epochs(run):  # a fresh clone re-evaluates only what data/ lacks
                evaluate_epoch(run, epoch, results_root=results_root, progress=progress)
                save_progress(run, results_root=results_root)


def save_progress(run: StudyRun, *, results_root: str | Path | None = None) -> list[str]:
    """Commit to data/study/<run>/ whatever the run directory holds now: its state (checkpoints, logs) and, once
    training is done, the evaluations of every epoch already evaluated there (by any process). Returns the data
    names written. For the end of a sitting: nothing computed is lost, and `run_study` later adds the rest."""

    spec, run_dir = open_study_run(run, results_root)
    status = runs.get_status(run_dir) or {}
    evaluated = [epoch for epoch in run.evaluated_epochs
                 if runs.read_table(run_dir, evaluations_name(None if epoch == run.epochs else epoch)) is not None]
    if status.get("state") != "done" or not evaluated:
        return preserve_state(run, run_dir)
    fresh = pd.concat([evaluate_epoch(run, epoch, results_root=results_root, progress=False) for epoch in evaluated])
    kept, kept_seconds = _committed_evaluations(run, except_epochs=evaluated)  # evaluated by an earlier sitting
    evaluations = pd.concat([table for table in (kept, fresh[STUDY_EVALUATION_COLUMNS]) if not table.empty], ignore_index=True)
    export_run(run, run_dir, evaluations.sort_values(["epoch", "mode"], kind="stable"),
               runs.read_table(run_dir, "train_epochs"), spec.params(),
               evaluation_seconds={**kept_seconds, **{epoch: _evaluation_seconds(run_dir, epoch) for epoch in evaluated}})
    return sorted(name for name in manifest() if name.startswith(f"{STUDY_DIR}/{run.name}/"))


def evaluate_epoch(run: StudyRun, epoch: int, *, results_root: str | Path | None = None,
                   progress: bool = True) -> pd.DataFrame:
    """NO-FT and BNS-FT of one evaluated epoch of a trained study run, cached in its run directory with the
    seconds it took.

    A second process may evaluate another epoch of the same run meanwhile (`wsnas study --run R --evaluate E`):
    `run_study` then finds it cached.
    """
    if epoch not in run.evaluated_epochs:
        raise ValueError(f"{run.name} evaluates epochs {run.evaluated_epochs}, not {epoch}")
    spec, run_dir = open_study_run(run, results_root)
    started = time.perf_counter()
    table = evaluate_run(spec, run_dir, progress=progress, epoch=None if epoch == run.epochs else epoch)
    if not (run_dir / SECONDS_FILE.format(epoch=epoch)).exists():  # first evaluation of this epoch: record its cost
        runs.write_json(run_dir / SECONDS_FILE.format(epoch=epoch), {"seconds": round(time.perf_counter() - started, 1)})
    return table.assign(epoch=epoch)


REPLAY_SEED = 10_000  # seeds of the replayed draws: REPLAY_SEED + draw (apart from training's and evaluation's)


@dataclass(frozen=True)
class BnReading:
    """NO-FT after `replay_steps` more training-mode forward passes (fresh draws of cells and batches, seed
    REPLAY_SEED + draw) at BN `momentum`, in `precision`, starting from the statistics the run trained with."""

    momentum: float
    replay_steps: int
    precision: str = "fp32"
    draw: int = 0


# The replays start from the trained statistics, not from reset ones: a cell uses only some of the norms (its vertex
# slots) and the first channels of each, so a rarely used slice replayed from reset would keep reset values, where
# a training run holds that slice's last statistics. At the published code's default 0.997 NO-FT reads the last batch
# or two of each slice, hence depends on the draw: 100 replayed steps leave each slice they use with its last
# batch's statistics (what came before keeps 0.003^2 of its weight after two uses). At 0.003, 2,000 more steps in fp32
# and in bf16 from the same draw show what bf16 arithmetic does to the statistics NO-FT reads.
BN_READINGS: tuple[BnReading, ...] = (
    *(BnReading(MAIN_PY_MOMENTUM, 100, draw=draw) for draw in range(5)),
    BnReading(CORRECTED_MOMENTUM, 2000, "fp32"),
    BnReading(CORRECTED_MOMENTUM, 2000, "bf16"),
)


def bn_momentum_readings(run: StudyRun, readings: tuple[BnReading, ...] = BN_READINGS, *,
                         results_root: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """NO-FT of the run's evaluation cells under each replayed reading of the BN statistics, committed to
    data/study/<run>/bn_readings.parquet (MANIFEST row) after each reading; readings already there are kept."""

    spec, run_dir = open_study_run(run, results_root)
    config, settings = spec.train, spec.evaluate
    path = data_dir() / STUDY_DIR / run.name / BN_READINGS_FILE
    table = pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=BN_READINGS_COLUMNS)
    supernet = load_trained_supernet(config, run_dir)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    cells, _ = run_evaluation_cells(spec, NB101.default())
    for reading in readings:
        key = (table["momentum"] == reading.momentum) & (table["precision"] == reading.precision) & (
            table["draw"] == reading.draw) & (table["replay_steps"] == reading.replay_steps)
        if key.any():
            continue
        seed = REPLAY_SEED + reading.draw
        replayed = cells_at(sample_cells(config.space, reading.replay_steps, seed=seed, method=config.sampler))
        batches = TrainingBatches(split, config.batch_size, seed=seed, layout=config.memory_format)
        with replayed_statistics(supernet, replayed, batches, reading.momentum, reading.precision, reset=False):
            accuracy = proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode="no_ft",
                                      batch_size=settings["eval_batch_size"], progress=progress, layout=config.memory_format)
        rows = accuracy[["hash", "proxy_accuracy"]].assign(momentum=reading.momentum, precision=reading.precision,
                                                            draw=reading.draw, replay_steps=reading.replay_steps)
        table = pd.concat([table, rows[BN_READINGS_COLUMNS]] if not table.empty else [rows[BN_READINGS_COLUMNS]],
                          ignore_index=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary:
            table.to_parquet(temporary, index=False)
        command = f"wsnas study --run {run.name} --bn-readings"
        record_in_manifest(f"{STUDY_DIR}/{run.name}/{BN_READINGS_FILE}", source=f"computed here: {command} (profile "
                           f"{run.profile}; NO-FT under replayed BN statistics, wsnas.study.BN_READINGS)",
                           licence="MIT (this project)", made_by=f"{command} at commit {_git_commit()}")
    return table


def chunk_precision(names: list[str], spec: RunSettings) -> str:
    """The precision of the validation passes of a chunked evaluation: that of its chunks already committed (`names`;
    fp32 for chunks from before the column), else the run's `eval_precision` on its device. One evaluation never
    mixes precisions, even when it resumes on a machine whose `auto` means another one."""
    committed_names = [name for name in names if (data_dir() / name).exists()]
    if committed_names:
        first = data_path(committed_names[0])
        if "precision" not in pq.read_schema(first).names:
            return EARLIER_PRECISION  # a chunk from before the column
        return str(with_precision(pd.read_parquet(first, columns=["precision"]))["precision"].iloc[0])
    return validation_precision(spec.evaluate["eval_precision"], spec.train.device)


def evaluate_whole_space(run: StudyRun, *, chunks: list[int] | None = None, chunk_size: int = WHOLE_SPACE_CHUNK,
                         results_root: str | Path | None = None, progress: bool = True,
                         last_first: bool = False) -> list[str]:
    """NO-FT and BNS-FT of every cell of the run's space (its final checkpoint, its evaluation settings), in chunks of
    `chunk_size` cells in table order, each committed to data/study/<run>/whole_space/chunk<k>.parquet with a
    MANIFEST row as it finishes; chunks already committed are skipped (also those another process commits meanwhile,
    so two processes can work through `chunks` in opposite orders: `last_first`), so an interrupted job resumes. Chunk k draws
    its BNS-FT batches from a stream of seed eval_seed + k (one chunk is redone alone). Returns the data names written.
    """

    spec, run_dir = open_study_run(run, results_root)
    config, settings = spec.train, spec.evaluate
    indices = np.flatnonzero(space_mask(config.space))
    count = -(-len(indices) // chunk_size)
    wanted = range(count) if chunks is None else chunks
    todo = [k for k in (reversed(wanted) if last_first else wanted) if not (data_dir() / whole_space_chunk(run.name, k)).exists()]
    if not todo:
        return []
    precision = chunk_precision([whole_space_chunk(run.name, k) for k in range(count)], spec)
    supernet = load_trained_supernet(config, run_dir)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    written = []
    for chunk in todo:
        if (data_dir() / whole_space_chunk(run.name, chunk)).exists():
            continue  # committed meanwhile by another process working on the same run (e.g. in the other order)
        cells = cells_at(indices[chunk * chunk_size:(chunk + 1) * chunk_size])
        tables = []
        for mode in ("no_ft", "bns_ft"):
            batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"] + chunk,
                                      layout=config.memory_format)
            tables.append(proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                                         train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                                         bn_statistics=settings["bn_statistics"], batch_size=settings["eval_batch_size"],
                                         progress=progress, layout=config.memory_format, precision=precision))
        name = whole_space_chunk(run.name, chunk)
        (data_dir() / name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(data_dir() / name) as temporary:
            pd.concat(tables, ignore_index=True).assign(precision=precision)[WHOLE_SPACE_COLUMNS].to_parquet(
                temporary, index=False)
        command = f"wsnas study --run {run.name} --whole-space"
        record_in_manifest(name, source=f"computed here: {command} (profile {run.profile}; chunk {chunk} of {count}, "
                           f"{chunk_size} cells in table order; {precision} validation)", licence="MIT (this project)",
                           made_by=f"{command} at commit {_git_commit()}")
        written.append(name)
    return written


def evaluate_readings(run: StudyRun, epoch: int, *, n_cells: int | None = None, draws: bool = False,
                      chunk_size: int = READINGS_CHUNK, results_root: str | Path | None = None, progress: bool = True,
                      last_first: bool = False) -> list[str]:
    """Read checkpoint `epoch` of a run that keeps two sets of BN statistics on its first `n_cells` evaluation cells
    (default: all of them at the final epoch, CHECKPOINT_CELLS at a mid-run one), in chunks of `chunk_size` cells,
    each committed to data/ with a MANIFEST row as it finishes (chunks already there are skipped, also those another
    process commits meanwhile, so two processes can share the chunks, one of them `last_first`).

    The readings (`reading_names`): BNS-FT from the last and from the mean of the same batches (chunk k draws them
    from a stream of seed eval_seed + k), NO-FT under each set of running statistics. `draws` instead re-reads NO-FT
    under the first set after SPREAD_DRAWS replays of 100 last steps (`BN_READINGS`' draws), on SPREAD_CELLS cells.
    Returns the data names written.
    """

    if epoch not in run.evaluated_epochs:
        raise ValueError(f"{run.name} keeps epochs {run.evaluated_epochs}, not {epoch}")
    spec, run_dir = open_study_run(run, results_root)
    config, settings = spec.train, spec.evaluate
    if not config.second_bn_momentum:
        raise ValueError(f"{run.name} keeps one set of BN statistics; its readings are `wsnas study --run {run.name}`")
    n_cells = n_cells or (SPREAD_CELLS if draws else settings["num_eval_cells"] if epoch == run.epochs else CHECKPOINT_CELLS)
    cells, _ = run_evaluation_cells(spec, NB101.default())
    chunks = range(-(-min(n_cells, len(cells)) // chunk_size))
    todo = [k for k in (reversed(chunks) if last_first else chunks)
            if not (data_dir() / readings_chunk(run.name, epoch, k, draws)).exists()]
    if not todo:
        return []
    precision = chunk_precision([readings_chunk(run.name, epoch, k, draws) for k in chunks], spec)
    supernet = load_trained_supernet(config, run_dir, None if epoch == run.epochs else epoch)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    images, labels = split.valid_images[valid], split.valid_labels[valid]

    def read(part, mode="no_ft", batch_seed=0, bn_statistics="last"):
        batches = TrainingBatches(split, settings["bn_batch_size"], seed=batch_seed, layout=config.memory_format)
        return proxy_accuracy(supernet, part, images, labels, mode=mode, train_batches=batches,
                              num_bn_batches=settings["num_bn_batches"], bn_statistics=bn_statistics,
                              batch_size=settings["eval_batch_size"], progress=progress, layout=config.memory_format,
                              precision=precision)

    last, mean, first_set, second_set = reading_names(config.bn_momentum, config.second_bn_momentum)
    written = []
    for chunk in todo:
        if (data_dir() / readings_chunk(run.name, epoch, chunk, draws)).exists():
            continue  # committed meanwhile by another process reading the same epoch
        part = cells[chunk * chunk_size:min((chunk + 1) * chunk_size, n_cells)]
        if draws:
            tables = []
            for draw in range(SPREAD_DRAWS):
                seed = REPLAY_SEED + draw
                replayed = cells_at(sample_cells(config.space, 100, seed=seed, method=config.sampler))
                batches = TrainingBatches(split, config.batch_size, seed=seed, layout=config.memory_format)
                with replayed_statistics(supernet, replayed, batches, config.bn_momentum,
                                         training_precision(config.precision, config.device), reset=False):
                    tables.append(read(part).assign(reading=draw_reading(config.bn_momentum, draw)))
        else:
            seed = settings["eval_seed"] + chunk
            tables = [read(part, "bns_ft", seed, "last").assign(reading=last),
                      read(part, "bns_ft", seed, "mean").assign(reading=mean), read(part).assign(reading=first_set)]
            with second_statistics(supernet):
                tables.append(read(part).assign(reading=second_set))
        name = readings_chunk(run.name, epoch, chunk, draws)
        table = pd.concat(tables, ignore_index=True).assign(epoch=epoch, precision=precision)[READINGS_COLUMNS]
        (data_dir() / name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(data_dir() / name) as temporary:
            table.to_parquet(temporary, index=False)
        command = f"wsnas study --run {run.name} --readings {epoch}{' --draws' if draws else ''}"
        record_in_manifest(name, source=f"computed here: {command} (profile {run.profile}; cells "
                           f"{chunk * chunk_size}-{chunk * chunk_size + len(part) - 1} of the run's evaluation "
                           f"cells; {precision} validation)", licence="MIT (this project)", made_by=f"{command} at commit {_git_commit()}")
        written.append(name)
    return written


def _evaluation_seconds(run_dir: Path, epoch: int) -> float | None:
    path = run_dir / SECONDS_FILE.format(epoch=epoch)
    return runs.read_json(path)["seconds"] if path.exists() else None  # None: evaluated before this was recorded


def open_study_run(run: StudyRun, results_root: str | Path | None) -> tuple[RunSettings, Path]:
    """The run's settings and run directory (created or reopened; an empty one gets the committed state of the
    run, if any, so that a fresh clone resumes or re-evaluates instead of retraining)."""
    spec = run_settings(run.profile, space=STUDY_SPACE, variant=run.variant, seed=run.seed, **run_overrides(run))
    run_dir = runs.open_run("training", spec.params(), overrides=spec.overrides, root=runs.resolve_root(results_root))
    restore_state(run, run_dir)
    return spec, run_dir


def _state_files(run_dir: Path) -> list[Path]:
    return sorted(path for path in run_dir.iterdir()
                  if path.name in STATE_FILES or (path.name.startswith("checkpoint_epoch") and path.suffix == ".pt"))


def preserve_state(run: StudyRun, run_dir: Path) -> list[str]:
    """Copy the run's checkpoints (final or latest, and the kept mid-run ones) and training logs from its run
    directory into data/study/<run>/state/, with MANIFEST rows; returns the files' data names.

    The trained super-net then ships with the repository: its evaluations can be redone or extended, and an
    unfinished run resumes on a fresh clone (`restore_state`).
    """
    files = _state_files(run_dir)
    if not any(path.name == "checkpoint.pt" for path in files):
        raise FileNotFoundError(f"{run_dir} holds no checkpoint.pt: train the run first (wsnas study --run {run.name})")
    command = f"wsnas study --run {run.name}"
    names_written = []
    for path in files:
        name = f"{STUDY_DIR}/{run.name}/{STATE_DIR}/{path.name}"
        with atomic_path(data_dir() / name) as temporary:
            shutil.copyfile(path, temporary)
        record_in_manifest(name, source=f"trained here: {command} (profile {run.profile}); state of its run directory "
                           "(checkpoints, training logs), copied back into an empty run directory by wsnas.study",
                           licence="MIT (this project)", made_by=f"{command} then wsnas study --run {run.name} --preserve "
                           f"at commit {_git_commit()}")
        names_written.append(name)
    return names_written


def restore_state(run: StudyRun, run_dir: Path) -> bool:
    """Copy data/study/<run>/state/ into `run_dir` if that holds no checkpoint yet; True if it did.

    The checkpoint is checked when training loads it (`wsnas.train`): a corrupt or foreign one is refused.
    """
    state = data_dir() / STUDY_DIR / run.name / STATE_DIR
    if (run_dir / "checkpoint.pt").exists() or not (state / "checkpoint.pt").exists():
        return False
    for path in sorted(state.iterdir()):
        with atomic_path(run_dir / path.name) as temporary:
            shutil.copyfile(path, temporary)
    return True


def _committed_evaluations(run: StudyRun, except_epochs: list[int]) -> tuple[pd.DataFrame, dict[int, float | None]]:
    """The committed evaluations of the run's other epochs, and their recorded evaluation seconds."""
    folder = data_dir() / STUDY_DIR / run.name
    if not (folder / "evaluations.parquet").exists():
        return pd.DataFrame(columns=STUDY_EVALUATION_COLUMNS), {}
    table = with_precision(pd.read_parquet(data_path(f"{STUDY_DIR}/{run.name}/evaluations.parquet")))
    table = table[~table["epoch"].isin(except_epochs)]
    seconds = json.loads(data_path(f"{STUDY_DIR}/{run.name}/params.json").read_text())["provenance"]["evaluation_seconds"]
    return table, {int(epoch): value for epoch, value in seconds.items() if int(epoch) in set(table["epoch"])}


def export_run(run: StudyRun, run_dir: Path, evaluations: pd.DataFrame, epoch_logs: pd.DataFrame, params: dict,
               evaluation_seconds: dict[int, float | None]) -> None:
    """Write the run's evaluations, training log and parameters under data/study/<run>/ with MANIFEST rows."""
    folder = data_dir() / STUDY_DIR / run.name
    folder.mkdir(parents=True, exist_ok=True)
    command = f"wsnas study --run {run.name}"
    provenance = {"command": command, "commit": _git_commit(), "host": platform.machine(),
                  "torch_threads": torch.get_num_threads(),
                  "training_seconds": round(float(epoch_logs["seconds"].sum()), 1),
                  "evaluation_seconds": {str(epoch): value for epoch, value in evaluation_seconds.items()},
                  "data": runs.get_status(run_dir).get("data", "")}
    files = {
        "evaluations.parquet": evaluations[STUDY_EVALUATION_COLUMNS],
        "train_log.parquet": epoch_logs,
    }
    for file_name, table in files.items():
        with atomic_path(folder / file_name) as temporary:
            table.to_parquet(temporary, index=False)
    with atomic_path(folder / "params.json") as temporary:
        temporary.write_text(json.dumps({"run": run.name, "params": params, "provenance": provenance},
                                        indent=2, sort_keys=True, default=str) + "\n")
    preserve_state(run, run_dir)
    for file_name in ("train_log.parquet", "params.json", "evaluations.parquet"):  # evaluations last: marks the run done
        record_in_manifest(f"{STUDY_DIR}/{run.name}/{file_name}", source=f"trained here: {command} (profile {run.profile})",
                           licence="MIT (this project)", made_by=f"{command} at commit {provenance['commit']}")


@cache  # the commit this process started from, not whatever HEAD is when a long run ends
def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":  # pragma: no cover - `wsnas study run` is the entry point
    run_study(sys.argv[1:] or None)

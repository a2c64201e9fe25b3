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
import scipy.stats
import torch

from . import names, runs
from .data import TrainingBatches, training_precision
from .datafiles import atomic_path, data_dir, data_path, manifest, record_in_manifest
from .evaluate import (
    evaluate_run,
    evaluation_settings,
    evaluations_name,
    proxy_accuracy,
    replayed_statistics,
    run_evaluation_cells,
    second_statistics,
    validation_indices,
)
from .metrics import spearman_ci, spearman_difference_ci, spearman_image_noise
from .nb101 import NB101
from .profiles import load_profile
from .protocol import TRAINING_IMAGES
from .results import (
    BN_READINGS_COLUMNS,
    BN_READINGS_FILE,
    CHECKPOINT_CELLS,
    CORRECTED_MOMENTUM,
    PAPERS_MOMENTUM,
    READINGS_CHUNK,
    READINGS_COLUMNS,
    SPREAD_CELLS,
    SPREAD_DRAWS,
    STUDY_DIR,
    WHOLE_SPACE_CHUNK,
    WHOLE_SPACE_COLUMNS,
    draw_reading,
    reading_names,
    readings_chunk,
    readings_summary,
    spearman_beside_counts,
    whole_space_chunk,
)
from .space import cells_at, sample_cells, space_mask
from .train import config_for, load_trained_supernet, load_training_data, train_supernet

PROFILE = "cpu-study"
SPACE = "A4"
STATE_DIR = "state"  # data/study/<run>/state/: the run directory's checkpoints and logs (a fresh clone resumes from them)
STATE_FILES = ("checkpoint.pt", "status.json", "train_epochs.parquet", "train_steps.parquet")  # + checkpoint_epoch*.pt
SECONDS_FILE = "evaluation_seconds_e{epoch}.json"  # in the run directory: what evaluating that epoch cost
STUDY_EVALUATION_COLUMNS = ["hash", "epoch", "mode", "proxy_accuracy"]  # data/study/<run>/evaluations.parquet
PAPER_EPOCHS = 432  # the paper's budget, marked on the study's curve


@dataclass(frozen=True)
class StudyRun:
    """One committed training: a budget (epochs), a seed, a variant and a profile (with `settings` on top of it);
    `checkpoints` are mid-run epochs evaluated too."""

    epochs: int
    seed: int = 0
    variant: str = "baseline"
    checkpoints: tuple[int, ...] = ()
    profile: str = PROFILE
    settings: tuple[tuple[str, object], ...] = ()  # profile overrides besides the budget, e.g. the data source

    @property
    def name(self) -> str:
        scale = "" if self.profile == PROFILE else f"_{self.profile}"
        return f"{SPACE}_{self.variant}_seed{self.seed}{scale}_e{self.epochs}"

    @property
    def evaluated_epochs(self) -> tuple[int, ...]:
        """The final epoch first (the run's headline number), then the mid-run checkpoints."""
        return (self.epochs, *self.checkpoints)


STUDY_RUNS: tuple[StudyRun, ...] = (
    StudyRun(3),
    StudyRun(9),
    StudyRun(27),
    StudyRun(81, checkpoints=(9, 27)),
    StudyRun(27, seed=1),
    StudyRun(27, variant="single_k"),
)
# The paper's protocol in full (profile `paper`: 432 epochs, 3 x 3 cells, BN momentum 0.997 with a second set at
# 0.003), on the embedded JPEG copy because this machine cannot download the lossless one.
PAPER_SCALE_RUNS: tuple[StudyRun, ...] = (
    StudyRun(432, checkpoints=(27, 81, 243), profile="paper",
             settings=(("data_source", "embedded"), ("allow_lossy", True))),
)
COMMITTED_RUNS = STUDY_RUNS + PAPER_SCALE_RUNS


def study_run(name: str) -> StudyRun:
    """The committed run called `name` (e.g. A4_baseline_seed0_e81, A4_baseline_seed0_paper_e432)."""
    for run in COMMITTED_RUNS:
        if run.name == name:
            return run
    raise ValueError(f"unknown study run {name!r}; the committed runs are {[run.name for run in COMMITTED_RUNS]}")


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
        config, _, run_dir = open_study_run(run, results_root)
        result = train_supernet(config, run_dir, progress=progress, allow_precision_switch=allow_precision_switch)
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

    config, settings, run_dir = open_study_run(run, results_root)
    status = runs.get_status(run_dir) or {}
    evaluated = [epoch for epoch in run.evaluated_epochs
                 if runs.read_table(run_dir, evaluations_name(None if epoch == run.epochs else epoch)) is not None]
    if status.get("state") != "done" or not evaluated:
        return preserve_state(run, run_dir)
    fresh = pd.concat([evaluate_epoch(run, epoch, results_root=results_root, progress=False) for epoch in evaluated])
    kept, kept_seconds = _committed_evaluations(run, except_epochs=evaluated)  # evaluated by an earlier sitting
    evaluations = pd.concat([table for table in (kept, fresh[STUDY_EVALUATION_COLUMNS]) if not table.empty], ignore_index=True)
    export_run(run, run_dir, evaluations.sort_values(["epoch", "mode"], kind="stable"),
               runs.read_table(run_dir, "train_epochs"), {**config.params(), **settings},
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
    config, settings, run_dir = open_study_run(run, results_root)
    started = time.perf_counter()
    table = evaluate_run(config, run_dir, settings, progress=progress, epoch=None if epoch == run.epochs else epoch)
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
# a training run holds that slice's last statistics. At the paper's code's momentum 0.997 NO-FT reads the last batch
# or two of each slice, hence depends on the draw: 100 replayed steps leave each slice they use with its last
# batch's statistics (what came before keeps 0.003^2 of its weight after two uses). At 0.003, 2,000 more steps in fp32
# and in bf16 from the same draw show what bf16 arithmetic does to the statistics NO-FT reads.
BN_READINGS: tuple[BnReading, ...] = (
    *(BnReading(PAPERS_MOMENTUM, 100, draw=draw) for draw in range(5)),
    BnReading(CORRECTED_MOMENTUM, 2000, "fp32"),
    BnReading(CORRECTED_MOMENTUM, 2000, "bf16"),
)


def bn_momentum_readings(run: StudyRun, readings: tuple[BnReading, ...] = BN_READINGS, *,
                         results_root: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """NO-FT of the run's evaluation cells under each replayed reading of the BN statistics, committed to
    data/study/<run>/bn_readings.parquet (MANIFEST row) after each reading; readings already there are kept."""

    config, settings, run_dir = open_study_run(run, results_root)
    path = data_dir() / STUDY_DIR / run.name / BN_READINGS_FILE
    table = pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=BN_READINGS_COLUMNS)
    supernet = load_trained_supernet(config, run_dir)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    cells, _ = run_evaluation_cells(config, settings, NB101.default())
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


def evaluate_whole_space(run: StudyRun, *, chunks: list[int] | None = None, chunk_size: int = WHOLE_SPACE_CHUNK,
                         results_root: str | Path | None = None, progress: bool = True) -> list[str]:
    """NO-FT and BNS-FT of every cell of the run's space (its final checkpoint, its evaluation settings), in chunks of
    `chunk_size` cells in table order, each committed to data/study/<run>/whole_space/chunk<k>.parquet with a
    MANIFEST row as it finishes; chunks already committed are skipped, so an interrupted job resumes. Chunk k draws
    its BNS-FT batches from a stream of seed eval_seed + k (one chunk is redone alone). Returns the data names written.
    """

    config, settings, run_dir = open_study_run(run, results_root)
    indices = np.flatnonzero(space_mask(config.space))
    count = -(-len(indices) // chunk_size)
    wanted = range(count) if chunks is None else chunks
    todo = [k for k in wanted if not (data_dir() / whole_space_chunk(run.name, k)).exists()]
    if not todo:
        return []
    supernet = load_trained_supernet(config, run_dir)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    written = []
    for chunk in todo:
        cells = cells_at(indices[chunk * chunk_size:(chunk + 1) * chunk_size])
        tables = []
        for mode in ("no_ft", "bns_ft"):
            batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"] + chunk,
                                      layout=config.memory_format)
            tables.append(proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                                         train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                                         bn_statistics=settings["bn_statistics"], batch_size=settings["eval_batch_size"],
                                         progress=progress, layout=config.memory_format))
        name = whole_space_chunk(run.name, chunk)
        (data_dir() / name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(data_dir() / name) as temporary:
            pd.concat(tables, ignore_index=True)[WHOLE_SPACE_COLUMNS].to_parquet(temporary, index=False)
        command = f"wsnas study --run {run.name} --whole-space"
        record_in_manifest(name, source=f"computed here: {command} (profile {run.profile}; chunk {chunk} of {count}, "
                           f"{chunk_size} cells in table order)", licence="MIT (this project)",
                           made_by=f"{command} at commit {_git_commit()}")
        written.append(name)
    return written


def evaluate_readings(run: StudyRun, epoch: int, *, n_cells: int | None = None, draws: bool = False,
                      chunk_size: int = READINGS_CHUNK, results_root: str | Path | None = None, progress: bool = True) -> list[str]:
    """Read checkpoint `epoch` of a run that keeps two sets of BN statistics on its first `n_cells` evaluation cells
    (default: all of them at the final epoch, CHECKPOINT_CELLS at a mid-run one), in chunks of `chunk_size` cells,
    each committed to data/ with a MANIFEST row as it finishes (chunks already there are skipped).

    The readings (`reading_names`): BNS-FT from the last and from the mean of the same batches (chunk k draws them
    from a stream of seed eval_seed + k), NO-FT under each set of running statistics. `draws` instead re-reads NO-FT
    under the first set after SPREAD_DRAWS replays of 100 last steps (`BN_READINGS`' draws), on SPREAD_CELLS cells.
    Returns the data names written.
    """

    if epoch not in run.evaluated_epochs:
        raise ValueError(f"{run.name} keeps epochs {run.evaluated_epochs}, not {epoch}")
    config, settings, run_dir = open_study_run(run, results_root)
    if not config.second_bn_momentum:
        raise ValueError(f"{run.name} keeps one set of BN statistics; its readings are `wsnas study --run {run.name}`")
    n_cells = n_cells or (SPREAD_CELLS if draws else settings["num_eval_cells"] if epoch == run.epochs else CHECKPOINT_CELLS)
    cells, _ = run_evaluation_cells(config, settings, NB101.default())
    chunks = range(-(-min(n_cells, len(cells)) // chunk_size))
    todo = [k for k in chunks if not (data_dir() / readings_chunk(run.name, epoch, k, draws)).exists()]
    if not todo:
        return []
    supernet = load_trained_supernet(config, run_dir, None if epoch == run.epochs else epoch)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    images, labels = split.valid_images[valid], split.valid_labels[valid]

    def read(part, mode="no_ft", batch_seed=0, bn_statistics="last"):
        batches = TrainingBatches(split, settings["bn_batch_size"], seed=batch_seed, layout=config.memory_format)
        return proxy_accuracy(supernet, part, images, labels, mode=mode, train_batches=batches,
                              num_bn_batches=settings["num_bn_batches"], bn_statistics=bn_statistics,
                              batch_size=settings["eval_batch_size"], progress=progress, layout=config.memory_format)

    last, mean, first_set, second_set = reading_names(config.bn_momentum, config.second_bn_momentum)
    written = []
    for chunk in todo:
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
        table = pd.concat(tables, ignore_index=True).assign(epoch=epoch)[READINGS_COLUMNS]
        (data_dir() / name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(data_dir() / name) as temporary:
            table.to_parquet(temporary, index=False)
        command = f"wsnas study --run {run.name} --readings {epoch}{' --draws' if draws else ''}"
        record_in_manifest(name, source=f"computed here: {command} (profile {run.profile}; cells "
                           f"{chunk * chunk_size}-{chunk * chunk_size + len(part) - 1} of the run's evaluation "
                           "cells)", licence="MIT (this project)", made_by=f"{command} at commit {_git_commit()}")
        written.append(name)
    return written


def _evaluation_seconds(run_dir: Path, epoch: int) -> float | None:
    path = run_dir / SECONDS_FILE.format(epoch=epoch)
    return runs.read_json(path)["seconds"] if path.exists() else None  # None: evaluated before this was recorded


def open_study_run(run: StudyRun, results_root: str | Path | None):
    """The run's training config, evaluation settings and run directory (created or reopened; an empty one gets
    the committed state of the run, if any, so that a fresh clone resumes or re-evaluates instead of retraining)."""
    overrides = run_overrides(run)
    config = config_for(run.profile, space=SPACE, variant=run.variant, seed=run.seed, **overrides)
    settings = evaluation_settings(run.profile, **overrides)
    run_dir = runs.open_run("training", {**config.params(), **settings}, overrides=overrides,
                            root=runs.resolve_root(results_root))
    restore_state(run, run_dir)
    return config, settings, run_dir


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


def committed_epochs(run: StudyRun) -> set[int]:
    """The epochs whose evaluations data/study/<run>/ holds."""
    path = data_dir() / STUDY_DIR / run.name / "evaluations.parquet"
    return set(pd.read_parquet(path, columns=["epoch"])["epoch"].astype(int)) if path.exists() else set()


def committed(run: StudyRun) -> bool:
    """Whether data/study/<run>/ holds the evaluations of every epoch the run evaluates."""
    return committed_epochs(run) >= set(run.evaluated_epochs)


def _committed_evaluations(run: StudyRun, except_epochs: list[int]) -> tuple[pd.DataFrame, dict[int, float | None]]:
    """The committed evaluations of the run's other epochs, and their recorded evaluation seconds."""
    folder = data_dir() / STUDY_DIR / run.name
    if not (folder / "evaluations.parquet").exists():
        return pd.DataFrame(columns=STUDY_EVALUATION_COLUMNS), {}
    table = pd.read_parquet(data_path(f"{STUDY_DIR}/{run.name}/evaluations.parquet"))
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


# --------------------------------------------------------------------------------------------
# Reading the committed study


def load_study() -> pd.DataFrame:
    """All committed study evaluations joined to NB-101: run, epochs (budget), seed, variant, epoch, mode, hash,
    proxy_accuracy, nb101_validation_accuracy (mean of the 3 repeats)."""
    tables = []
    for run in STUDY_RUNS:
        path = data_dir() / STUDY_DIR / run.name / "evaluations.parquet"
        if path.exists():
            tables.append(pd.read_parquet(path).assign(run=run.name, budget=run.epochs, seed=run.seed, variant=run.variant))
    if not tables:
        return pd.DataFrame(columns=["run", "budget", "seed", "variant", "epoch", "mode", "hash", "proxy_accuracy",
                                     "nb101_validation_accuracy"])
    study = pd.concat(tables, ignore_index=True)
    truth = NB101.load().metrics(study["hash"].unique())["mean_validation_accuracy"]
    return study.assign(nb101_validation_accuracy=study["hash"].map(truth))


def load_training_logs() -> pd.DataFrame:
    """The committed per-epoch training logs of the study's runs (run, budget, seed, variant, epoch, accuracy, ...)."""
    tables = [pd.read_parquet(path).assign(run=run.name, budget=run.epochs, seed=run.seed, variant=run.variant)
              for run in STUDY_RUNS if (path := data_dir() / STUDY_DIR / run.name / "train_log.parquet").exists()]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def study_cost() -> pd.DataFrame:
    """What each committed run cost (wall-clock seconds of one torch thread on a shared 2-core CPU): steps,
    training hours, median images per second over its epochs, evaluation hours (all its evaluated epochs)."""
    rows = []
    for run in STUDY_RUNS:
        folder = data_dir() / STUDY_DIR / run.name
        if not (folder / "params.json").exists():
            continue
        log = pd.read_parquet(data_path(f"{STUDY_DIR}/{run.name}/train_log.parquet"))
        provenance = json.loads(data_path(f"{STUDY_DIR}/{run.name}/params.json").read_text())["provenance"]
        evaluation = [value for value in provenance["evaluation_seconds"].values() if value is not None]
        rows.append({"run": run.name, "budget": run.epochs, "seed": run.seed, "variant": run.variant,
                     "steps": int(log["steps"].sum()), "training_hours": float(log["seconds"].sum()) / 3600,
                     "images_per_second": float(log["images_per_second"].median()),
                     "evaluated_epochs": len(provenance["evaluation_seconds"]),
                     "evaluation_hours": sum(evaluation) / 3600 if evaluation else np.nan})
    return pd.DataFrame(rows, columns=["run", "budget", "seed", "variant", "steps", "training_hours", "images_per_second",
                                       "evaluated_epochs", "evaluation_hours"])


def study_correlations(study: pd.DataFrame | None = None, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per (run, epoch, mode): n_cells, Spearman ρ with a paired bootstrap 95% CI over cells, Kendall τ."""
    study = load_study() if study is None else study
    rows = []
    for (run, epoch, mode), group in study.groupby(["run", "epoch", "mode"], sort=False):
        proxy, truth = group["proxy_accuracy"].to_numpy(), group["nb101_validation_accuracy"].to_numpy()
        low, high = spearman_ci(proxy, truth, n_boot=n_resamples, seed=seed)
        rows.append({"run": run, "budget": int(group["budget"].iloc[0]), "seed": int(group["seed"].iloc[0]),
                     "variant": group["variant"].iloc[0], "epoch": int(epoch), "mode": mode, "n_cells": len(group),
                     "spearman": scipy.stats.spearmanr(proxy, truth).statistic, "spearman_low": low, "spearman_high": high,
                     "kendall": scipy.stats.kendalltau(proxy, truth).statistic})
    return pd.DataFrame(rows)


def _finished_baseline_runs(correlations: pd.DataFrame) -> pd.DataFrame:
    """The rows of the baseline seed-0 runs at their final epoch (not their mid-run checkpoints)."""
    return correlations[(correlations["variant"] == "baseline") & (correlations["seed"] == 0)
                        & (correlations["epoch"] == correlations["budget"])]


def longest_run(correlations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Spearman per mode of the study's longest committed baseline run (81 epochs once it exists), for the
    chapters' "trained here" column; `label` says its profile and scale. Empty when nothing is committed."""
    final = _finished_baseline_runs(study_correlations() if correlations is None else correlations)
    if final.empty:
        return final
    budget = int(final["budget"].max())
    rows = final[final["budget"] == budget].set_index("mode")
    label = (f"Trained here: profile {PROFILE}, {SPACE}, {budget} epochs, 3 stacks of 1 cell, JPEG q75 CIFAR-10, "
             f"{int(rows['n_cells'].iloc[0])} cells")
    return rows[["n_cells", "spearman", "spearman_low", "spearman_high", "kendall"]].assign(budget=budget, label=label)


def images_per_epoch(profile: str) -> int:
    return load_profile(profile)["train_subset"] or TRAINING_IMAGES


def images_seen(profile: str) -> int:
    """Training images a run of `profile` sees: epochs × images per epoch."""
    return load_profile(profile)["epochs"] * images_per_epoch(profile)


def nearest_budget(images: int, correlations: pd.DataFrame | None = None, mode: str = "bns_ft") -> pd.Series | None:
    """The finished baseline run (seed 0) of the study whose training saw the number of images nearest `images`:
    run, budget, images_seen, spearman, spearman_low, spearman_high in `mode`. None when nothing is committed."""
    final = _finished_baseline_runs(study_correlations() if correlations is None else correlations)
    final = final[final["mode"] == mode]
    if final.empty:
        return None
    final = final.assign(images_seen=final["budget"] * images_per_epoch(PROFILE))
    return final.loc[(final["images_seen"] - images).abs().idxmin()]


def longest_run_beside_counts() -> pd.DataFrame:
    """Per mode of the study's longest committed run: its Spearman and that of the parameter count and the
    FLOPs on the very same cells (`wsnas.results.spearman_beside_counts`); `scale` names the run."""
    final = longest_run()
    if final.empty:
        return pd.DataFrame(columns=["mode", "cells", "ws", "params", "flops", "scale"])
    study = load_study()
    budget = int(final["budget"].iloc[0])
    cells = study[(study["budget"] == budget) & (study["seed"] == 0) & (study["variant"] == "baseline")
                  & (study["epoch"] == budget)]
    return spearman_beside_counts(cells).assign(scale=final["label"].iloc[0])


def evaluation_precision(correlations: pd.DataFrame | None = None, paper_cells: int = 1000,
                         n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """What the study's evaluation size costs in Spearman precision, per mode of its longest run: the half-width
    of the bootstrap 95% interval over its cells, that half-width projected to the paper's `paper_cells`
    (∝ 1/√cells), and the standard deviation of ρ from the finite validation images alone."""
    final = longest_run(correlations)
    if final.empty:
        return pd.DataFrame(columns=["mode", "cells", "images", "cells_half_width", "paper_cells_half_width", "images_sd"])
    images = load_profile(PROFILE)["valid_subset"]
    study = load_study()
    rows = []
    for mode, row in final.iterrows():
        cells = study[(study["budget"] == row["budget"]) & (study["seed"] == 0) & (study["variant"] == "baseline")
                      & (study["epoch"] == row["budget"]) & (study["mode"] == mode)]
        half_width = (row["spearman_high"] - row["spearman_low"]) / 2
        noise = spearman_image_noise(cells["proxy_accuracy"], cells["nb101_validation_accuracy"], images,
                                     n_boot=n_resamples, seed=seed)
        rows.append({"mode": mode, "cells": int(row["n_cells"]), "images": images, "cells_half_width": half_width,
                     "paper_cells_half_width": half_width * (row["n_cells"] / paper_cells) ** 0.5,
                     "images_sd": float(np.nanstd(noise))})
    return pd.DataFrame(rows)


NB101_EPOCHS = 108  # NAS-Bench-101's training budget; the paper trains its super-nets 4× as long (432)


def comparisons(study: pd.DataFrame | None = None, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Paired differences of Spearman ρ between study evaluations of the same cells, per mode: each budget
    against the one before (seed 0), a mid-run checkpoint against the run of that length, the second seed
    and SINGLE-K against seed 0 at 27 epochs. Columns: comparison, mode, a, b (evaluations as run@epoch),
    difference (ρ_a − ρ_b), low, high (paired bootstrap 95% over cells), n_cells."""
    study = load_study() if study is None else study
    evaluations = set(zip(study["run"], study["epoch"]))
    final = {run.name: run for run in STUDY_RUNS if (run.name, run.epochs) in evaluations}
    baseline = sorted((run for run in final.values() if run.variant == "baseline" and run.seed == 0),
                      key=lambda run: run.epochs)
    pairs = [(f"{shorter.epochs} → {longer.epochs} epochs", (longer.name, longer.epochs), (shorter.name, shorter.epochs))
             for shorter, longer in zip(baseline, baseline[1:])]
    for run in STUDY_RUNS:
        for epoch in run.checkpoints:
            same_length = next((other for other in baseline if other.epochs == epoch), None)
            if (run.name, epoch) in evaluations and same_length is not None:
                pairs.append((f"epoch {epoch} of the {run.epochs}-epoch run − a {epoch}-epoch run",
                              (run.name, epoch), (same_length.name, epoch)))
    reference_run = next((run for run in baseline if run.epochs == 27), None)
    for run in final.values():
        if reference_run is not None and run.epochs == 27 and run != reference_run:
            label = f"seed {run.seed} − seed 0 at 27 epochs" if run.variant == "baseline" else f"{names.VARIANT_NAMES[run.variant]} − baseline at 27 epochs"
            pairs.append((label, (run.name, 27), (reference_run.name, 27)))
    rows = []
    for label, a, b in pairs:
        for mode in sorted(study["mode"].unique()):
            side = {key: study[(study["run"] == key[0]) & (study["epoch"] == key[1]) & (study["mode"] == mode)].set_index("hash")
                    for key in (a, b)}
            cells = side[a].index.intersection(side[b].index)
            difference, low, high = spearman_difference_ci(
                side[a].loc[cells, "proxy_accuracy"], side[b].loc[cells, "proxy_accuracy"],
                side[a].loc[cells, "nb101_validation_accuracy"], n_boot=n_resamples, seed=seed)
            rows.append({"comparison": label, "mode": mode, "a": f"{a[0]}@{a[1]}", "b": f"{b[0]}@{b[1]}",
                         "difference": difference, "low": low, "high": high, "n_cells": len(cells)})
    return pd.DataFrame(rows, columns=["comparison", "mode", "a", "b", "difference", "low", "high", "n_cells"])


def budget_verdict(differences: pd.DataFrame) -> str:
    """What the curve says about the paper's claim that a super-net needs 4× NB-101's budget, with its rule."""
    bns = differences[differences["mode"] == "bns_ft"].set_index("comparison")
    last = bns.loc["27 → 81 epochs"] if "27 → 81 epochs" in bns.index else None
    seeds = bns[bns.index.str.startswith("seed 1")]
    if last is None or seeds.empty:
        return ("The 4× claim is not tested yet: it needs the 27- and 81-epoch runs and a second seed at 27 epochs.")
    seed_gap = abs(float(seeds["difference"].iloc[0]))
    climbs = last["low"] > 0 and last["difference"] > seed_gap
    rule = (f"Rule: the curve still climbs from 27 to 81 epochs if the paired bootstrap 95% interval of the BNS-FT gain "
            f"lies above 0 and the gain exceeds the gap between two seeds at 27 epochs ({names.rho(seed_gap)}). ")
    observed = f"Gain {names.mean_ci(last['difference'], last['low'], last['high'], signed=True)}: "
    scale = 81 / NB101_EPOCHS
    if climbs:
        return (rule + observed + f"it still climbs. So at {scale:.2f}× NB-101's {NB101_EPOCHS} epochs this super-net has "
                "not converged, consistent with the paper's choice to train longer than NB-101; whether its 4× (432 epochs) "
                "is enough, or more than needed, lies beyond this study.")
    return (rule + observed + f"it has stopped climbing measurably at {scale:.2f}× NB-101's {NB101_EPOCHS} epochs, at this "
            "scale; the paper's 4× is then more than this network needs, or the gain is too small for 300 cells to show.")


def findings(table: pd.DataFrame, paper_bns_ft: float, differences: pd.DataFrame) -> list[str]:
    """The study's findings in words, from `study_correlations()` and `comparisons()`; `paper_bns_ft` is the
    paper's A4 BNS-FT mean."""
    if table.empty:
        return ["No study run is committed yet."]
    curve = table[(table["variant"] == "baseline") & (table["seed"] == 0) & (table["epoch"] == table["budget"])]
    bns = curve[curve["mode"] == "bns_ft"].sort_values("budget")
    nos = curve[curve["mode"] == "no_ft"].sort_values("budget")
    lines = ["BNS-FT Spearman ρ by budget (cpu-study): " + ", ".join(
        f"{b} epochs {names.rho(r)} [{names.rho(low)}, {names.rho(high)}]" for b, r, low, high in
        zip(bns["budget"], bns["spearman"], bns["spearman_low"], bns["spearman_high"]))
        + "; NO-FT: " + ", ".join(f"{b} epochs {names.rho(r)}" for b, r in zip(nos["budget"], nos["spearman"])) + "."]
    if 81 in set(bns["budget"]):
        best = float(bns.loc[bns["budget"] == 81, "spearman"].iloc[0])
        goal = "reaches" if best >= 0.5 else "falls short of"
        lines.append(f"At 81 epochs BNS-FT {goal} the study's goal of 0.5 ({names.rho(best)}); the paper reports "
                     f"{names.rho(paper_bns_ft)} after 432 epochs with 3 cells per stack.")
    else:
        lines.append("The 81-epoch run is not committed yet: the curve stops at the longest finished budget.")
    mid = table[(table["epoch"] < table["budget"]) & (table["mode"] == "bns_ft")]
    for row in mid.itertuples():
        same = bns[bns["budget"] == row.epoch]
        if not same.empty:
            lines.append(f"The {row.budget}-epoch run's checkpoint at epoch {row.epoch} gives BNS-FT {names.rho(row.spearman)}, "
                         f"against {names.rho(same['spearman'].iloc[0])} for a run of {row.epoch} epochs.")
    seeds = table[(table["budget"] == 27) & (table["variant"] == "baseline") & (table["mode"] == "bns_ft")]
    if seeds["seed"].nunique() > 1:
        lines.append("Two seeds at 27 epochs: BNS-FT " + " and ".join(names.rho(v) for v in seeds.sort_values("seed")["spearman"]) + ".")
    return lines + [budget_verdict(differences)]


def study_json() -> list[dict]:
    """What `wsnas study --json` prints: per run, epoch and mode (for a run with two sets of BN statistics, each
    reading named), its space, profile and cells per stack, spearman, kendall and n_cells."""
    table = study_correlations(n_resamples=200).rename(columns={"budget": "epochs"})
    readings = [readings_summary(run.name, n_resamples=200).rename(columns={"reading": "mode"}).assign(
        run=run.name, epochs=run.epochs, seed=run.seed, variant=run.variant) for run in PAPER_SCALE_RUNS]
    table = pd.concat([table, *readings], ignore_index=True)
    profiles = {run.name: run.profile for run in COMMITTED_RUNS}
    return [{"run": row.run, "space": SPACE, "profile": profiles[row.run], "variant": row.variant, "seed": int(row.seed),
             "epochs": int(row.epochs), "cells_per_stack": load_profile(profiles[row.run])["cells_per_stack"],
             "epoch": int(row.epoch), "mode": row.mode, "spearman": round(float(row.spearman), 4),
             "kendall": round(float(row.kendall), 4), "n_cells": int(row.n_cells)} for row in table.itertuples()]


if __name__ == "__main__":  # pragma: no cover - `wsnas study run` is the entry point
    run_study(sys.argv[1:] or None)

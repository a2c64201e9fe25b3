"""Our committed runs read back without torch: the files under `data/study/<run>/` and what they say.

`wsnas.study` trains, evaluates and commits the runs (torch); this module only reads what they left, so the
chapters and `wsnas study --json` need neither torch nor a trained super-net. It defines the committed runs
(`StudyRun`: the budget study's, profile cpu-study, and the paper-scale run) and reads their evaluations, the
BN-momentum readings, the paper-scale run's four readings and the whole-space ranking.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from .datafiles import data_dir, data_path
from .metrics import spearman_ci, spearman_difference_ci, spearman_image_noise
from .names import VARIANT_NAMES, mean_ci
from .names import rho as rho_text
from .nb101 import EPOCHS as NB101_EPOCHS
from .nb101 import NB101
from .profiles import images_per_epoch, load_profile
from .reference import duplicate_runs, load_evaluations, paper_table1, released_momentum
from .space import counts_of, flops_of_all_cells, index_of

STUDY_DIR = "study"  # data/study/<run>/: one committed run
RUN_EVALUATIONS_FILE = "evaluations.parquet"
BN_READINGS_FILE = "bn_readings.parquet"  # NO-FT under replayed BN statistics (wsnas.study.bn_momentum_readings)
BN_READINGS_COLUMNS = ["hash", "momentum", "precision", "draw", "replay_steps", "proxy_accuracy"]
WHOLE_SPACE_DIR = "whole_space"  # data/study/<run>/whole_space/chunk<k>.parquet: every cell of the space ranked
WHOLE_SPACE_COLUMNS = ["hash", "mode", "proxy_accuracy", "precision"]
WHOLE_SPACE_CHUNK = 500  # cells per committed chunk
READINGS_DIR = "readings"  # data/study/<run>/readings/: a run with two sets of BN statistics, read four ways
READINGS_COLUMNS = ["epoch", "hash", "reading", "proxy_accuracy", "precision"]
READINGS_CHUNK = 100  # cells per committed chunk of readings (about half an hour at the paper's scale)
CHECKPOINT_CELLS = 300  # a mid-run checkpoint is read on the first 300 of the run's cells (a uniform subsample)
EARLIER_PRECISION = "fp32"  # what every committed evaluation without a `precision` column ran in
PAPER_SCALE_RESAMPLES = 1000  # cell resamples of the paper-scale run's intervals: the same on every page, whatever profile builds the book
SPREAD_DRAWS, SPREAD_CELLS = 3, 300  # NO-FT at the first momentum re-read after other last steps: draws, cells
# BN momentum, PyTorch convention: main.py's default at a7237c3; 1a746cb's correction, which every settings file of
# the released runs records (data/released_settings.parquet)
MAIN_PY_MOMENTUM, CORRECTED_MOMENTUM = 0.997, 0.003


STUDY_PROFILE = "cpu-study"
STUDY_SPACE = "A4"
PAPER_EPOCHS = 432  # the paper's budget, marked on the study's curve


@dataclass(frozen=True)
class StudyRun:
    """One committed training: a budget (epochs), a seed, a variant and a profile (with `settings` on top of it);
    `checkpoints` are mid-run epochs evaluated too."""

    epochs: int
    seed: int = 0
    variant: str = "baseline"
    checkpoints: tuple[int, ...] = ()
    profile: str = STUDY_PROFILE
    settings: tuple[tuple[str, object], ...] = ()  # profile overrides besides the budget, e.g. the data source

    @property
    def name(self) -> str:
        scale = "" if self.profile == STUDY_PROFILE else f"_{self.profile}"
        return f"{STUDY_SPACE}_{self.variant}_seed{self.seed}{scale}_e{self.epochs}"

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
PAPER_SCALE_RUN = PAPER_SCALE_RUNS[0].name


def study_run(name: str) -> StudyRun:
    """The committed run called `name` (e.g. A4_baseline_seed0_e81, A4_baseline_seed0_paper_e432)."""
    for run in COMMITTED_RUNS:
        if run.name == name:
            return run
    raise ValueError(f"unknown study run {name!r}; the committed runs are {[run.name for run in COMMITTED_RUNS]}")


def run_file(run: str, name: str) -> str:
    """The data name of file `name` of committed run `run`."""
    return f"{STUDY_DIR}/{run}/{name}"


def has_bn_readings(run: str) -> bool:
    return (data_dir() / run_file(run, BN_READINGS_FILE)).exists()


def _with_truth(table: pd.DataFrame) -> pd.DataFrame:
    truth = NB101.default().metrics(table["hash"].unique())["mean_validation_accuracy"]
    return table.assign(nb101_validation_accuracy=table["hash"].map(truth))


def reading_label(momentum: float, precision: str, draw: int, replay_steps: int) -> str:
    """How a page names one reading of the BN statistics."""
    if replay_steps == 0:
        return f"as trained (momentum {momentum:g})"
    return f"momentum {momentum:g}, {replay_steps:,} more steps replayed, {precision}, draw {draw}"


def bn_readings(run: str, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per reading of run `run`'s BN statistics: NO-FT Spearman ρ with a bootstrap 95% CI over cells, Kendall τ
    and the mean proxy accuracy; the first row is NO-FT as the run trained (its own momentum, replay_steps 0).

    Columns: momentum, precision, draw, replay_steps, label, n_cells, spearman, spearman_low, spearman_high,
    kendall, mean_accuracy."""
    readings = pd.read_parquet(data_path(run_file(run, BN_READINGS_FILE)))
    trained = pd.read_parquet(data_path(run_file(run, RUN_EVALUATIONS_FILE)))
    params = _run_params(run)
    trained = trained[(trained["mode"] == "no_ft") & (trained["epoch"] == trained["epoch"].max())]
    trained = trained[["hash", "proxy_accuracy"]].assign(momentum=params["bn_momentum"], precision=params["precision"],
                                                         draw=0, replay_steps=0)
    table = _with_truth(pd.concat([trained, readings[BN_READINGS_COLUMNS]], ignore_index=True))
    rows = []
    for (momentum, precision, draw, steps), group in table.groupby(["momentum", "precision", "draw", "replay_steps"],
                                                                   sort=False):
        proxy, truth = group["proxy_accuracy"].to_numpy(), group["nb101_validation_accuracy"].to_numpy()
        low, high = spearman_ci(proxy, truth, n_boot=n_resamples, seed=seed)
        rows.append({"momentum": momentum, "precision": precision, "draw": int(draw), "replay_steps": int(steps),
                     "label": reading_label(momentum, precision, draw, steps), "n_cells": len(group),
                     "spearman": scipy.stats.spearmanr(proxy, truth).statistic, "spearman_low": low, "spearman_high": high,
                     "kendall": scipy.stats.kendalltau(proxy, truth).statistic, "mean_accuracy": float(proxy.mean())})
    return pd.DataFrame(rows)


def reading_names(first_momentum: float, second_momentum: float) -> tuple[str, ...]:
    """The four readings of a super-net that keeps two sets of BN statistics: BNS-FT from the last of its batches
    (the authors' code) and from their mean (the paper's text), NO-FT under each set's momentum."""
    return ("bns_ft_last", "bns_ft_mean", f"no_ft@{first_momentum:g}", f"no_ft@{second_momentum:g}")


def reading_title(reading: str) -> str:
    """How a page names one of `reading_names` or `draw_reading`."""
    if reading.startswith("bns_ft_"):
        return f"BNS-FT, {'last' if reading.endswith('last') else 'mean'} of the batches"
    momentum, _, draw = reading.removeprefix("no_ft@").partition(" draw ")
    return f"NO-FT, momentum {momentum}" + (f", replayed last steps, draw {draw}" if draw else "")


def draw_reading(momentum: float, draw: int) -> str:
    """The name of NO-FT at `momentum` after the last steps were replayed with draw `draw` of cells and batches."""
    return f"no_ft@{momentum:g} draw {draw}"


def with_precision(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with its `precision` column (the validation passes'), filled in for evaluations committed before it
    was recorded (all fp32)."""
    if "precision" not in table.columns:
        return table.assign(precision=EARLIER_PRECISION)
    return table.assign(precision=table["precision"].fillna(EARLIER_PRECISION))


def readings_chunk(run: str, epoch: int, chunk: int, draws: bool = False) -> str:
    """The data name of chunk `chunk` of the readings of run `run` at `epoch` (`draws`: of its NO-FT draws)."""
    return run_file(run, f"{READINGS_DIR}/epoch{epoch:03d}_{'draws' if draws else 'cells'}{chunk:03d}.parquet")


def load_readings(run: str) -> pd.DataFrame:
    """Every committed reading of run `run` (epoch, hash, reading, proxy_accuracy), joined to the mean NB-101
    validation accuracy; empty when none is committed."""
    folder = data_dir() / STUDY_DIR / run / READINGS_DIR
    names = sorted(f"{STUDY_DIR}/{run}/{READINGS_DIR}/{path.name}" for path in folder.glob("epoch*.parquet"))
    if not names:
        return pd.DataFrame(columns=[*READINGS_COLUMNS, "nb101_validation_accuracy"])
    return _with_truth(pd.concat([with_precision(pd.read_parquet(data_path(name))) for name in names], ignore_index=True))


def readings_summary(run: str, n_resamples: int = PAPER_SCALE_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per epoch and reading of run `run`: n_cells, Spearman ρ with a bootstrap 95% CI over cells, Kendall τ and
    the mean proxy accuracy."""
    rows = []
    for (epoch, reading), group in load_readings(run).groupby(["epoch", "reading"], sort=True):
        proxy, truth = group["proxy_accuracy"].to_numpy(), group["nb101_validation_accuracy"].to_numpy()
        low, high = spearman_ci(proxy, truth, n_boot=n_resamples, seed=seed)
        rows.append({"epoch": int(epoch), "reading": reading, "n_cells": len(group),
                     "spearman": scipy.stats.spearmanr(proxy, truth).statistic, "spearman_low": low,
                     "spearman_high": high, "kendall": scipy.stats.kendalltau(proxy, truth).statistic,
                     "mean_accuracy": float(proxy.mean())})
    return pd.DataFrame(rows, columns=["epoch", "reading", "n_cells", "spearman", "spearman_low", "spearman_high",
                                       "kendall", "mean_accuracy"])


BESIDE_RELEASED_COLUMNS = ["super_net", "epochs", "cells", "bns_ft_last", "bns_ft_last_low", "bns_ft_last_high",
                           "bns_ft_mean", "no_ft_corrected", "no_ft_corrected_accuracy", "no_ft_main_py",
                           "no_ft_main_py_accuracy", "note"]


def beside_released(run: str, space: str = "A4", n_resamples: int = PAPER_SCALE_RESAMPLES,
                    seed: int = 0) -> pd.DataFrame:
    """Run `run`'s readings at each committed epoch beside the paper's row for `space` (Table 1, mean of 5) and each
    of the authors' released baseline super-nets of that space, recomputed: BNS-FT from the last batches (the
    authors' code) with a bootstrap 95% CI over cells, BNS-FT from their mean (ours only), NO-FT at momentum 0.003
    (the released runs' recorded setting) and at main.py's default 0.997 (ours only), each with its mean proxy
    accuracy. Columns:
    BESIDE_RELEASED_COLUMNS; `super_net` is "paper", "released, seed s" or "ours, epoch e"."""
    paper = paper_table1().loc[space]
    rows = [{"super_net": "paper", "epochs": 432, "cells": 1000, "bns_ft_last": paper[("baseline/bns_ft", "mean")],
             "no_ft_corrected": paper[("baseline/no_ft", "mean")]}]
    evaluations = load_evaluations()
    released = evaluations.query("space == @space and variant == 'baseline'")
    copies = duplicate_runs(evaluations).query("space == @space")
    for released_seed, runs in released.groupby("seed"):
        modes = {mode: group for mode, group in runs.groupby("mode")}
        rows.append({"super_net": f"released, seed {released_seed}", "epochs": 432, "cells": len(modes["bns_ft"]),
                     **_spearman_with_ci(modes["bns_ft"], "mean_validation_accuracy", "bns_ft_last", n_resamples, seed),
                     "no_ft_corrected": _spearman(modes["no_ft"], "mean_validation_accuracy"),
                     "no_ft_corrected_accuracy": float(modes["no_ft"]["proxy_accuracy"].mean()),
                     "note": "; ".join(f"{column.split('/')[1].replace('_', '-').upper()} copies seed {seed_of}"
                                       for column, seed_of in copies.loc[
                                           copies["seed_copy"] == released_seed, ["column", "seed"]].itertuples(index=False))})
    summary = readings_summary(run, n_resamples=n_resamples, seed=seed).set_index("reading")
    main_py, corrected = f"no_ft@{MAIN_PY_MOMENTUM:g}", f"no_ft@{CORRECTED_MOMENTUM:g}"
    for epoch, read in summary.groupby("epoch"):
        if "bns_ft_last" not in read.index:
            continue  # only the NO-FT draws of this epoch are committed
        last = read.loc["bns_ft_last"]
        rows.append({"super_net": f"ours, epoch {epoch}", "epochs": int(epoch), "cells": int(last["n_cells"]),
                     "bns_ft_last": last["spearman"], "bns_ft_last_low": last["spearman_low"],
                     "bns_ft_last_high": last["spearman_high"], "bns_ft_mean": read.loc["bns_ft_mean", "spearman"],
                     "no_ft_corrected": read.loc[corrected, "spearman"],
                     "no_ft_corrected_accuracy": read.loc[corrected, "mean_accuracy"],
                     "no_ft_main_py": read.loc[main_py, "spearman"], "no_ft_main_py_accuracy": read.loc[main_py, "mean_accuracy"]})
    return pd.DataFrame(rows, columns=BESIDE_RELEASED_COLUMNS)


def _spearman(table: pd.DataFrame, truth: str) -> float:
    return float(scipy.stats.spearmanr(table["proxy_accuracy"], table[truth]).statistic)


def _spearman_with_ci(table: pd.DataFrame, truth: str, name: str, n_resamples: int, seed: int) -> dict[str, float]:
    low, high = spearman_ci(table["proxy_accuracy"], table[truth], n_boot=n_resamples, seed=seed)
    return {name: _spearman(table, truth), f"{name}_low": low, f"{name}_high": high}


def released_spread_verdict(beside: pd.DataFrame, run: str = PAPER_SCALE_RUN) -> str:
    """Whether the BNS-FT ρ of run `run`'s latest epoch in `beside` (`beside_released(run)`) lies within the range
    of the released super-nets' (its CI beside it)."""
    released = beside[beside["super_net"].str.startswith("released")]["bns_ft_last"]
    ours = beside[beside["super_net"].str.startswith("ours")]
    if ours.empty:
        return "none of our epochs is read yet"
    latest = ours.loc[ours["epochs"].idxmax()]
    where = ("within" if released.min() <= latest["bns_ft_last"] <= released.max()
             else "below" if latest["bns_ft_last"] < released.min() else "above")
    cells = cells_read_phrase(run, int(latest["epochs"]), int(latest["cells"]))
    return (f"at epoch {latest['epochs']} of {study_run(run).epochs} ({cells}) our BNS-FT ρ is {latest['bns_ft_last']:.2f} "
            f"[{latest['bns_ft_last_low']:.2f}, {latest['bns_ft_last_high']:.2f}], {where} the range of the "
            f"{len(released)} released super-nets ({released.min():.2f} to {released.max():.2f})")


def spearman_beside_counts(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Per mode of one run's evaluations (hash, mode, proxy_accuracy, nb101_validation_accuracy): the Spearman ρ of
    its super-net's proxy (`ws`) and of the parameter count and the FLOPs on the very same cells, against the mean
    NB-101 validation accuracy (NaN for a constant proxy: a diverged super-net). Columns: mode, cells, ws, params, flops."""
    rows = []
    for mode, group in evaluations.groupby("mode", sort=False):
        truth = group["nb101_validation_accuracy"].to_numpy()
        guides = {"ws": group["proxy_accuracy"].to_numpy(), **counts_of(group["hash"])}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
            rho = {name: scipy.stats.spearmanr(values, truth).statistic for name, values in guides.items()}
        rows.append({"mode": mode, "cells": len(group), **rho})
    return pd.DataFrame(rows, columns=["mode", "cells", "ws", "params", "flops"])


def readings_beside_counts(run: str, reading: str = "bns_ft_last") -> pd.DataFrame:
    """At each epoch of run `run` read under `reading`: the super-net's Spearman and that of the parameter count and
    the FLOPs on the very same cells (`spearman_beside_counts`). Columns: epoch, cells, ws, params, flops."""
    readings = load_readings(run)
    chosen = readings[readings["reading"] == reading].rename(columns={"reading": "mode"})
    tables = [spearman_beside_counts(group).assign(epoch=int(epoch)) for epoch, group in chosen.groupby("epoch")]
    columns = ["epoch", "cells", "ws", "params", "flops"]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)


def paper_scale_findings(run: str = PAPER_SCALE_RUN) -> list[str]:
    """The paper-scale run's latest read epoch in one line for a Findings box (none while no epoch is read)."""
    summary = readings_summary(run, n_resamples=PAPER_SCALE_RESAMPLES)
    read = summary[summary["reading"] == "bns_ft_last"]
    if read.empty:
        return []
    epoch = int(read["epoch"].max())
    rows = summary[summary["epoch"] == epoch].set_index("reading")
    last = rows.loc["bns_ft_last"]
    rho = rows["spearman"].map(rho_text)
    return [f"The paper-scale run (profile paper, 3 stacks of 3 cells) at epoch {epoch} of 432 ranks its first "
            f"{int(last['n_cells']):,} cells at BNS-FT ρ {mean_ci(last['spearman'], last['spearman_low'], last['spearman_high'])} "
            f"(last batch; {rho['bns_ft_mean']} from the mean of the batches), NO-FT "
            f"{rho[f'no_ft@{CORRECTED_MOMENTUM:g}']} at momentum {CORRECTED_MOMENTUM:g} and "
            f"{rho[f'no_ft@{MAIN_PY_MOMENTUM:g}']} at {MAIN_PY_MOMENTUM:g}."]


def training_progress(run: str) -> tuple[pd.DataFrame, dict]:
    """The committed state of a run's training: its per-epoch log (epoch, loss, accuracy, seconds,
    images_per_second, trained_in) and its status (state, epoch, total_steps, trained_in, precision_switches, ...).
    An empty log and {} when nothing is committed."""
    state = f"{STUDY_DIR}/{run}/state"
    if not (data_dir() / state / "status.json").exists():
        return pd.DataFrame(), {}
    log = pd.read_parquet(data_path(f"{state}/train_epochs.parquet"))
    return log, json.loads(data_path(f"{state}/status.json").read_text())


def whole_space_chunk(run: str, chunk: int) -> str:
    """The data name of chunk `chunk` of run `run`'s evaluation of every cell of its space."""
    return run_file(run, f"{WHOLE_SPACE_DIR}/chunk{chunk:03d}.parquet")


def load_whole_space(run: str) -> pd.DataFrame:
    """Run `run`'s committed evaluations of the cells of its whole space (hash, mode, proxy_accuracy), joined to
    NB-101 (mean validation and test accuracy); empty when none is committed."""
    folder = data_dir() / STUDY_DIR / run / WHOLE_SPACE_DIR
    names = sorted(f"{STUDY_DIR}/{run}/{WHOLE_SPACE_DIR}/{path.name}" for path in folder.glob("chunk*.parquet"))
    if not names:
        return pd.DataFrame(columns=WHOLE_SPACE_COLUMNS)
    table = pd.concat([with_precision(pd.read_parquet(data_path(name))) for name in names], ignore_index=True)
    truth = NB101.default().metrics(table["hash"].unique())[["mean_validation_accuracy", "mean_test_accuracy"]]
    return table.join(truth, on="hash")


WHOLE_SPACE_TRUE_TOPS = {"top 1%": 0.01, "top 10": 10, "top 100": 100}  # the true best cells sought
WHOLE_SPACE_PROXY_TOPS = {"10": 10, "100": 100, "1%": 0.01, "10%": 0.10}  # the super-net's k best cells kept


def _count(size: float, n: int) -> int:
    """A top-set size: a count, or a fraction of `n` cells (at least 1)."""
    return max(1, round(size * n)) if size < 1 else int(size)


def whole_space_correlations(table: pd.DataFrame, sample: pd.Index) -> pd.DataFrame:
    """Per mode of a whole-space evaluation (`load_whole_space`): Spearman ρ and Kendall τ against the mean NB-101
    validation accuracy over every cell with one (all), and over the cells of `sample` (the run's shared cells):
    whether the sample was representative. Columns mode, cells, spearman, kendall, sample_cells, sample_spearman,
    sample_kendall."""
    return pd.DataFrame([{"mode": mode, **_all_and_sample(group, "proxy_accuracy", "mean_validation_accuracy", sample)}
                         for mode, group in table.dropna(subset=["mean_validation_accuracy"]).groupby("mode", sort=False)])


def _all_and_sample(table: pd.DataFrame, ranker: str, truth: str, sample: pd.Index) -> dict[str, float]:
    """Spearman ρ and Kendall τ of column `ranker` against column `truth` over all rows of `table` (cells, spearman,
    kendall) and over those whose hash is in `sample` (sample_cells, sample_spearman, sample_kendall)."""
    measures = {}
    for prefix, part in (("", table), ("sample_", table[table["hash"].isin(sample)])):
        measures |= {f"{prefix}cells": len(part),
                     f"{prefix}spearman": scipy.stats.spearmanr(part[ranker], part[truth]).statistic,
                     f"{prefix}kendall": scipy.stats.kendalltau(part[ranker], part[truth]).statistic}
    return measures


def top_recall(proxy: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    """Of each true top set (WHOLE_SPACE_TRUE_TOPS), the share found among the proxy's k best cells, for each k of
    WHOLE_SPACE_PROXY_TOPS. Index: true top; columns: the proxy's top k."""
    proxy, truth = np.asarray(proxy, float), np.asarray(truth, float)
    by_truth, by_proxy = np.argsort(-truth, kind="stable"), np.argsort(-proxy, kind="stable")
    n = len(truth)
    return pd.DataFrame({
        name: {true_name: len(np.intersect1d(by_truth[:_count(true_size, n)], by_proxy[:_count(size, n)]))
               / _count(true_size, n) for true_name, true_size in WHOLE_SPACE_TRUE_TOPS.items()}
        for name, size in WHOLE_SPACE_PROXY_TOPS.items()}).rename_axis("true best cells")


def true_ranks_of_proxy_top(table: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The proxy's k best cells of one mode with their true rank (1 = best mean validation accuracy of the cells
    with one) and its percentile. Columns hash, proxy_accuracy, mean_validation_accuracy, true_rank, percentile."""
    known = table.dropna(subset=["mean_validation_accuracy"]).reset_index(drop=True)
    true_rank = known["mean_validation_accuracy"].rank(ascending=False, method="min").astype(int)
    top = known.assign(true_rank=true_rank, percentile=100 * true_rank / len(known)).nlargest(k, "proxy_accuracy")
    return top[["hash", "proxy_accuracy", "mean_validation_accuracy", "true_rank", "percentile"]].reset_index(drop=True)


WHOLE_SPACE_RANKERS = {"bns_ft": "BNS-FT", "no_ft": "NO-FT", "params": "parameters", "flops": "FLOPs"}


def whole_space_rankers(run: str) -> pd.DataFrame:
    """One row per cell of run `run`'s whole-space evaluation that NB-101 knows: hash, the proxy accuracy of each
    mode (columns bns_ft, no_ft), the free counts (params: trainable parameters, flops: of NB-101's network), the
    truth (validation, test: means over the repeats) and training time (NB-101's mean seconds), and precision.
    Only cells evaluated in both modes; empty when no chunk is committed."""
    table = load_whole_space(run)
    columns = ["hash", *WHOLE_SPACE_RANKERS, "validation", "test", "time", "precision"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    wide = table.pivot(index="hash", columns="mode", values="proxy_accuracy").dropna()
    truth = NB101.default().metrics(wide.index)
    wide = wide.assign(params=truth["trainable_parameters"], flops=flops_of_all_cells()[index_of(list(wide.index))],
                       validation=truth["mean_validation_accuracy"], test=truth["mean_test_accuracy"],
                       time=truth["mean_training_time"],
                       precision=table.drop_duplicates("hash").set_index("hash")["precision"])
    return wide.dropna(subset=["validation", "test", "time"]).reset_index()[columns]


def whole_space_summary(wide: pd.DataFrame, sample: pd.Index) -> pd.DataFrame:
    """Per ranker of `whole_space_rankers`: Spearman ρ and Kendall τ against the mean validation accuracy over every
    cell (cells, spearman, kendall) and over the cells of `sample` (the run's own evaluation cells: sample_cells,
    sample_spearman, sample_kendall), so whether that sample was representative."""
    return pd.DataFrame([{"ranker": name, **_all_and_sample(wide, ranker, "validation", sample)}
                         for ranker, name in WHOLE_SPACE_RANKERS.items()])


def run_spearman(run: str, mode: str = "bns_ft") -> float:
    """Spearman ρ of committed run `run` at its final epoch in `mode`, against the mean NB-101 validation accuracy."""
    table = pd.read_parquet(data_path(run_file(run, RUN_EVALUATIONS_FILE)))
    table = _with_truth(table[(table["mode"] == mode) & (table["epoch"] == table["epoch"].max())])
    return float(scipy.stats.spearmanr(table["proxy_accuracy"], table["nb101_validation_accuracy"]).statistic)


def _run_params(run: str) -> dict:
    return json.loads(data_path(run_file(run, "params.json")).read_text())["params"]


def momentum_spread(readings: pd.DataFrame, momentum: float = MAIN_PY_MOMENTUM) -> dict[str, float]:
    """NO-FT at `momentum` over the replayed draws: how many, the mean, SD, lowest and highest Spearman ρ, and the
    lowest and highest mean proxy accuracy."""
    draws = readings[(readings["momentum"] == momentum) & (readings["replay_steps"] > 0)]
    return {"draws": len(draws), "mean": float(draws["spearman"].mean()), "sd": float(draws["spearman"].std(ddof=1)),
            "low": float(draws["spearman"].min()), "high": float(draws["spearman"].max()),
            "accuracy_low": float(draws["mean_accuracy"].min()), "accuracy_high": float(draws["mean_accuracy"].max())}


def released_mean_accuracy(evaluations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per space, the mean proxy accuracy of the authors' released baseline super-nets under NO-FT and BNS-FT
    (diverged runs left out). Their NO-FT read running statistics of momentum 0.003, as their settings files record."""
    evaluations = load_evaluations() if evaluations is None else evaluations
    baseline = evaluations[(evaluations["variant"] == "baseline") & ~evaluations["diverged"]]
    return baseline.groupby(["space", "mode"])["proxy_accuracy"].mean().unstack("mode")[["no_ft", "bns_ft"]]


def bn_momentum_findings(readings: pd.DataFrame, released: pd.DataFrame) -> list[str]:
    """The BN-momentum finding in words, from `bn_readings` of one run and `released_mean_accuracy`."""
    trained = readings[readings["replay_steps"] == 0].iloc[0]
    spread = momentum_spread(readings)
    chance = released.drop(index="A0-res", errors="ignore")["no_ft"]
    recorded = released_momentum()
    lines = [f"The released NO-FT proxies have a mean accuracy of {chance.min():.2f}–{chance.max():.2f} in every space but "
             f"A0-res ({released.loc['A0-res', 'no_ft']:.2f}), against {released['bns_ft'].min():.2f}–"
             f"{released['bns_ft'].max():.2f} under BNS-FT, with the running statistics of momentum "
             f"{momenta_text(recorded)} that {recorded['files']} of {recorded['files']} of their settings files record."]
    lines.append(f"Our super-net's NO-FT is ρ {trained['spearman']:.2f} with the statistics it trained with (momentum "
                 f"{trained['momentum']:g}); with those of momentum {MAIN_PY_MOMENTUM:g} it is {spread['low']:.2f} to "
                 f"{spread['high']:.2f} over {spread['draws']} draws of the last steps (SD {spread['sd']:.2f}), and its "
                 f"mean proxy accuracy is {spread['accuracy_low']:.2f}–{spread['accuracy_high']:.2f} against "
                 f"{trained['mean_accuracy']:.2f}.")
    replays = readings[(readings["momentum"] == CORRECTED_MOMENTUM) & (readings["replay_steps"] > 0)].set_index("precision")
    if {"fp32", "bf16"} <= set(replays.index):
        gap = abs(replays.loc["bf16", "spearman"] - replays.loc["fp32", "spearman"])
        lines.append(f"Accumulated in bf16 instead of fp32 from the same replayed steps (momentum {CORRECTED_MOMENTUM:g}), "
                     f"the statistics give NO-FT ρ {replays.loc['bf16', 'spearman']:.2f} against "
                     f"{replays.loc['fp32', 'spearman']:.2f} (a gap of {gap:.2f}).")
    return lines


def momenta_text(recorded: dict[str, object]) -> str:
    """The BN momenta of `wsnas.reference.released_momentum`, for a sentence: '0.003'."""
    return " or ".join(f"{momentum:g}" for momentum in recorded["momenta"])


def momentum_gains(bns_ft: float, no_ft_corrected: float, no_ft_main_py: float) -> dict[str, float]:
    """BNS-FT's gain in ρ over NO-FT read at 0.003 (the released runs' setting) and at main.py's default 0.997."""
    return {"gain_corrected": bns_ft - no_ft_corrected, "gain_main_py": bns_ft - no_ft_main_py}


def gains_phrase(gains: dict[str, float]) -> str:
    """`momentum_gains` in words."""
    return (f"BNS-FT gains ρ {rho_text(gains['gain_corrected'], signed=True)} over NO-FT at {CORRECTED_MOMENTUM:g} (the "
            f"released runs' setting) and {rho_text(gains['gain_main_py'], signed=True)} over NO-FT at "
            f"{MAIN_PY_MOMENTUM:g} (main.py's default)")


def momentum_gains_of_draws(readings: pd.DataFrame, bns_ft_spearman: float) -> dict[str, float]:
    """`momentum_gains` of a run's replayed BN readings: NO-FT at 0.003 as trained, at 0.997 the mean over the draws."""
    trained = float(readings.loc[readings["replay_steps"] == 0, "spearman"].iloc[0])
    return momentum_gains(bns_ft_spearman, trained, momentum_spread(readings)["mean"])


def planned_cells(run: str, epoch: int) -> int:
    """The cells an epoch of paper-scale run `run` is read on when complete: the profile's evaluation cells at the
    final epoch, CHECKPOINT_CELLS at a kept checkpoint."""
    spec = study_run(run)
    return load_profile(spec.profile)["num_eval_cells"] if epoch == spec.epochs else CHECKPOINT_CELLS


def cells_read_phrase(run: str, epoch: int, n_cells: int) -> str:
    """'1,000 cells', or '200 of its 1,000 cells, the rest still being read' for an epoch read in part."""
    planned = planned_cells(run, epoch)
    return f"{n_cells:,} cells" if n_cells >= planned else f"{n_cells:,} of its {planned:,} cells, the rest still being read"


def momentum_caveat(cpu_study_run: str = "A4_baseline_seed0_e81", paper_scale_run: str = PAPER_SCALE_RUN) -> str:
    """Which BN momentum the released NO-FT column read, and what the other one does to BNS-FT's gain on our runs,
    in words, from the released settings files and the committed readings of our runs."""
    released = released_mean_accuracy().drop(index="A0-res", errors="ignore")["no_ft"]
    recorded = released_momentum()
    text = (f"Every one of the {recorded['files']} settings files of the released runs records BN momentum "
            f"{momenta_text(recorded)} (PyTorch convention), the value commit 1a746cb made the default; the published "
            f"main.py at a7237c3 defaults to {MAIN_PY_MOMENTUM:g}, the running statistics of the last batch or two. So the "
            f"released NO-FT column, near chance (mean proxy accuracy {released.min():.2f}–{released.max():.2f} outside "
            f"A0-res), read statistics averaged over many cells, and BNS-FT's gain is measured against that.")
    if has_bn_readings(cpu_study_run):
        readings = bn_readings(cpu_study_run, n_resamples=200)
        spread = momentum_spread(readings)
        gains = momentum_gains_of_draws(readings, run_spearman(cpu_study_run))
        text += (f" On our CPU-study super-net {cpu_study_run} (profile cpu-study, 3 × 1 cells) NO-FT is ρ "
                 f"{rho_text(readings['spearman'].iloc[0])} at {CORRECTED_MOMENTUM:g} and {rho_text(spread['mean'])} on "
                 f"average at {MAIN_PY_MOMENTUM:g} ({spread['draws']} draws of the last steps, {rho_text(spread['low'])} "
                 f"to {rho_text(spread['high'])}): {gains_phrase(gains)}.")
    paper_scale = paper_scale_momentum(paper_scale_run)
    return f"{text} {paper_scale}" if paper_scale else text


def paper_scale_no_ft(run: str = PAPER_SCALE_RUN) -> dict[str, object]:
    """Paper-scale run `run` at its latest read epoch: epoch, cells (`cells_read_phrase`), BNS-FT ρ (last batch),
    NO-FT ρ and mean proxy accuracy under each momentum, and BNS-FT's gains (`momentum_gains`); {} while unread."""
    summary = readings_summary(run, n_resamples=0)  # point values only: no interval is quoted
    read = summary[summary["reading"] == "bns_ft_last"]
    if read.empty:
        return {}
    epoch = int(read["epoch"].max())
    rows = summary[summary["epoch"] == epoch].set_index("reading")
    main_py, corrected = rows.loc[f"no_ft@{MAIN_PY_MOMENTUM:g}"], rows.loc[f"no_ft@{CORRECTED_MOMENTUM:g}"]
    bns_ft = float(rows.loc["bns_ft_last", "spearman"])
    return {"epoch": epoch, "cells": cells_read_phrase(run, epoch, int(rows.loc["bns_ft_last", "n_cells"])),
            "bns_ft": bns_ft, "no_ft_corrected": float(corrected["spearman"]),
            "accuracy_corrected": float(corrected["mean_accuracy"]), "no_ft_main_py": float(main_py["spearman"]),
            "accuracy_main_py": float(main_py["mean_accuracy"]),
            **momentum_gains(bns_ft, float(corrected["spearman"]), float(main_py["spearman"]))}


def paper_scale_draws(run: str = PAPER_SCALE_RUN) -> dict[str, object]:
    """NO-FT at the first momentum of paper-scale run `run` re-read after each replay of its last steps
    (`wsnas study --readings EPOCH --draws`), at the latest epoch that has draws: epoch, cells, draws, the lowest and
    highest Spearman ρ and mean proxy accuracy over the draws, and the same reading as trained on the very same
    cells (`as_trained`, `as_trained_accuracy`); {} while no draw is committed."""
    readings = load_readings(run)
    first = f"no_ft@{MAIN_PY_MOMENTUM:g}"
    replayed = readings[readings["reading"].str.startswith(f"{first} draw ")]
    if replayed.empty:
        return {}
    epoch = int(replayed["epoch"].max())
    replayed = replayed[replayed["epoch"] == epoch]
    cells = set(replayed["hash"])
    trained = readings[(readings["epoch"] == epoch) & (readings["reading"] == first) & readings["hash"].isin(cells)]
    per_draw = replayed.groupby("reading").apply(
        lambda group: pd.Series({"spearman": _spearman(group, "nb101_validation_accuracy"),
                                 "accuracy": float(group["proxy_accuracy"].mean()), "cells": len(group)}))
    return {"epoch": epoch, "cells": int(per_draw["cells"].min()), "draws": len(per_draw),
            "low": float(per_draw["spearman"].min()), "high": float(per_draw["spearman"].max()),
            "accuracy_low": float(per_draw["accuracy"].min()), "accuracy_high": float(per_draw["accuracy"].max()),
            "as_trained": _spearman(trained, "nb101_validation_accuracy") if len(trained) > 1 else float("nan"),
            "as_trained_accuracy": float(trained["proxy_accuracy"].mean()) if len(trained) else float("nan")}


def paper_scale_draws_phrase(run: str = PAPER_SCALE_RUN) -> str:
    """`paper_scale_draws` in one sentence; empty while no draw is committed."""
    draws = paper_scale_draws(run)
    if not draws:
        return ""
    return (f"Re-read at epoch {draws['epoch']} after {draws['draws']} replays of its last 100 training steps with fresh "
            f"cells and mini-batches, NO-FT at {MAIN_PY_MOMENTUM:g} ranks its first {draws['cells']:,} cells at ρ "
            f"{rho_text(draws['low'])} to {rho_text(draws['high'])} (mean proxy accuracy {draws['accuracy_low']:.2f}–"
            f"{draws['accuracy_high']:.2f}), against {rho_text(draws['as_trained'])} "
            f"({draws['as_trained_accuracy']:.2f}) with the statistics its training left on the same cells.")


def paper_scale_momentum(run: str = PAPER_SCALE_RUN) -> str:
    """`paper_scale_no_ft` in one sentence that names the run, the epoch and the cells read, followed by
    `paper_scale_draws_phrase` once draws are committed; empty while unread."""
    read = paper_scale_no_ft(run)
    if not read:
        return ""
    sentence = (f"On our paper-scale run (profile paper, 3 × 3 cells) at epoch {read['epoch']} of {study_run(run).epochs}, "
                f"on {read['cells']}: BNS-FT ρ {rho_text(read['bns_ft'])}; NO-FT {rho_text(read['no_ft_corrected'])} at "
                f"{CORRECTED_MOMENTUM:g} (mean proxy accuracy {read['accuracy_corrected']:.2f}) and "
                f"{rho_text(read['no_ft_main_py'])} at {MAIN_PY_MOMENTUM:g} (the statistics of its own last training "
                f"steps; mean proxy accuracy {read['accuracy_main_py']:.2f}): {gains_phrase(read)}.")
    draws = paper_scale_draws_phrase(run)
    return f"{sentence} {draws}" if draws else sentence


# --------------------------------------------------------------------------------------------
# The budget study (profile cpu-study)


def committed_epochs(run: StudyRun) -> set[int]:
    """The epochs whose evaluations data/study/<run>/ holds."""
    path = data_dir() / STUDY_DIR / run.name / "evaluations.parquet"
    return set(pd.read_parquet(path, columns=["epoch"])["epoch"].astype(int)) if path.exists() else set()


def committed(run: StudyRun) -> bool:
    """Whether data/study/<run>/ holds the evaluations of every epoch the run evaluates."""
    return committed_epochs(run) >= set(run.evaluated_epochs)


def load_study() -> pd.DataFrame:
    """All committed study evaluations joined to NB-101: run, epochs (budget), seed, variant, epoch, mode, hash,
    proxy_accuracy, nb101_validation_accuracy (mean of the 3 repeats)."""
    tables = []
    for run in STUDY_RUNS:
        path = data_dir() / STUDY_DIR / run.name / "evaluations.parquet"
        if path.exists():
            tables.append(with_precision(pd.read_parquet(path)).assign(run=run.name, budget=run.epochs, seed=run.seed,
                                                                       variant=run.variant))
    if not tables:
        return pd.DataFrame(columns=["run", "budget", "seed", "variant", "epoch", "mode", "hash", "proxy_accuracy",
                                     "precision", "nb101_validation_accuracy"])
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
    label = (f"Trained here: profile {STUDY_PROFILE}, {STUDY_SPACE}, {budget} epochs, 3 stacks of 1 cell, JPEG q75 CIFAR-10, "
             f"{int(rows['n_cells'].iloc[0])} cells")
    return rows[["n_cells", "spearman", "spearman_low", "spearman_high", "kendall"]].assign(budget=budget, label=label)


def nearest_budget(images: int, correlations: pd.DataFrame | None = None, mode: str = "bns_ft") -> pd.Series | None:
    """The finished baseline run (seed 0) of the study whose training saw the number of images nearest `images`:
    run, budget, images_seen, spearman, spearman_low, spearman_high in `mode`. None when nothing is committed."""
    final = _finished_baseline_runs(study_correlations() if correlations is None else correlations)
    final = final[final["mode"] == mode]
    if final.empty:
        return None
    final = final.assign(images_seen=final["budget"] * images_per_epoch(STUDY_PROFILE))
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
    images = load_profile(STUDY_PROFILE)["valid_subset"]
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
            label = f"seed {run.seed} − seed 0 at 27 epochs" if run.variant == "baseline" else f"{VARIANT_NAMES[run.variant]} − baseline at 27 epochs"
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
            f"lies above 0 and the gain exceeds the gap between two seeds at 27 epochs ({rho_text(seed_gap)}). ")
    observed = f"Gain {mean_ci(last['difference'], last['low'], last['high'], signed=True)}: "
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
        f"{b} epochs {rho_text(r)} [{rho_text(low)}, {rho_text(high)}]" for b, r, low, high in
        zip(bns["budget"], bns["spearman"], bns["spearman_low"], bns["spearman_high"]))
        + "; NO-FT: " + ", ".join(f"{b} epochs {rho_text(r)}" for b, r in zip(nos["budget"], nos["spearman"])) + "."]
    if 81 in set(bns["budget"]):
        best = float(bns.loc[bns["budget"] == 81, "spearman"].iloc[0])
        goal = "reaches" if best >= 0.5 else "falls short of"
        lines.append(f"At 81 epochs BNS-FT {goal} the study's goal of 0.5 ({rho_text(best)}); the paper reports "
                     f"{rho_text(paper_bns_ft)} after 432 epochs with 3 cells per stack.")
    else:
        lines.append("The 81-epoch run is not committed yet: the curve stops at the longest finished budget.")
    mid = table[(table["epoch"] < table["budget"]) & (table["mode"] == "bns_ft")]
    for row in mid.itertuples():
        same = bns[bns["budget"] == row.epoch]
        if not same.empty:
            lines.append(f"The {row.budget}-epoch run's checkpoint at epoch {row.epoch} gives BNS-FT {rho_text(row.spearman)}, "
                         f"against {rho_text(same['spearman'].iloc[0])} for a run of {row.epoch} epochs.")
    seeds = table[(table["budget"] == 27) & (table["variant"] == "baseline") & (table["mode"] == "bns_ft")]
    if seeds["seed"].nunique() > 1:
        lines.append("Two seeds at 27 epochs: BNS-FT " + " and ".join(rho_text(v) for v in seeds.sort_values("seed")["spearman"]) + ".")
    return lines + [budget_verdict(differences)]


def study_json() -> list[dict]:
    """What `wsnas study --json` prints: per run, epoch and mode (for a run with two sets of BN statistics, each
    reading named), its space, profile and cells per stack, spearman, kendall and n_cells."""
    table = study_correlations(n_resamples=200).rename(columns={"budget": "epochs"})
    readings = [readings_summary(run.name, n_resamples=200).rename(columns={"reading": "mode"}).assign(
        run=run.name, epochs=run.epochs, seed=run.seed, variant=run.variant) for run in PAPER_SCALE_RUNS]
    table = pd.concat([table, *readings], ignore_index=True)
    profiles = {run.name: run.profile for run in COMMITTED_RUNS}
    return [{"run": row.run, "space": STUDY_SPACE, "profile": profiles[row.run], "variant": row.variant, "seed": int(row.seed),
             "epochs": int(row.epochs), "cells_per_stack": load_profile(profiles[row.run])["cells_per_stack"],
             "epoch": int(row.epoch), "mode": row.mode, "spearman": round(float(row.spearman), 4),
             "kendall": round(float(row.kendall), 4), "n_cells": int(row.n_cells)} for row in table.itertuples()]

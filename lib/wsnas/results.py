"""Our committed runs read back without torch: the files under `data/study/<run>/` and what they say.

`wsnas.study` trains, evaluates and commits the runs (torch); this module only reads what they left, so the
chapters and `wsnas study --json` need neither torch nor a trained super-net. It starts with the BN-momentum
readings (which statistics NO-FT reads); the rest of the study's reading half is to follow it here.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import scipy.stats

from .datafiles import data_dir, data_path
from .metrics import spearman_ci
from .names import mean_ci
from .names import rho as rho_text
from .nb101 import NB101
from .reference import duplicate_runs, load_evaluations, paper_table1
from .space import counts_of

STUDY_DIR = "study"  # data/study/<run>/: one committed run
RUN_EVALUATIONS_FILE = "evaluations.parquet"
BN_READINGS_FILE = "bn_readings.parquet"  # NO-FT under replayed BN statistics (wsnas.study.bn_momentum_readings)
BN_READINGS_COLUMNS = ["hash", "momentum", "precision", "draw", "replay_steps", "proxy_accuracy"]
WHOLE_SPACE_DIR = "whole_space"  # data/study/<run>/whole_space/chunk<k>.parquet: every cell of the space ranked
WHOLE_SPACE_COLUMNS = ["hash", "mode", "proxy_accuracy"]
WHOLE_SPACE_CHUNK = 500  # cells per committed chunk
READINGS_DIR = "readings"  # data/study/<run>/readings/: a run with two sets of BN statistics, read four ways
READINGS_COLUMNS = ["epoch", "hash", "reading", "proxy_accuracy"]
READINGS_CHUNK = 100  # cells per committed chunk of readings (about half an hour at the paper's scale)
CHECKPOINT_CELLS = 300  # a mid-run checkpoint is read on the first 300 of the run's cells (a uniform subsample)
SPREAD_DRAWS, SPREAD_CELLS = 3, 300  # NO-FT at the first momentum re-read after other last steps: draws, cells
PAPERS_MOMENTUM, CORRECTED_MOMENTUM = 0.997, 0.003
PAPER_SCALE_RUN = "A4_baseline_seed0_paper_e432"  # wsnas.study.PAPER_SCALE_RUNS' run (a test checks the name)  # PyTorch convention: a7237c3's value, 1a746cb's correction


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
    return _with_truth(pd.concat([pd.read_parquet(data_path(name)) for name in names], ignore_index=True))


def readings_summary(run: str, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
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
                           "bns_ft_mean", "no_ft_papers", "no_ft_papers_accuracy", "no_ft_corrected", "note"]


def beside_released(run: str, space: str = "A4", n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Run `run`'s readings at each committed epoch beside the paper's row for `space` (Table 1, mean of 5) and each
    of the authors' released baseline super-nets of that space, recomputed: BNS-FT from the last batches (the
    authors' code) with a bootstrap 95% CI over cells, BNS-FT from their mean (ours only), NO-FT at the paper's
    momentum with its mean proxy accuracy, and NO-FT at the corrected momentum (ours only). Columns:
    BESIDE_RELEASED_COLUMNS; `super_net` is "paper", "released, seed s" or "ours, epoch e"."""
    paper = paper_table1().loc[space]
    rows = [{"super_net": "paper", "epochs": 432, "cells": 1000, "bns_ft_last": paper[("baseline/bns_ft", "mean")],
             "no_ft_papers": paper[("baseline/no_ft", "mean")]}]
    evaluations = load_evaluations()
    released = evaluations.query("space == @space and variant == 'baseline'")
    copies = duplicate_runs(evaluations).query("space == @space")
    for released_seed, runs in released.groupby("seed"):
        modes = {mode: group for mode, group in runs.groupby("mode")}
        rows.append({"super_net": f"released, seed {released_seed}", "epochs": 432, "cells": len(modes["bns_ft"]),
                     **_spearman_with_ci(modes["bns_ft"], "mean_validation_accuracy", "bns_ft_last", n_resamples, seed),
                     "no_ft_papers": _spearman(modes["no_ft"], "mean_validation_accuracy"),
                     "no_ft_papers_accuracy": float(modes["no_ft"]["proxy_accuracy"].mean()),
                     "note": "; ".join(f"{column.split('/')[1].replace('_', '-').upper()} copies seed {seed_of}"
                                       for column, seed_of in copies.loc[
                                           copies["seed_copy"] == released_seed, ["column", "seed"]].itertuples(index=False))})
    summary = readings_summary(run, n_resamples=n_resamples, seed=seed).set_index("reading")
    papers, corrected = f"no_ft@{PAPERS_MOMENTUM:g}", f"no_ft@{CORRECTED_MOMENTUM:g}"
    for epoch, read in summary.groupby("epoch"):
        if "bns_ft_last" not in read.index:
            continue  # only the NO-FT draws of this epoch are committed
        last = read.loc["bns_ft_last"]
        rows.append({"super_net": f"ours, epoch {epoch}", "epochs": int(epoch), "cells": int(last["n_cells"]),
                     "bns_ft_last": last["spearman"], "bns_ft_last_low": last["spearman_low"],
                     "bns_ft_last_high": last["spearman_high"], "bns_ft_mean": read.loc["bns_ft_mean", "spearman"],
                     "no_ft_papers": read.loc[papers, "spearman"], "no_ft_papers_accuracy": read.loc[papers, "mean_accuracy"],
                     "no_ft_corrected": read.loc[corrected, "spearman"]})
    return pd.DataFrame(rows, columns=BESIDE_RELEASED_COLUMNS)


def _spearman(table: pd.DataFrame, truth: str) -> float:
    return float(scipy.stats.spearmanr(table["proxy_accuracy"], table[truth]).statistic)


def _spearman_with_ci(table: pd.DataFrame, truth: str, name: str, n_resamples: int, seed: int) -> dict[str, float]:
    low, high = spearman_ci(table["proxy_accuracy"], table[truth], n_boot=n_resamples, seed=seed)
    return {name: _spearman(table, truth), f"{name}_low": low, f"{name}_high": high}


def released_spread_verdict(beside: pd.DataFrame) -> str:
    """Whether our latest epoch's BNS-FT ρ lies within the range of the released super-nets' (its CI beside it)."""
    released = beside[beside["super_net"].str.startswith("released")]["bns_ft_last"]
    ours = beside[beside["super_net"].str.startswith("ours")]
    if ours.empty:
        return "none of our epochs is read yet"
    latest = ours.loc[ours["epochs"].idxmax()]
    where = ("within" if released.min() <= latest["bns_ft_last"] <= released.max()
             else "below" if latest["bns_ft_last"] < released.min() else "above")
    return (f"at epoch {latest['epochs']} of 432 ({latest['cells']:,} cells) our BNS-FT ρ is {latest['bns_ft_last']:.2f} "
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
    summary = readings_summary(run, n_resamples=1000)
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
            f"{rho[f'no_ft@{PAPERS_MOMENTUM:g}']} at {PAPERS_MOMENTUM:g}."]


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
    table = pd.concat([pd.read_parquet(data_path(name)) for name in names], ignore_index=True)
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
    rows = []
    for mode, group in table.dropna(subset=["mean_validation_accuracy"]).groupby("mode", sort=False):
        shared = group[group["hash"].isin(sample)]
        measures = {}
        for prefix, part in (("", group), ("sample_", shared)):
            proxy, truth = part["proxy_accuracy"], part["mean_validation_accuracy"]
            measures |= {f"{prefix}cells": len(part), f"{prefix}spearman": scipy.stats.spearmanr(proxy, truth).statistic,
                         f"{prefix}kendall": scipy.stats.kendalltau(proxy, truth).statistic}
        rows.append({"mode": mode, **measures})
    return pd.DataFrame(rows)


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


def run_spearman(run: str, mode: str = "bns_ft") -> float:
    """Spearman ρ of committed run `run` at its final epoch in `mode`, against the mean NB-101 validation accuracy."""
    table = pd.read_parquet(data_path(run_file(run, RUN_EVALUATIONS_FILE)))
    table = _with_truth(table[(table["mode"] == mode) & (table["epoch"] == table["epoch"].max())])
    return float(scipy.stats.spearmanr(table["proxy_accuracy"], table["nb101_validation_accuracy"]).statistic)


def _run_params(run: str) -> dict:
    return json.loads(data_path(run_file(run, "params.json")).read_text())["params"]


def momentum_spread(readings: pd.DataFrame, momentum: float = PAPERS_MOMENTUM) -> dict[str, float]:
    """NO-FT at `momentum` over the replayed draws: how many, the mean, SD, lowest and highest Spearman ρ, and the
    lowest and highest mean proxy accuracy."""
    draws = readings[(readings["momentum"] == momentum) & (readings["replay_steps"] > 0)]
    return {"draws": len(draws), "mean": float(draws["spearman"].mean()), "sd": float(draws["spearman"].std(ddof=1)),
            "low": float(draws["spearman"].min()), "high": float(draws["spearman"].max()),
            "accuracy_low": float(draws["mean_accuracy"].min()), "accuracy_high": float(draws["mean_accuracy"].max())}


def released_mean_accuracy(evaluations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per space, the mean proxy accuracy of the authors' released baseline super-nets under NO-FT and BNS-FT
    (diverged runs left out): chance (0.10) where NO-FT read the running statistics of momentum 0.997."""
    evaluations = load_evaluations() if evaluations is None else evaluations
    baseline = evaluations[(evaluations["variant"] == "baseline") & ~evaluations["diverged"]]
    return baseline.groupby(["space", "mode"])["proxy_accuracy"].mean().unstack("mode")[["no_ft", "bns_ft"]]


def bn_momentum_findings(readings: pd.DataFrame, released: pd.DataFrame) -> list[str]:
    """The BN-momentum finding in words, from `bn_readings` of one run and `released_mean_accuracy`."""
    trained = readings[readings["replay_steps"] == 0].iloc[0]
    spread = momentum_spread(readings)
    chance = released.drop(index="A0-res", errors="ignore")["no_ft"]
    lines = [f"The released NO-FT proxies have a mean accuracy of {chance.min():.2f}–{chance.max():.2f} in every space but "
             f"A0-res ({released.loc['A0-res', 'no_ft']:.2f}), against {released['bns_ft'].min():.2f}–"
             f"{released['bns_ft'].max():.2f} under BNS-FT: with the running statistics of momentum {PAPERS_MOMENTUM:g}, "
             "NO-FT scored most cells at about chance (0.10)."]
    lines.append(f"Our super-net's NO-FT is ρ {trained['spearman']:.2f} with the statistics it trained with (momentum "
                 f"{trained['momentum']:g}); with those of momentum {PAPERS_MOMENTUM:g} it is {spread['low']:.2f} to "
                 f"{spread['high']:.2f} over {spread['draws']} draws of the last steps (SD {spread['sd']:.2f}), and its "
                 f"mean proxy accuracy falls from {trained['mean_accuracy']:.2f} to {spread['accuracy_low']:.2f}–"
                 f"{spread['accuracy_high']:.2f}.")
    replays = readings[(readings["momentum"] == CORRECTED_MOMENTUM) & (readings["replay_steps"] > 0)].set_index("precision")
    if {"fp32", "bf16"} <= set(replays.index):
        gap = abs(replays.loc["bf16", "spearman"] - replays.loc["fp32", "spearman"])
        lines.append(f"Accumulated in bf16 instead of fp32 from the same replayed steps (momentum {CORRECTED_MOMENTUM:g}), "
                     f"the statistics give NO-FT ρ {replays.loc['bf16', 'spearman']:.2f} against "
                     f"{replays.loc['fp32', 'spearman']:.2f} (a gap of {gap:.2f}).")
    return lines



def momentum_share_of_gain(readings: pd.DataFrame, bns_ft_spearman: float) -> dict[str, float]:
    """BNS-FT's gain in Spearman ρ over NO-FT read with the paper's momentum (mean over the draws) and with the
    statistics the run trained with, and the fraction of the first gain that the momentum alone accounts for."""
    trained = float(readings.loc[readings["replay_steps"] == 0, "spearman"].iloc[0])
    return share_of_gain(bns_ft_spearman, momentum_spread(readings)["mean"], trained)


def share_of_gain(bns_ft: float, no_ft_papers: float, no_ft_corrected: float) -> dict[str, float]:
    """BNS-FT's gain in ρ over NO-FT at the paper's momentum and at the corrected one, and the fraction of the first
    that the momentum accounts for: (gain at 0.997 - gain at 0.003) / gain at 0.997."""
    gain_papers, gain_trained = bns_ft - no_ft_papers, bns_ft - no_ft_corrected
    return {"gain_papers_momentum": gain_papers, "gain_trained_momentum": gain_trained,
            "momentum_share": (gain_papers - gain_trained) / gain_papers if gain_papers > 0 else float("nan")}


def momentum_caveat(study_run: str = "A4_baseline_seed0_e81", paper_scale_run: str = PAPER_SCALE_RUN) -> str:
    """What the BN momentum does to BNS-FT's gain over NO-FT, in words, from the committed readings of our runs:
    the study run's replayed draws and, once read, the paper-scale run's latest epoch."""
    released = released_mean_accuracy().drop(index="A0-res", errors="ignore")["no_ft"]
    text = (f"The released NO-FT column read running statistics of momentum {PAPERS_MOMENTUM:g} (PyTorch convention: "
            f"the authors' code at a7237c3, corrected to {CORRECTED_MOMENTUM:g} in 1a746cb), which score most cells "
            f"at about chance (mean proxy accuracy {released.min():.2f}–{released.max():.2f} outside A0-res), so part "
            "of BNS-FT's gain is the momentum, not the fine-tuning.")
    if has_bn_readings(study_run):
        readings = bn_readings(study_run, n_resamples=200)
        share = momentum_share_of_gain(readings, run_spearman(study_run))
        spread = momentum_spread(readings)
        text += (f" On our CPU-study super-net {study_run} (profile cpu-study, 3 × 1 cells) NO-FT is ρ "
                 f"{readings['spearman'].iloc[0]:.2f} at {CORRECTED_MOMENTUM:g} and {spread['mean']:.2f} on average at "
                 f"{PAPERS_MOMENTUM:g} ({spread['draws']} draws of the last steps, {spread['low']:.2f} to "
                 f"{spread['high']:.2f}): the momentum accounts for {share['momentum_share']:.0%} of the gain there.")
    summary = readings_summary(paper_scale_run, n_resamples=200)
    read = summary[summary["reading"] == "bns_ft_last"]
    if not read.empty:
        epoch = int(read["epoch"].max())
        rho = summary[summary["epoch"] == epoch].set_index("reading")["spearman"]
        share = share_of_gain(rho["bns_ft_last"], rho[f"no_ft@{PAPERS_MOMENTUM:g}"], rho[f"no_ft@{CORRECTED_MOMENTUM:g}"])
        text += (f" On our paper-scale run (profile paper, 3 × 3 cells) at epoch {epoch} of 432: BNS-FT ρ "
                 f"{rho['bns_ft_last']:.2f}, NO-FT {rho[f'no_ft@{PAPERS_MOMENTUM:g}']:.2f} at {PAPERS_MOMENTUM:g} and "
                 f"{rho[f'no_ft@{CORRECTED_MOMENTUM:g}']:.2f} at {CORRECTED_MOMENTUM:g}; the momentum accounts for "
                 f"{share['momentum_share']:.0%} of the gain.")
    return text

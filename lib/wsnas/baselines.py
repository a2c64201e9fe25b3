"""Cheap baselines beside weight-sharing: which cells carry zero-cost proxies, and how each ranks them.

Torch-free (analysis layer). The zero-cost proxies themselves are computed by `wsnas.proxies`
and committed in `data/proxies_released_seed0.parquet`; this module reads them.
"""

from __future__ import annotations

import ast
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.stats import kendalltau, rankdata, spearmanr

from wsnas import search
from wsnas.datafiles import data_dir, data_path, manifest
from wsnas.metrics import (  # noqa: F401 (the chapters' names)
    ALPHA,
    holm,
    resample_indices,
    spearman,
    spearman_ci,
    spearman_difference_ci,
    spearman_image_noise,
    spearman_rows,
    wilcoxon_paper,
)
from wsnas.names import COLUMN_NAMES
from wsnas.nasbench_api import spec_from_naslib
from wsnas.nb101 import NB101
from wsnas.profiles import load_profile
from wsnas.reference import load_evaluations, nb101_repeats
from wsnas.search import (
    READINGS,
    SUPERNET_FACTOR,
    best_test_accuracy,
    finished_within,
    incumbent_accuracy,
    ws_order,
)
from wsnas.space import NUM_CELLS, PAPER_ORDER, Cell, counts_of, flops_of_all_cells

PROXY_COLUMN = "baseline/bns_ft"  # the run whose cells carry the zero-cost proxies (the search chapter's default)
PROXY_SEED = 0
SAMPLE_SEED = 0
PROXIES_FILE = "proxies_released_seed0.parquet"
# ZiCo, Zen and fisher of the same cells, scored after issue 20: its fisher (summed per weight, as zero-cost-nas and
# NASLib sum it) replaces PROXIES_FILE's (summed per channel, this book's definition before issue 20)
RESCORED_FILE = "proxies_released_seed0_rescored.parquet"


def released_sample(evaluations: pd.DataFrame, per_space: int = 1000, sample_seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """The cells to score, in scoring order: per space, a seeded uniform permutation of the positions of
    the released baseline BNS-FT seed-0 run, interleaved across spaces (round-robin, paper order).

    Any prefix of this order holds, for every space, the first positions of its permutation: a uniform
    sample without replacement of the run's 1,000 cells. Columns: space, position, hash, draw (rank
    within the space's permutation), order (rank in the interleaved order).
    """
    column = evaluations["variant"] + "/" + evaluations["mode"]
    rows = evaluations[(column == PROXY_COLUMN) & (evaluations["seed"] == PROXY_SEED)]
    rng = np.random.default_rng(sample_seed)
    parts = []
    for space in PAPER_ORDER:
        run = rows[rows["space"] == space].sort_values("position")
        if len(run) == 0:
            raise ValueError(f"the released evaluations hold no {PROXY_COLUMN} seed-{PROXY_SEED} run of {space}")
        drawn = run.iloc[rng.permutation(len(run))[: min(per_space, len(run))]]
        parts.append(pd.DataFrame({"space": space, "position": drawn["position"].to_numpy(),
                                   "hash": drawn["hash"].to_numpy(), "draw": np.arange(len(drawn))}))
    sample = pd.concat(parts, ignore_index=True)
    space_rank = sample["space"].map({space: i for i, space in enumerate(PAPER_ORDER)})
    sample = sample.assign(_space=space_rank).sort_values(["draw", "_space"], kind="stable").drop(columns="_space")
    return sample.reset_index(drop=True).assign(order=lambda frame: np.arange(len(frame)))


def distinct_in_order(hashes: pd.Series | np.ndarray) -> np.ndarray:
    """The hashes in order of first appearance, each once."""
    return pd.unique(np.asarray(hashes))


# ---------------------------------------------------------------------------------------------
# The rows: what ranks the cells, and what it costs

ZERO_COST = ("synflow", "snip", "grad_norm", "fisher", "grasp", "jacob_cov", "naswot", "l2_norm")  # wsnas.proxies computes them
# wsnas.proxies computes these too (ZiCo, Li et al. 2023; Zen-score, Lin et al. 2021), but PROXIES_FILE does not
# hold them: they come from RESCORED_FILE, joined once it scores every cell (`load_scored(rescored=True)`).
UNCOMMITTED_ZERO_COST = ("zico", "zen")
SCORABLE_ZERO_COST = ZERO_COST + UNCOMMITTED_ZERO_COST  # every zero-cost proxy a table may show, in its order
COUNTS = ("params", "flops")
HALFWAY = "halfway"  # NB-101's own training stopped at 54 of 108 epochs: its validation accuracy
WS_SAME_CELLS = "ws_seed0"  # the released BNS-FT super-net of seed 0, on the very cells the proxies scored
NOISE_CEILING = "noise_ceiling"  # one NB-101 repeat against the mean of the other two
TARGET = "mean_validation_accuracy"
TOP_PERCENT = (1, 5, 10)
ROW_NAMES = {
    "params": "parameters", "flops": "FLOPs", "synflow": "synflow", "snip": "snip", "grad_norm": "grad-norm",
    "fisher": "fisher", "grasp": "grasp", "jacob_cov": "Jacob-cov", "naswot": "NASWOT", "l2_norm": "L2-norm",
    "zico": "ZiCo", "zen": "Zen-score",
    HALFWAY: "NB-101 halfway (54 epochs)", WS_SAME_CELLS: "WS: BNS-FT seed 0 (same cells)",
    NOISE_CEILING: "noise ceiling (one NB-101 repeat)",
}


# Published |Spearman ρ| of zero-cost proxies on NB-101 (Abdelfattah et al., ICLR 2021), as printed by their
# released notebook SamsungLabs/zero-cost-nas notebooks/nasbench101_correlations.ipynb (commit ca61347):
# all 423,624 cells, the full NB-101 network (stem 128, 3 stacks of 3 cells), one random batch of 256
# CIFAR-10 images, absolute value of Spearman's ρ against NB-101's accuracy. NASWOT and L2-norm: not in it.
PUBLISHED_NB101_ABS_SPEARMAN = {"grad_norm": 0.198, "snip": 0.164, "grasp": 0.448, "fisher": 0.257,
                                "synflow": 0.372, "jacob_cov": 0.378}
# Signed Spearman ρ on NB-101 / CIFAR-10 in NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets and
# Benchmarks): NASLib's implementations, 1,000 random cells, batch 64, against NB-101 validation accuracy. Only Zen's
# value is held here, as issue 20 quotes it; the paper gives its values in a figure, and the others were not
# transcribed and checked.
PUBLISHED_SUITE_ZERO_SPEARMAN = {"zen": 0.59}
# Signed Spearman ρ of ZiCo on NB-101 / CIFAR-10 in its paper (Li et al., ICLR 2023), against test accuracy, with
# 2 batches of 128 images (as issue 20 quotes it).
PUBLISHED_ZICO_SPEARMAN = {"zico": 0.63}
# Each published column: its source, convention, cells and target, as the chapter's table heads it.
PUBLISHED_COLUMNS = {
    "abdelfattah": "Abdelfattah et al. 2021: |ρ|, all 423,624 cells, NB-101 final accuracy (split not named)",
    "suite_zero": "NAS-Bench-Suite-Zero 2022: signed ρ, 1,000 random cells, validation accuracy",
    "zico_paper": "ZiCo paper 2023: signed ρ, its NB-101 cells (count not checked here), test accuracy",
}


def read_proxy_scores(path=None) -> tuple[pd.DataFrame, dict]:
    """The committed zero-cost scores (checked against data/MANIFEST) and their metadata; read without torch."""
    table = pq.read_table(path if path is not None else data_path(PROXIES_FILE))
    metadata = json.loads(table.schema.metadata[b"wsnas.proxies"])
    return table.to_pandas(), metadata


def zero_cost_rows(columns) -> tuple[str, ...]:
    """The zero-cost proxies among `columns` (a frame's columns, or row names), in `SCORABLE_ZERO_COST` order."""
    present = set(columns)
    return tuple(name for name in SCORABLE_ZERO_COST if name in present)


def read_rescored(scores: pd.DataFrame, path=None) -> tuple[pd.DataFrame | None, dict | None, str]:
    """The committed cells' proxies scored after issue 20 (`RESCORED_FILE`), its metadata, and its state for the captions.

    The frame is None unless the file scores every cell of `scores` with the same network, batch and seed, and (when
    read from data/) has its data/MANIFEST row: a partial file would leave the rows unpaired. `path`: another file.
    """
    if path is None:
        path = data_dir() / RESCORED_FILE
        if not path.exists():
            return None, None, "not scored yet"
    extra, metadata = read_proxy_scores(path)
    done = int(scores["hash"].isin(extra["hash"]).sum())
    if done < len(scores):
        return None, metadata, f"being scored ({done:,} of {len(scores):,} cells so far)"
    if path == data_dir() / RESCORED_FILE:
        if RESCORED_FILE not in manifest():
            return None, metadata, "scored, but not yet in data/MANIFEST"
        extra, metadata = read_proxy_scores(data_path(RESCORED_FILE))
    return extra, metadata, "scored"


def join_rescored(scores: pd.DataFrame, metadata: dict, extra: pd.DataFrame, extra_metadata: dict) -> pd.DataFrame:
    """The committed scores with the rescored proxies joined on hash, replacing a proxy both hold (fisher); `seconds`
    becomes both files' time per cell."""
    same = ("seed", "batch_size", "batch_seed", "network", "precision")
    differ = [key for key in same if metadata["settings"][key] != extra_metadata["settings"][key]]
    if differ:
        raise ValueError(f"{RESCORED_FILE} was scored with other settings than {PROXIES_FILE}: {differ}")
    names = list(zero_cost_rows(extra.columns))
    joined = scores.join(extra.set_index("hash")[[*names, "seconds"]].add_prefix("extra_"), on="hash")
    joined["seconds"] = joined["seconds"] + joined.pop("extra_seconds")
    for name in names:
        if name in scores.columns:
            joined[name] = joined.pop(f"extra_{name}")
    return joined.rename(columns={f"extra_{name}": name for name in names})


def scored_cells(evaluations: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (space, position) of the baseline BNS-FT seed-0 runs whose cell carries zero-cost scores.

    Columns: space, position, hash, the WS proxy of that super-net (`ws_seed0`), every zero-cost proxy,
    params, flops, NB-101 halfway validation accuracy (`halfway`), the target, the three repeats'
    final validation accuracies (r0, r1, r2), the NB-101 training times (full and halfway).
    """
    rows = evaluations[(evaluations["column"] == PROXY_COLUMN) & (evaluations["seed"] == PROXY_SEED)]
    rows = rows[rows["hash"].isin(scores["hash"])]
    truth = NB101.default().metrics(pd.unique(rows["hash"]))
    repeats = nb101_repeats(pd.unique(rows["hash"]))
    frame = rows[["space", "position", "hash", "proxy_accuracy"]].rename(columns={"proxy_accuracy": WS_SAME_CELLS})
    frame = frame.join(scores.set_index("hash")[list(zero_cost_rows(scores.columns))], on="hash")
    frame = frame.assign(**counts_of(frame["hash"]))
    frame = frame.join(truth[[TARGET, "mean_halfway_validation_accuracy", "mean_training_time",
                              "mean_halfway_training_time"]], on="hash")
    frame = frame.rename(columns={"mean_halfway_validation_accuracy": HALFWAY})
    frame = frame.join(repeats[["r0", "r1", "r2"]], on="hash")
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Ranking quality with bootstrap confidence intervals (cells resampled, the same resamples for every row)


def _top_mask(values: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-values, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask


def _precision_rows(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    return (_top_mask(x, k) & _top_mask(y, k)).sum(-1) / k


def top_count(n: int, percent: int) -> int:
    """Cells in the top `percent` % of n (at least 1)."""
    return max(1, round(n * percent / 100))


def _replicates(x: np.ndarray, y: np.ndarray, resamples: np.ndarray, kendall_resamples: int) -> dict[str, np.ndarray]:
    """Point estimate (index 0) then bootstrap replicates of every measure, for one proxy x and target y."""
    n = len(x)
    xs = np.vstack([x, x[resamples]])
    ys = np.vstack([y, y[resamples]])
    out = {"spearman": spearman_rows(xs, ys)}
    with warnings.catch_warnings():  # fewer than 2 distinct cells in a resample: NaN, left out of the interval
        warnings.simplefilter("ignore")
        out["kendall"] = np.array([kendalltau(xs[b], ys[b]).statistic for b in range(1 + kendall_resamples)])
    for percent in TOP_PERCENT:
        out[f"top{percent}%"] = _precision_rows(xs, ys, top_count(n, percent))
    return out


def _noise_ceiling_replicates(repeats: np.ndarray, resamples: np.ndarray, kendall_resamples: int) -> dict[str, np.ndarray]:
    """Each repeat against the mean of the other two, the three choices averaged."""
    parts = [_replicates(repeats[:, r], np.delete(repeats, r, axis=1).mean(axis=1), resamples, kendall_resamples)
             for r in range(3)]
    return {key: np.mean([part[key] for part in parts], axis=0) for key in parts[0]}


def proxy_quality(cells: pd.DataFrame, n_boot: int = 1000, kendall_boot: int = 200, seed: int = 0,
                    confidence: float = 0.95) -> tuple[pd.DataFrame, dict]:
    """Per space and row (params, flops, each zero-cost proxy, halfway, WS seed 0, noise ceiling): every
    measure with a percentile bootstrap CI over the cells, and `worse_than_best`: the paired bootstrap CI of
    (best row's Spearman − this row's) excludes 0. Also returns the Spearman replicates, for the answer."""
    rows_out, replicates_by_space = [], {}
    low_q, high_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    for space in PAPER_ORDER:
        group = cells[cells["space"] == space]
        if group.empty:
            continue
        resamples = resample_indices(len(group), n_boot, [seed, PAPER_ORDER.index(space)])
        target = group[TARGET].to_numpy(dtype=float)
        per_row = {}
        for row in (*COUNTS, *zero_cost_rows(cells.columns), HALFWAY, WS_SAME_CELLS):
            per_row[row] = _replicates(group[row].to_numpy(dtype=float), target, resamples, kendall_boot)
        per_row[NOISE_CEILING] = _noise_ceiling_replicates(group[["r0", "r1", "r2"]].to_numpy(dtype=float),
                                                           resamples, kendall_boot)
        replicates_by_space[space] = {row: values["spearman"] for row, values in per_row.items()}
        for row, values in per_row.items():
            for measure, series in values.items():
                boot = series[1:][np.isfinite(series[1:])]
                rows_out.append({"space": space, "row": row, "measure": measure, "cells": len(group),
                                 "value": series[0], "low": np.quantile(boot, low_q) if len(boot) else np.nan,
                                 "high": np.quantile(boot, high_q) if len(boot) else np.nan})
    return pd.DataFrame(rows_out), replicates_by_space


def significantly_worse(replicates: dict[str, np.ndarray], candidates: list[str],
                        confidence: float = 0.95) -> pd.DataFrame:
    """For one space: the best candidate by Spearman, and for each candidate the paired bootstrap CI of
    (best − candidate); `worse` when it lies above 0."""
    best = max(candidates, key=lambda row: replicates[row][0])
    rows = []
    for row in candidates:
        difference = replicates[best][1:] - replicates[row][1:]
        difference = difference[np.isfinite(difference)]
        low = np.quantile(difference, (1 - confidence) / 2) if len(difference) else np.nan
        rows.append({"row": row, "best": best, "difference": replicates[best][0] - replicates[row][0],
                     "difference_low": low, "worse": bool(low > 0)})
    return pd.DataFrame(rows)


def rankers(rows) -> list[str]:
    """The rows among `rows` that compete to rank the cells best: counts, zero-cost proxies, halfway, WS."""
    return [*COUNTS, *zero_cost_rows(rows), HALFWAY, WS_SAME_CELLS]


def not_worse_than_best(replicates: dict[str, dict[str, np.ndarray]], row: str) -> list[str]:
    """The spaces where `row` ranks the cells not significantly worse than the best of the `rankers` (Spearman,
    paired bootstrap over cells); `replicates` is `proxy_quality`'s second value."""
    return [space for space, spearmans in replicates.items()
            if not significantly_worse(spearmans, rankers(spearmans)).set_index("row").loc[row, "worse"]]


def ws_own_cells(evaluations: pd.DataFrame, n_boot: int = 200, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Every released WS column on its own runs' cells (1,000 per super-net): Spearman and precision at the
    top 1/5/10 %, mean over the non-diverged super-nets, CI from bootstrapping cells within each run."""
    rows = []
    low_q, high_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    for (space, column), runs in evaluations[~evaluations["diverged"]].groupby(["space", "column"], sort=False):
        per_run = []
        for run_seed, run in runs.groupby("seed"):
            resamples = resample_indices(len(run), n_boot, [seed, int(run_seed)])
            x, y = run["proxy_accuracy"].to_numpy(float), run[TARGET].to_numpy(float)
            xs, ys = np.vstack([x, x[resamples]]), np.vstack([y, y[resamples]])
            values = {"spearman": spearman_rows(xs, ys)}
            for percent in TOP_PERCENT:
                values[f"top{percent}%"] = _precision_rows(xs, ys, top_count(len(run), percent))
            per_run.append(values)
        for measure in per_run[0]:
            series = np.nanmean([values[measure] for values in per_run], axis=0)
            rows.append({"space": space, "row": column, "measure": measure, "supernets": len(per_run),
                         "value": series[0], "low": np.quantile(series[1:], low_q),
                         "high": np.quantile(series[1:], high_q)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Cost per cell


def cost_per_cell(cells: pd.DataFrame, evaluations: pd.DataFrame, proxy_seconds: dict[str, float],
                  count_seconds: dict[str, float]) -> pd.DataFrame:
    """Seconds per ranked cell, per space and row, and the hardware they were measured on.

    Zero-cost proxies and counts: measured here (one CPU core). Halfway: NB-101's mean 54-epoch
    training time of the cells. WS: the super-net's training, 4 × the mean NB-101 training time of the
    space's evaluated cells, spread over the 1,000 cells it ranks (the paper's count). NB-101 times
    are TPU seconds (Ying et al. 2019), so the two kinds of cost differ in hardware as well.
    """
    rows = []
    for space in PAPER_ORDER:
        group = cells[cells["space"] == space]
        released = evaluations[(evaluations["space"] == space) & (evaluations["column"] == PROXY_COLUMN)]
        ws = SUPERNET_FACTOR * released["mean_training_time"].mean() / released.groupby("seed").size().mean()
        entries = {**{row: (count_seconds[row], "CPU, measured here") for row in COUNTS},
                   **{row: (proxy_seconds[row], "CPU, measured here") for row in zero_cost_rows(cells.columns)},
                   HALFWAY: (group["mean_halfway_training_time"].mean(), "NB-101 (TPU)"),
                   WS_SAME_CELLS: (ws, "NB-101 (TPU), 4 trainings / 1,000 cells"),
                   NOISE_CEILING: (group["mean_training_time"].mean(), "NB-101 (TPU), one full training")}
        rows += [{"space": space, "row": row, "seconds": seconds, "hardware": hardware}
                 for row, (seconds, hardware) in entries.items()]
    return pd.DataFrame(rows)


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Mask of the points no other point beats on both cost (lower) and quality (higher)."""
    cost, quality = np.asarray(cost, float), np.asarray(quality, float)
    dominated = ((cost[None, :] <= cost[:, None]) & (quality[None, :] >= quality[:, None])
                 & ((cost[None, :] < cost[:, None]) | (quality[None, :] > quality[:, None])))
    return ~dominated.any(axis=1)


def plain_answer(quality: pd.DataFrame, replicates: dict, costs: pd.DataFrame) -> pd.DataFrame:
    """Per space: the best proxy by Spearman, and the cheapest one not significantly worse than it."""
    rows = []
    for space, spearmans in replicates.items():
        tests = significantly_worse(spearmans, rankers(spearmans)).set_index("row")
        cost = costs[costs["space"] == space].set_index("row")["seconds"]
        kept = tests.index[~tests["worse"]]
        cheapest = min(kept, key=lambda row: cost[row])
        rows.append({"space": space, "best": tests["best"].iloc[0], "best_spearman": spearmans[tests["best"].iloc[0]][0],
                     "cheapest_not_worse": cheapest, "its_spearman": spearmans[cheapest][0],
                     "its_seconds": cost[cheapest], "ws_not_worse": not tests.loc[WS_SAME_CELLS, "worse"],
                     "ws_seconds": cost[WS_SAME_CELLS]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Search guided by each baseline (the paper's Table 2 protocol)


def with_baseline_columns(evaluations: pd.DataFrame) -> pd.DataFrame:
    """The released evaluations plus one pseudo column per free baseline (params, flops, halfway): the
    baseline BNS-FT runs' cells with the baseline's value as the proxy (no super-net, nothing diverged)."""
    base = evaluations[evaluations["column"] == PROXY_COLUMN]
    halfway = NB101.default().metrics(pd.unique(base["hash"]))["mean_halfway_validation_accuracy"]
    values = {**counts_of(base["hash"]), HALFWAY: halfway.reindex(base["hash"]).to_numpy()}
    extra = [base.assign(column=name, proxy_accuracy=value, diverged=False) for name, value in values.items()]
    return pd.concat([evaluations, *extra], ignore_index=True)


def halfway_factor(evaluations: pd.DataFrame) -> float:
    """Up-front cost of the halfway guide in mean NB-101 trainings: the 1,000 halfway trainings of a run's
    cells over its mean full training time (mean over the baseline BNS-FT runs)."""
    base = evaluations[evaluations["column"] == PROXY_COLUMN]
    halfway = NB101.default().metrics(pd.unique(base["hash"]))["mean_halfway_training_time"]
    base = base.assign(halfway_time=halfway.reindex(base["hash"]).to_numpy())
    per_run = base.groupby(["space", "seed"]).agg(halfway=("halfway_time", "sum"), full=("mean_training_time", "mean"))
    return float((per_run["halfway"] / per_run["full"]).mean())


def search_comparison(evaluations: pd.DataFrame, guide_factors: dict[str, float], top_k=(1, 10, 100),
                      reading: str = "default", spaces=PAPER_ORDER) -> pd.DataFrame:
    """Table-2-style test per space, guide and TOP-k: paired regrets over the 5 runs, the paper's one-sided
    Wilcoxon, and Holm-adjusted p-values over the whole table; the direction ("<" guide better, ">" worse) is "x"
    where the Holm-adjusted p is not below ALPHA, as in `subsample_search`. `guide_factors` maps each guiding column
    to its up-front cost in mean NB-101 trainings (4 for a super-net; ≈ 0 for counts)."""
    base_reading = search.READINGS[reading]
    rows = []
    for space in spaces:
        for guide, factor in guide_factors.items():
            guided = replace(base_reading, column=guide, supernet_factor=factor)
            for k in top_k:
                regrets = search.top_k_regrets(evaluations, space, k, reading=guided)
                p, direction = wilcoxon_paper(regrets["ws"], regrets["random"])
                rows.append({"space": space, "guide": guide, "k": k, "p": p, "direction": direction,
                             "guided_regret": regrets["ws"].mean(), "random_regret": regrets["random"].mean(),
                             "pairs": int((regrets["ws"].notna() & regrets["random"].notna()).sum())})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].to_numpy())
    table["significant_holm"] = table["p_holm"] < ALPHA
    table.loc[~table["significant_holm"], "direction"] = "x"  # one rule for every table of guides: Holm over the table
    return table


def beside_published(quality: pd.DataFrame, space: str = "A0") -> pd.DataFrame:
    """Per zero-cost proxy scored here, our Spearman on the space's scored cells (signed, with its CI, and its absolute
    value) beside every published value: Abdelfattah et al.'s |ρ| on all of NB-101 (`published_abs_spearman`),
    Suite-Zero's and ZiCo's paper's signed ρ (`suite_zero_spearman`, `zico_paper_spearman`); NaN where none."""
    ours = quality[(quality["space"] == space) & (quality["measure"] == "spearman")].set_index("row")
    if ours.empty:
        raise ValueError(f"no Spearman rows for space {space!r} in the quality table; it holds "
                         f"{sorted(quality['space'].unique())}")
    rows = [{"proxy": name, "cells": int(ours.loc[name, "cells"]), "spearman": ours.loc[name, "value"],
             "low": ours.loc[name, "low"], "high": ours.loc[name, "high"], "abs_spearman": abs(ours.loc[name, "value"]),
             "published_abs_spearman": PUBLISHED_NB101_ABS_SPEARMAN.get(name, np.nan),
             "suite_zero_spearman": PUBLISHED_SUITE_ZERO_SPEARMAN.get(name, np.nan),
             "zico_paper_spearman": PUBLISHED_ZICO_SPEARMAN.get(name, np.nan)} for name in zero_cost_rows(ours.index)]
    return pd.DataFrame(rows)



# ---------------------------------------------------------------------------------------------
# NASLib's published per-cell scores (NAS-Bench-Suite-Zero) beside ours on the same cells (issue 20)

# github.com/automl/NASLib at commit 22280f711aa782fe9157d1b4e5ce4f83f47ab908, naslib/data/zc_nasbench101.json
# (Apache-2.0), committed unchanged: 500 records of 292 distinct NB-101 cells, each with flops, params, snip, jacov,
# grad_norm, fisher, grasp, l2_norm, synflow (and plain, epe_nas) and `val_accuracy`, one NB-101 repeat's validation
# accuracy in %. The file scores some pruned cells several times, each on a fresh batch and initialisation.
NASLIB_FILE = "naslib_zc_nasbench101.json"
NASLIB_COMMIT = "22280f711aa782fe9157d1b4e5ce4f83f47ab908"
NASLIB_NAMES = {"jacob_cov": "jacov"}  # our name -> NASLib's, where they differ
NASLIB_COMPARED = ("synflow", "snip", "grad_norm", "fisher", "grasp", "jacob_cov", "l2_norm", "params", "flops")
NASLIB_TARGET = "val_accuracy"
NASLIB_SAMPLE = {"cells": 60, "seed": 0}  # the cells scored here (benchmarks/RESULTS.md, issue 20)
# Our scores of those cells under each setup of wsnas.proxies, written by `wsnas proxies --cells ... --out`.
NASLIB_SCORES_FILES = {"published": "proxies_naslib_published.parquet", "paper": "proxies_naslib_paper.parquet"}


def naslib_cell(code) -> Cell:
    """Our Cell of one NASLib NB-101 key (its flat encoding: 49 adjacency entries, then 7 op codes; read by
    `wsnas.nasbench_api.spec_from_naslib`). NASLib stores unpruned specs; our hash prunes, so unpruned duplicates
    map to one hash."""
    spec = spec_from_naslib(code)
    return Cell(np.asarray(spec.original_matrix), tuple(spec.original_ops))


def naslib_records(path=None) -> pd.DataFrame:
    """Every record of NASLib's scores (`NASLIB_FILE`, checked against data/MANIFEST; `path`: another copy), in the
    file's order, with our Cell (`cell`), its hash and `repeat` (0 for the cell's first record, 1 for its second...)."""
    records = json.loads(open(path if path is not None else data_path(NASLIB_FILE)).read())["nasbench101"]["cifar10"]
    rows = []
    for key, scores in records.items():
        cell = naslib_cell(ast.literal_eval(key))
        rows.append({"cell": cell, "hash": cell.hash, **scores})
    frame = pd.DataFrame(rows)
    return frame.assign(repeat=frame.groupby("hash").cumcount())


def read_naslib(path=None) -> pd.DataFrame:
    """NASLib's scores one row per distinct cell (its first record), with our Cell (`cell`), its hash and `records`
    (how many records score that cell); `path` as in `naslib_records`."""
    frame = naslib_records(path)
    frame["records"] = frame.groupby("hash")["hash"].transform("size")
    return frame[frame["repeat"] == 0].drop(columns="repeat").reset_index(drop=True)


def naslib_repeat_agreement(path=None) -> pd.Series:
    """Per NASLib score (our proxy names), Spearman ρ between its first and second record of the cells the file
    scores at least twice (each record on a fresh batch and initialisation); `cells` in the Series' `attrs`."""
    frame = naslib_records(path)
    first = frame[frame["repeat"] == 0].set_index("hash")
    second = frame[frame["repeat"] == 1].set_index("hash")
    first = first.loc[second.index].rename(columns={theirs: ours for ours, theirs in NASLIB_NAMES.items()})
    second = second.rename(columns={theirs: ours for ours, theirs in NASLIB_NAMES.items()})
    agreement = pd.Series({name: spearman(first[name], second[name]) for name in NASLIB_COMPARED}, name="rho")
    agreement.attrs["cells"] = len(second)
    return agreement


def naslib_sample(naslib: pd.DataFrame, cells: int = NASLIB_SAMPLE["cells"],
                  seed: int = NASLIB_SAMPLE["seed"]) -> pd.DataFrame:
    """The seeded sample of NASLib's distinct cells that this book scores (pandas' `sample`, in its order)."""
    return naslib.sample(min(cells, len(naslib)), random_state=seed)


def naslib_comparison(ours: pd.DataFrame, naslib: pd.DataFrame) -> pd.DataFrame:
    """Per proxy of `ours` (a frame with `hash` and scores): signed Spearman against NASLib's target
    (`ours_vs_naslib_target`) and NASLib's own score against it on the same cells (`naslib_vs_naslib_target`), ours
    against the mean NB-101 validation accuracy (`ours_vs_nb101_mean`, cells without an NB-101 record left out), and
    the per-cell Spearman of our score against NASLib's (`ours_vs_naslib_per_cell`); NaN where NASLib has no score."""
    theirs = naslib.drop(columns="cell", errors="ignore").set_index("hash").add_prefix("naslib_")
    merged = ours.join(theirs, on="hash", how="inner")
    merged["mean_validation"] = NB101.default().metrics(merged["hash"])[TARGET].to_numpy()
    target = merged[f"naslib_{NASLIB_TARGET}"]
    rows = []
    for name in [name for name in (*NASLIB_COMPARED, "fisher_per_channel", *SCORABLE_ZERO_COST) if name in ours]:
        base = "fisher" if name == "fisher_per_channel" else name
        column = f"naslib_{NASLIB_NAMES.get(base, base)}"
        published = merged[column] if column in merged else None
        rows.append({"proxy": name, "cells": len(merged),
                     "ours_vs_naslib_target": spearmanr(merged[name], target)[0],
                     "naslib_vs_naslib_target": spearmanr(published, target)[0] if published is not None else np.nan,
                     "ours_vs_nb101_mean": spearmanr(merged[name], merged["mean_validation"], nan_policy="omit")[0],
                     "ours_vs_naslib_per_cell": spearmanr(merged[name], published)[0]
                     if published is not None else np.nan})
    return pd.DataFrame(rows).drop_duplicates("proxy").set_index("proxy")


def read_naslib_scores(setup: str) -> tuple[pd.DataFrame, dict]:
    """Our committed scores of the NASLib sample under `setup` (`NASLIB_SCORES_FILES`) and their metadata; raises
    unless the file was made under that setup and scores every cell of the sample."""
    if setup not in NASLIB_SCORES_FILES:
        raise ValueError(f"no committed scores of NASLib's cells under setup {setup!r}: {sorted(NASLIB_SCORES_FILES)}")
    scores, metadata = read_proxy_scores(data_path(NASLIB_SCORES_FILES[setup]))
    made_under = metadata["settings"].get("setup", {}).get("name")
    if made_under != setup:
        raise ValueError(f"{NASLIB_SCORES_FILES[setup]} was scored under setup {made_under!r}, not {setup!r}")
    missing = set(naslib_sample(read_naslib())["hash"]) - set(scores["hash"])
    if missing:
        raise ValueError(f"{NASLIB_SCORES_FILES[setup]} lacks {len(missing)} of the NASLib sample's cells: rerun the "
                         "command in its data/MANIFEST row (it resumes)")
    return scores, metadata


def naslib_beside_ours(n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Per proxy (counts and zero-cost proxies), on the NASLib sample (`NASLIB_SAMPLE`): signed Spearman ρ against
    NASLib's target (`val_accuracy`, one NB-101 repeat's validation accuracy, from NASLib's first record of the cell)
    of NASLib's published score (`naslib`, recomputed from its file) and of ours under each setup (`published`,
    `paper`, the committed `NASLIB_SCORES_FILES`), each with its percentile bootstrap interval over cells (`*_low`,
    `*_high`); the per-cell ρ of our score against NASLib's (`published_per_cell`, `paper_per_cell`); and NASLib's
    agreement with itself (`naslib_repeat`, `naslib_repeat_agreement`, over `repeat_cells` cells). NaN where a
    source has no score (NASLib: naswot, zico, zen). Index: proxy; `cells`: the sample's size."""
    sample = naslib_sample(read_naslib())
    agreement = naslib_repeat_agreement()
    ranked = {"naslib": sample.rename(columns={theirs: ours for ours, theirs in NASLIB_NAMES.items()})}
    ranked.update({setup: read_naslib_scores(setup)[0].set_index("hash").loc[sample["hash"]].reset_index()
                   for setup in NASLIB_SCORES_FILES})
    target = sample[NASLIB_TARGET].to_numpy(dtype=float)
    rows = []
    for name in (*COUNTS, *SCORABLE_ZERO_COST):
        row = {"proxy": name, "cells": len(sample), "naslib_repeat": agreement.get(name, np.nan),
               "repeat_cells": agreement.attrs["cells"]}
        for source, frame in ranked.items():
            x = frame[name].to_numpy(dtype=float) if name in frame else np.full(len(target), np.nan)
            row[source] = spearman(x, target) if name in frame else np.nan
            row[f"{source}_low"], row[f"{source}_high"] = spearman_ci(x, target, n_boot, seed, confidence)
            if source != "naslib":
                row[f"{source}_per_cell"] = spearman(x, ranked["naslib"][name]) if name in ranked["naslib"] else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("proxy")

# ---------------------------------------------------------------------------------------------
# The combination a reader asks about: the rank-average of the super-net's BNS-FT proxy and the parameter count

COMBINED = "bns_ft+params"


def rank_average(*scores) -> np.ndarray:
    """The mean of each score's ranks (ties share their mean rank): a combination that needs no scale."""
    return np.mean([rankdata(np.asarray(score, dtype=float)) for score in scores], axis=0)


def combination_runs(evaluations: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> pd.DataFrame:
    """Per non-diverged released baseline BNS-FT run (space, seed; its 1,000 cells): Spearman ρ of BNS-FT, of the
    parameter count and of their rank-average, and the paired bootstrap CIs (`spearman_difference_ci`, the same
    resamples for both) of rank-average − BNS-FT and rank-average − params; `beats_both`: both CIs lie above 0."""
    released = evaluations[(evaluations["column"] == PROXY_COLUMN) & ~evaluations["diverged"]]
    rows = []
    for (space, run_seed), run in released.groupby(["space", "seed"], sort=False):
        ws, params = run["proxy_accuracy"].to_numpy(float), counts_of(run["hash"])["params"]
        target, combined = run[TARGET].to_numpy(float), rank_average(ws, params)
        row = {"space": space, "seed": int(run_seed), "cells": len(run), "bns_ft": spearman(ws, target),
               "params": spearman(params, target), COMBINED: spearman(combined, target)}
        for name, other in (("bns_ft", ws), ("params", params)):
            _, low, high = spearman_difference_ci(combined, other, target, n_boot, seed, confidence)
            row.update({f"minus_{name}": row[COMBINED] - row[name], f"minus_{name}_low": low, f"minus_{name}_high": high})
        row["beats_both"] = bool(row["minus_bns_ft_low"] > 0 and row["minus_params_low"] > 0)
        rows.append(row)
    return pd.DataFrame(rows)


def combination_verdict(runs: pd.DataFrame) -> pd.DataFrame:
    """Per space, from `combination_runs`: mean ρ of each over the runs, the runs where the rank-average beats
    BNS-FT, params and both (CI above 0), and `beats_both`: it beats both in every run of the space."""
    summary = runs.groupby("space", sort=False).agg(
        runs=("seed", "size"), bns_ft=("bns_ft", "mean"), params=("params", "mean"), combined=(COMBINED, "mean"),
        beats_bns_ft=("minus_bns_ft_low", lambda low: int((low > 0).sum())),
        beats_params=("minus_params_low", lambda low: int((low > 0).sum())), beats_both_runs=("beats_both", "sum"))
    summary["beats_both"] = summary["beats_both_runs"] == summary["runs"]
    return summary.rename(columns={"combined": COMBINED}).reindex([s for s in PAPER_ORDER if s in summary.index])


def supernet_beside_counts(hashes, proxy, target, n_boot: int = 1000, seed: int = 0,
                           confidence: float = 0.95) -> dict[str, float | str]:
    """One super-net's proxy beside the free counts on the very same cells: Spearman ρ of the proxy, the parameter
    count, the FLOPs and the rank-average of proxy and parameters against `target`, and the paired bootstrap
    interval of ρ(proxy) − ρ(parameters) (`spearman_difference_ci`). `verdict`: "better" / "worse" when that
    interval lies above / below 0, else "not different". Keys: cells, ws, params, flops, combined, minus_params,
    low, high, verdict."""
    ws, target = np.asarray(proxy, dtype=float), np.asarray(target, dtype=float)
    counts = counts_of(hashes)
    difference, low, high = spearman_difference_ci(ws, counts["params"], target, n_boot, seed, confidence)
    return {"cells": len(ws), "ws": spearman(ws, target), "params": spearman(counts["params"], target),
            "flops": spearman(counts["flops"], target), COMBINED: spearman(rank_average(ws, counts["params"]), target),
            "minus_params": difference, "low": low, "high": high,
            "verdict": "better" if low > 0 else "worse" if high < 0 else "not different"}


# ---------------------------------------------------------------------------------------------
# Search guided by every row, on the scored cells of one run


def subsample_search(cells: pd.DataFrame, evaluations: pd.DataFrame, proxy_seconds: dict[str, float],
                     top_k=(1, 10), permutations: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Per space, guide (counts, zero-cost proxies, halfway, WS seed 0) and TOP-k, on the scored cells of the
    seed-0 run in their sampling order: the guide pays its up-front cost, then trains its k best cells; random
    search gets the same total time (the search chapter's default reading).

    One run per space carries the zero-cost scores, so the paper's Wilcoxon over 5 runs cannot be used. The
    test is against random search itself: `p` is the share of `permutations` random query orders whose regret
    is at least as low as the guide's (direction "<", guide better) or at least as high (">"), whichever is
    smaller, with the +1 of a Monte-Carlo p-value (so p ≥ 1 / (permutations + 1): enough permutations that
    Holm over the table can still reach ALPHA); a random search that finishes no training within the budget
    counts as worse. Holm's correction runs over the whole table; "x" marks p_holm ≥ ALPHA. TOP-k stops at
    10: the scored runs hold a few hundred cells, not the search chapter's 1,000.
    Up-front cost: WS 4 × the mean training time of the run's cells; halfway the 54-epoch trainings of the
    ranked cells; counts and zero-cost proxies `proxy_seconds` per ranked cell (CPU seconds measured here,
    against NB-101's TPU seconds for the trainings).
    """
    reading = READINGS["default"]
    released = evaluations[(evaluations["column"] == PROXY_COLUMN) & (evaluations["seed"] == PROXY_SEED)]
    rows = []
    for space in [s for s in PAPER_ORDER if s in set(cells["space"])]:
        group = cells[cells["space"] == space].sort_values("position")
        run = released[released["space"] == space].set_index("position")
        test = run.loc[group["position"], "mean_test_accuracy"].to_numpy(dtype=float)
        selection = group[TARGET].to_numpy(dtype=float)
        time = group["mean_training_time"].to_numpy(dtype=float)
        best = best_test_accuracy(evaluations[evaluations["space"] == space], reading)
        rng = np.random.default_rng([seed, PAPER_ORDER.index(space)])
        orders = np.stack([rng.permutation(len(group)) for _ in range(permutations)])
        random_incumbents = incumbent_accuracy(selection[orders], test[orders])
        cumulative_time = np.cumsum(time[orders], axis=-1)
        up_front = {WS_SAME_CELLS: SUPERNET_FACTOR * run["mean_training_time"].mean(),
                    HALFWAY: group["mean_halfway_training_time"].sum(),
                    **{row: proxy_seconds[row] * len(group) for row in (*COUNTS, *zero_cost_rows(cells.columns))}}
        for guide, cost in up_front.items():
            for k in top_k:
                order = ws_order(group[guide].to_numpy(dtype=float), reading.ties)[:k]
                guided = best - incumbent_accuracy(selection[order], test[order])[-1]
                budget = cost + time[order].sum()
                done = finished_within(cumulative_time, budget)
                random = np.where(done > 0, best - random_incumbents[np.arange(permutations), np.maximum(done - 1, 0)],
                                  np.inf)
                better, worse = (np.sum(random <= guided) + 1) / (permutations + 1), (np.sum(random >= guided) + 1) / (permutations + 1)
                rows.append({"space": space, "guide": guide, "k": k, "cells": len(group), "guided_regret": guided,
                             "random_regret": float(np.mean(random[np.isfinite(random)])) if np.isfinite(random).any() else np.nan,
                             "random_none_trained": float(np.mean(done == 0)), "up_front_seconds": cost,
                             "p": float(min(better, worse)), "direction": "<" if better < worse else ">"})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].to_numpy())
    table.loc[table["p_holm"] >= ALPHA, "direction"] = "x"
    return table


# ---------------------------------------------------------------------------------------------
# The chapter's scale and inputs, and the analyses it shows


def chapter_scale(profile: str, live_cells: int | None = None, cell_resamples: int | None = None) -> tuple[int, int, int]:
    """A4 cells scored live, bootstrap resamples over cells, and those of Kendall τ: the profile's [analysis]
    settings (`baseline_*`), the first two unless given."""
    settings = load_profile(profile)
    return (settings["baseline_live_cells"] if live_cells is None else live_cells,
            settings["baseline_cell_resamples"] if cell_resamples is None else cell_resamples,
            settings["baseline_kendall_resamples"])


def load_scored(spaces: Sequence[str] = PAPER_ORDER, rescored: bool = False
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.DataFrame]:
    """The released evaluations, the committed zero-cost scores, their metadata, and the scored cells of `spaces`.

    `rescored`: join ZiCo, Zen and the per-weight fisher (`read_rescored`) when they score every cell; metadata["rescored"]
    then holds the file's state ("scored", "not scored yet", ...) and its settings (None when not joined)."""
    evaluations = load_evaluations()
    scores, metadata = read_proxy_scores()
    if rescored:
        extra, extra_metadata, state = read_rescored(scores)
        if extra is not None:
            scores = join_rescored(scores, metadata, extra, extra_metadata)
        metadata = {**metadata, "rescored": {"state": state,
                                             "settings": extra_metadata["settings"] if extra is not None else None}}
    cells = scored_cells(evaluations, scores)
    return evaluations, scores, metadata, cells[cells["space"].isin(spaces)]


def count_seconds_per_cell() -> float:
    """CPU seconds to count one cell: the FLOPs of every NB-101 cell computed afresh (uncached), per cell."""
    start = time.process_time()
    flops_of_all_cells.__wrapped__()
    return (time.process_time() - start) / NUM_CELLS


def seconds_per_cell(proxy_seconds: dict[str, float]) -> dict[str, float]:
    """CPU seconds per ranked cell of every row timed here: the zero-cost proxies' (each computed alone, from
    `wsnas.proxies.live_check`) and the counts' (`count_seconds_per_cell`)."""
    return {**proxy_seconds, **dict.fromkeys(COUNTS, count_seconds_per_cell())}


def subsample_ci_widths(cells: pd.DataFrame, evaluations: pd.DataFrame, spaces: Sequence[str],
                        n_boot: int) -> pd.DataFrame:
    """Per space, for the parameter count and the seed-0 super-net: the width of Spearman's bootstrap CI on the
    scored subsample and on all 1,000 cells of the run. Index (space, row name)."""
    chosen = evaluations[(evaluations["column"] == PROXY_COLUMN) & (evaluations["seed"] == PROXY_SEED)
                         & evaluations["space"].isin(spaces)]
    full = chosen[["space", "hash", "proxy_accuracy", TARGET]].rename(columns={"proxy_accuracy": "ws"})
    full = full.assign(params=counts_of(full["hash"])["params"])
    rows = []
    for space_name, group in full.groupby("space", sort=False):
        sub = cells[cells["space"] == space_name]
        for row, column in (("params", "params"), (WS_SAME_CELLS, "ws")):
            width_full = np.subtract(*reversed(spearman_ci(group[column], group[TARGET], n_boot)))
            width_sub = np.subtract(*reversed(spearman_ci(sub[row], sub[TARGET], n_boot)))
            rows.append({"space": space_name, "row": ROW_NAMES[row], "cells in subsample": len(sub),
                         "CI width, subsample": width_sub, "CI width, all 1,000": width_full})
    return pd.DataFrame(rows).set_index(["space", "row"])


def guided_search(evaluations: pd.DataFrame, spaces: Sequence[str] = PAPER_ORDER) -> pd.DataFrame:
    """`search_comparison` for every guide: each released WS column (a super-net up front), the counts (free) and
    NB-101's halfway training (its trainings up front), on the baseline runs' cells of `spaces`."""
    with_baselines = with_baseline_columns(evaluations)
    guides = {column: SUPERNET_FACTOR for column in COLUMN_NAMES}
    guides.update({"params": 0.0, "flops": 0.0, HALFWAY: halfway_factor(evaluations)})
    return search_comparison(with_baselines[with_baselines["space"].isin(spaces)], guides, spaces=spaces)

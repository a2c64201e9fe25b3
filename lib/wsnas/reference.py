"""The authors' released evaluations and the paper's reported numbers (Tables 1 and 2), and the search's inputs.

`data/released_evaluations.parquet` (built by `scripts/build_released_evaluations.py` from the
authors' archive) holds one row per (run, position): `variant`, `mode`, `space`, `seed`,
`position`, `hash` (NB-101 hash of the pruned cell) and `proxy_accuracy` (the authors' proxy:
super-net accuracy on the 10k validation split). A run is one (variant, mode, space, seed): 1,000
cells sampled uniformly from the space and evaluated on one super-net.

Table 1 of the paper is the Spearman correlation between proxy and mean NB-101 validation
accuracy over each run's 1,000 cells, mean ± std over the 5 super-nets (seeds), leaving out
super-nets that diverged. The paper's stds are population stds (ddof=0): with ddof=0 every
recomputed std is within 0.022 of the paper's, with ddof=1 up to 0.042 away.

Our own runs, beside these, are in `wsnas.ours`.
"""

from __future__ import annotations

import hashlib
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wsnas import metrics, nb101
from wsnas.datafiles import DataFileError, data_path
from wsnas.nb101 import NB101
from wsnas.space import PAPER_ORDER, space_mask, space_table

EVALUATIONS_FILE = "released_evaluations.parquet"
SETTINGS_FILE = "released_settings.parquet"  # the settings each released run recorded (scripts/build_released_settings.py)
VARIANT_COLUMNS = [
    "baseline/no_ft",
    "baseline/bns_ft",
    "single_k/bns_ft",
    "pro_rata/bns_ft",
    "avg3/bns_ft",
    "single_k+pro_rata/bns_ft",
]
TOP_K = (1, 10, 100)  # the TOP-k columns of the paper's Table 2
RUN_KEYS = ["variant", "mode", "space", "seed"]
TRUTH_COLUMNS = ["mean_validation_accuracy", "mean_test_accuracy", "mean_training_time"]
EVALUATIONS_SCHEMA = pa.schema(
    [("variant", pa.string()), ("mode", pa.string()), ("space", pa.string()), ("seed", pa.int64()),
     ("position", pa.int64()), ("hash", pa.string()), ("proxy_accuracy", pa.float64())]
)

# A super-net that diverged predicts one class for every image, so every cell scores the share of
# that class in the validation split (about 10%). The released diverged runs all score 0.1014.
CHANCE_ACCURACY = 0.10
CHANCE_MARGIN = 0.02

# Table 1 of Pourchot et al. (2020): (mean, std, starred) per space and column; * = one super-net
# diverged and was left out (mean over 4).
_PAPER_TABLE1 = {
    "A4": [(0.08, 0.17, 0), (0.64, 0.03, 0), (0.66, 0.01, 0), (0.68, 0.03, 0), (0.67, 0.02, 1), (0.69, 0.02, 0)],
    "A3": [(0.12, 0.15, 0), (0.59, 0.03, 0), (0.62, 0.02, 0), (0.63, 0.02, 0), (0.61, 0.03, 0), (0.66, 0.02, 0)],
    "A2": [(0.24, 0.03, 0), (0.60, 0.04, 0), (0.64, 0.02, 0), (0.64, 0.02, 0), (0.61, 0.01, 0), (0.65, 0.02, 0)],
    "A1": [(0.32, 0.05, 0), (0.68, 0.02, 0), (0.72, 0.02, 0), (0.75, 0.02, 0), (0.73, 0.01, 0), (0.67, 0.01, 0)],
    "A0": [(0.24, 0.05, 0), (0.56, 0.04, 0), (0.63, 0.02, 1), (0.59, 0.03, 0), (0.61, 0.02, 0), (0.58, 0.02, 0)],
    "A0-nores": [(0.11, 0.05, 1), (0.46, 0.06, 1), (0.58, 0.02, 1), (0.56, 0.03, 0), (0.52, 0.02, 0), (0.49, 0.02, 0)],
    "A0-res": [(0.34, 0.10, 0), (0.71, 0.02, 0), (0.68, 0.01, 0), (0.72, 0.02, 0), (0.69, 0.02, 0), (0.66, 0.01, 0)],
}
# Table 2: p-value of the Wilcoxon test WS vs random regret and its direction
# (">" WS worse, "<" WS better, "x" not significant at 0.05), for TOP-1, TOP-10, TOP-100.
_PAPER_TABLE2 = {
    "A4": [(0.02, ">"), (0.02, ">"), (0.17, "x")],
    "A3": [(0.25, "x"), (0.02, "<"), (0.36, "x")],
    "A2": [(0.04, "<"), (0.34, "x"), (0.17, "x")],
    "A1": [(0.02, "<"), (0.04, "<"), (0.34, "x")],
    "A0": [(0.25, "x"), (0.03, ">"), (0.07, "x")],
    "A0-nores": [(0.23, "x"), (0.02, "<"), (0.11, "x")],
    "A0-res": [(0.25, "x"), (0.11, "x"), (0.25, "x")],
}
# Numbers the paper states in its text (not in a table), read by the chapters that check them.
PAPER_NUMBERS = {
    "bns_ft_gain": 2.70,  # "about 270%": BNS-FT's average improvement of the correlation over NO-FT
    "size_spearman": -0.71,  # Spearman between BNS-FT correlation (Table 1) and space size
    "size_p_value": 0.07,  # its p-value
    "best_test_accuracy": 0.9432,  # best mean test accuracy of NAS-Bench-101 (Ying et al. 2019)
}


# ---------------------------------------------------------------------------------------------
# The released evaluations


def evaluation_column(variant, mode):
    """The evaluation column "variant/mode" (strings, or pandas Series of them element-wise)."""
    return variant + "/" + mode


def released_settings() -> pd.DataFrame:
    """The settings the released runs recorded, one row per settings file (420: training and evaluation of each of
    the 210 runs): run_dir and space_dir (the archive's folders), seed, file, BN momentum, optimiser, seeds, ..."""
    return pd.read_parquet(data_path(SETTINGS_FILE))


def released_momentum() -> dict[str, object]:
    """The BN momentum in the released runs' own settings files: the values found with their file counts, and in how
    many of the space-seed pairs the NO-FT and the BNS-FT baseline evaluations load the same trained super-net
    (same training seed)."""
    settings = released_settings()
    training = settings[settings["file"] == "training"].set_index(["run_dir", "space_dir", "seed"])["train_seed"]
    no_ft, bns_ft = training.xs("baseline_no_ft"), training.xs("baseline_ft_bn")
    return {"momenta": settings["bn_momentum"].value_counts().to_dict(), "files": len(settings),
            "same_super_net": int((no_ft == bns_ft.reindex(no_ft.index)).sum()), "pairs": len(no_ft)}


def read_released_evaluations() -> pd.DataFrame:
    """The parquet file as stored (checked against data/MANIFEST and the expected schema)."""
    path = data_path(EVALUATIONS_FILE)
    table = pq.read_table(path)
    if not table.schema.equals(EVALUATIONS_SCHEMA):
        raise DataFileError(
            f"{path} has columns {table.schema.names} with types {[str(t) for t in table.schema.types]}, expected "
            f"{EVALUATIONS_SCHEMA.names}: regenerate it with scripts/build_released_evaluations.py"
        )
    return table.to_pandas()


@cache
def _evaluations_with_truth() -> pd.DataFrame:
    evaluations = read_released_evaluations()
    evaluations["column"] = evaluation_column(evaluations["variant"], evaluations["mode"])
    diverged = run_summary(evaluations).set_index(RUN_KEYS)["diverged"]
    evaluations["diverged"] = diverged.reindex(pd.MultiIndex.from_frame(evaluations[RUN_KEYS])).to_numpy()
    truth = NB101.default().metrics(pd.unique(evaluations["hash"]))[TRUTH_COLUMNS]
    missing = truth.index[truth.isna().any(axis=1)]
    if len(missing):
        raise DataFileError(
            f"{len(missing)} released cells lack NB-101 metrics, e.g. {list(missing[:3])}: the NB-101 table "
            "in use does not cover the released evaluations (rebuild data/nb101_metrics.parquet)"
        )
    return evaluations.join(truth, on="hash")


def load_evaluations() -> pd.DataFrame:
    """The released evaluations with `column` ("variant/mode"), `diverged` (per run) and NB-101 truth by hash."""
    return _evaluations_with_truth().copy()


def run_summary(evaluations: pd.DataFrame) -> pd.DataFrame:
    """One row per run: best and spread of its proxy accuracy, and whether the super-net diverged."""
    summary = (
        evaluations.groupby(RUN_KEYS, sort=False)["proxy_accuracy"]
        .agg(best_proxy="max", worst_proxy="min", cells="size")
        .reset_index()
    )
    summary["column"] = evaluation_column(summary["variant"], summary["mode"])
    # Constant proxy: no ranking at all. Best cell at chance: the super-net predicts one class.
    constant = summary["best_proxy"] == summary["worst_proxy"]
    at_chance = summary["best_proxy"] <= CHANCE_ACCURACY + CHANCE_MARGIN
    summary["diverged"] = constant | at_chance
    return summary


def diverged_runs(evaluations: pd.DataFrame) -> pd.DataFrame:
    """The runs whose proxy is constant or at chance (~10%) over all their cells, found from the proxy alone."""
    summary = run_summary(evaluations)
    return summary.loc[summary["diverged"], ["column", *RUN_KEYS, "best_proxy", "worst_proxy"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The search's inputs (wsnas.search)


def with_repeats(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Add the per-repeat NB-101 columns final_{validation,test}_accuracy_r{0,1,2}, final_training_time_r{0,1,2}."""
    repeated = ("final_validation_accuracy", "final_test_accuracy", "final_training_time")
    table = NB101.default().repeats(evaluations["hash"].unique(), repeated).reset_index()
    wanted = [column for column in table.columns if column != "hash"]
    return evaluations.drop(columns=[c for c in wanted if c in evaluations]).merge(table, on="hash", how="left")


@cache
def _search_evaluations() -> pd.DataFrame:
    return load_evaluations()


def load_search_evaluations(repeats: bool = False) -> pd.DataFrame:
    """The released evaluations (`load_evaluations`, copied once per process), with the per-repeat columns if `repeats`."""
    evaluations = _search_evaluations()
    return with_repeats(evaluations) if repeats else evaluations


def best_of_space_check(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Can the released data give the best mean test accuracy of each space exactly?

    All 3 NB-101 repeats are known for the released cells only (151,644); for the others we know
    run 0's test accuracy. Per space: the best mean among the cells sampled in that space (what
    `best_of_space="union"` uses), the best mean among all released cells of the space, and how
    many never-released cells have a run 0 alone above that best (each could beat it; 0 is
    evidence, not proof, that the best is known).
    """
    table = space_table()
    run0 = NB101.default().metrics(table["hash"].to_numpy())["test_accuracy_run0"].to_numpy()
    known = evaluations.drop_duplicates("hash").set_index("hash")["mean_test_accuracy"]
    mean_test = known.reindex(table["hash"]).to_numpy()
    rows = []
    for name in PAPER_ORDER:
        mask = space_mask(name)
        sampled = evaluations.loc[evaluations["space"] == name, "mean_test_accuracy"].max()
        best = np.nanmax(mean_test[mask])
        unknown = mask & np.isnan(mean_test)
        rows.append({
            "space": name, "cells": int(mask.sum()), "released_cells": int((mask & ~np.isnan(mean_test)).sum()),
            "best_sampled_in_space": float(sampled), "best_released": float(best),
            "best_released_hash": table["hash"].to_numpy()[mask][np.nanargmax(mean_test[mask])],
            "unreleased_run0_above_best": int((run0[unknown] > best).sum()),
            "best_run0_unreleased": float(np.nanmax(run0[unknown])),
        })
    return pd.DataFrame(rows).set_index("space")


# ---------------------------------------------------------------------------------------------
# The paper's tables


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1: index space (paper order), columns (VARIANT_COLUMNS, mean | std | starred)."""
    data = {
        (column, statistic): [values[i][j] for values in _PAPER_TABLE1.values()]
        for i, column in enumerate(VARIANT_COLUMNS)
        for j, statistic in enumerate(("mean", "std", "starred"))
    }
    table = pd.DataFrame(data, index=pd.Index(list(_PAPER_TABLE1), name="space"))
    for column in VARIANT_COLUMNS:
        table[column, "starred"] = table[column, "starred"].astype(bool)
    table.columns.names = ["column", "statistic"]
    return table


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2: index space, columns (top1 | top10 | top100, p | direction)."""
    data = {
        (f"top{k}", field): [row[i][j] for row in _PAPER_TABLE2.values()]
        for i, k in enumerate(TOP_K)
        for j, field in enumerate(("p", "direction"))
    }
    table = pd.DataFrame(data, index=pd.Index(list(_PAPER_TABLE2), name="space"))
    table.columns.names = ["top", "field"]
    return table


# ---------------------------------------------------------------------------------------------
# Table 1 recomputed


def correlations(evaluations: pd.DataFrame | None = None, top_k: tuple[int, ...] = ()) -> pd.DataFrame:
    """Per run: Spearman (and Kendall τ, precision@K if `top_k`) of proxy vs mean NB-101 validation accuracy."""
    evaluations = load_evaluations() if evaluations is None else evaluations
    per_run = metrics.ranking_quality(
        evaluations,
        by=["column", "space", "seed"],
        proxy="proxy_accuracy",
        target="mean_validation_accuracy",
        with_kendall=bool(top_k),
        top_k=top_k,
    )
    diverged = evaluations.groupby(["column", "space", "seed"], sort=False)["diverged"].first()
    return per_run.join(diverged, on=["column", "space", "seed"])


def table1_recomputed(evaluations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 1 from the released evaluations: index space, columns (VARIANT_COLUMNS, mean | std | n | excluded_seeds)."""
    per_run = correlations(evaluations)
    summary = metrics.summarise_over_supernets(per_run, by=["space", "column"], value="spearman")
    table = summary.unstack("column").swaplevel(axis=1)
    table.columns.names = ["column", "statistic"]
    statistics = ["mean", "std", "n", "excluded_seeds"]
    return table.reindex(
        index=list(PAPER_ORDER), columns=pd.MultiIndex.from_product([VARIANT_COLUMNS, statistics], names=["column", "statistic"])
    )


def table1_json() -> dict:
    """{space: {column: {"mean", "std", "n", "excluded_seeds"}}} for `wsnas reference table1 --json`."""
    table = table1_recomputed()
    return {
        space: {
            column: {
                "mean": float(table.loc[space, (column, "mean")]),
                "std": float(table.loc[space, (column, "std")]),
                "n": int(table.loc[space, (column, "n")]),
                "excluded_seeds": [int(seed) for seed in table.loc[space, (column, "excluded_seeds")]],
            }
            for column in VARIANT_COLUMNS
        }
        for space in PAPER_ORDER
    }


def side_by_side(paper: pd.DataFrame, recomputed: pd.DataFrame, std_tolerance: float = 0.03) -> pd.DataFrame:
    """Long table per (space, column): paper, recomputed, differences, and `agrees`.

    `agrees`: the recomputed mean rounds to the paper's, the std is within `std_tolerance`, and
    a seed was left out exactly where the paper has a star.
    """
    paper_long = paper.stack("column", future_stack=True)
    recomputed_long = recomputed.stack("column", future_stack=True)
    frame = pd.DataFrame(
        {
            "paper_mean": paper_long["mean"].astype(float),
            "paper_std": paper_long["std"].astype(float),
            "paper_starred": paper_long["starred"].astype(bool),
        }
    ).join(
        recomputed_long[["mean", "std", "n", "excluded_seeds"]].rename(
            columns={"mean": "recomputed_mean", "std": "recomputed_std"}
        ),
        how="inner",
    )
    frame["n"] = frame["n"].astype(int)
    frame["mean_difference"] = frame["recomputed_mean"].round(2) - frame["paper_mean"]
    frame["std_difference"] = frame["recomputed_std"] - frame["paper_std"]
    frame["agrees"] = (
        np.isclose(frame["mean_difference"], 0.0, atol=1e-9)
        & (frame["std_difference"].abs() <= std_tolerance)
        & (frame["paper_starred"] == (frame["excluded_seeds"].str.len() > 0))
    )
    return frame


# ---------------------------------------------------------------------------------------------
# The noise ceiling, the ranking measures, duplicate runs


def nb101_repeats(hashes: pd.Series | np.ndarray, metric: str = "final_validation_accuracy") -> pd.DataFrame:
    """One NB-101 metric per training repeat (`r0`, `r1`, `r2`) for each hash (`NB101.repeats`)."""
    rows = NB101.default().repeats(pd.unique(np.asarray(hashes)), [metric])
    if rows.isna().any(axis=None):
        missing = rows.index[rows.isna().any(axis=1)]
        raise DataFileError(f"{len(missing)} cells lack NB-101 repeats in data/{nb101.METRICS_FILE}, e.g. {list(missing[:3])}")
    return rows.set_axis([f"r{repeat}" for repeat in range(nb101.REPEATS)], axis=1)


def noise_ceiling(evaluations: pd.DataFrame | None = None, metric: str = "final_validation_accuracy") -> pd.DataFrame:
    """Per space, on the distinct released cells of the space: how well NB-101 repeats rank each other."""
    evaluations = load_evaluations() if evaluations is None else evaluations
    cells = evaluations[["space", "hash"]].drop_duplicates()
    repeats = cells.join(nb101_repeats(cells["hash"], metric), on="hash")
    return metrics.noise_ceiling_of_repeats(repeats, by="space").reindex(list(PAPER_ORDER))


def ranking_summary(per_run: pd.DataFrame, measures: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Mean over the kept super-nets of each ranking measure: index space, columns (column, measure)."""
    columns = VARIANT_COLUMNS if columns is None else columns
    means = {
        measure: metrics.summarise_over_supernets(per_run, by=["space", "column"], value=measure)["mean"]
        for measure in measures
    }
    table = pd.DataFrame(means).unstack("column").swaplevel(axis=1)
    order = pd.MultiIndex.from_product([columns, measures], names=["column", "measure"])
    return table.reindex(index=list(PAPER_ORDER), columns=order)


def duplicate_runs(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Pairs of runs (same column and space) whose cells and proxies are identical position by position.

    Independent super-nets sample different cells, so an identical pair is one run released twice.
    """
    keyed = evaluations.sort_values([*RUN_KEYS, "position"])
    column = evaluation_column(keyed["variant"], keyed["mode"]).rename("column")
    digests = (
        keyed.groupby([column, keyed["space"], keyed["seed"]], sort=False)[["hash", "proxy_accuracy"]]
        .apply(_run_digest)
        .rename("digest")
        .reset_index()
    )
    pairs = digests.merge(digests, on=["column", "space", "digest"], suffixes=("", "_copy"))
    pairs = pairs.loc[pairs["seed"] < pairs["seed_copy"], ["column", "space", "seed", "seed_copy"]]
    return pairs.reset_index(drop=True)


def _run_digest(run: pd.DataFrame) -> str:
    payload = "".join(run["hash"]).encode() + run["proxy_accuracy"].to_numpy().tobytes()
    return hashlib.sha256(payload).hexdigest()

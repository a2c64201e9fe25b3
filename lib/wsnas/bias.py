"""Where the proxy over- or under-evaluates cells: structural features and their effects.

A cell's *rank residual* in one run is its proxy rank minus its NB-101 rank (both normalised to
[0, 1]), so it lies in [-1, 1]: positive = over-evaluated by the super-net. A feature's *effect*
is how much the residual moves with the feature, estimated in each super-net separately and then
summarised over the super-nets, which are the unit of replication.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from wsnas import metrics
from wsnas import space as search_space  # `space` names a sub-space in this module
from wsnas.space import MAX_VERTICES, OPS

TRUTH = "mean_validation_accuracy"

# name -> (kind, description). Binary effects are differences of means (with - without); count
# effects are least-squares slopes of the residual on the count.
FEATURES: dict[str, tuple[str, str]] = {
    "input_output_edge": ("binary", "the input feeds the output directly (residual edge)"),
    "first_vertex_conv3x3": ("binary", "vertex 1 (NB-101 labelling) is a 3×3 convolution"),
    "first_vertex_conv1x1": ("binary", "vertex 1 (NB-101 labelling) is a 1×1 convolution"),
    "first_vertex_maxpool3x3": ("binary", "vertex 1 (NB-101 labelling) is a 3×3 max-pool"),
    "input_only_conv3x3": ("binary", "some vertex fed by the input alone is a 3×3 convolution"),
    "output_in_degree": ("count", "operation vertices feeding the output (the k of A_k)"),
    "depth": ("count", "edges on the longest input→output path"),
    "num_conv3x3": ("count", "3×3 convolutions"),
    "num_conv1x1": ("count", "1×1 convolutions"),
    "num_maxpool3x3": ("count", "3×3 max-pools"),
    "num_vertices": ("count", "vertices, input and output included"),
    "num_edges": ("count", "edges"),
    "log2_parameters": ("count", "log2 of NB-101 trainable parameters (slope per doubling)"),
}


# ---------------------------------------------------------------- structural features

def cell_features(cells: Sequence | np.ndarray) -> pd.DataFrame:
    """Structural features of cells given as NB-101 hashes, space-table indices or `Cell`s.

    "Vertex 1" is the first operation vertex of the pruned cell in NB-101's own labelling (the
    stored `module_adjacency`, which is what the paper's authors sampled and drew). In a pruned,
    upper-triangular cell vertex 1 can only be fed by the input, and always is. When the input
    alone feeds several vertices, which of them is vertex 1 is a labelling choice that the hash
    does not fix: `first_vertex_ambiguous` flags those cells, and `input_only_conv3x3` is the
    labelling-free variant (any vertex fed by the input alone is a 3×3 convolution).
    """
    adjacency, ops, num_vertices, parameters, hashes = _cell_arrays(cells)
    features = features_from_arrays(adjacency, ops, num_vertices)
    features.insert(0, "hash", hashes)
    features["trainable_parameters"] = parameters
    features["log2_parameters"] = np.log2(parameters.astype(float))
    return features


def features_from_arrays(adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray) -> pd.DataFrame:
    """Features of N pruned cells: `adjacency` (N, 7, 7) 0/1 with cell i in its top-left
    num_vertices[i] square, `ops` (N, 7) op indices into OPS (-1 input, -2 output, ignored
    beyond the cell)."""
    adjacency = np.asarray(adjacency, dtype=bool)
    ops = np.asarray(ops)
    num_vertices = np.asarray(num_vertices)
    if adjacency.ndim != 3 or adjacency.shape[1:] != (MAX_VERTICES, MAX_VERTICES) or ops.shape != adjacency.shape[:2]:
        raise ValueError(f"expected adjacency (N, 7, 7) and ops (N, 7), got {adjacency.shape} and {ops.shape}")
    if np.any(num_vertices < 2) or np.any(num_vertices > MAX_VERTICES):
        raise ValueError("num_vertices must lie in 2..7 (input and output included)")
    rows = np.arange(len(adjacency))
    output = num_vertices - 1
    slots = np.arange(MAX_VERTICES)
    operation = (slots >= 1) & (slots[None, :] < output[:, None])  # (N, 7): operation vertices
    into_output = adjacency[rows, :, output]  # (N, 7): who feeds the output
    fed_by_input_only = operation & adjacency[:, 0, :] & (adjacency.sum(axis=1) == 1)
    first_op = np.where(num_vertices > 2, ops[:, 1], -1)
    features = {
        "num_vertices": num_vertices,
        "num_edges": adjacency.sum(axis=(1, 2)),
        "input_output_edge": into_output[:, 0],
        "output_in_degree": (into_output & operation).sum(axis=1),
        "depth": _longest_path(adjacency, output),
        "first_vertex_op": pd.Categorical.from_codes(first_op, OPS),
        "first_vertex_ambiguous": fed_by_input_only.sum(axis=1) > 1,
        "input_only_conv3x3": (fed_by_input_only & (ops == 0)).any(axis=1),
    }
    for code, name in enumerate(OPS):
        features[f"first_vertex_{_short(name)}"] = first_op == code
        features[f"num_{_short(name)}"] = (operation & (ops == code)).sum(axis=1)
    return pd.DataFrame(features)


def _short(op_name: str) -> str:
    return op_name.removesuffix("-bn-relu")


def _longest_path(adjacency: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Edges on the longest input→output path; vertices are in topological order by index."""
    distance = np.full(adjacency.shape[:2], -np.inf)
    distance[:, 0] = 0
    for vertex in range(1, MAX_VERTICES):
        via = np.where(adjacency[:, :vertex, vertex], distance[:, :vertex] + 1, -np.inf)
        distance[:, vertex] = via.max(axis=1)
    depth = distance[np.arange(len(adjacency)), output]
    if not np.all(np.isfinite(depth)):
        raise ValueError("some cells have no input→output path: prune them first")
    return depth.astype(int)


def _cell_arrays(cells) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(adjacency, ops, num_vertices, trainable_parameters, hash) of cells in any accepted form."""
    cells = list(cells) if not isinstance(cells, np.ndarray) else cells
    if len(cells) and isinstance(cells[0], search_space.Cell):
        return _arrays_of_cells(cells)
    table = search_space.space_table()
    if len(cells) and isinstance(cells[0], str):
        indices = search_space.index_of(np.asarray(cells))
    else:
        indices = np.asarray(cells, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(table)):
            raise IndexError(f"space-table indices must lie in 0..{len(table) - 1}")
    rows = table.iloc[indices]
    adjacency, ops = _unpack(rows)
    return (adjacency, ops, rows["num_vertices"].to_numpy(), rows["trainable_parameters"].to_numpy(),
            rows["hash"].to_numpy())


def _unpack(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(N, 7, 7) adjacency and (N, 7) op codes (-1 input, -2 output and beyond) of space-table rows."""
    adjacency = np.zeros((len(rows), MAX_VERTICES, MAX_VERTICES), dtype=bool)
    ops = np.full((len(rows), MAX_VERTICES), -2, dtype=np.int8)
    ops[:, 0] = -1
    num_vertices = rows["num_vertices"].to_numpy()
    for size in np.unique(num_vertices):
        where = np.flatnonzero(num_vertices == size)
        adjacency[where, :size, :size] = search_space.adjacency_from_bits(rows["adjacency"].to_numpy()[where], size)
        ops[where, 1:size - 1] = search_space.op_codes_from_packed(rows["ops"].to_numpy()[where], size)
    return adjacency, ops


def _arrays_of_cells(cells) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pruned = [cell.pruned() for cell in cells]
    adjacency = np.zeros((len(pruned), MAX_VERTICES, MAX_VERTICES), dtype=bool)
    ops = np.full((len(pruned), MAX_VERTICES), -2, dtype=np.int8)
    codes = {name: code for code, name in enumerate(OPS)} | {"input": -1, "output": -2}
    for i, cell in enumerate(pruned):
        size = len(cell.ops)
        adjacency[i, :size, :size] = cell.adjacency
        ops[i, :size] = [codes[op] for op in cell.ops]
    num_vertices = np.array([len(cell.ops) for cell in pruned])
    parameters = np.array([search_space.trainable_parameters(cell) for cell in pruned])
    return adjacency, ops, num_vertices, parameters, np.array([cell.hash for cell in pruned])


# ---------------------------------------------------------------- residuals and effects

RUN = ["column", "space", "seed"]


def rank_residuals(evaluations: pd.DataFrame, truth: str = TRUTH, drop_diverged: bool = True) -> pd.DataFrame:
    """`evaluations` plus `proxy_rank`, `truth_rank` (in [0, 1], ties averaged) and `residual`
    = proxy_rank - truth_rank, per run. Diverged runs (constant proxy) are dropped by default."""
    _require(evaluations, RUN + ["proxy_accuracy", truth] + (["diverged"] if drop_diverged else []))
    if drop_diverged:
        evaluations = evaluations[~evaluations["diverged"].astype(bool)]
    grouped = evaluations.groupby(RUN, sort=False, observed=True)
    size = grouped["proxy_accuracy"].transform("size")
    if (size < 2).any():
        raise ValueError("every run needs at least two cells to rank")
    scale = size - 1
    out = evaluations.copy()
    out["proxy_rank"] = (grouped["proxy_accuracy"].rank() - 1) / scale
    out["truth_rank"] = (grouped[truth].rank() - 1) / scale
    out["residual"] = out["proxy_rank"] - out["truth_rank"]
    return out


def run_effects(residuals: pd.DataFrame, features: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Effect of each feature on the residual in each run: long table (run..., feature, effect).

    `features` is indexed by hash (as `cell_features(...).set_index("hash")`). The effect is NaN
    in a run where a binary feature is all-true or all-false, or a count is constant.
    """
    names = list(names or FEATURES)
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise KeyError(f"unknown features {sorted(unknown)}; known: {list(FEATURES)}")
    joined = residuals[RUN + ["hash", "residual"]].join(features[names].astype(float), on="hash")
    if joined[names].isna().any().any():
        raise KeyError("some evaluated hashes have no features: compute features for all evaluated cells")
    grouped = joined.groupby(RUN, sort=False, observed=True)
    centred = joined[names] - grouped[names].transform("mean")
    residual = joined["residual"] - grouped["residual"].transform("mean")
    sums = pd.concat({"xy": centred.mul(residual, axis=0), "xx": centred.pow(2)}, axis=1).groupby(
        [joined[key] for key in RUN], sort=False, observed=True).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = sums["xy"] / sums["xx"].where(sums["xx"] > 1e-12)
    # For a 0/1 feature the least-squares slope is exactly mean(with) - mean(without).
    long = slope.stack(future_stack=True).rename("effect").reset_index()
    return long.rename(columns={long.columns[len(RUN)]: "feature"})


def feature_effects(evaluations: pd.DataFrame, space: str | Sequence[str] | None = None,
                    column: str = "baseline/bns_ft", features: pd.DataFrame | None = None,
                    ci: str = "t", confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Effect of each feature on the rank residual, per space: mean over the super-nets with a
    95% CI over them (`ci="t"`: Student t; `ci="bootstrap"`: seeded percentile bootstrap).

    Columns: space, feature, kind, effect, ci_low, ci_high, p_value (one-sample t-test of zero
    effect over the super-nets), n_runs, prevalence (share of cells with the feature, or its mean).
    """
    if ci not in ("t", "bootstrap"):
        raise ValueError(f"ci must be 't' or 'bootstrap', got {ci!r}")
    selected = _select(evaluations, space, column)
    residuals = rank_residuals(selected)
    if features is None:
        features = cell_features(residuals["hash"].unique()).set_index("hash")
    per_run = run_effects(residuals, features)
    prevalence = (residuals[["space", "hash"]].join(features[list(FEATURES)].astype(float), on="hash")
                  .groupby("space", observed=True).mean(numeric_only=True)
                  .stack().rename("prevalence").rename_axis(["space", "feature"]))
    rows = []
    for (space_name, feature), effects in per_run.groupby(["space", "feature"], sort=False, observed=True):
        values = effects["effect"].dropna().to_numpy()
        rows.append({"space": space_name, "feature": feature, "kind": FEATURES[feature][0],
                     **_summarise(values, ci, confidence, seed)})
    return pd.DataFrame(rows).join(prevalence, on=["space", "feature"])


def _summarise(values: np.ndarray, ci: str = "t", confidence: float = 0.95, seed: int = 0) -> dict:
    """Mean of per-run values with a CI over the runs and the t-test p-value of a zero mean."""
    n = len(values)
    summary = {"effect": values.mean() if n else np.nan, "ci_low": np.nan, "ci_high": np.nan,
               "p_value": np.nan, "n_runs": n}
    if n < 2 or np.ptp(values) == 0:
        return summary
    if ci == "t":
        low, high = scipy.stats.t.interval(confidence, n - 1, loc=values.mean(), scale=scipy.stats.sem(values))
    else:
        low, high = metrics.bootstrap_ci(values, confidence=confidence, seed=seed)
    summary.update(ci_low=low, ci_high=high, p_value=scipy.stats.ttest_1samp(values, 0.0).pvalue)
    return summary


def _select(evaluations: pd.DataFrame, space, column: str) -> pd.DataFrame:
    _require(evaluations, ["column", "space"])
    if column not in set(evaluations["column"]):
        raise KeyError(f"column {column!r} not in the evaluations; known: {sorted(set(evaluations['column']))}")
    selected = evaluations[evaluations["column"] == column]
    if space is not None:
        spaces = [space] if isinstance(space, str) else list(space)
        missing = set(spaces) - set(selected["space"])
        if missing:
            raise KeyError(f"spaces {sorted(missing)} have no evaluations in {column!r}")
        selected = selected[selected["space"].isin(spaces)]
    return selected


def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise KeyError(f"the evaluations lack columns {missing}: load them with wsnas.reference.load_evaluations()")


def explained_variance(residuals: pd.DataFrame, features: pd.DataFrame,
                       names: Sequence[str] = ("input_output_edge", "first_vertex_conv3x3", "first_vertex_maxpool3x3",
                                               "output_in_degree", "depth", "num_conv3x3", "num_maxpool3x3",
                                               "num_vertices", "num_edges", "log2_parameters")) -> pd.DataFrame:
    """Adjusted R² of a per-run linear model of the residual on the features: how much of the
    over/under-evaluation is structural. Features constant within a run are left out of its model."""
    joined = residuals[RUN + ["hash", "residual"]].join(features[list(names)].astype(float), on="hash")
    rows = []
    for run, cells in joined.groupby(RUN, sort=False, observed=True):
        design = cells[list(names)].loc[:, lambda frame: frame.std() > 0].to_numpy()
        design = np.column_stack([np.ones(len(design)), design])
        target = cells["residual"].to_numpy()
        coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
        unexplained = np.sum((target - design @ coefficients) ** 2) / (len(target) - design.shape[1])
        rows.append(dict(zip(RUN, run), adjusted_r2=1 - unexplained / target.var(ddof=1),
                         residual_std=target.std(ddof=1)))
    return pd.DataFrame(rows)


def first_vertex_groups(features: pd.DataFrame) -> pd.Series:
    """Where the 3×3 convolutions fed by the input alone sit: on vertex 1, only elsewhere, nowhere."""
    groups = np.select([features["first_vertex_conv3x3"], features["input_only_conv3x3"]],
                       ["3×3 on vertex 1", "3×3 fed by the input alone, not on vertex 1"],
                       "no 3×3 fed by the input alone")
    return pd.Series(groups, index=features.index, name="first_vertex_group")


def residual_by_group(residuals: pd.DataFrame, groups: pd.Series, confidence: float = 0.95) -> pd.DataFrame:
    """Mean residual per (space, group): per-run group means summarised over the super-nets (t CI).

    `groups` labels cells and is indexed by hash."""
    joined = residuals.join(groups.rename("group"), on="hash")
    per_run = joined.groupby(RUN + ["group"], observed=True).agg(residual=("residual", "mean"),
                                                               cells=("residual", "size")).reset_index()
    rows = []
    for (space_name, group), runs in per_run.groupby(["space", "group"], sort=False):
        values = runs["residual"].to_numpy()
        summary = _summarise(values, "t", confidence)
        rows.append({"space": space_name, "group": group, "mean_residual": summary["effect"],
                     "ci_low": summary["ci_low"], "ci_high": summary["ci_high"], "n_runs": len(values),
                     "cells_per_run": runs["cells"].mean()})
    return pd.DataFrame(rows)


def feature_quality(residuals: pd.DataFrame, features: pd.DataFrame, feature: str, top: float = 0.1,
                    truth: str = TRUTH) -> pd.DataFrame:
    """Is a feature over-evaluated because it is good? Per space, averaged over runs: the share of
    cells with the feature, that share among the `top` fraction by truth and by proxy, and the
    mean truth of cells with and without it."""
    joined = residuals.join(features[feature].astype(bool).rename("has"), on="hash")
    grouped = joined.groupby(RUN, observed=True)
    joined["top_truth"] = grouped["truth_rank"].transform(lambda ranks: ranks >= ranks.quantile(1 - top))
    joined["top_proxy"] = grouped["proxy_rank"].transform(lambda ranks: ranks >= ranks.quantile(1 - top))
    per_run = grouped.apply(lambda run: pd.Series({
        "share": run["has"].mean(),
        "share_top_truth": run.loc[run["top_truth"], "has"].mean(),
        "share_top_proxy": run.loc[run["top_proxy"], "has"].mean(),
        "truth_with": run.loc[run["has"], truth].mean(),
        "truth_without": run.loc[~run["has"], truth].mean(),
    }), include_groups=False)
    return per_run.groupby("space").mean()


def proxy_top_quality(residuals: pd.DataFrame, top: float = 0.1, truth: str = TRUTH) -> pd.DataFrame:
    """How good are the cells the proxy ranks in its `top` fraction? Per space, mean over runs:
    their mean truth percentile (0.5 = no better than a random pick), their mean truth, and the
    run's mean truth."""
    chosen = residuals.assign(top=residuals["proxy_rank"] >= 1 - top)
    per_run = chosen.groupby(RUN, observed=True).apply(lambda run: pd.Series({
        "top_truth_percentile": run.loc[run["top"], "truth_rank"].mean(),
        "top_truth": run.loc[run["top"], truth].mean(),
        "all_truth": run[truth].mean(),
    }), include_groups=False)
    return per_run.groupby("space").mean()


def features_and_residuals(evaluations: pd.DataFrame, column: str = "baseline/bns_ft") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The structural features of every cell the column's runs evaluated (indexed by hash) and their rank residuals."""
    chosen = evaluations[evaluations["column"] == column]
    return cell_features(chosen["hash"].unique()).set_index("hash"), rank_residuals(chosen)


def effect_in_one_run(proxy, truth, feature, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """The effect of one feature on the rank residual in one run of cells, with a percentile bootstrap interval
    over its cells (each resample re-ranks the cells it draws): the super-net-level analysis above needs several
    super-nets, this one compares single super-nets, e.g. ours beside each released one. `feature` is 0/1 or a
    count per cell (the effect is the least-squares slope, for 0/1 the difference of mean residuals, as in
    `run_effects`). Keys: effect, low, high, cells, prevalence (share or mean of the feature)."""
    proxy, truth, feature = (np.asarray(values, dtype=float) for values in (proxy, truth, feature))
    n = len(proxy)
    if not n == len(truth) == len(feature) or n < 3:
        raise ValueError("proxy, truth and feature must be arrays of one length, at least 3 cells")
    draws = np.vstack([np.arange(n), metrics.resample_indices(n, n_boot, seed)])
    residual = (scipy.stats.rankdata(proxy[draws], axis=1) - scipy.stats.rankdata(truth[draws], axis=1)) / (n - 1)
    x = feature[draws] - feature[draws].mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = (x * (residual - residual.mean(axis=1, keepdims=True))).sum(axis=1) / (x ** 2).sum(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(slopes[1:], [tail, 1 - tail])
    return {"effect": float(slopes[0]), "low": float(low), "high": float(high), "cells": n,
            "prevalence": float(feature.mean())}


# ---------------------------------------------------------------- correlation vs space size

def size_correlation(correlation_by_space: pd.Series, sizes: pd.Series) -> dict[str, float]:
    """Spearman between a per-space correlation (e.g. Table 1's BNS-FT means) and space sizes, with
    scipy's t-approximation p-value (what the paper's 0.07 matches) and the exact permutation one."""
    joined = pd.concat({"correlation": correlation_by_space, "size": sizes}, axis=1, join="inner")
    if not 3 <= len(joined) <= 9:
        raise ValueError(f"need 3 to 9 spaces in common (exact test over n! pairings), got {list(joined.index)}")
    result = scipy.stats.spearmanr(joined["correlation"], joined["size"])
    sizes = joined["size"].to_numpy()
    # One sample permuted against fixed sizes: all n! pairings (5,040 for the seven spaces).
    exact = scipy.stats.permutation_test(
        (joined["correlation"].to_numpy(),), lambda correlation: scipy.stats.spearmanr(correlation, sizes).statistic,
        permutation_type="pairings", n_resamples=np.inf)
    return {"spearman": float(result.statistic), "p_value": float(result.pvalue),
            "p_value_exact": float(exact.pvalue), "n_spaces": len(joined)}

"""How well a proxy ranks cells: Spearman (the paper's measure), Kendall τ, precision@top-K, the
weighted Spearman, mean ± std over super-nets, bootstrap confidence intervals, and the NB-101 noise ceiling.

A "run" is one super-net evaluated on a set of cells; most functions take a tidy frame with one
row per (run, cell) and compute one value per run with a pandas groupby.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import pandas as pd
import scipy.stats

# The paper reports the population standard deviation over super-nets (see wsnas.reference).
PAPER_DDOF = 0
ALPHA = 0.05  # significance level of every test here and in the book, as in the paper


def spearman(proxy: np.ndarray, target: np.ndarray) -> float:
    """Spearman rank correlation (scipy.stats.spearmanr, as the paper)."""
    return float(scipy.stats.spearmanr(proxy, target).statistic)


def kendall(proxy: np.ndarray, target: np.ndarray) -> float:
    """Kendall τ-b (scipy.stats.kendalltau)."""
    return float(scipy.stats.kendalltau(proxy, target).statistic)


def top_k_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values; ties broken by position (earlier first), so the result is deterministic."""
    values = np.asarray(values)
    if not 1 <= k <= len(values):
        raise ValueError(f"top-{k} of {len(values)} values: choose 1 <= k <= {len(values)}")
    return np.argsort(-values, kind="stable")[:k]


def precision_at_k(proxy: np.ndarray, target: np.ndarray, k: int) -> float:
    """Fraction of the true top-k (by target) among the proxy's top-k."""
    hits = np.intersect1d(top_k_indices(proxy, k), top_k_indices(target, k))
    return len(hits) / k


def ranking_quality(
    frame: pd.DataFrame,
    by: Sequence[str],
    proxy: str = "proxy_accuracy",
    target: str = "mean_validation_accuracy",
    with_kendall: bool = False,
    top_k: Sequence[int] = (),
) -> pd.DataFrame:
    """One row per group of `by` (a run): n, Spearman, optionally Kendall τ and precision@k for k in `top_k`.

    A run whose proxy is constant has no ranking: its correlations are NaN (no warning).
    """
    missing = [name for name in (*by, proxy, target) if name not in frame]
    if missing:
        raise KeyError(f"columns {missing} are missing; the frame has {list(frame.columns)}")

    def quality(run: pd.DataFrame) -> pd.Series:
        x, y = run[proxy].to_numpy(), run[target].to_numpy()
        constant = x.min() == x.max() or y.min() == y.max()
        values = {"n": len(run), "spearman": np.nan if constant else spearman(x, y)}
        if with_kendall:
            values["kendall"] = np.nan if constant else kendall(x, y)
        for k in top_k:
            values[f"precision@{k}"] = np.nan if constant else precision_at_k(x, y, k)
        return pd.Series(values)

    result = frame.groupby(list(by), sort=False, observed=True)[[proxy, target]].apply(quality).reset_index()
    result["n"] = result["n"].astype(int)
    return result


def summarise_over_supernets(
    per_run: pd.DataFrame,
    by: Sequence[str],
    value: str = "spearman",
    seed: str = "seed",
    exclude: str = "diverged",
    ddof: int = PAPER_DDOF,
) -> pd.DataFrame:
    """Mean ± std of `value` over the runs (super-nets) of each group, leaving out the runs flagged `exclude`.

    Columns: mean, std, n (runs used), excluded_seeds (tuple of the seeds left out).
    """
    kept = per_run.loc[~per_run[exclude].astype(bool)]
    grouped = kept.groupby(list(by), sort=False)[value]
    summary = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=ddof), "n": grouped.size()})
    excluded = (
        per_run.loc[per_run[exclude].astype(bool)]
        .groupby(list(by), sort=False)[seed]
        .agg(lambda seeds: tuple(sorted(int(s) for s in seeds)))
    )
    summary["excluded_seeds"] = excluded.reindex(summary.index)
    summary["excluded_seeds"] = summary["excluded_seeds"].apply(lambda seeds: seeds if isinstance(seeds, tuple) else ())
    return summary


def bootstrap_ci(
    samples: Sequence[np.ndarray] | np.ndarray,
    statistic: Callable[..., float] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI (scipy.stats.bootstrap) of `statistic` over one sample or several independent ones."""
    if isinstance(samples, np.ndarray) and samples.ndim == 1:
        samples = (samples,)
    samples = tuple(np.asarray(sample, dtype=float) for sample in samples)
    if any(len(sample) < 2 for sample in samples):
        raise ValueError(f"bootstrap needs at least 2 values per sample, got sizes {[len(s) for s in samples]}")
    result = scipy.stats.bootstrap(
        samples,
        statistic,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def difference_of_means(treated: np.ndarray, control: np.ndarray, axis: int = -1) -> np.ndarray:
    """mean(treated) − mean(control) (vectorised for scipy.stats.bootstrap)."""
    return np.mean(treated, axis=axis) - np.mean(control, axis=axis)


def improvement_over(
    per_run: pd.DataFrame,
    control: str,
    by: str = "space",
    column: str = "column",
    value: str = "spearman",
    exclude: str = "diverged",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per `by` and per other column: mean `value` minus the control's, with a two-sample bootstrap CI over seeds.

    The super-nets of two columns are independent (not paired by seed), so seeds are resampled
    within each column. `within_seed_noise`: the CI contains 0. With 4–5 seeds a percentile
    bootstrap is optimistic (too narrow), so Welch's t-test p-value is given as a second opinion.
    """
    kept = per_run.loc[~per_run[exclude].astype(bool)]
    rows = []
    for (group, treated_column), treated in kept.groupby([by, column], sort=False):
        if treated_column == control:
            continue
        reference = kept.loc[(kept[by] == group) & (kept[column] == control), value].to_numpy()
        values = treated[value].to_numpy()
        low, high = bootstrap_ci((values, reference), difference_of_means, confidence=confidence,
                                 n_resamples=n_resamples, seed=seed)
        rows.append(
            {by: group, column: treated_column, "difference": values.mean() - reference.mean(),
             "ci_low": low, "ci_high": high,
             "welch_p": float(scipy.stats.ttest_ind(values, reference, equal_var=False).pvalue),
             "n_treated": len(values), "n_control": len(reference)}
        )
    result = pd.DataFrame(rows)
    result["within_seed_noise"] = (result["ci_low"] <= 0) & (result["ci_high"] >= 0)
    return result


def relative_improvement(before: pd.Series, after: pd.Series) -> dict[str, float]:
    """Two readings of "after improves on before by X%": the mean of per-item ratios, and the ratio of means."""
    before, after = before.align(after, join="inner")
    per_item = (after - before) / before
    return {
        "mean_of_relative_improvements": float(per_item.mean()),
        "ratio_of_means": float(after.mean() / before.mean() - 1),
        "median_of_relative_improvements": float(per_item.median()),
    }


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Spearman's rho with observation weights: weighted Pearson correlation of weighted mid-ranks.

    With equal weights it equals `scipy.stats.spearmanr`; with integer weights, spearmanr of the
    data with each row repeated that many times.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    weights = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    if not (len(x) == len(y) == len(weights)) or (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError("x, y and weights must have the same length and weights must be finite and ≥ 0")
    rank_x, rank_y = _weighted_ranks(x, weights), _weighted_ranks(y, weights)
    covariance = np.cov(rank_x, rank_y, aweights=weights)
    if covariance[0, 0] * covariance[1, 1] == 0:  # a constant input ranks nothing (e.g. a diverged super-net)
        return float("nan")
    return float(covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1]))


def _weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weight of all smaller values plus half the weight of the ties (mid-rank, shifted by a constant)."""
    unique, inverse = np.unique(values, return_inverse=True)
    tie_weight = np.bincount(inverse, weights=weights, minlength=len(unique))
    below = np.cumsum(tie_weight) - tie_weight
    return (below + tie_weight / 2)[inverse]


def mode_correlations(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Spearman (the paper's statistic) and Kendall tau of proxy vs NB-101 validation accuracy, per mode.

    `spearman_weighted` re-weights the sample by `weight` (see `wsnas.evaluate.evaluation_cells`), estimating the
    Spearman of a uniform sample of the whole space where the known cells are not uniform (A0 and its halves).
    """
    rows = {}
    for mode, group in evaluations.groupby("mode", sort=False):
        if group["proxy_accuracy"].nunique() < 2:  # diverged: no ranking, and no warning from scipy
            rows[mode] = {"cells": len(group), "spearman": np.nan, "spearman_p": np.nan, "spearman_weighted": np.nan,
                          "kendall": np.nan, "kendall_p": np.nan}
            continue
        spearman = scipy.stats.spearmanr(group["proxy_accuracy"], group["nb101_validation_accuracy"])
        kendall = scipy.stats.kendalltau(group["proxy_accuracy"], group["nb101_validation_accuracy"])
        rows[mode] = {"cells": len(group), "spearman": spearman.statistic, "spearman_p": spearman.pvalue,
                      "spearman_weighted": weighted_spearman(group["proxy_accuracy"], group["nb101_validation_accuracy"],
                                                             group["weight"]),
                      "kendall": kendall.statistic, "kendall_p": kendall.pvalue}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("mode")


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (family-wise error; same order as given, NaN left out of the family and kept)."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def noise_ceiling_of_repeats(repeats: pd.DataFrame, by: str = "space") -> pd.DataFrame:
    """How well NB-101 ranks its own cells: the best correlation a proxy can hope for, per `by`.

    `repeats` holds one row per (group, cell) and columns `r0`, `r1`, `r2`: one metric (e.g. final
    validation accuracy) of each NB-101 training repeat. Columns of the result:
    - `repeat_vs_rest`: Spearman of one repeat against the mean of the other two, averaged over
      the three choices of the held-out repeat;
    - `repeat_vs_repeat`: Spearman between two repeats, averaged over the three pairs;
    - `cells`: number of cells.
    """
    names = ["r0", "r1", "r2"]
    missing = [name for name in (by, *names) if name not in repeats]
    if missing:
        raise KeyError(f"columns {missing} are missing; give one column per NB-101 repeat (r0, r1, r2) and {by!r}")

    def ceiling(cells: pd.DataFrame) -> pd.Series:
        values = cells[names].to_numpy()
        held_out = [spearman(values[:, r], np.delete(values, r, axis=1).mean(axis=1)) for r in range(3)]
        pairs = [spearman(values[:, a], values[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))]
        return pd.Series({"cells": len(cells), "repeat_vs_rest": np.mean(held_out), "repeat_vs_repeat": np.mean(pairs)})

    result = repeats.groupby(by, sort=False)[names].apply(ceiling)
    result["cells"] = result["cells"].astype(int)
    return result


def t_interval_over_supernets(per_run: pd.DataFrame, by: Sequence[str], value: str = "spearman",
                              exclude: str = "diverged", confidence: float = 0.95) -> pd.DataFrame:
    """Mean of `value` over the kept runs of each group with a Student-t confidence interval over them."""
    kept = per_run.loc[~per_run[exclude].astype(bool)]

    def interval(values: pd.Series) -> pd.Series:
        values = values.dropna().to_numpy(dtype=float)
        mean = values.mean() if len(values) else np.nan
        if len(values) < 2:
            return pd.Series({"mean": mean, "ci_low": np.nan, "ci_high": np.nan, "n": len(values)})
        low, high = scipy.stats.t.interval(confidence, len(values) - 1, loc=mean, scale=scipy.stats.sem(values))
        return pd.Series({"mean": mean, "ci_low": low, "ci_high": high, "n": len(values)})

    return kept.groupby(list(by), sort=False)[value].apply(interval).unstack()


def cell_bootstrap_ci(
    frame: pd.DataFrame, by: Sequence[str], run: str = "seed", proxy: str = "proxy_accuracy",
    target: str = "mean_validation_accuracy", top_k: Sequence[int] = (10,), confidence: float = 0.95,
    n_resamples: int = 200, seed: int = 0,
) -> pd.DataFrame:
    """Kendall τ and precision@K averaged over the runs of each group, with a percentile CI over the cells.

    Each resample draws, within every run, as many cells as it has with replacement (`resample_indices`, the same
    resamples for every measure), recomputes the measures per run and averages them over the runs of the group.
    One row per (group, measure): mean, ci_low, ci_high.
    """
    measures = {"kendall": kendall_rows, **{f"precision@{k}": partial(precision_at_k_rows, k=k) for k in top_k}}
    rows = []
    for number, (group, runs) in enumerate(frame.groupby(list(by), sort=False)):
        arrays = [(r[proxy].to_numpy(float), r[target].to_numpy(float)) for _, r in runs.groupby(run, sort=True)]
        resamples = [resample_indices(len(x), n_resamples, [seed, number, position]) for position, (x, _) in enumerate(arrays)]
        for name, measure in measures.items():
            point = np.mean([measure(x[None], y[None])[0] for x, y in arrays])
            draws = np.mean([measure(x[index], y[index]) for (x, y), index in zip(arrays, resamples)], axis=0)
            low, high = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
            keys = group if isinstance(group, tuple) else (group,)
            rows.append({**dict(zip(by, keys)), "measure": name, "mean": point, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall τ-b of each row of x with the same row of y (B × n): one scipy call per row (all pairs of every row at
    once would not fit in memory)."""
    return np.array([kendall(row_x, row_y) for row_x, row_y in zip(x, y)])


def precision_at_k_rows(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """`precision_at_k` of each row of x (proxy) with the same row of y (target), B × n, vectorised (same ties)."""
    def top(values: np.ndarray) -> np.ndarray:
        mask = np.zeros(values.shape, dtype=bool)
        np.put_along_axis(mask, np.argsort(-values, axis=-1, kind="stable")[..., :k], True, axis=-1)
        return mask
    return (top(x) & top(y)).sum(axis=-1) / k


# ---------------------------------------------------------------------------------------------
# Spearman over bootstrap resamples of cells, vectorised


def resample_indices(n: int, n_boot: int, seed: int | Sequence[int] = 0) -> np.ndarray:
    """The bootstrap's resamples: `n_boot` rows of `n` indices drawn with replacement (cells, or super-nets)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _row_ranks(values: np.ndarray) -> np.ndarray:
    return scipy.stats.rankdata(values, axis=-1)


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman of each row of x with the same row of y (B × n), vectorised."""
    rx, ry = _row_ranks(x), _row_ranks(y)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))


def spearman_ci(proxy, target, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman ρ over cells; NaNs when no resample has a defined ρ (e.g. every
    proxy equal: an untrained super-net scoring every cell at chance)."""
    x, y = np.asarray(proxy, dtype=float), np.asarray(target, dtype=float)
    resamples = resample_indices(len(x), n_boot, seed)
    values = spearman_rows(x[resamples], y[resamples])
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan"), float("nan")
    return float(np.quantile(values, (1 - confidence) / 2)), float(np.quantile(values, (1 + confidence) / 2))


def spearman_image_noise(proxy_accuracy, target, n_images: int, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Spearman ρ of `n_boot` redraws of each cell's proxy accuracy, Binomial(n_images, accuracy) / n_images:
    the part of ρ's uncertainty that comes from measuring accuracy on a finite set of validation images.
    Independent draws per cell, so it overstates that part a little (all cells see the same images)."""
    p, y = np.asarray(proxy_accuracy, dtype=float), np.asarray(target, dtype=float)
    redrawn = np.random.default_rng(seed).binomial(n_images, np.clip(p, 0, 1), size=(n_boot, len(p))) / n_images
    return spearman_rows(redrawn, np.broadcast_to(y, redrawn.shape).copy())


def spearman_difference_ci(proxy_a, proxy_b, target, n_boot: int = 2000, seed: int = 0,
                           confidence: float = 0.95) -> tuple[float, float, float]:
    """ρ(a, target) − ρ(b, target) for two proxies of the same cells, and its paired percentile bootstrap
    interval (both proxies resampled on the same cells)."""
    a, b, y = (np.asarray(values, dtype=float) for values in (proxy_a, proxy_b, target))
    resamples = resample_indices(len(y), n_boot, seed)
    values = spearman_rows(a[resamples], y[resamples]) - spearman_rows(b[resamples], y[resamples])
    values = values[np.isfinite(values)]
    difference = spearman(a, y) - spearman(b, y)
    return (difference, float(np.quantile(values, (1 - confidence) / 2)),
            float(np.quantile(values, (1 + confidence) / 2)))


# ---------------------------------------------------------------------------------------------
# Tests: the claims' exact Spearman and equivalence tests, the paper's Wilcoxon


EQUIVALENCE_MARGIN = 0.3  # |Spearman| below this counts as "no relation" (two one-sided tests, Fisher z)


def spearman_test(x, y, alternative: str = "two-sided") -> tuple[float, float]:
    """Spearman ρ of two short samples and its exact permutation p-value (all n! pairings, vectorised)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not 3 <= len(x) <= 8 or len(x) != len(y):
        raise ValueError(f"the exact test needs 3 to 8 paired values, got {len(x)} and {len(y)}")
    rank_x, rank_y = scipy.stats.rankdata(x), scipy.stats.rankdata(y)
    pairings = rank_x[np.array(list(itertools.permutations(range(len(x)))))]
    centred_x, centred_y = pairings - pairings.mean(axis=1, keepdims=True), rank_y - rank_y.mean()
    null = centred_x @ centred_y / np.sqrt((centred_x**2).sum(axis=1) * (centred_y**2).sum())
    rho = float(scipy.stats.spearmanr(x, y).statistic)
    tolerance = 1e-12
    p = {"less": np.mean(null <= rho + tolerance), "greater": np.mean(null >= rho - tolerance),
         "two-sided": np.mean(np.abs(null) >= abs(rho) - tolerance)}[alternative]
    return rho, float(p)



def correlation_equivalence_p(rho: float, n: int, margin: float = EQUIVALENCE_MARGIN) -> float:
    """p of two one-sided tests that |ρ| < margin (Fisher z, Bonett–Wright standard error for Spearman)."""
    if n <= 3:
        return 1.0
    se = np.sqrt((1 + rho**2 / 2) / (n - 3))
    z, bound = np.arctanh(np.clip(rho, -0.999999, 0.999999)), np.arctanh(margin)
    return float(max(scipy.stats.norm.sf((z + bound) / se), scipy.stats.norm.cdf((z - bound) / se)))



def wilcoxon_paper(ws, random, zero_method: str = "wilcox", alpha: float = ALPHA) -> tuple[float, str]:
    """The paper's Wilcoxon signed-rank test of paired regrets: (p, direction).

    Normal approximation without continuity correction, one-sided in the direction the data lean
    (half the two-sided p): 5 of 5 pairs one way gives 0.0216. direction: ">" WS regret
    significantly above random's, "<" below, "x" not significant. Pairs with a NaN are dropped;
    if every difference is zero there is nothing to test (p = 1, "x").
    """
    ws, random = np.asarray(ws, dtype=np.float64), np.asarray(random, dtype=np.float64)
    if ws.shape != random.shape or ws.ndim != 1:
        raise ValueError(f"ws and random must be paired 1-D arrays, got shapes {ws.shape} and {random.shape}")
    kept = ~(np.isnan(ws) | np.isnan(random))
    ws, random = ws[kept], random[kept]
    if not np.any(ws != random):
        return 1.0, "x"
    one_sided = {
        side: scipy.stats.wilcoxon(ws, random, zero_method=zero_method, correction=False, alternative=side,
                             method="approx").pvalue
        for side in ("greater", "less")
    }
    side = min(one_sided, key=one_sided.get)
    p = float(one_sided[side])
    return p, ("x" if p >= alpha else (">" if side == "greater" else "<"))



def exact_two_sided_floor(pairs: int) -> float:
    """Smallest p an exact two-sided signed-rank test can give with `pairs` pairs: 2 / 2**pairs."""
    return 2.0 / 2.0**pairs



def attainable_p_values(pairs: int) -> pd.DataFrame:
    """Every one-sided p `wilcoxon_paper` can give with `pairs` pairs and no ties: one row per W+ above its mean.

    The normal approximation without continuity correction takes few values with 4 or 5 pairs;
    columns pairs, W+ (sum of the ranks of the positive differences), one-sided p.
    """
    mean = pairs * (pairs + 1) / 4
    std = np.sqrt(pairs * (pairs + 1) * (2 * pairs + 1) / 24)
    w_plus = np.arange(pairs * (pairs + 1) // 4 + 1, pairs * (pairs + 1) // 2 + 1)
    return pd.DataFrame({"pairs": pairs, "W+": w_plus, "one-sided p": scipy.stats.norm.sf((w_plus - mean) / std)})



RANKING_CHECK_MIN_SPEARMAN = 0.99  # a faster evaluation must rank cells as the plain one does ...
RANKING_CHECK_MAX_RHO_CHANGE = 0.01  # ... and rank them against the truth as well, to this much


def ranking_check(plain: np.ndarray, fast: np.ndarray, truth: np.ndarray) -> dict[str, float | int | bool]:
    """Whether a faster evaluation (`fast` proxy accuracies) keeps the ranking of the plain fp32 one (`plain`) of the
    same cells: Spearman between them >= RANKING_CHECK_MIN_SPEARMAN and their Spearman against `truth` within
    RANKING_CHECK_MAX_RHO_CHANGE; with how many cells' accuracy changed, and by how much at most."""
    plain, fast, truth = (np.asarray(values, dtype=float) for values in (plain, fast, truth))
    result = {"spearman_fast_vs_plain": float(scipy.stats.spearmanr(plain, fast).statistic),
              "spearman_nb101_plain": float(scipy.stats.spearmanr(plain, truth).statistic),
              "spearman_nb101_fast": float(scipy.stats.spearmanr(fast, truth).statistic),
              "max_abs_difference": float(np.abs(plain - fast).max()), "cells_differing": int((plain != fast).sum())}
    result["passes"] = bool(result["spearman_fast_vs_plain"] >= RANKING_CHECK_MIN_SPEARMAN and abs(
        result["spearman_nb101_plain"] - result["spearman_nb101_fast"]) <= RANKING_CHECK_MAX_RHO_CHANGE)
    return result

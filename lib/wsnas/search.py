"""Random search vs weight-sharing-guided search on NAS-Bench-101 (the paper's Section 4.2).

Both searches query the same 1,000 sampled cells of one evaluation run, paying each cell's NB-101
training time. Random search queries them in random order (by default the order in which they were
sampled, which reproduces the paper's TOP-1 column); the WS-guided search first pays the
super-net (4 × the mean training time of the cells) and then queries them by decreasing proxy
accuracy. After each query the incumbent is the queried cell with the best validation accuracy;
the test regret is the best mean test accuracy of the space minus the incumbent's mean test
accuracy. TOP-k: WS trains its k best cells by proxy; random search gets the same time budget.
Table 2 is a one-sided Wilcoxon signed-rank test of the 5 paired TOP-k regrets.

Every ambiguity of that protocol is a field of `Reading`; `READINGS` lists every reading we tried
against the paper's Table 2 (`readings_agreement` scores them) and "default" is the best supported.
The inputs (the released evaluations, with NB-101's per-repeat values) come from `wsnas.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from wsnas.metrics import ALPHA, wilcoxon_paper
from wsnas.reference import TOP_K, load_search_evaluations, paper_table2, with_repeats
from wsnas.space import PAPER_ORDER

DEFAULT_COLUMN = "baseline/bns_ft"

TIE_ORDERS = ("reverse_position", "position", "numpy_quicksort_reversed", "numpy_quicksort_negated")
RANDOM_ORDERS = ("stored", "permutation", "expectation")
SELECTIONS = ("validation", "test")
BEST_OF_SPACE = ("union", "runs")
ZERO_METHODS = ("wilcox", "pratt", "zsplit")
SUPERNET_FACTOR = 4.0  # the paper counts a super-net as 4 NB-101 trainings of the cells it ranks


@dataclass(frozen=True)
class Reading:
    """One reading of the search protocol; the defaults are the best-supported reading."""

    description: str
    column: str = DEFAULT_COLUMN  # evaluation column "variant/mode" whose proxy guides WS
    ties: str = "reverse_position"  # order of cells with equal proxy, see `ws_order`
    random_order: str = "stored"  # stored: sampling order; permutation: one per run; expectation: mean over many
    permutations: int = 200  # for random_order="expectation"
    supernet_factor: float = SUPERNET_FACTOR  # super-net time = factor × mean training time of the run's cells
    budget_includes_supernet: bool = True  # random's TOP-k budget = WS's total time (else WS's training time only)
    running_training_counts: bool = False  # count the random training still running at the budget
    selection: str = "validation"  # how the incumbent is chosen among the queried cells
    repeat: int | None = None  # None: NB-101 means over the 3 repeats; r: repeat r's accuracies and time only
    exclude_diverged: bool = False  # drop runs whose super-net diverged (and their pairs)
    zero_method: str = "wilcox"  # scipy's handling of zero differences in the Wilcoxon test
    best_of_space: str = "union"  # regret offset; cancels in the paired differences, so Table 2 ignores it

    def __post_init__(self) -> None:
        for name, allowed in (
            ("ties", TIE_ORDERS), ("random_order", RANDOM_ORDERS), ("selection", SELECTIONS),
            ("zero_method", ZERO_METHODS), ("best_of_space", BEST_OF_SPACE),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Reading.{name}={getattr(self, name)!r} is unknown: choose one of {', '.join(allowed)}")
        if self.repeat not in (None, 0, 1, 2):
            raise ValueError(f"Reading.repeat must be None (mean of the 3 repeats) or 0, 1, 2, got {self.repeat!r}")


_DEFAULT = Reading("Best supported: stored sampling order for random search, ties in proxy broken by reverse "
                   "sampling position, super-net = 4 × mean time, random budget = WS total, validation selection, "
                   "NB-101 means, all 5 runs, scipy's default zero handling")
READINGS: dict[str, Reading] = {
    "default": _DEFAULT,
    "ties_position": replace(_DEFAULT, ties="position", description="WS ties broken by sampling position (stable sort)"),
    "ties_numpy_quicksort_reversed": replace(
        _DEFAULT, ties="numpy_quicksort_reversed",
        description="WS order = numpy<1.25 argsort(proxy)[::-1] (classic introsort, as in 2020)"),
    "ties_numpy_quicksort_negated": replace(
        _DEFAULT, ties="numpy_quicksort_negated", description="WS order = numpy<1.25 argsort(-proxy)"),
    "random_permutation": replace(
        _DEFAULT, random_order="permutation",
        description="random search = one seeded permutation per run (numpy default_rng(run seed))"),
    "random_expectation": replace(
        _DEFAULT, random_order="expectation",
        description="random regret = its expectation over 200 permutations per run"),
    "supernet_2x": replace(_DEFAULT, supernet_factor=2.0, description="super-net = 2 × mean training time"),
    "supernet_8x": replace(_DEFAULT, supernet_factor=8.0, description="super-net = 8 × mean training time"),
    "budget_without_supernet": replace(
        _DEFAULT, budget_includes_supernet=False,
        description="random's budget = WS's training time of the k cells, without the super-net"),
    "running_training_counts": replace(
        _DEFAULT, running_training_counts=True,
        description="the random training still running at the budget is counted"),
    "selection_test": replace(_DEFAULT, selection="test", description="incumbent = best mean test accuracy (oracle)"),
    "repeat_0": replace(_DEFAULT, repeat=0, description="accuracies and times of NB-101 repeat 0 only"),
    "exclude_diverged": replace(_DEFAULT, exclude_diverged=True, description="runs with a diverged super-net dropped"),
    "zero_pratt": replace(_DEFAULT, zero_method="pratt", description="Wilcoxon zero differences: Pratt"),
    "zero_zsplit": replace(_DEFAULT, zero_method="zsplit", description="Wilcoxon zero differences: split"),
    "best_of_runs": replace(
        _DEFAULT, best_of_space="runs",
        description="best-of-space = best of the column's 5 runs (a constant offset: same Table 2)"),
    "no_ft": replace(_DEFAULT, column="baseline/no_ft", description="WS guided by NO-FT proxies"),
    "single_k": replace(_DEFAULT, column="single_k/bns_ft", description="WS guided by SINGLE-K proxies"),
    "pro_rata": replace(_DEFAULT, column="pro_rata/bns_ft", description="WS guided by PRO-RATA proxies"),
    "avg3": replace(_DEFAULT, column="avg3/bns_ft", description="WS guided by AVG-3 proxies"),
    "single_k+pro_rata": replace(
        _DEFAULT, column="single_k+pro_rata/bns_ft", description="WS guided by S-K + P-R proxies"),
}

EVALUATION_COLUMNS = ("column", "space", "seed", "position", "hash", "proxy_accuracy", "diverged",
                      "mean_validation_accuracy", "mean_test_accuracy", "mean_training_time")


# ---------------------------------------------------------------------------------------------
# Orders and incumbents


def _introsort_argsort(values: np.ndarray) -> np.ndarray:
    """numpy's classic `argsort(kind="quicksort")` (introsort, numpy ≤ 1.24 without AVX-512), tie order included.

    Newer numpy dispatches to SIMD sorts whose order of equal keys differs by machine, so the
    authors' 2020 tie order has to be replayed by hand; checked against numpy 1.24 in the tests.
    """
    v = np.asarray(values, dtype=np.float64).tolist()
    order = list(range(len(v)))
    stack: list[tuple[int, int]] = []
    left, right = 0, len(v) - 1
    while True:
        while right - left > 15:  # numpy's SMALL_QUICKSORT
            middle = left + ((right - left) >> 1)
            if v[order[middle]] < v[order[left]]:
                order[middle], order[left] = order[left], order[middle]
            if v[order[right]] < v[order[middle]]:
                order[right], order[middle] = order[middle], order[right]
            if v[order[middle]] < v[order[left]]:
                order[middle], order[left] = order[left], order[middle]
            pivot = v[order[middle]]
            i, j = left, right - 1
            order[middle], order[j] = order[j], order[middle]
            while True:
                i += 1
                while v[order[i]] < pivot:
                    i += 1
                j -= 1
                while pivot < v[order[j]]:
                    j -= 1
                if i >= j:
                    break
                order[i], order[j] = order[j], order[i]
            order[i], order[right - 1] = order[right - 1], order[i]
            if i - left < right - i:  # continue on the smaller side, stack the larger
                stack.append((i + 1, right))
                right = i - 1
            else:
                stack.append((left, i - 1))
                left = i + 1
        for i in range(left + 1, right + 1):  # insertion sort of the small partition
            moving, key, j = order[i], v[order[i]], i
            while j > left and key < v[order[j - 1]]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = moving
        if not stack:
            return np.array(order, dtype=np.int64)
        left, right = stack.pop()


def ws_order(proxy_accuracy: np.ndarray, ties: str = "reverse_position") -> np.ndarray:
    """Query order of the WS-guided search: decreasing proxy accuracy, equal proxies ordered by `ties`."""
    proxy_accuracy = np.asarray(proxy_accuracy, dtype=np.float64)
    if ties == "reverse_position":  # e.g. np.argsort(proxy, kind="stable")[::-1]
        return np.argsort(proxy_accuracy, kind="stable")[::-1].copy()
    if ties == "position":  # e.g. sorted(..., reverse=True)
        return np.argsort(-proxy_accuracy, kind="stable")
    if ties == "numpy_quicksort_reversed":
        return _introsort_argsort(proxy_accuracy)[::-1].copy()
    if ties == "numpy_quicksort_negated":
        return _introsort_argsort(-proxy_accuracy)
    raise ValueError(f"unknown tie order {ties!r}: choose one of {', '.join(TIE_ORDERS)}")


def incumbent_accuracy(selection_score: np.ndarray, test_accuracy: np.ndarray) -> np.ndarray:
    """Test accuracy of the incumbent after each query: the queried cell of best score (earliest on ties).

    Works on the last axis, so a (permutations × cells) batch runs at once.
    """
    selection_score = np.asarray(selection_score, dtype=np.float64)
    positions = np.broadcast_to(np.arange(selection_score.shape[-1]), selection_score.shape)
    running_best = np.maximum.accumulate(selection_score, axis=-1)
    improves = np.ones(selection_score.shape, dtype=bool)
    improves[..., 1:] = selection_score[..., 1:] > running_best[..., :-1]
    incumbent = np.maximum.accumulate(np.where(improves, positions, 0), axis=-1)
    return np.take_along_axis(np.asarray(test_accuracy, dtype=np.float64), incumbent, axis=-1)


def finished_within(cumulative_time: np.ndarray, budget: float, running_counts: bool = False) -> np.ndarray:
    """Number of trainings done by `budget` (last axis); with `running_counts`, the one running at it counts too."""
    cumulative_time = np.atleast_2d(cumulative_time)
    done = (cumulative_time <= budget).sum(axis=-1)
    if running_counts:
        done = np.minimum(done + 1, cumulative_time.shape[-1])
    return done


# ---------------------------------------------------------------------------------------------
# One run


@dataclass(frozen=True)
class Run:
    """The arrays of one evaluation run (1,000 cells in sampling order) under a reading."""

    proxy: np.ndarray
    selection: np.ndarray
    test: np.ndarray
    time: np.ndarray
    seed: int
    diverged: bool

    @property
    def supernet_time(self) -> float:
        return float(self.time.mean())


def _metric(run: pd.DataFrame, name: str, repeat: int | None) -> np.ndarray:
    column = f"mean_{name}" if repeat is None else f"final_{name}_r{repeat}"
    if column not in run:
        raise KeyError(f"evaluations lack column {column!r}: use `with_repeats(evaluations)` for single-repeat readings")
    return run[column].to_numpy(dtype=np.float64)


def _run_arrays(run: pd.DataFrame, reading: Reading) -> Run:
    run = run.sort_values("position")
    test = _metric(run, "test_accuracy", reading.repeat)
    validation = _metric(run, "validation_accuracy", reading.repeat)
    if np.isnan(test).any() or np.isnan(validation).any():
        raise ValueError("some evaluated cells lack NB-101 metrics: the search needs the full record of every cell")
    return Run(
        proxy=run["proxy_accuracy"].to_numpy(dtype=np.float64),
        selection=validation if reading.selection == "validation" else test,
        test=test,
        time=_metric(run, "training_time", reading.repeat),
        seed=int(run["seed"].iloc[0]),
        diverged=bool(run["diverged"].iloc[0]),
    )


def _random_orders(run: Run, reading: Reading, rng_seed: int) -> np.ndarray:
    """Query orders of the random search (permutations × cells)."""
    n = len(run.time)
    if reading.random_order == "stored":
        return np.arange(n)[None, :]
    rng = np.random.default_rng([rng_seed, run.seed])
    count = 1 if reading.random_order == "permutation" else reading.permutations
    return np.stack([rng.permutation(n) for _ in range(count)])


def _columns_needed(reading: Reading) -> list[str]:
    if reading.repeat is None:
        return list(EVALUATION_COLUMNS)
    return [*EVALUATION_COLUMNS, *(f"final_{m}_r{reading.repeat}" for m in ("validation_accuracy", "test_accuracy",
                                                                              "training_time"))]


def _narrow(evaluations: pd.DataFrame, reading: Reading) -> pd.DataFrame:
    """The columns of the released evaluations that the search reads."""
    missing = [c for c in _columns_needed(reading) if c not in evaluations]
    if missing:
        hint = "use `with_repeats(evaluations)`" if reading.repeat is not None else "pass `wsnas.reference.load_evaluations()`"
        raise KeyError(f"evaluations lack columns {missing}: {hint}")
    return evaluations[_columns_needed(reading)]


def _space_rows(narrow: pd.DataFrame, space: str) -> pd.DataFrame:
    return narrow[narrow["space"].to_numpy() == space]


def _prepare(evaluations: pd.DataFrame, reading: Reading) -> dict[str, tuple[list[Run], float]]:
    """Per Table-2 space: the reading's runs and the regret's reference accuracy."""
    narrow = _narrow(evaluations, reading)
    prepared = {}
    for space in PAPER_ORDER:
        rows = _space_rows(narrow, space)
        prepared[space] = (_select_runs(rows, space, reading), best_test_accuracy(rows, reading))
    return prepared


def _select_runs(rows: pd.DataFrame, space: str, reading: Reading) -> list[Run]:
    """The runs of the reading's column in `rows` (one space), diverged ones dropped if the reading says so."""
    rows = rows[rows["column"].to_numpy() == reading.column]
    if rows.empty:
        raise ValueError(f"no evaluations for column {reading.column!r} in space {space!r}")
    runs = [_run_arrays(run, reading) for _, run in rows.groupby("seed", sort=True)]
    return [run for run in runs if not (reading.exclude_diverged and run.diverged)]


def best_test_accuracy(rows: pd.DataFrame, reading: Reading) -> float:
    """The regret's reference: best test accuracy among the released evaluations of one space (`best_of_space`)."""
    if reading.best_of_space == "runs":
        rows = rows[rows["column"].to_numpy() == reading.column]
    return float(_metric(rows, "test_accuracy", reading.repeat).max())


# ---------------------------------------------------------------------------------------------
# Regret curves and TOP-k


def _resolve(reading: str | Reading, column: str | None = None) -> Reading:
    if isinstance(reading, str):
        if reading not in READINGS:
            raise KeyError(f"unknown reading {reading!r}: choose one of {', '.join(READINGS)}")
        reading = READINGS[reading]
    return reading if column is None else replace(reading, column=column)


def resolve_reading(reading: str | Reading, column: str | None = None) -> Reading:
    """The reading named `reading` (a key of READINGS, or a Reading), its WS guide set to `column` if one is given."""
    return _resolve(reading, column or None)


def regret_curves(
    evaluations: pd.DataFrame, space: str, column: str | None = None, reading: str | Reading = "default",
    rng_seed: int = 0,
) -> pd.DataFrame:
    """Regret after each query, tidy: seed, method (random/ws), query, time (s), regret.

    `column` ("variant/mode") overrides the reading's column (baseline/bns_ft by default).

    With random_order="expectation" the random rows hold one curve per permutation (column
    `permutation`); average them on a time grid with `regret_on_grid`.
    """
    reading = _resolve(reading, column)
    rows = _space_rows(_narrow(evaluations, reading), space)
    best = best_test_accuracy(rows, reading)
    frames = []
    for run in _select_runs(rows, space, reading):
        order = ws_order(run.proxy, reading.ties)
        frames.append(pd.DataFrame({
            "seed": run.seed, "method": "ws", "permutation": 0, "query": np.arange(1, len(order) + 1),
            "time": reading.supernet_factor * run.supernet_time + np.cumsum(run.time[order]),
            "regret": best - incumbent_accuracy(run.selection[order], run.test[order]),
        }))
        orders = _random_orders(run, reading, rng_seed)
        regrets = best - incumbent_accuracy(run.selection[orders], run.test[orders])
        frames.append(pd.DataFrame({
            "seed": run.seed, "method": "random", "permutation": np.repeat(np.arange(len(orders)), orders.shape[1]),
            "query": np.tile(np.arange(1, orders.shape[1] + 1), len(orders)),
            "time": np.cumsum(run.time[orders], axis=-1).ravel(), "regret": regrets.ravel(),
        }))
    return pd.concat(frames, ignore_index=True)


def regret_on_grid(curves: pd.DataFrame, grid: np.ndarray) -> pd.DataFrame:
    """Each (seed, method) step curve read at the times `grid` (NaN before its first training ends), tidy."""
    grid = np.asarray(grid, dtype=np.float64)
    frames = []
    for (seed, method), curve in curves.groupby(["seed", "method"], sort=True):
        values = []
        for _, one in curve.groupby("permutation"):
            done = np.searchsorted(one["time"].to_numpy(), grid, side="right")
            regret = one["regret"].to_numpy()
            values.append(np.where(done > 0, regret[np.maximum(done - 1, 0)], np.nan))
        frames.append(pd.DataFrame({"seed": seed, "method": method, "time": grid, "regret": np.mean(values, axis=0)}))
    return pd.concat(frames, ignore_index=True)


def top_k_regrets(
    evaluations: pd.DataFrame, space: str, k: int, column: str | None = None, reading: str | Reading = "default",
    rng_seed: int = 0,
) -> pd.DataFrame:
    """Per run: WS's regret after training its k best cells, random search's regret within the same budget.

    Columns seed, ws, random, budget (s), random_trained (mean number of random trainings done).
    random is NaN where no random training ends within the budget.
    """
    reading = _resolve(reading, column)
    rows = _space_rows(_narrow(evaluations, reading), space)
    return _top_k(_select_runs(rows, space, reading), k, reading, best_test_accuracy(rows, reading), rng_seed)


def _top_k(runs: list[Run], k: int, reading: Reading, best: float, rng_seed: int) -> pd.DataFrame:
    if not 1 <= k <= min(len(run.time) for run in runs):
        raise ValueError(f"k must be between 1 and the number of evaluated cells, got {k}")
    results = []
    for run in runs:
        order = ws_order(run.proxy, reading.ties)[:k]
        supernet = reading.supernet_factor * run.supernet_time
        ws = best - incumbent_accuracy(run.selection[order], run.test[order])[-1]
        budget = supernet * reading.budget_includes_supernet + run.time[order].sum()
        orders = _random_orders(run, reading, rng_seed)
        done = finished_within(np.cumsum(run.time[orders], axis=-1), budget, reading.running_training_counts)
        incumbents = incumbent_accuracy(run.selection[orders], run.test[orders])
        random = np.where(done > 0, best - incumbents[np.arange(len(orders)), np.maximum(done - 1, 0)], np.nan)
        results.append({"seed": run.seed, "ws": ws, "random": float(np.mean(random)), "budget": budget,
                        "random_trained": float(done.mean())})
    return pd.DataFrame(results)


def search_over_cells(proxy: np.ndarray, validation: np.ndarray, test: np.ndarray, time: np.ndarray, k: int,
                      upfront_factor: float = _DEFAULT.supernet_factor, permutations: int = 200,
                      rng_seed: int = 0, best: float | None = None) -> dict[str, float]:
    """Table 2's TOP-k comparison over any set of cells (e.g. a whole space): training the proxy's k best cells after
    an up-front cost of `upfront_factor` × the cells' mean training time (4: a super-net; 0: a free count), against
    random search with the same total time, its regret the expectation over `permutations` random orders. Regret is
    in test accuracy against `best` (default: the best cell of the set), the incumbent chosen by validation accuracy
    (the default reading). Keys: guided, random, budget, random_trained."""
    reading = replace(_DEFAULT, random_order="expectation", permutations=permutations, supernet_factor=upfront_factor)
    arrays = [np.asarray(values, dtype=np.float64) for values in (proxy, validation, test, time)]
    if len({len(values) for values in arrays}) != 1 or any(np.isnan(values).any() for values in arrays[1:]):
        raise ValueError("proxy, validation, test and time must be arrays of one length, without missing NB-101 metrics")
    run = Run(proxy=arrays[0], selection=arrays[1], test=arrays[2], time=arrays[3], seed=0, diverged=False)
    row = _top_k([run], k, reading, float(arrays[2].max()) if best is None else best, rng_seed).iloc[0]
    return {"guided": float(row["ws"]), "random": float(row["random"]), "budget": float(row["budget"]),
            "random_trained": float(row["random_trained"])}


def top_k_one_run(proxy, validation, test, time, best: float, top_k=TOP_K, permutations: int = 2000,
                  rng_seed: int = 0, upfront_factor: float = _DEFAULT.supernet_factor) -> pd.DataFrame:
    """Table 2's TOP-k comparison for one super-net's cells (in their sampling order), tested against random
    search itself since one run gives no pairs for the paper's Wilcoxon: the default reading (ties in the proxy
    broken by reverse position, the incumbent chosen by validation accuracy, random's budget = the super-net's
    `upfront_factor` × the cells' mean training time + the k trainings, a training running at the budget
    ignored), random search over `permutations` seeded orders. Regret = `best` (the space's reference, shared by
    every run compared) − the incumbent's test accuracy.

    Columns: k, cells, ws (regret), random (mean regret of the orders that finish a training), random_none (share
    of orders that finish none), p (Monte-Carlo: the share of orders at least as good as WS, or at least as bad,
    whichever is rarer, with the +1; an order that finishes nothing counts as worse), direction ("<": WS
    better, ">": worse, "x": p ≥ 0.05)."""
    proxy, validation, test, time = (np.asarray(values, dtype=np.float64) for values in (proxy, validation, test, time))
    if len({len(proxy), len(validation), len(test), len(time)}) != 1:
        raise ValueError("proxy, validation, test and time must be arrays of one length")
    rng = np.random.default_rng(rng_seed)
    orders = np.stack([rng.permutation(len(proxy)) for _ in range(permutations)])
    incumbents = incumbent_accuracy(validation[orders], test[orders])
    cumulative = np.cumsum(time[orders], axis=-1)
    rows = []
    for k in top_k:
        if not 1 <= k <= len(proxy):
            raise ValueError(f"k must be between 1 and the number of cells ({len(proxy)}), got {k}")
        order = ws_order(proxy, _DEFAULT.ties)[:k]
        ws = best - incumbent_accuracy(validation[order], test[order])[-1]
        done = finished_within(cumulative, upfront_factor * time.mean() + time[order].sum())
        random = np.where(done > 0, best - incumbents[np.arange(permutations), np.maximum(done - 1, 0)], np.inf)
        better, worse = ((np.sum(random <= ws) + 1) / (permutations + 1), (np.sum(random >= ws) + 1) / (permutations + 1))
        p = float(min(better, worse))
        rows.append({"k": k, "cells": len(proxy), "ws": ws,
                     "random": float(random[np.isfinite(random)].mean()) if np.isfinite(random).any() else np.nan,
                     "random_none": float(np.mean(done == 0)), "p": p,
                     "direction": "x" if p >= ALPHA else "<" if better < worse else ">"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The test and Table 2


def table2(evaluations: pd.DataFrame | None = None, reading: str | Reading = "default", rng_seed: int = 0) -> pd.DataFrame:
    """Recomputed Table 2: rows = spaces (paper order), columns (top1|top10|top100, p|direction|pairs)."""
    reading = _resolve(reading)
    if evaluations is None:
        evaluations = load_search_evaluations(repeats=reading.repeat is not None)
    return _table2(_prepare(evaluations, reading), reading, rng_seed)


def _table2(prepared: dict[str, tuple[list[Run], float]], reading: Reading, rng_seed: int) -> pd.DataFrame:
    data = {}
    for space, (runs, best) in prepared.items():
        for k in TOP_K:
            regrets = _top_k(runs, k, reading, best, rng_seed)
            p, direction = wilcoxon_paper(regrets["ws"], regrets["random"], reading.zero_method)
            pairs = int((regrets["ws"].notna() & regrets["random"].notna()).sum())
            data[space, f"top{k}"] = {"p": p, "direction": direction, "pairs": pairs}
    table = pd.DataFrame.from_dict(data, orient="index")
    table = table.unstack(level=1).swaplevel(axis=1)
    table.index.name = "space"
    return table.loc[list(PAPER_ORDER), [(f"top{k}", field) for k in TOP_K for field in ("p", "direction", "pairs")]]


def compare_table2(recomputed: pd.DataFrame) -> pd.DataFrame:
    """Paper (`wsnas.reference.paper_table2`) | recomputed per cell; `agrees`: p to 2 decimals and direction equal;
    `conclusion_agrees`: the same conclusion (WS significantly better, worse, or neither: the direction mark)."""
    paper = paper_table2()
    rows = []
    for space in PAPER_ORDER:
        for k in TOP_K:
            paper_p, paper_direction = paper.loc[space, (f"top{k}", "p")], paper.loc[space, (f"top{k}", "direction")]
            p, direction = recomputed.loc[space, (f"top{k}", "p")], recomputed.loc[space, (f"top{k}", "direction")]
            rows.append({"space": space, "top": f"top{k}", "paper_p": paper_p, "paper_direction": paper_direction,
                         "p": float(p), "direction": direction,
                         "agrees": bool(round(float(p), 2) == paper_p and direction == paper_direction),
                         "conclusion_agrees": bool(direction == paper_direction)})
    return pd.DataFrame(rows)


def readings_agreement(evaluations: pd.DataFrame | None = None, readings: dict[str, Reading] | None = None) -> pd.DataFrame:
    """For each reading: how many of the 21 Table-2 cells it reproduces (p to 2 decimals and direction)."""
    readings = READINGS if readings is None else readings
    rows = []
    for name, reading in readings.items():
        frame = evaluations
        if frame is None or (reading.repeat is not None and f"final_test_accuracy_r{reading.repeat}" not in frame):
            frame = load_search_evaluations(repeats=reading.repeat is not None) if frame is None else with_repeats(frame)
        comparison = compare_table2(table2(frame, reading))
        counts = comparison.groupby("top", sort=False)["agrees"].sum()
        rows.append({"reading": name, "description": reading.description, **counts.to_dict(),
                     "total": int(comparison["agrees"].sum())})
    return pd.DataFrame(rows).set_index("reading")


def permutation_agreement(evaluations: pd.DataFrame, rng_seeds: range | list[int]) -> pd.DataFrame:
    """Agreement with the paper when random search uses one fresh permutation per run, for many rng seeds.

    The chance level against which the stored sampling order is judged.
    """
    reading = READINGS["random_permutation"]
    prepared = _prepare(evaluations, reading)
    rows = []
    for rng_seed in rng_seeds:
        comparison = compare_table2(_table2(prepared, reading, rng_seed))
        counts = comparison.groupby("top", sort=False)["agrees"].sum()
        rows.append({"rng_seed": rng_seed, **counts.to_dict(), "total": int(comparison["agrees"].sum())})
    return pd.DataFrame(rows)


def table2_json(reading: str | Reading = "default") -> dict:
    """{space: {"top1": {"p", "direction"}, ...}} for `wsnas reference table2 --json`."""
    table = table2(reading=reading)
    return {space: {f"top{k}": {"p": float(table.loc[space, (f"top{k}", "p")]),
                                "direction": str(table.loc[space, (f"top{k}", "direction")])} for k in TOP_K}
            for space in PAPER_ORDER}


def whole_space_search(wide: pd.DataFrame, guides: dict[str, float], ks: tuple[int, ...] = (1, 10, 100),
                       sample_size: int = 1000, samples: int = 20, permutations: int = 200, seed: int = 0) -> pd.DataFrame:
    """`search_over_cells` guided by each column of `guides` (its up-front factor: 4 a super-net, 0 a free count) over
    every cell of `wide` (`wsnas.results.whole_space_rankers`) and over `samples` uniform samples of `sample_size`
    cells (the paper's 1,000), every regret against the best test accuracy of the whole space. Columns ranker, k,
    cells ("all" or the sample size), guided, random (means over the samples), guided_low, guided_high (their range)."""
    if sample_size >= len(wide):
        raise ValueError(f"samples of {sample_size:,} cells need more than the {len(wide):,} cells given")
    arrays = {name: wide[name].to_numpy(dtype=np.float64) for name in ("validation", "test", "time")}
    best = float(arrays["test"].max())
    draws = [np.random.default_rng([seed, draw]).choice(len(wide), sample_size, replace=False) for draw in range(samples)]
    rows = []
    for ranker, factor in guides.items():
        proxy = wide[ranker].to_numpy(dtype=np.float64)
        for k in ks:
            def over(index):
                return search_over_cells(proxy[index], arrays["validation"][index], arrays["test"][index],
                                         arrays["time"][index], k, factor, permutations, seed, best)
            whole = over(slice(None))
            rows.append({"ranker": ranker, "k": k, "cells": "all", "guided": whole["guided"], "random": whole["random"],
                         "guided_low": whole["guided"], "guided_high": whole["guided"]})
            sampled = pd.DataFrame([over(index) for index in draws])
            rows.append({"ranker": ranker, "k": k, "cells": f"{sample_size:,}", "guided": sampled["guided"].mean(),
                         "random": sampled["random"].mean(), "guided_low": sampled["guided"].min(),
                         "guided_high": sampled["guided"].max()})
    return pd.DataFrame(rows)

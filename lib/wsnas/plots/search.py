"""Figures and tables of the search chapter: the paper's Figure 2 (test regret vs time, with the TOP-k regrets),
the chance level of the random order, and each table with the numbers its text quotes (glue name → value)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from wsnas import metrics, names, reference, search
from wsnas.ours import OUR_BNS_FT, PaperScaleReading
from wsnas.plots import FIGURE_WIDTH
from wsnas.reference import TOP_K
from wsnas.space import PAPER_ORDER

PERCENT = 100.0  # regrets are drawn in percentage points


def time_grid(curves: pd.DataFrame, points: int = 200) -> np.ndarray:
    """Log-spaced times from the first finished training to the last, for averaging step curves."""
    return np.geomspace(curves["time"].min(), curves["time"].max(), points)


def _band(ax: plt.Axes, gridded: pd.DataFrame, method: str, colour, label: str) -> None:
    """Mean over runs (bold) and the runs' range (shaded); zero regrets drawn at a floor for the log axis."""
    wide = gridded[gridded["method"] == method].pivot(index="time", columns="seed", values="regret") * PERCENT
    wide = wide[wide.notna().all(axis=1)]  # only where every run has finished a training
    floor = wide[wide > 0].min().min() / 2
    mean = wide.mean(axis=1)
    ax.plot(mean.index, mean.clip(lower=floor), color=colour, lw=2, label=label)
    ax.fill_between(mean.index, wide.min(axis=1).clip(lower=floor), wide.max(axis=1).clip(lower=floor),
                    color=colour, alpha=0.2, lw=0)


def _log_axis(axis) -> None:
    """Ticks at 1, 2 and 5 times powers of ten, written as plain numbers (0.5, 1, 2); minor ticks unlabelled."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_regret_curves(curves: pd.DataFrame, ax: plt.Axes, space: str, points: int = 200) -> None:
    """One panel of Figure 2: WS-guided (the space's colour) and random (grey) regret vs time, log–log."""
    gridded = search.regret_on_grid(curves, time_grid(curves, points))
    _band(ax, gridded, "random", names.RANDOM_COLOUR, "random search")
    _band(ax, gridded, "ws", names.SPACE_COLOURS[space], "WS-guided search")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=6))
    ax.xaxis.set_minor_formatter(NullFormatter())
    _log_axis(ax.yaxis)
    ax.set_xlabel("time (s of NB-101 training)")
    ax.set_ylabel("test regret (%)")
    ax.text(0.97, 0.95, space, transform=ax.transAxes, ha="right", va="top", fontsize=11, weight="bold")


def plot_top_k(regrets_by_k: dict[int, pd.DataFrame], ax: plt.Axes, space: str) -> None:
    """The TOP-k regrets of Figure 2 in one panel: per k, each run's WS and random regret ('+') with mean ± std."""
    for position, (k, regrets) in enumerate(regrets_by_k.items()):
        for offset, method, colour in ((-0.18, "ws", names.SPACE_COLOURS[space]), (0.18, "random", names.RANDOM_COLOUR)):
            values = regrets[method].to_numpy() * PERCENT
            ax.plot(np.full(len(values), position + offset), values, "+", color=colour, ms=7)
            ax.errorbar(position + offset + 0.08, np.nanmean(values), yerr=np.nanstd(values), fmt="o", color=colour,
                        ms=3.5, capsize=2.5, lw=1)
    ax.set_xticks(range(len(regrets_by_k)), [f"TOP-{k}" for k in regrets_by_k])
    ax.set_xlim(-0.6, len(regrets_by_k) - 0.4)
    ax.set_ylabel("test regret (%)")
    ax.set_ylim(bottom=0)


def figure2(
    evaluations: pd.DataFrame, spaces: tuple[str, ...] = PAPER_ORDER, reading: str | search.Reading = "default",
    points: int = 200,
) -> plt.Figure:
    """The paper's Figure 2: per space, the regret curves of the 5 runs and their TOP-1/10/100 regrets."""
    figure = plt.figure(figsize=(FIGURE_WIDTH, 2.3 * len(spaces) + 0.4), layout="constrained")
    grid = figure.add_gridspec(len(spaces), 2, width_ratios=[1.6, 1])
    for row, space in enumerate(spaces):
        curves = search.regret_curves(evaluations, space, reading=reading)
        plot_regret_curves(curves, figure.add_subplot(grid[row, 0]), space, points)
        regrets = {k: search.top_k_regrets(evaluations, space, k, reading=reading) for k in TOP_K}
        plot_top_k(regrets, figure.add_subplot(grid[row, 1]), space)
    figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=2, frameon=False)
    return figure


def agreement_histogram(chance: pd.DataFrame, stored: int) -> plt.Figure:
    """How many Table-2 cells a fresh random permutation reproduces, against the stored sampling order."""
    figure, ax = plt.subplots(figsize=(FIGURE_WIDTH, 2.6), layout="constrained")
    ax.hist(chance["total"], bins=np.arange(-0.5, 22), color=names.RANDOM_COLOUR, label="fresh permutations")
    ax.axvline(stored, color=names.MODE_COLOURS["bns_ft"], lw=2, label="stored sampling order")
    ax.set_xlabel("Table-2 cells reproduced (of 21)")
    ax.set_ylabel("draws")
    ax.legend(frameon=False)
    return figure


# ---------------------------------------------------------------------------------------------
# The chapter's tables: each function returns glue name → value (the table and the numbers its text quotes)


def supernet_cost_table(evaluations: pd.DataFrame, reading: search.Reading, spaces: Sequence[str]) -> dict[str, Any]:
    """Each released super-net's price in hours of NB-101 training (`tab_search_supernet_cost`), its mean and factor."""
    runs = evaluations[evaluations["column"] == reading.column]
    supernet = reading.supernet_factor * runs.groupby(["space", "seed"])["mean_training_time"].mean()
    hours = (supernet / 3600).unstack("seed").loc[list(spaces)]
    hours.columns = [f"super-net {seed}" for seed in hours.columns]
    return {"supernet_hours": f"{supernet.mean() / 3600:.1f}", "supernet_cells": f"{reading.supernet_factor:g}",
            "tab_supernet_cost": names.readable(hours.rename_axis("super-net cost (hours)"),
                                                default=lambda value: names.decimal(value, 2))}


def table2_tables(evaluations: pd.DataFrame, reading: search.Reading, spaces: Sequence[str]) -> dict[str, Any]:
    """The paper's Table 2 beside its recomputation, Holm-corrected p in brackets and ✗ where they disagree
    (`tab_table2`), and the agreement counts the text quotes (`agree_total` is an int)."""
    comparison = search.compare_table2(search.table2(evaluations, reading))
    comparison["p_holm"] = metrics.holm(comparison["p"])
    differing = comparison.loc[~comparison["conclusion_agrees"]]
    counts = {f"agree_{top}": int(count) for top, count in comparison.groupby("top", sort=False)["agrees"].sum().items()}
    comparison["paper"] = comparison["paper_p"].map("{:.2f}".format) + " " + comparison["paper_direction"]
    comparison["recomputed"] = [f"{names.p_value(p)} {d} ({names.p_value(h)})" + ("" if a else " ✗") for p, d, h, a in
                                zip(comparison["p"], comparison["direction"], comparison["p_holm"], comparison["agrees"])]
    side_by_side = (comparison.assign(top=comparison["top"].map(names.reader))
                    .pivot(index="space", columns="top", values=["paper", "recomputed"]).swaplevel(axis=1))
    side_by_side = side_by_side[[(names.reader(f"top{k}"), field) for k in reference.TOP_K for field in ("paper", "recomputed")]]
    side_by_side.columns.names = [None, None]
    return {"agree_total": int(comparison["agrees"].sum()), "conclusions_total": int(comparison["conclusion_agrees"].sum()),
            "conclusions_differ": " and ".join(f"{space} at {names.reader(top)}" for space, top in
                                               zip(differing["space"], differing["top"])) or "none",
            **counts, "holm_min": names.p_value(comparison["p_holm"].min()), "tab_table2": side_by_side.loc[list(spaces)]}


def attainable_table() -> dict[str, Any]:
    """Every one-sided p the paper's Wilcoxon can give with 5 or 4 non-zero pairs, marked where Table 2 uses it
    (`attainable_table`), and the two floors the text quotes."""
    attainable = pd.concat([metrics.attainable_p_values(n) for n in (5, 4)], ignore_index=True).round({"one-sided p": 4})
    paper_values = set(reference.paper_table2().xs("p", axis=1, level="field").to_numpy().ravel())
    used = attainable["one-sided p"].round(2).isin(sorted(paper_values))
    shown = attainable.assign(**{"one-sided p": attainable["one-sided p"].map(names.p_value),
                                 "in Table 2": used.map({True: "yes", False: ""})})
    return {"exact_floor": f"{metrics.exact_two_sided_floor(5):.4f}",
            "approx_5_of_5": f"{metrics.wilcoxon_paper([1.0, 2, 3, 4, 5], [0.0] * 5)[0]:.4f}",
            "attainable_table": shown.style.hide(axis="index")}


def readings_agreement_table(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Per reading of the protocol (`wsnas.claims.search_tables`), what it changes and the Table 2 cells it reproduces
    per TOP-k (`tab_readings`), and the default's total beside the best other one."""
    rows = []
    for key, table in tables.items():
        counts = search.compare_table2(table).groupby("top", sort=False)["agrees"].sum()
        rows.append({"reading": names.READING_NAMES[key], "what it changes": names.plain(search.READINGS[key].description),
                     **{names.reader(top): int(count) for top, count in counts.items()}, "total": int(counts.sum())})
    readings = pd.DataFrame(rows).set_index("reading")
    default = names.READING_NAMES["default"]
    return {"default_total": int(readings.loc[default, "total"]),
            "best_other_total": int(readings.drop(index=default)["total"].max()),
            "tab_readings": readings.sort_values("total", ascending=False).style.format(na_rep="—")}


def permutation_figure(evaluations: pd.DataFrame, seeds: int, stored: int) -> dict[str, Any]:
    """Table 2 cells reproduced by `seeds` fresh random orders against the stored order's `stored`
    (`fig_permutations`), and the chance level in numbers."""
    chance = search.permutation_agreement(evaluations, range(seeds))
    return {"perm_draws": len(chance), "perm_mean": names.decimal(chance["total"].mean(), 1),
            "perm_max": int(chance["total"].max()), "perm_top1_max": int(chance["top1"].max()),
            "fig_permutations": agreement_histogram(chance, stored)}


def best_of_space_table(evaluations: pd.DataFrame) -> dict[str, Any]:
    """The best test accuracy of each space among sampled and released cells, and the unreleased cells whose run 0 is
    above it (`best_of_space_table`, `wsnas.reference.best_of_space_check`), with the spaces the text names."""
    check = reference.best_of_space_check(evaluations)
    shown = check.drop(columns="cells").rename(columns={
        "released_cells": "released", "best_sampled_in_space": "best sampled", "best_released": "best released",
        "best_released_hash": "hash", "unreleased_run0_above_best": "unreleased above",
        "best_run0_unreleased": "best unreleased (run 0)"})
    shown = names.readable(shown, {"released": names.integer, "hash": names.short_hash, "unreleased above": names.integer},
                           default=lambda value: names.percent(value, 2))
    best = check["best_released"].max()
    return {"bos_exact_spaces": ", ".join(check.index[check["unreleased_run0_above_best"] == 0]) or "none",
            "bos_open_spaces": ", ".join(check.index[check["unreleased_run0_above_best"] > 0]),
            "bos_global_best": f"{100 * best:.2f}", "bos_global_spaces": ", ".join(check.index[check["best_released"] == best]),
            "best_of_space_table": shown}


def ours_search_table(evaluations: pd.DataFrame, ours: PaperScaleReading | None, permutations: int = 2000,
                      column: str = search.DEFAULT_COLUMN) -> dict[str, Any]:
    """The search over each A4 super-net's cells, ours beside the released (`search.top_k_one_run`): WS regret
    against random search's at the same budget for TOP-1, TOP-10 and TOP-100, for each released super-net on its
    1,000 cells (Table 2's setting) and on its first n cells (n = ours: the same number of cells, so the same
    budgets in trainings), and for ours on its n cells (BNS-FT, last batch). Regrets in percentage points against
    one reference, the best mean test accuracy among the released cells of the space and ours.

    Glue: `tab_ours_search`, `ours_search_label`, `ours_search_scale`, ours' cells of each TOP-k
    (`ours_search_top<k>`: 'WS 0.21 vs random 0.35 (p 0.04 <)'), and how many released super-nets on the same number
    of cells WS beats / loses to significantly (`ours_search_released_same`)."""
    if ours is None:
        missing = "No reading of our paper-scale run is complete yet."
        return {"tab_ours_search": pd.DataFrame({"ours": [missing]}), "ours_search_label": "ours (not read yet)",
                "ours_search_scale": missing, "ours_search_released_same": names.UNDEFINED,
                **{f"ours_search_top{k}": names.UNDEFINED for k in TOP_K}}
    reading = search.resolve_reading("default", column)
    space_rows = evaluations[evaluations["space"] == ours.space]
    mine = ours.reading(OUR_BNS_FT)
    best = max(search.best_test_accuracy(space_rows, reading), float(mine["mean_test_accuracy"].max()))
    released = space_rows[space_rows["column"] == column].sort_values("position")
    runs = []
    for seed, run in released.groupby("seed"):
        runs += [("whole", f"released, seed {seed}", run), ("same", f"released, seed {seed}, first {ours.n_cells:,}",
                                                             run.head(ours.n_cells))]
    runs.append(("ours", ours.label, mine))
    tables = []
    for kind, name, run in runs:
        regrets = search.top_k_one_run(run["proxy_accuracy"], run["mean_validation_accuracy"], run["mean_test_accuracy"],
                                       run["mean_training_time"], best, TOP_K, permutations)
        tables.append(regrets.assign(kind=kind, **{"super-net": name}))
    table = pd.concat(tables, ignore_index=True)
    table["text"] = [f"WS {PERCENT * ws:.2f} vs random {PERCENT * random:.2f} (p {names.p_value(p)} {direction})"
                     for ws, random, p, direction in zip(table["ws"], table["random"], table["p"], table["direction"])]
    shown = table.pivot(index="super-net", columns="k", values="text").reindex([name for _, name, _ in runs])
    shown.columns = [names.reader(f"top{k}") for k in shown.columns]
    cells = table.drop_duplicates("super-net").set_index("super-net")["cells"]
    shown.insert(0, "cells", cells.reindex(shown.index).map(names.integer))
    same = table[table["kind"] == "same"]
    ours_rows = table[table["kind"] == "ours"].set_index("k")
    return {"tab_ours_search": shown, "ours_search_label": ours.label, "ours_search_scale": ours.scale,
            **{f"ours_search_top{k}": ours_rows.loc[k, "text"] for k in TOP_K},
            "ours_search_released_same": (f"better than random in {int((same['direction'] == '<').sum())} and worse in "
                                          f"{int((same['direction'] == '>').sum())} of {len(same)} (super-net, TOP-k) comparisons")}

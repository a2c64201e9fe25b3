"""Figures and tables of the whole-space chapter: every cell of A4 ranked by one super-net (`wsnas.results.
whole_space_rankers`), against the sample it was judged on, the true best cells, and the paper's search."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from wsnas import names, results, search
from wsnas.plots import FIGURE_WIDTH, finished
from wsnas.plots.search import PERCENT
from wsnas.space import space_sizes

SHOWN = {"bns_ft": "BNS-FT", "no_ft": "NO-FT", "params": "parameters"}  # the rankers of the recall table and figure
GUIDES = {"bns_ft": search.SUPERNET_FACTOR, "params": 0.0}  # the search's guides and their up-front cost (trainings)
SAMPLE_SIZE = 1000  # the paper's cells per super-net
WHOLE_SPACE_RUN = "A4_baseline_seed0_e81"  # the committed study run whose whole space is ranked


def progress(run: str, wide: pd.DataFrame, space: str) -> dict[str, Any]:
    """How much of `space` run `run` has ranked: `ws_cells` ('10,467 of 10,467 cells'), `ws_known` (how many of them
    NB-101's embedded table knows: the cells every measure below uses), `ws_complete` (bool) and the precision of the
    validation passes (`ws_precision`)."""
    evaluated, size = results.load_whole_space(run)["hash"].nunique(), int(space_sizes()[space])
    precisions = sorted(set(wide["precision"])) if not wide.empty else []
    return {"ws_cells": f"{evaluated:,} of {size:,} cells", "ws_known": f"{len(wide):,}", "ws_complete": evaluated == size,
            "ws_precision": ", ".join(precisions) or names.UNDEFINED}


def correlation_table(wide: pd.DataFrame, sample: pd.Index, run: str = WHOLE_SPACE_RUN) -> dict[str, Any]:
    """Spearman ρ and Kendall τ of each ranker over the whole space beside those over the run's own sample of cells.
    Glue: `tab_ws_correlations`, and ρ over all cells and over the sample for BNS-FT (`ws_rho_bns_ft`,
    `ws_sample_rho_bns_ft`), the parameters (`ws_rho_params`), and BNS-FT's ρ in the run's own committed evaluation
    of its sample (`ws_run_rho_bns_ft`: other BNS-FT batches, its own precision)."""
    summary = results.whole_space_summary(wide, sample).set_index("ranker")
    shown = pd.DataFrame({
        ("all cells", "ρ"): summary["spearman"].map(names.decimal), ("all cells", "τ"): summary["kendall"].map(names.decimal),
        ("run's sample", "ρ"): summary["sample_spearman"].map(names.decimal),
        ("run's sample", "τ"): summary["sample_kendall"].map(names.decimal)}).rename_axis(None)
    shown.columns = pd.MultiIndex.from_tuples(
        [(f"{where} ({int(summary[prefix + 'cells'].iloc[0]):,})", measure)
         for (where, measure), prefix in zip(shown.columns, ("", "", "sample_", "sample_"))])
    return {"tab_ws_correlations": shown, "ws_rho_bns_ft": names.decimal(summary.loc["BNS-FT", "spearman"]),
            "ws_sample_rho_bns_ft": names.decimal(summary.loc["BNS-FT", "sample_spearman"]),
            "ws_rho_params": names.decimal(summary.loc["parameters", "spearman"]),
            "ws_run_rho_bns_ft": names.decimal(results.run_spearman(run, "bns_ft"))}


def recall_table(wide: pd.DataFrame) -> dict[str, Any]:
    """Of the true top 1 %, top 10 and top 100, the share each ranker's top k holds. Glue: `tab_ws_recall`, and the
    share of the true top 100 in BNS-FT's and the parameters' top 1 % (`ws_recall_bns_ft`, `ws_recall_params`)."""
    tables = {SHOWN[ranker]: results.top_recall(wide[ranker], wide["validation"]) for ranker in SHOWN}
    shown = pd.concat(tables, names=["ranker"]).map(lambda share: names.percent(share))
    shown.columns = [f"in its top {column}" for column in shown.columns]
    return {"tab_ws_recall": shown, **{f"ws_recall_{ranker}": names.percent(tables[SHOWN[ranker]].loc["top 100", "1%"])
                                       for ranker in ("bns_ft", "params")}}


def top10_table(wide: pd.DataFrame) -> dict[str, Any]:
    """Where BNS-FT's and the parameters' 10 best cells rank in truth (1 = the best validation accuracy of the space).
    Glue: `tab_ws_top10`, and the best true rank among BNS-FT's 10 (`ws_top10_best_rank`)."""
    rows = {}
    for ranker in ("bns_ft", "params"):
        top = results.true_ranks_of_proxy_top(wide.rename(columns={ranker: "proxy_accuracy",
                                                                    "validation": "mean_validation_accuracy"}), k=10)
        rows[SHOWN[ranker]] = [f"{rank:,} ({names.percent(percentile / 100, 2 if percentile < 1 else 1)})"
                               for rank, percentile in zip(top["true_rank"], top["percentile"])]
        if ranker == "bns_ft":
            best_rank = int(top["true_rank"].min())
    shown = pd.DataFrame(rows, index=pd.RangeIndex(1, 11, name="its rank"))
    return {"tab_ws_top10": shown, "ws_top10_best_rank": f"{best_rank:,}"}


def rank_figure(wide: pd.DataFrame) -> plt.Figure:
    """True rank against each ranker's rank, every cell of the space (1 = best; hexagons count cells)."""
    truth = wide["validation"].rank(ascending=False, method="min")
    figure, axes = plt.subplots(1, len(SHOWN), figsize=(FIGURE_WIDTH, FIGURE_WIDTH / 3 + 0.4), sharey=True)
    for ax, (ranker, name) in zip(axes, SHOWN.items()):
        ranks = wide[ranker].rank(ascending=False, method="min")
        ax.hexbin(ranks, truth, gridsize=30, bins="log", cmap="viridis", mincnt=1)
        ax.set_title(f"{name} (ρ {names.decimal(wide[ranker].corr(wide['validation'], method='spearman'))})")
        ax.set_xlabel(f"rank by {name}")
        ax.invert_xaxis()
        ax.invert_yaxis()
    axes[0].set_ylabel("true rank (NB-101 validation)")
    figure.tight_layout()
    return finished(figure)


def search_table(wide: pd.DataFrame, samples: int = 20, permutations: int = 200) -> dict[str, Any]:
    """The paper's TOP-k search (`search.whole_space_search`) guided by BNS-FT and by the parameter count, over the
    whole space and over 1,000-cell samples (half the ranked cells while fewer than 1,000 are ranked), regrets in percentage points of test accuracy against the space's best.
    Glue: `tab_ws_search`, and each guide's TOP-10 regret over all cells and over the samples, guided and random
    (`ws_search_bns_ft_all`, `ws_search_bns_ft_all_random`, `ws_search_params_sample`, ...)."""
    sample_size = SAMPLE_SIZE if len(wide) > SAMPLE_SIZE else len(wide) // 2  # a partial ranking: half its cells
    table = search.whole_space_search(wide, GUIDES, sample_size=sample_size, samples=samples, permutations=permutations)
    table["ranker"] = table["ranker"].map(SHOWN)
    table["text"] = [f"{_points(guided)} vs {_points(random)}" + (
        "" if cells == "all" else f" ({_points(low)}–{_points(high)})")
        for guided, random, low, high, cells in zip(table["guided"], table["random"], table["guided_low"],
                                                    table["guided_high"], table["cells"])]
    order = pd.MultiIndex.from_tuples(list(dict.fromkeys(zip(table["ranker"], table["cells"]))), names=["ranker", "cells"])
    shown = table.pivot(index=["ranker", "cells"], columns="k", values="text").reindex(order)
    shown.columns = [f"TOP-{k}" for k in shown.columns]
    numbers = {}
    for ranker, key in (("BNS-FT", "bns_ft"), ("parameters", "params")):
        at10 = table[(table["ranker"] == ranker) & (table["k"] == 10)].set_index("cells")
        for cells, where in (("all", at10.loc["all"]), ("sample", at10.drop("all").iloc[0])):
            numbers[f"ws_search_{key}_{cells}"] = _points(where["guided"])
            numbers[f"ws_search_{key}_{cells}_random"] = _points(where["random"])
    return {"tab_ws_search": shown, **numbers}


def _points(regret: float) -> str:
    """A regret in percentage points; "—" where no random order finishes a training within the budget."""
    return names.UNDEFINED if pd.isna(regret) else f"{PERCENT * regret:.2f}"


def run_sample(run: str) -> pd.Index:
    """The hashes of run `run`'s own evaluation cells (its committed evaluations)."""
    return pd.Index(results.load_study().query("run == @run")["hash"].unique())


def answer_line(run: str = WHOLE_SPACE_RUN, space: str = "A4") -> str:
    """The intro's one line on the whole space, from the committed ranking of run `run` (Markdown)."""
    wide = results.whole_space_rankers(run)
    if wide.empty:
        return f"not ranked yet (`wsnas study --run {run} --whole-space`)."
    evaluated, size = results.load_whole_space(run)["hash"].nunique(), int(space_sizes()[space])
    summary = results.whole_space_summary(wide, run_sample(run)).set_index("ranker")
    recall = {ranker: results.top_recall(wide[ranker], wide["validation"]).loc["top 100", "1%"] for ranker in ("bns_ft", "params")}
    scope = f"all {size:,} cells of {space}" if evaluated == size else f"{evaluated:,} of the {size:,} cells of {space} so far"
    return (f"one of our super-nets (the study's 81-epoch A4 run) ranked {scope}: BNS-FT reaches ρ "
            f"{names.decimal(summary.loc['BNS-FT', 'spearman'])} (the parameter count "
            f"{names.decimal(summary.loc['parameters', 'spearman'])}), and its top 1 % holds "
            f"{names.percent(recall['bns_ft'])} of the 100 truly best cells (the parameter count's, "
            f"{names.percent(recall['params'])}).")

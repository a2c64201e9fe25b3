"""Figures and display tables of the ranking and variants chapters (the paper's Table 1)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from wsnas import names
from wsnas.plots import FIGURE_WIDTH
from wsnas.results import CORRECTED_MOMENTUM, PAPERS_MOMENTUM
from wsnas.space import PAPER_ORDER

AGREES, DIFFERS = "✓", "✗"



def table1_display(comparison: pd.DataFrame, columns: Sequence[str], intervals: pd.DataFrame | None = None
                   ) -> pd.DataFrame:
    """Paper | recomputed per space and column, formatted for a page; ✗ marks a cell where the two disagree.

    `comparison` is `wsnas.reference.side_by_side(...)`; a star marks a mean over 4 super-nets.
    `intervals` (`wsnas.metrics.t_interval_over_supernets`, index (space, column)) adds the 95% CI of each
    recomputed mean over the super-nets.
    """
    rows = comparison.loc[(slice(None), list(columns)), :].reset_index()
    rows["paper"] = [names.mean_std(m, s, star) for m, s, star in
                     zip(rows["paper_mean"], rows["paper_std"], rows["paper_starred"])]
    recomputed = []
    for row in rows.itertuples():
        text = names.mean_std(row.recomputed_mean, row.recomputed_std, len(row.excluded_seeds) > 0)
        if intervals is not None:
            ci = intervals.loc[(row.space, row.column)]
            text += f" [{names.rho(ci['ci_low'])}, {names.rho(ci['ci_high'])}]"
        recomputed.append(f"{text} {AGREES if row.agrees else DIFFERS}")
    rows["recomputed"] = recomputed
    rows["column"] = rows["column"].map(names.COLUMN_NAMES)
    wide = rows.pivot(index="space", columns="column", values=["paper", "recomputed"]).swaplevel(axis=1)
    order = pd.MultiIndex.from_product([[names.COLUMN_NAMES[c] for c in columns], ["paper", "recomputed"]])
    wide = wide.reindex(index=[s for s in PAPER_ORDER if s in wide.index], columns=order)
    wide.columns.names = [None, None]
    return wide


def quality_display(intervals: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Kendall τ and precision@K per space (rows) and column × measure, as 'mean [CI]' text."""
    frame = intervals.copy()
    frame["text"] = [names.mean_ci(m, lo, hi) for m, lo, hi in zip(frame["mean"], frame["ci_low"], frame["ci_high"])]
    frame["column"] = frame["column"].map(names.COLUMN_NAMES)
    frame["measure"] = frame["measure"].map(names.reader)
    wide = frame.pivot(index="space", columns=["column", "measure"], values="text")
    measures = list(dict.fromkeys(frame["measure"]))
    order = pd.MultiIndex.from_product([[names.COLUMN_NAMES[c] for c in columns], measures])
    wide = wide.reindex(index=[s for s in PAPER_ORDER if s in wide.index], columns=order)
    wide.columns.names = [None, None]
    return wide


def spearman_by_space(
    per_run: pd.DataFrame, paper: pd.DataFrame, columns: Sequence[str], ax: plt.Axes | None = None
) -> plt.Axes:
    """Per-space Spearman of each super-net (points; diverged ones left out) with the paper's mean (bar)."""
    ax = plt.subplots(figsize=(FIGURE_WIDTH, 4.2))[1] if ax is None else ax
    runs = per_run.loc[per_run["column"].isin(columns) & ~per_run["diverged"].astype(bool)].copy()
    runs["column"] = runs["column"].map(names.COLUMN_NAMES)
    labels = [names.COLUMN_NAMES[column] for column in columns]
    palette = {names.COLUMN_NAMES[column]: names.COLUMN_COLOURS[column] for column in columns}
    order = list(PAPER_ORDER)
    sns.stripplot(data=runs, x="space", y="spearman", hue="column", order=order, hue_order=labels,
                  dodge=True, jitter=0.1, size=5, palette=palette, ax=ax)
    width = 0.8 / len(labels)
    for j, (column, label) in enumerate(zip(columns, labels)):
        offsets = [i - 0.4 + width * (j + 0.5) for i in range(len(order))]
        means = paper.loc[order, (column, "mean")].to_numpy(dtype=float)
        ax.hlines(means, [o - width / 2.5 for o in offsets], [o + width / 2.5 for o in offsets],
                  color=palette[label], lw=2.5)
    ax.plot([], [], color="0.3", lw=2.5, label="paper's mean (bar)")
    ax.set_xlabel("search space")
    ax.set_ylabel("Spearman ρ (proxy vs NB-101 validation)")
    if runs["spearman"].min() < 0.1:  # a zero line only where the data come near it: else it squashes the differences
        ax.axhline(0, color="0.7", lw=0.8)
    ax.legend(ncol=min(4, len(labels) + 1), fontsize=10, frameon=False, loc="lower right")
    return ax


def improvement_display(improvement: pd.DataFrame) -> pd.DataFrame:
    """Difference over the control with its CI and Welch p per space and column, as text; '≈' = within seed noise."""
    frame = improvement.copy()
    frame["column"] = frame["column"].map(names.COLUMN_NAMES)
    frame["text"] = [
        f"{names.mean_ci(d, low, high, signed=True)}{' ≈' if noise else ''}; p {names.p_value(p)}"
        for d, low, high, noise, p in zip(frame["difference"], frame["ci_low"], frame["ci_high"],
                                          frame["within_seed_noise"], frame["welch_p"])
    ]
    wide = frame.pivot(index="space", columns="column", values="text")
    order = [name for name in names.COLUMN_NAMES.values() if name in wide.columns]
    wide = wide.reindex(index=[s for s in PAPER_ORDER if s in wide.index], columns=order)
    wide.columns.name = None
    return wide


def released_accuracy_display(released: pd.DataFrame) -> pd.DataFrame:
    """Mean proxy accuracy of the released baseline super-nets per space (`wsnas.results.released_mean_accuracy`)."""
    shown = released.reindex([s for s in PAPER_ORDER if s in released.index]).rename(columns=names.MODE_NAMES)
    shown.columns.name = None
    return names.readable(shown.T.rename_axis("mean proxy accuracy"), default=lambda v: names.decimal(v, 2))


def bn_readings_display(readings: pd.DataFrame) -> pd.DataFrame:
    """One row per reading of a run's BN statistics (`wsnas.results.bn_readings`): NO-FT Spearman ρ [95% CI],
    Kendall τ and mean proxy accuracy."""
    frame = readings.copy()
    frame["NO-FT Spearman ρ [95% CI]"] = [names.mean_ci(v, lo, hi, signed=True) for v, lo, hi in
                                          zip(frame["spearman"], frame["spearman_low"], frame["spearman_high"])]
    frame = frame.rename(columns={"label": "BN statistics", "kendall": "Kendall τ", "mean_accuracy": "mean proxy accuracy",
                                  "n_cells": "cells"})
    shown = frame.set_index("BN statistics")[["NO-FT Spearman ρ [95% CI]", "Kendall τ", "mean proxy accuracy", "cells"]]
    return names.readable(shown, {"Kendall τ": lambda v: names.decimal(v, 2, True),
                                  "mean proxy accuracy": lambda v: names.decimal(v, 2), "cells": names.integer},
                          rename=False)


def beside_released_display(beside: pd.DataFrame) -> pd.DataFrame:
    """Our paper-scale run's readings beside the paper's row and the released super-nets (`wsnas.results.
    beside_released`): one row per super-net, '—' where a reading does not exist for it."""
    frame = beside.copy()
    frame["BNS-FT ρ, last batch [95% CI]"] = [
        names.rho(v, signed=True) if pd.isna(lo) else names.mean_ci(v, lo, hi, signed=True)
        for v, lo, hi in zip(frame["bns_ft_last"], frame["bns_ft_last_low"], frame["bns_ft_last_high"])]
    frame = frame.rename(columns={"super_net": "super-net", "bns_ft_mean": "BNS-FT ρ, mean of the batches",
                                  "no_ft_papers": f"NO-FT ρ, momentum {PAPERS_MOMENTUM:g}",
                                  "no_ft_papers_accuracy": f"NO-FT mean accuracy, {PAPERS_MOMENTUM:g}",
                                  "no_ft_corrected": f"NO-FT ρ, momentum {CORRECTED_MOMENTUM:g}"})
    shown = frame.set_index("super-net")[["epochs", "cells", "BNS-FT ρ, last batch [95% CI]",
                                          "BNS-FT ρ, mean of the batches", f"NO-FT ρ, momentum {PAPERS_MOMENTUM:g}",
                                          f"NO-FT mean accuracy, {PAPERS_MOMENTUM:g}",
                                          f"NO-FT ρ, momentum {CORRECTED_MOMENTUM:g}", "note"]]
    return names.readable(shown, {"epochs": names.integer, "cells": names.integer,
                                  "BNS-FT ρ, last batch [95% CI]": str, "note": lambda v: v if isinstance(v, str) else "",
                                  f"NO-FT mean accuracy, {PAPERS_MOMENTUM:g}": lambda v: names.decimal(v, 2)},
                          default=lambda v: names.decimal(v, 2, True),
                          rename=False)


PIPELINE_CHECKS = ("smoke", "demo")  # profiles too small to rank cells: their runs check the pipeline, not the claim


def ours_beside_paper_display(beside: pd.DataFrame) -> pd.DataFrame:
    """This build's runs beside the paper's and the recomputed means (`wsnas.ours.ours_beside_paper`); a run of a
    profile in PIPELINE_CHECKS is labelled a pipeline check, not a result."""
    frame = beside.assign(profile=[f"{profile} (pipeline check)" if profile in PIPELINE_CHECKS else profile
                                   for profile in beside["profile"]])
    frame = frame.rename(columns={"ours": "this build's runs", "our_runs": "our super-nets", "cells": "cells per run"})
    return names.readable(frame, {"paper": names.rho, "recomputed": names.rho, "this build's runs": names.rho})

"""Figures and display tables of the ranking and variants chapters (the paper's Table 1)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from wsnas.reference import PAPER_COLUMN_NAMES
from wsnas.space import PAPER_ORDER

AGREES, DIFFERS = "✓", "✗"


def _mean_std(mean: float, std: float, starred: bool = False) -> str:
    return f"{'*' if starred else ''}{mean:.2f} ± {std:.2f}"


def table1_display(comparison: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Paper | recomputed per space and column, as text; ✗ marks a cell where the two disagree.

    `comparison` is `wsnas.reference.side_by_side(...)`; a star marks a mean over 4 super-nets.
    """
    rows = comparison.loc[(slice(None), list(columns)), :].reset_index()
    rows["paper"] = [_mean_std(m, s, star) for m, s, star in zip(rows["paper_mean"], rows["paper_std"], rows["paper_starred"])]
    rows["recomputed"] = [
        _mean_std(m, s, len(excluded) > 0) + f" {AGREES if agrees else DIFFERS}"
        for m, s, excluded, agrees in zip(rows["recomputed_mean"], rows["recomputed_std"], rows["excluded_seeds"], rows["agrees"])
    ]
    rows["column"] = rows["column"].map(PAPER_COLUMN_NAMES)
    wide = rows.pivot(index="space", columns="column", values=["paper", "recomputed"]).swaplevel(axis=1)
    names = [PAPER_COLUMN_NAMES[column] for column in columns]
    order = pd.MultiIndex.from_product([names, ["paper", "recomputed"]])
    return wide.reindex(index=[s for s in PAPER_ORDER if s in wide.index], columns=order)


def spearman_by_space(
    per_run: pd.DataFrame, paper: pd.DataFrame, columns: Sequence[str], ax: plt.Axes | None = None
) -> plt.Axes:
    """Per-space Spearman of each super-net (points; hollow = diverged, left out) with the paper's mean (bar)."""
    ax = plt.subplots(figsize=(9, 4))[1] if ax is None else ax
    runs = per_run.loc[per_run["column"].isin(columns)].copy()
    runs["column"] = runs["column"].map(PAPER_COLUMN_NAMES)
    names = [PAPER_COLUMN_NAMES[column] for column in columns]
    palette = dict(zip(names, sns.color_palette("colorblind", len(names))))
    kept = runs.loc[~runs["diverged"]]
    sns.stripplot(data=kept, x="space", y="spearman", hue="column", order=list(PAPER_ORDER), hue_order=names,
                  dodge=True, jitter=0.1, size=5, palette=palette, ax=ax)
    width = 0.8 / len(names)
    for j, (column, name) in enumerate(zip(columns, names)):
        offsets = [i - 0.4 + width * (j + 0.5) for i in range(len(PAPER_ORDER))]
        means = paper.loc[list(PAPER_ORDER), (column, "mean")].to_numpy(dtype=float)
        ax.hlines(means, [o - width / 2.5 for o in offsets], [o + width / 2.5 for o in offsets],
                  color=palette[name], lw=2.5, label=f"paper's mean ({name})")
    ax.set_xlabel("search space")
    ax.set_ylabel("Spearman (proxy vs NB-101 validation)")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.legend(ncol=2, fontsize="small", frameon=False)
    return ax


def improvement_display(improvement: pd.DataFrame) -> pd.DataFrame:
    """Difference over the control with its CI per space and column, as text; '≈' marks within seed noise."""
    frame = improvement.copy()
    frame["column"] = frame["column"].map(PAPER_COLUMN_NAMES)
    frame["text"] = [
        f"{d:+.3f} [{low:+.3f}, {high:+.3f}]{' ≈' if noise else ''}"
        for d, low, high, noise in zip(frame["difference"], frame["ci_low"], frame["ci_high"], frame["within_seed_noise"])
    ]
    wide = frame.pivot(index="space", columns="column", values="text")
    order = [name for name in PAPER_COLUMN_NAMES.values() if name in wide.columns]
    return wide.reindex(index=[s for s in PAPER_ORDER if s in wide.index], columns=order)

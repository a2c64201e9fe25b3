"""Figures of the bias chapter: the paper's Figures 3 and 4, the supplementary scatter plots,
and the feature effects with their confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.gridspec import GridSpecFromSubplotSpec, SubplotSpec
from matplotlib.ticker import MaxNLocator

from wsnas import names
from wsnas.bias import TRUTH
from wsnas.names import SPACE_COLOURS
from wsnas.plots import FIGURE_WIDTH
from wsnas.space import PAPER_ORDER

PROXY_LABEL = "proxy accuracy (BNS-FT)"
TRUTH_LABEL = "NB-101 mean validation accuracy"


TRUTH_MIN = 0.8  # NB-101 accuracies have a long tail of failed cells; the axes start here
OTHER_COLOUR = "#9E9E9E"  # the cells without the highlighted feature (Figure 4)


def joint_scatter(fig: plt.Figure, spec: SubplotSpec, run: pd.DataFrame, colour, title: str = "",
                  highlight: pd.Series | None = None, highlight_label: str = "",
                  truth_min: float | None = TRUTH_MIN) -> plt.Axes:
    """One scatter of proxy vs NB-101 accuracy of a run, with both marginal densities.

    With `highlight` (a boolean per row of `run`), those cells are drawn darker and get their own
    marginals (each normalised to one); the others are drawn light. Cells with NB-101 accuracy
    below `truth_min` are off the axes, and their number is written on the panel.
    """
    grid = GridSpecFromSubplotSpec(2, 2, subplot_spec=spec, width_ratios=(4, 1), height_ratios=(1, 4),
                                   wspace=0.03, hspace=0.03)
    main = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=main)
    right = fig.add_subplot(grid[1, 1], sharey=main)
    groups = [(run, colour, 0.45, None)] if highlight is None else [
        (run[~highlight.to_numpy()], OTHER_COLOUR, 0.55, f"not {highlight_label}"),
        (run[highlight.to_numpy()], colour, 0.75, highlight_label)]
    for cells, shade, alpha, label in groups:
        main.scatter(cells[TRUTH], cells["proxy_accuracy"], s=5, color=shade, alpha=alpha, lw=0, label=label)
        if len(cells) > 1:
            sns.kdeplot(x=cells[TRUTH], ax=top, color=shade, fill=True, alpha=0.4, lw=0.8, cut=0,
                        warn_singular=False)
            sns.kdeplot(y=cells["proxy_accuracy"], ax=right, color=shade, fill=True, alpha=0.4, lw=0.8, cut=0,
                        warn_singular=False)
    for axis in (top, right):
        axis.set_axis_off()
    main.set_xlim(right=run[TRUTH].max() + 0.01)
    hidden = 0
    if truth_min is not None:
        main.set_xlim(left=truth_min)
        hidden = int((run[TRUTH] < truth_min).sum())
    main.xaxis.set_major_locator(MaxNLocator(3))
    main.yaxis.set_major_locator(MaxNLocator(4))
    main.set_xlabel("")
    main.set_ylabel("")
    if title:
        top.set_title(title + (f"\n({hidden} cells below {truth_min:.2f})" if hidden else ""), fontsize=9)
    return main


def scatter_grid(evaluations: pd.DataFrame, spaces: Sequence[str] = ("A4", "A1", "A0"), supernets: int = 3,
                 column: str = "baseline/bns_ft", panel_height: float = 2.6) -> plt.Figure:
    """A row per space, a column per super-net (the first `supernets` non-diverged seeds), full page width:
    the paper's Figure 3 with the defaults, its supplementary figure with all seven spaces."""
    height = panel_height * len(spaces) + 0.8
    fig = plt.figure(figsize=(FIGURE_WIDTH, height))
    outer = fig.add_gridspec(len(spaces), supernets, wspace=0.28, hspace=0.6, top=1 - 1.0 / height,
                             bottom=0.45 / height, left=0.1, right=0.98)
    for row, space in enumerate(spaces):
        for position, (seed, run) in enumerate(_shown_runs(evaluations, space, column, supernets)):
            main = joint_scatter(fig, outer[row, position], run, SPACE_COLOURS[space], f"{space}, super-net {seed}")
            if position == 0:
                main.set_ylabel("proxy accuracy")
            if row == len(spaces) - 1:
                main.set_xlabel("NB-101 validation acc.")
    fig.suptitle(f"{PROXY_LABEL} against NB-101 validation accuracy, 1,000 cells per super-net", y=1 - 0.2 / height)
    return fig


def figure4(evaluations: pd.DataFrame, features: pd.DataFrame, column: str = "baseline/bns_ft",
            panels: Sequence[tuple[str, int, str]] = (("A1", 0, "input_output_edge"),
                                                      ("A4", 0, "first_vertex_conv3x3"))) -> plt.Figure:
    """The paper's Figure 4: per (space, seed, feature) panel, the cells having the feature in the space's colour,
    the others in grey, each group with its own marginal densities.

    `features` is indexed by hash (`cell_features(...).set_index("hash")`).
    """
    fig = plt.figure(figsize=(FIGURE_WIDTH, 4.6))
    outer = fig.add_gridspec(1, len(panels), wspace=0.3, bottom=0.3, left=0.09, right=0.98, top=0.9)
    for position, (space, seed, feature) in enumerate(panels):
        run = _run(evaluations, space, column, seed)
        has = features.loc[run["hash"], feature].astype(bool).set_axis(run.index)
        label = names.FEATURE_NAMES.get(feature, feature)
        main = joint_scatter(fig, outer[0, position], run, SPACE_COLOURS[space], f"{space}, super-net {seed}",
                             highlight=has, highlight_label=label)
        main.set_xlabel("NB-101 validation accuracy")
        main.set_ylabel(PROXY_LABEL if position == 0 else "")
        main.legend(markerscale=3, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return fig


def effects_plot(effects: pd.DataFrame, spaces: Sequence[str] | None = None, columns: int = 4) -> plt.Figure:
    """Feature effects on the rank residual with their CIs: a panel per space (a grid), a row per feature."""
    spaces = [space for space in (spaces or PAPER_ORDER) if space in set(effects["space"])]
    features = list(dict.fromkeys(effects["feature"]))
    rows = -(-len(spaces) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(FIGURE_WIDTH, 0.2 * len(features) * rows + 1.2),
                             sharey=True, sharex=True, squeeze=False, layout="constrained")
    positions = np.arange(len(features))
    for ax, space in zip(axes.ravel(), spaces):
        shown = effects[effects["space"] == space].set_index("feature").reindex(features)
        error = np.vstack([shown["effect"] - shown["ci_low"], shown["ci_high"] - shown["effect"]])
        ax.errorbar(shown["effect"], positions, xerr=error, fmt="o", ms=3.5, lw=1.2, color=SPACE_COLOURS[space])
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_title(space)
        ax.xaxis.set_major_locator(MaxNLocator(3))
    for ax in axes.ravel()[len(spaces):]:
        ax.set_axis_off()
    axes[0, 0].set_yticks(positions, [names.FEATURE_NAMES.get(f, f) for f in features])
    axes[0, 0].invert_yaxis()
    fig.supxlabel("effect on the rank residual (+: over-evaluated by the super-net)")
    return fig


def _shown_runs(evaluations: pd.DataFrame, space: str, column: str, count: int):
    runs = evaluations[(evaluations["space"] == space) & (evaluations["column"] == column) & ~evaluations["diverged"]]
    seeds = sorted(runs["seed"].unique())[:count]
    if len(seeds) < count:
        raise ValueError(f"{space} has only {len(seeds)} non-diverged super-nets in {column!r}, {count} asked")
    return [(seed, runs[runs["seed"] == seed]) for seed in seeds]


def _run(evaluations: pd.DataFrame, space: str, column: str, seed: int) -> pd.DataFrame:
    run = evaluations[(evaluations["space"] == space) & (evaluations["column"] == column)
                      & (evaluations["seed"] == seed)]
    if run.empty:
        raise KeyError(f"no evaluations for {space}, {column!r}, seed {seed}")
    if run["diverged"].any():
        raise ValueError(f"{space} {column!r} seed {seed} diverged: pick another seed")
    return run

"""Figure of the baselines chapter: ranking quality against cost per cell, one panel per space, Pareto front marked."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from wsnas import baselines, names
from wsnas.plots import FIGURE_WIDTH

KIND_COLOURS = {"count": "#009E73", "zero-cost": "#E69F00", "training": "#0072B2", "ws": "#D55E00"}


def kind_of(row: str) -> str:
    """Which family a row belongs to, for its colour."""
    if row in baselines.COUNTS:
        return "count"
    if row in baselines.ZERO_COST:
        return "zero-cost"
    return "ws" if row == baselines.WS_SAME_CELLS else "training"


def quality_vs_cost(quality: pd.DataFrame, costs: pd.DataFrame, spaces: list[str]) -> plt.Figure:
    """Spearman ρ (with its bootstrap CI) against seconds per ranked cell, log x; the Pareto front joined."""
    columns = 4
    rows = int(np.ceil(len(spaces) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(FIGURE_WIDTH, 2.6 * rows), sharey=True, squeeze=False)
    spearman = quality[(quality["measure"] == "spearman") & (quality["row"] != baselines.NOISE_CEILING)]
    for ax, space in zip(axes.ravel(), spaces):
        points = spearman[spearman["space"] == space].merge(costs[costs["space"] == space], on=["space", "row"])
        for _, point in points.iterrows():
            colour = KIND_COLOURS[kind_of(point["row"])]
            ax.errorbar(point["seconds"], point["value"], yerr=[[point["value"] - point["low"]],
                        [point["high"] - point["value"]]], fmt="o", ms=4, color=colour, elinewidth=0.8)
        front = points[baselines.pareto_front(points["seconds"], points["value"])].sort_values("seconds")
        ax.plot(front["seconds"], front["value"], color="black", lw=1, ls="--")
        for (seconds, value), same in front.groupby(["seconds", "value"], sort=False):  # one label per point
            label = ", ".join(baselines.ROW_NAMES[row] for row in same["row"])
            note = ax.annotate(label, (seconds, value), fontsize=7, xytext=(3, 3), textcoords="offset points",
                               clip_on=True)
            note.set_in_layout(False)  # a long label must not shrink the panel: it is clipped at the panel's edge
        ceiling = quality[(quality["space"] == space) & (quality["row"] == baselines.NOISE_CEILING)
                          & (quality["measure"] == "spearman")]["value"]
        if len(ceiling):
            ax.axhline(float(ceiling.iloc[0]), color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_title(names.SPACE_NAMES.get(space, space), color=names.SPACE_COLOURS.get(space, "black"))
        ax.set_xlabel("seconds per ranked cell")
    for ax in axes[:, 0]:
        ax.set_ylabel("Spearman ρ")
    for ax in axes.ravel()[len(spaces):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour, label=label) for label, colour in
               (("counts (params, FLOPs)", KIND_COLOURS["count"]), ("zero-cost proxies", KIND_COLOURS["zero-cost"]),
                ("NB-101 halfway training", KIND_COLOURS["training"]), ("WS (BNS-FT)", KIND_COLOURS["ws"]))]
    handles += [plt.Line2D([], [], color="black", ls="--", label="Pareto front"),
                plt.Line2D([], [], color="grey", ls=":", label="noise ceiling")]
    spare = axes.ravel()[len(spaces):]
    if len(spare):  # the legend in the first empty panel, else under the panels
        spare[0].legend(handles=handles, loc="center", fontsize=8, frameon=False)
    else:
        figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    return figure

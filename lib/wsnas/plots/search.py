"""Figures of the search chapter: the paper's Figure 2 (test regret vs time, with TOP-k zoom-ins)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from wsnas import search
from wsnas.reference import TOP_K
from wsnas.space import PAPER_ORDER

SPACE_COLOURS = dict(zip(PAPER_ORDER, sns.color_palette("colorblind", len(PAPER_ORDER))))
RANDOM_COLOUR = "0.55"
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


def plot_regret_curves(curves: pd.DataFrame, ax: plt.Axes, space: str, points: int = 200) -> None:
    """One panel of Figure 2: WS-guided (colour) and random (grey) regret vs time, log–log."""
    gridded = search.regret_on_grid(curves, time_grid(curves, points))
    _band(ax, gridded, "random", RANDOM_COLOUR, "random")
    _band(ax, gridded, "ws", SPACE_COLOURS.get(space, "C0"), "WS-guided")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time (s of NB-101 training)")
    ax.set_ylabel("test regret (%)")
    ax.text(0.97, 0.95, space, transform=ax.transAxes, ha="right", va="top", fontsize=11, weight="bold")


def plot_top_k(regrets: pd.DataFrame, ax: plt.Axes, space: str, k: int) -> None:
    """A zoom-in of Figure 2: each run's TOP-k regret as '+' (WS at x=0, random at x=1), mean ± std as error bars."""
    for x, method, colour in ((0, "ws", SPACE_COLOURS.get(space, "C0")), (1, "random", RANDOM_COLOUR)):
        values = regrets[method].to_numpy() * PERCENT
        ax.plot(np.full(len(values), x), values, "+", color=colour, ms=8)
        ax.errorbar(x + 0.2, np.nanmean(values), yerr=np.nanstd(values), fmt="o", color=colour, ms=4, capsize=3)
    ax.set_xlim(-0.5, 1.7)
    ax.set_xticks([0, 1], ["WS", "rand."], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"TOP-{k}", fontsize=8)


def figure2(
    evaluations: pd.DataFrame, spaces: tuple[str, ...] = PAPER_ORDER, reading: str | search.Reading = "default",
    points: int = 200,
) -> plt.Figure:
    """The paper's Figure 2: per space, the regret curves of 5 runs and the TOP-1/10/100 zoom-ins."""
    figure = plt.figure(figsize=(11, 2.6 * len(spaces)), layout="constrained")
    grid = figure.add_gridspec(len(spaces), 6, width_ratios=[1, 1, 1, 0.55, 0.55, 0.55])
    for row, space in enumerate(spaces):
        curves = search.regret_curves(evaluations, space, reading=reading)
        plot_regret_curves(curves, figure.add_subplot(grid[row, :3]), space, points)
        for column, k in enumerate(TOP_K):
            plot_top_k(search.top_k_regrets(evaluations, space, k, reading=reading),
                       figure.add_subplot(grid[row, 3 + column]), space, k)
    figure.axes[0].legend(loc="lower left", fontsize=8)
    return figure

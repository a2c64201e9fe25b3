"""Figures of the search chapter: the paper's Figure 2 (test regret vs time, with the TOP-k regrets)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from wsnas import names, search
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

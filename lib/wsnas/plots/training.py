"""Figures of the chapter "Training a super-net": training curves and proxy vs NB-101 accuracy."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from wsnas import names
from wsnas.names import MODE_COLOURS, MODE_NAMES, VARIANT_NAMES
from wsnas.results import CORRECTED_MOMENTUM, reading_title

MODE_TITLES = {"no_ft": "NO-FT (super-net BN statistics)", "bns_ft": "BNS-FT (BN statistics re-estimated)"}


SCHEDULE_TITLES = {"cosine_per_epoch": "cosine schedule, stepped per epoch", "cosine_per_step": "cosine schedule, per step"}


def training_curves(step_logs: pd.DataFrame, epoch_logs: pd.DataFrame, lr_schedule: str = "cosine_per_epoch") -> Figure:
    """Loss, training accuracy and learning rate against the step, with the epoch means; `lr_schedule` (a profile's
    setting) names the learning-rate panel."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    if step_logs.empty:  # diverged at the first step
        figure.suptitle("no training step was logged")
        return figure
    window = max(1, len(step_logs) // 50)
    # epoch means from the finished epochs only, placed at each epoch's last step
    finished = step_logs[step_logs["epoch"].isin(epoch_logs["epoch"])] if "epoch" in epoch_logs else step_logs.iloc[:0]
    per_epoch = finished.groupby("epoch").agg(step=("step", "max"), loss=("loss", "mean"), accuracy=("accuracy", "mean"))
    for axis, column, label in zip(axes[:2], ("loss", "accuracy"), ("cross-entropy loss", "training accuracy")):
        axis.plot(step_logs["step"], step_logs[column], color="0.75", linewidth=0.8, label="per step")
        axis.plot(step_logs["step"], step_logs[column].rolling(window, min_periods=1).mean(), color="C0",
                  label=f"running mean ({window} steps)")
        axis.plot(per_epoch["step"] + 1, per_epoch[column], "o", color="C1", label="epoch mean")
        axis.set(xlabel="step", ylabel=label)
    axes[1].axhline(0.1, color="C3", linestyle=":", label="chance")
    axes[1].legend(fontsize=10)
    axes[2].plot(step_logs["step"], step_logs["learning_rate"], color="C2")
    axes[2].set(xlabel="step", ylabel="learning rate", title=SCHEDULE_TITLES[lr_schedule])
    return figure


def proxy_scatter(evaluations: pd.DataFrame, correlations: pd.DataFrame) -> Figure:
    """Proxy accuracy (y) against NB-101 mean validation accuracy (x), one panel per evaluation mode."""
    modes = list(evaluations["mode"].unique())
    figure, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 4), squeeze=False, constrained_layout=True)
    for axis, mode in zip(axes[0], modes):
        rows = evaluations[evaluations["mode"] == mode]
        sns.scatterplot(data=rows, x="nb101_validation_accuracy", y="proxy_accuracy", s=14, alpha=0.7, ax=axis,
                        edgecolor="none")
        rho = correlations.loc[mode, "spearman"]
        axis.set(title=f"{MODE_TITLES.get(mode, mode)}\nSpearman {rho:.2f}",
                 xlabel="NB-101 mean validation accuracy", ylabel="proxy accuracy (super-net)")
    return figure


# The reading of the paper-scale run (two sets of BN statistics) set beside each of the study's modes: the study's
# runs trained at momentum 0.003 and read BNS-FT from the last batch, as the profile `paper` does.
PAPER_SCALE_READING = {"no_ft": f"no_ft@{CORRECTED_MOMENTUM:g}", "bns_ft": "bns_ft_last"}


def study_curve(correlations: pd.DataFrame, paper: dict[str, float], paper_scale: pd.DataFrame | None = None) -> Figure:
    """Spearman ρ (with bootstrap 95% CIs) against the training budget, log axis, NO-FT and BNS-FT.

    `correlations` is `wsnas.results.study_correlations()`; the baseline seed-0 runs form the curve, the
    81-epoch run's mid-run checkpoints sit beside it (hollow), other seeds and variants as separate marks;
    `paper` maps a mode to the paper's 432-epoch value, marked at 432 epochs; `paper_scale` (`wsnas.results.
    readings_summary` of the paper-scale run) adds its checkpoints as diamonds.
    """
    figure, axis = plt.subplots(figsize=(10, 4.6), constrained_layout=True)
    for mode_offset, mode in zip((-0.06, 0.06), ("no_ft", "bns_ft")):
        rows = correlations[correlations["mode"] == mode]
        colour, name = MODE_COLOURS[mode], MODE_NAMES[mode]
        groups = {  # label: (points, marker, face colour, offset in decades, so that marks at one budget sit side by side)
            f"{name}, one run per budget": (rows[(rows["variant"] == "baseline") & (rows["seed"] == 0) & (rows["epoch"] == rows["budget"])], "o-", colour, 0),
            f"{name}, mid-run checkpoint of the longest run": (rows[rows["epoch"] < rows["budget"]], "o", "white", 0.025),
            f"{name}, second seed": (rows[(rows["seed"] == 1) & (rows["epoch"] == rows["budget"])], "s", colour, -0.025),
            f"{name}, SINGLE-K": (rows[(rows["variant"] == "single_k") & (rows["epoch"] == rows["budget"])], "^", colour, 0.05),
        }
        for label, (points, style, face, offset) in groups.items():
            if points.empty:
                continue
            points = points.sort_values("epoch")
            axis.errorbar(points["epoch"] * 10 ** (mode_offset + offset), points["spearman"],
                          yerr=[points["spearman"] - points["spearman_low"], points["spearman_high"] - points["spearman"]],
                          fmt=style, color=colour, markerfacecolor=face, capsize=3, label=label)
        if paper_scale is not None and not paper_scale.empty:
            points = paper_scale[paper_scale["reading"] == PAPER_SCALE_READING[mode]].sort_values("epoch")
            if not points.empty:
                axis.errorbar(points["epoch"] * 10 ** (mode_offset - 0.05), points["spearman"],
                              yerr=[points["spearman"] - points["spearman_low"], points["spearman_high"] - points["spearman"]],
                              fmt="D", color=colour, markerfacecolor="white", markeredgewidth=1.5, capsize=3,
                              label=f"{name}, 3 × 3 cells (profile paper), checkpoints of one 432-epoch run")
        if mode in paper:
            axis.plot([432], [paper[mode]], "*", markersize=14, color=colour, label=f"{name}, the paper (432 epochs, 3 × 3 cells)")
    axis.axhline(0, color="0.6", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xticks([3, 9, 27, 81, 432], labels=["3", "9", "27", "81", "432"])
    axis.set(xlabel="training budget (epochs of 40,000 images, log scale)", ylabel="Spearman ρ with NB-101 validation accuracy",
             title="A4 super-nets trained here against their training budget")
    axis.legend(fontsize=10, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def study_training_accuracy(logs: pd.DataFrame) -> Figure:
    """Training accuracy per epoch of every study run, against the epoch (left) and the fraction of its budget (right)."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 3.8), constrained_layout=True)
    for (run, budget), rows in logs.groupby(["run", "budget"], sort=False):
        first = rows.iloc[0]
        label = f"{VARIANT_NAMES[first['variant']]}, seed {first['seed']}, {budget} epochs"
        axes[0].plot(rows["epoch"] + 1, rows["accuracy"], marker=".", label=label)
        axes[1].plot((rows["epoch"] + 1) / budget, rows["accuracy"], marker=".", label=label)
    for axis, xlabel in zip(axes, ("epoch", "fraction of the run's budget")):
        axis.axhline(0.1, color="0.5", linestyle=":", label="chance")
        axis.set(xlabel=xlabel, ylabel="training accuracy (epoch mean)")
    axes[0].set_xscale("log")
    axes[0].set_xticks([1, 3, 9, 27, 81], labels=["1", "3", "9", "27", "81"])
    axes[1].legend(fontsize=10)
    return figure


def progress_beside_study(progress: pd.DataFrame, total_epochs: int, study_logs: pd.DataFrame, study_run: str) -> Figure:
    """Training accuracy per epoch of a run in progress (`wsnas.results.training_progress`) beside a finished study
    run, against the epoch and against the fraction of each run's budget."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 3.8), constrained_layout=True)
    finished = study_logs[study_logs["run"] == study_run]
    budget = int(finished["budget"].iloc[0])
    curves = ((progress, total_epochs, f"3 × 3 cells, {total_epochs} epochs (paper; {len(progress)} done)"),
              (finished, budget, f"3 × 1 cells, {budget} epochs (cpu-study)"))
    for rows, epochs, label in curves:
        axes[0].plot(rows["epoch"] + 1, rows["accuracy"], marker=".", label=label)
        axes[1].plot((rows["epoch"] + 1) / epochs, rows["accuracy"], marker=".", label=label)
    for axis, xlabel in zip(axes, ("epoch", "fraction of the run's budget")):
        axis.axhline(0.1, color="0.5", linestyle=":", label="chance")
        axis.set(xlabel=xlabel, ylabel="training accuracy (epoch mean)")
    axes[1].set_xlim(0, 1)
    axes[1].legend(fontsize=10)
    return figure


def readings_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The readings of a run with two sets of BN statistics (`wsnas.results.readings_summary`): one row per epoch and
    reading, Spearman ρ [95% CI], Kendall τ, mean proxy accuracy and cells."""
    frame = summary.assign(reading=summary["reading"].map(reading_title),
                           ci=[names.mean_ci(v, lo, hi, signed=True) for v, lo, hi in
                               zip(summary["spearman"], summary["spearman_low"], summary["spearman_high"])])
    frame = frame.rename(columns={"epoch": "epoch", "reading": "reading", "ci": "Spearman ρ [95% CI]",
                                  "kendall": "Kendall τ", "mean_accuracy": "mean proxy accuracy", "n_cells": "cells"})
    shown = frame.set_index(["epoch", "reading"])[["Spearman ρ [95% CI]", "Kendall τ", "mean proxy accuracy", "cells"]]
    return names.readable(shown, {"Spearman ρ [95% CI]": str, "Kendall τ": lambda v: names.decimal(v, 2, True),
                                  "mean proxy accuracy": lambda v: names.decimal(v, 2), "cells": names.integer},
                          rename=False)


"""Figures of the chapter "Training a super-net": training curves and proxy vs NB-101 accuracy."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

MODE_TITLES = {"no_ft": "NO-FT (super-net BN statistics)", "bns_ft": "BNS-FT (BN statistics re-estimated)"}


def training_curves(step_logs: pd.DataFrame, epoch_logs: pd.DataFrame) -> Figure:
    """Loss, training accuracy and learning rate against the step, with the epoch means."""
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
    axes[1].legend(fontsize=8)
    axes[2].plot(step_logs["step"], step_logs["learning_rate"], color="C2")
    axes[2].set(xlabel="step", ylabel="learning rate", title="per-step cosine schedule")
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

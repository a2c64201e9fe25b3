"""Figures of the chapter "Training a super-net": training curves and proxy vs NB-101 accuracy."""

from __future__ import annotations

from html import escape

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import HTML, Markdown
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from wsnas import names, results, runs
from wsnas.evaluate import RunOutcome
from wsnas.metrics import mode_correlations
from wsnas.names import MODE_COLOURS, MODE_NAMES, VARIANT_NAMES
from wsnas.plots import FIGURE_WIDTH, finished
from wsnas.protocol import protocol_table
from wsnas.reference import paper_table1
from wsnas.results import CORRECTED_MOMENTUM, reading_title

MODE_TITLES = {"no_ft": "NO-FT (super-net BN statistics)", "bns_ft": "BNS-FT (BN statistics re-estimated)"}


SCHEDULE_TITLES = {"cosine_per_epoch": "cosine schedule, stepped per epoch", "cosine_per_step": "cosine schedule, per step"}


def training_curves(step_logs: pd.DataFrame, epoch_logs: pd.DataFrame, lr_schedule: str = "cosine_per_epoch") -> Figure:
    """Loss, training accuracy and learning rate against the step, with the epoch means; `lr_schedule` (a profile's
    setting) names the learning-rate panel. One legend for the three panels, below them."""
    figure, axes = plt.subplots(1, 3, figsize=(FIGURE_WIDTH, 3.0), constrained_layout=True)
    if step_logs.empty:  # diverged at the first step
        figure.suptitle("no training step was logged")
        return figure
    window = max(1, len(step_logs) // 50)
    # epoch means from the finished epochs only, placed at each epoch's last step
    finished_epochs = step_logs[step_logs["epoch"].isin(epoch_logs["epoch"])] if "epoch" in epoch_logs else step_logs.iloc[:0]
    per_epoch = finished_epochs.groupby("epoch").agg(step=("step", "max"), loss=("loss", "mean"), accuracy=("accuracy", "mean"))
    for axis, column, label in zip(axes[:2], ("loss", "accuracy"), ("cross-entropy loss", "training accuracy")):
        axis.plot(step_logs["step"], step_logs[column], color="0.75", linewidth=0.8, label="per step")
        axis.plot(step_logs["step"], step_logs[column].rolling(window, min_periods=1).mean(), color="C0",
                  label=f"running mean ({window} steps)")
        axis.plot(per_epoch["step"] + 1, per_epoch[column], "o", color="C1", label="epoch mean")
        axis.set(xlabel="step", ylabel=label)
    axes[1].axhline(0.1, color="C3", linestyle=":", label="chance")
    axes[2].plot(step_logs["step"], step_logs["learning_rate"], color="C2")
    axes[2].set(xlabel="step", ylabel="learning rate")
    axes[2].set_title(SCHEDULE_TITLES[lr_schedule], fontsize=9)
    figure.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncol=4, frameon=False)
    return figure


def proxy_scatter(evaluations: pd.DataFrame, correlations: pd.DataFrame) -> Figure:
    """Proxy accuracy (y) against NB-101 mean validation accuracy (x), one panel per evaluation mode."""
    modes = list(evaluations["mode"].unique())
    figure, axes = plt.subplots(1, len(modes), figsize=(FIGURE_WIDTH, 3.6), squeeze=False, constrained_layout=True)
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
    figure, axis = plt.subplots(figsize=(FIGURE_WIDTH, 5.6), constrained_layout=True)
    for mode_offset, mode in zip((-0.06, 0.06), ("no_ft", "bns_ft")):
        rows = correlations[correlations["mode"] == mode]
        colour, name = MODE_COLOURS[mode], MODE_NAMES[mode]
        groups = {  # label: (points, marker, face colour, offset in decades, so that marks at one budget sit side by side)
            f"{name}, one run per budget": (rows[(rows["variant"] == "baseline") & (rows["seed"] == 0) & (rows["epoch"] == rows["budget"])], "o-", colour, 0),
            f"{name}, checkpoint of the longest run": (rows[rows["epoch"] < rows["budget"]], "o", "white", 0.025),
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
                              label=f"{name}, paper-scale run (3 × 3 cells), checkpoints")
        if mode in paper:
            axis.plot([432], [paper[mode]], "*", markersize=14, color=colour, label=f"{name}, the paper (432 epochs, 3 × 3 cells)")
    axis.axhline(0, color="0.6", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xticks([3, 9, 27, 81, 432], labels=["3", "9", "27", "81", "432"])
    axis.set(xlabel="training budget (epochs of 40,000 images, log scale)", ylabel="Spearman ρ with NB-101 validation accuracy",
             title="A4 super-nets trained here against their training budget")
    handles, labels = axis.get_legend_handles_labels()  # NO-FT's column, then BNS-FT's, the paper last in each
    order = sorted(range(len(labels)), key=lambda i: (not labels[i].startswith(MODE_NAMES["no_ft"]), "the paper" in labels[i]))
    figure.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center", ncol=2, frameon=False)
    return figure


def study_training_accuracy(logs: pd.DataFrame) -> Figure:
    """Training accuracy per epoch of every study run, against the epoch (left) and the fraction of its budget (right)."""
    curves = [(rows, budget, f"{VARIANT_NAMES[rows['variant'].iloc[0]]}, seed {rows['seed'].iloc[0]}, {budget} epochs")
              for (_, budget), rows in logs.groupby(["run", "budget"], sort=False)]
    figure, axes = accuracy_against_epoch_and_budget(curves)
    axes[0].set_xscale("log")
    axes[0].set_xticks([1, 3, 9, 27, 81], labels=["1", "3", "9", "27", "81"])
    figure.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    return figure


def accuracy_against_epoch_and_budget(curves: list[tuple[pd.DataFrame, int, str]]) -> tuple[Figure, list]:
    """Training accuracy per epoch of each (epoch log, budget, label), against the epoch (left) and the fraction of
    its budget (right), with chance marked; the legend is left to the caller."""
    figure, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.9), constrained_layout=True)
    for rows, budget, label in curves:
        axes[0].plot(rows["epoch"] + 1, rows["accuracy"], marker=".", label=label)
        axes[1].plot((rows["epoch"] + 1) / budget, rows["accuracy"], marker=".", label=label)
    for axis, xlabel in zip(axes, ("epoch", "fraction of the run's budget")):
        axis.axhline(0.1, color="0.5", linestyle=":", label="chance")
        axis.set(xlabel=xlabel, ylabel="training accuracy (epoch mean)")
    return figure, axes


def progress_beside_study(progress: pd.DataFrame, total_epochs: int, study_logs: pd.DataFrame, study_run: str) -> Figure:
    """Training accuracy per epoch of a run in progress (`wsnas.results.training_progress`) beside a finished study
    run, against the epoch and against the fraction of each run's budget."""
    finished = study_logs[study_logs["run"] == study_run]
    budget = int(finished["budget"].iloc[0])
    done = "" if len(progress) >= total_epochs else f"; {len(progress)} done"
    figure, axes = accuracy_against_epoch_and_budget(
        [(progress, total_epochs, f"3 × 3 cells, {total_epochs} epochs (paper{done})"),
         (finished, budget, f"3 × 1 cells, {budget} epochs (cpu-study)")])
    for precision, first, _, _ in precision_spans(progress)[1:]:
        axes[0].axvline(first, color="0.3", linestyle="--", linewidth=0.8)
        axes[1].axvline(first / total_epochs, color="0.3", linestyle="--", linewidth=0.8,
                        label=f"{precision} from epoch {first}")  # the legend is axes[1]'s
    axes[1].set_xlim(0, 1)
    figure.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    return figure


def precision_spans(progress: pd.DataFrame) -> list[tuple[str, int, int, float]]:
    """The stretches of consecutive epochs a run trained in one precision: (precision, first epoch, last epoch,
    median images per second), epochs counted from 1; more than one when the run switched precision."""
    stretch = progress["trained_in"].ne(progress["trained_in"].shift()).cumsum()
    return [(rows["trained_in"].iloc[0], int(rows["epoch"].min()) + 1, int(rows["epoch"].max()) + 1,
             float(rows["images_per_second"].median())) for _, rows in progress.groupby(stretch)]


def precision_history(progress: pd.DataFrame) -> str:
    """`precision_spans` in words: "bf16 in epochs 1–404 (481 images per second), then fp32 in epochs 405–432 (…)"."""
    return ", then ".join(f"{precision} in epochs {first}–{last} ({speed:,.0f} images per second)"
                          for precision, first, last, speed in precision_spans(progress))


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



PAPER_SPACE = "A4"  # the space of the chapter's study and of the paper's row it is compared with


def paper_means(space: str = PAPER_SPACE) -> dict[str, float]:
    """The paper's Table 1 mean Spearman of the baseline in `space`, per evaluation mode."""
    row = paper_table1().loc[space]
    return {mode: float(row[(f"baseline/{mode}", "mean")]) for mode in MODE_NAMES}


def protocol_display() -> Styler:
    """The protocol three ways (`wsnas.protocol.protocol_table`), with wrapping cells in a smaller font."""
    table = protocol_table().reset_index()
    return table.style.hide(axis="index").set_properties(**{"white-space": "normal", "font-size": "0.85em"})


def run_facts(profile: str, space: str, outcome: RunOutcome) -> dict[str, object]:
    """The glue of the chapter's run: its profile, space, data, steps, epochs, final accuracy and speed."""
    result, status = outcome.result, runs.get_status(outcome.run_dir) or {}
    finished_epochs = len(result.epoch_logs) > 0  # a run can diverge inside its first epoch
    return {
        "run_profile": profile, "run_space": space,
        "run_data": "JPEG q75 CIFAR-10 (embedded copy)" if "JPEG" in status.get("data", "") else "lossless CIFAR-10",
        "train_steps": f"{len(result.step_logs):,}", "train_epochs": len(result.epoch_logs),
        "train_final_accuracy": names.percent(result.epoch_logs["accuracy"].iloc[-1], 1) if finished_epochs else names.UNDEFINED,
        "train_images_per_second": names.integer(result.epoch_logs["images_per_second"].median()) if finished_epochs
        else names.UNDEFINED,
    }


def divergence_note(outcome: RunOutcome) -> Markdown | None:
    """A bold line saying that the run diverged, and why; None when it did not."""
    return Markdown(f"**This run diverged:** {outcome.result.reason}.") if outcome.result.diverged else None


def run_curves(outcome: RunOutcome) -> Figure:
    """`training_curves` of the run's logs, the learning-rate panel named after its schedule."""
    return finished(training_curves(outcome.result.step_logs, outcome.result.epoch_logs, outcome.config.lr_schedule))


RUN_TABLE_COLUMNS = {"cells": "cells", "spearman": "Spearman ρ", "spearman_p": "p (Spearman)", "kendall": "Kendall τ"}


def run_ranking(outcome: RunOutcome) -> dict[str, object]:
    """The glue of how the run ranks its cells: Spearman ρ per mode, the number of cells and the table."""
    if outcome.result.diverged:  # nothing to rank: show what is known (a sweep goes on with the next run)
        table = pd.DataFrame(columns=list(RUN_TABLE_COLUMNS))
        glued = {**{f"spearman_{mode}": names.UNDEFINED for mode in MODE_NAMES}, "eval_cells": 0}
    else:
        table = mode_correlations(outcome.evaluations)[list(RUN_TABLE_COLUMNS)]
        glued = {**{f"spearman_{mode}": names.rho(table.loc[mode, "spearman"]) for mode in table.index},
                 "eval_cells": int(table["cells"].iloc[0])}
    shown = table.rename(index=MODE_NAMES, columns=RUN_TABLE_COLUMNS)
    return {**glued, "tab_run": names.readable(shown, formats={
        "cells": names.integer, "Spearman ρ": names.rho, "p (Spearman)": names.p_value, "Kendall τ": names.rho})}


def run_scatter(outcome: RunOutcome) -> dict[str, object]:
    """The glue of the run's scatter of proxy against NB-101 accuracy, with the paper's means it is read against."""
    paper = {f"paper_{mode}": names.rho(value) for mode, value in paper_means().items()}
    if outcome.evaluations is None:
        return {**paper, "fig_scatter": Markdown("This run has no evaluation to draw.")}
    return {**paper, "fig_scatter": finished(proxy_scatter(outcome.evaluations, mode_correlations(outcome.evaluations)))}


NOT_COMMITTED = Markdown("No study run is committed under `data/study/` yet.")


def study_figure(correlations: pd.DataFrame, paper_scale_run: str = results.PAPER_SCALE_RUN) -> Figure | Markdown:
    """`study_curve` of the study's correlations with the paper's A4 means and the paper-scale run's checkpoints."""
    if correlations.empty:
        return Markdown("No study run is committed under `data/study/` yet: "
                        f"`wsnas study --run {results.STUDY_RUNS[0].name}` trains one.")
    return finished(study_curve(correlations, paper_means(), results.readings_summary(paper_scale_run)))


def evaluations_table(correlations: pd.DataFrame) -> Styler | Markdown:
    """Every evaluation of the study: mode, run, budget, epoch, cells, Spearman ρ [95% CI] and Kendall τ."""
    if correlations.empty:
        return NOT_COMMITTED
    shown = correlations.assign(
        run=correlations["variant"].map(VARIANT_NAMES) + ", seed " + correlations["seed"].astype(str),
        mode=correlations["mode"].map(MODE_NAMES),
        ci=[names.mean_ci(rho, low, high) for rho, low, high in
            zip(correlations["spearman"], correlations["spearman_low"], correlations["spearman_high"])],
    ).sort_values(["mode", "variant", "seed", "budget", "epoch"])
    shown = shown[["mode", "run", "budget", "epoch", "n_cells", "ci", "kendall"]].rename(columns={
        "budget": "budget (epochs)", "epoch": "evaluated at epoch", "n_cells": "cells", "ci": "Spearman ρ [95% CI]",
        "kendall": "Kendall τ"})
    return names.readable(shown, formats={"cells": names.integer, "Kendall τ": names.rho, "budget (epochs)": names.integer,
                                          "evaluated at epoch": names.integer}).style.hide(axis="index")


GLUED_DIFFERENCES = {"d9": "epoch 9 of the 81-epoch run − a 9-epoch run", "d27": "epoch 27 of the 81-epoch run − a 27-epoch run",
                     "d2781": "27 → 81 epochs", "dseed": "seed 1 − seed 0 at 27 epochs"}  # glue name: comparison (BNS-FT)


def differences_tables(differences: pd.DataFrame) -> dict[str, object]:
    """The glue of the study's paired differences (`wsnas.results.comparisons`): the table, and the BNS-FT
    differences that the text quotes."""
    if differences.empty:
        return {"tab_differences": Markdown("Fewer than two study evaluations are committed: nothing to compare yet.")}
    shown = differences.assign(
        mode=differences["mode"].map(MODE_NAMES),
        ci=[names.mean_ci(d, low, high, signed=True) for d, low, high in
            zip(differences["difference"], differences["low"], differences["high"])],
    )[["comparison", "mode", "ci", "n_cells"]].rename(columns={"ci": "Δρ [95% CI]", "n_cells": "cells"})
    rows = differences.set_index(["comparison", "mode"])
    quoted = {key: names.mean_ci(*rows.loc[(comparison, "bns_ft"), ["difference", "low", "high"]], signed=True)
              for key, comparison in GLUED_DIFFERENCES.items()}
    return {"tab_differences": names.readable(shown, formats={"cells": names.integer}).style.hide(axis="index"), **quoted}


def precision_table(precision: pd.DataFrame) -> pd.DataFrame | Markdown:
    """What the study's evaluation size costs (`wsnas.results.evaluation_precision`), one row per mode."""
    if precision.empty:
        return NOT_COMMITTED
    shown = precision.assign(mode=precision["mode"].map(MODE_NAMES)).rename(columns={
        "cells_half_width": "± over cells (95%)", "paper_cells_half_width": "± over 1,000 cells (95%, projected)",
        "images_sd": "standard deviation from the images"})
    return names.readable(shown.set_index("mode"), formats={"cells": names.integer, "images": names.integer},
                          default=names.rho)


def study_accuracy_figure() -> Figure | Markdown:
    """`study_training_accuracy` of the study's committed training logs."""
    logs = results.load_training_logs()
    return NOT_COMMITTED if logs.empty else finished(study_training_accuracy(logs))


def cost_tables() -> dict[str, object]:
    """The glue of what each study run cost (`wsnas.results.study_cost`): the table and the total in words."""
    cost = results.study_cost()
    if cost.empty:
        return {"tab_cost": NOT_COMMITTED, "cost_total": ""}
    total = cost[["training_hours", "evaluation_hours"]].sum()
    shown = cost.assign(run=cost["variant"].map(VARIANT_NAMES) + ", seed " + cost["seed"].astype(str))
    shown = shown[["run", "budget", "steps", "training_hours", "images_per_second", "evaluated_epochs", "evaluation_hours"]]
    table = names.readable(shown.rename(columns={
        "budget": "budget (epochs)", "training_hours": "training (h)", "images_per_second": "images/s",
        "evaluated_epochs": "epochs evaluated", "evaluation_hours": "evaluation (h)"}),
        formats={"run": str, "budget (epochs)": names.integer, "steps": names.integer, "images/s": names.integer,
                 "epochs evaluated": names.integer}, default=names.decimal)
    return {"tab_cost": table.style.hide(axis="index"),
            "cost_total": f"In all: {names.decimal(total.sum(), 1)} CPU-hours, {names.decimal(total['training_hours'], 1)} "
                          f"of training and {names.decimal(total['evaluation_hours'], 1)} of evaluation."}


STUDY_RUN_BESIDE = "A4_baseline_seed0_e81"  # the study run drawn beside the paper-scale run's progress


def progress_summary(paper_scale_run: str = results.PAPER_SCALE_RUN, beside: str = STUDY_RUN_BESIDE) -> dict[str, object]:
    """The glue of the paper-scale run's progress: epochs, hours, precision and speed, accuracy and the figure."""
    progress, _ = results.training_progress(paper_scale_run)
    if progress.empty:
        return {"fig_progress": Markdown(f"The run has not been started yet: `wsnas study --run {paper_scale_run} --train-only`."),
                **{f"paper_run_{key}": names.UNDEFINED for key in ("epochs", "hours", "precision", "accuracy")}}
    total_epochs = results.study_run(paper_scale_run).epochs
    return {"paper_run_epochs": f"all {total_epochs}" if len(progress) == total_epochs else f"{len(progress)} of {total_epochs}",
            "paper_run_hours": f"{progress['seconds'].sum() / 3600:.1f}",
            "paper_run_precision": precision_history(progress),
            "paper_run_accuracy": f"{progress['accuracy'].iloc[-1]:.2f}",
            "fig_progress": finished(progress_beside_study(progress, total_epochs, results.load_training_logs(), beside))}


def readings_table(paper_scale_run: str = results.PAPER_SCALE_RUN) -> pd.DataFrame | Markdown:
    """`readings_display` of the paper-scale run's readings, or the command that makes the first one."""
    read = results.readings_summary(paper_scale_run)
    if read.empty:
        return Markdown(f"No checkpoint is read yet: `wsnas study --run {paper_scale_run} --readings 27`.")
    return readings_display(read)


OPTIMISER_FINDING = ("The paper's protocol is the authors' code: at learning rate 0.2 their RMSprop trains a small super-net, "
                     "the TF-style optimiser that the paper's text describes does not (see above).")


def precision_finding(precision: pd.DataFrame) -> list[str]:
    """What limits the precision of the study's BNS-FT ρ, the cells or the images, in one sentence (none if empty)."""
    if precision.empty:
        return []
    bns = precision.set_index("mode").loc["bns_ft"]
    limit = ("the cells, not the images, limit it." if bns["cells_half_width"] / 1.96 > bns["images_sd"]
             else "the images limit it as much as the cells.")
    return [f"Precision: with {names.integer(bns['cells'])} cells the BNS-FT ρ is known to ±{names.rho(bns['cells_half_width'])} "
            f"(95%), 1,000 cells would give about ±{names.rho(bns['paper_cells_half_width'])}; the "
            f"{names.integer(bns['images'])} validation images add a standard deviation of {names.rho(bns['images_sd'])}, so "
            + limit]


def findings_box(correlations: pd.DataFrame, differences: pd.DataFrame, precision: pd.DataFrame,
                 paper_scale_run: str = results.PAPER_SCALE_RUN) -> HTML:
    """The chapter's findings, as a tip box: the study's, the paper-scale run's, the optimiser's and the precision's."""
    lines = (results.findings(correlations, paper_means()["bns_ft"], differences)
             + results.paper_scale_findings(paper_scale_run) + [OPTIMISER_FINDING] + precision_finding(precision))
    return HTML('<div class="admonition tip"><p class="admonition-title">Findings</p><ul>'
                + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul></div>")


def catalogue_table(results_root: str | None = None) -> Styler | Markdown:
    """The training runs found under the results root: space, variant, seed, profile, epochs and state."""
    catalogue = runs.catalogue(runs.resolve_root(results_root))
    shown = catalogue[catalogue["stage"] == "training"] if len(catalogue) else catalogue
    if not len(shown):
        return Markdown("No training run is found under `results/`.")
    shown = shown.assign(variant=shown["variant"].map(VARIANT_NAMES))[
        [column for column in ["space", "variant", "seed", "profile", "epochs", "state"] if column in shown]]
    return names.readable(shown.reset_index(drop=True)).style.hide(axis="index")

"""Figures and tables of the bias chapter: the paper's Figures 3 and 4, the supplementary scatter plots, the
feature effects with their confidence intervals, and each table with the numbers its text quotes (glue name → value)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.gridspec import GridSpecFromSubplotSpec, SubplotSpec
from matplotlib.ticker import MaxNLocator

from wsnas import bias, claims, names, reference
from wsnas.bias import TRUTH
from wsnas.names import SPACE_COLOURS
from wsnas.ours import OUR_BNS_FT, OUR_READINGS, PaperScaleReading
from wsnas.plots import FIGURE_WIDTH
from wsnas.space import PAPER_ORDER, space_sizes

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
        hidden_text = f"\n({hidden} {'cell' if hidden == 1 else 'cells'} below {truth_min:.2f})" if hidden else ""
        top.set_title(title + hidden_text, fontsize=9)
    return main


def scatter_grid(evaluations: pd.DataFrame, spaces: Sequence[str] = ("A4", "A1", "A0"), supernets: int = 3,
                 column: str = "baseline/bns_ft", panel_height: float = 2.6,
                 ours: PaperScaleReading | None = None) -> plt.Figure:
    """A row per space, a column per super-net (the first `supernets` non-diverged seeds), full page width:
    the paper's Figure 3 with the defaults, its supplementary figure with all seven spaces. With `ours` (our
    paper-scale run's latest reading), a row of ours follows its space's: BNS-FT (last batch), then NO-FT under
    each momentum, each panel naming the epoch and the cells."""
    rows = [(space, None) for space in spaces]
    if ours is not None and ours.space in spaces:
        rows.insert(list(spaces).index(ours.space) + 1, (ours.space, ours))
    height = panel_height * len(rows) + 0.8
    fig = plt.figure(figsize=(FIGURE_WIDTH, height))
    outer = fig.add_gridspec(len(rows), supernets, wspace=0.28, hspace=0.6 if ours is None else 0.75,
                             top=1 - 1.0 / height, bottom=0.45 / height, left=0.1, right=0.98)
    for row, (space, mine) in enumerate(rows):
        panels = (_shown_runs(evaluations, space, column, supernets) if mine is None else
                  [(_our_title(mine, reading), mine.reading(reading)) for reading in OUR_READINGS[:supernets]])
        for position, (seed, run) in enumerate(panels):
            colour = SPACE_COLOURS[space] if mine is None or position == 0 else names.MODE_COLOURS["no_ft"]
            title = f"{space}, super-net {seed}" if mine is None else seed
            main = joint_scatter(fig, outer[row, position], run, colour, title)
            if position == 0:
                main.set_ylabel("proxy accuracy")
            if row == len(rows) - 1:
                main.set_xlabel("NB-101 validation acc.")
    released = f"{PROXY_LABEL} against NB-101 validation accuracy, 1,000 cells per released super-net"
    fig.suptitle(released if ours is None else f"{released};\n{ours.label}: BNS-FT and NO-FT under both momenta",
                 y=1 - 0.2 / height)
    return fig


def _our_title(ours: PaperScaleReading, reading: str) -> str:
    """A panel's title for one reading of our run: the space, ours, the epoch and cells, the reading."""
    shown = "BNS-FT, last batch" if reading == OUR_BNS_FT else f"NO-FT, momentum {reading.removeprefix('no_ft@')}"
    when = f"final epoch {ours.epoch}" if ours.final else f"epoch {ours.epoch}/{ours.epochs}"
    return f"{ours.space}, ours, {when}, {ours.n_cells:,} cells\n{shown}"


def figure4(evaluations: pd.DataFrame, features: pd.DataFrame, column: str = "baseline/bns_ft",
            panels: Sequence[tuple[str, int, str]] = (("A1", 0, "input_output_edge"),
                                                      ("A4", 0, "first_vertex_conv3x3")),
            ours: PaperScaleReading | None = None, ours_feature: str = "first_vertex_conv3x3") -> plt.Figure:
    """The paper's Figure 4: per (space, seed, feature) panel, the cells having the feature in the space's colour,
    the others in grey, each group with its own marginal densities. With `ours` (our paper-scale run's latest
    reading), a last panel shows its BNS-FT cells (last batch) with `ours_feature` highlighted.

    `features` is indexed by hash (`cell_features(...).set_index("hash")`).
    """
    shown = [(space, _run(evaluations, space, column, seed), feature, f"{space}, super-net {seed}")
             for space, seed, feature in panels]
    if ours is not None:
        mine = ours.reading(OUR_BNS_FT)
        features = pd.concat([features, bias.cell_features(mine["hash"].unique()).set_index("hash")])
        features = features[~features.index.duplicated()]
        shown.append((ours.space, mine, ours_feature, _our_title(ours, OUR_BNS_FT)))
    fig = plt.figure(figsize=(FIGURE_WIDTH, 4.6 if ours is None else 4.9))
    outer = fig.add_gridspec(1, len(shown), wspace=0.3, bottom=0.3, left=0.09, right=0.98, top=0.9 if ours is None else 0.86)
    for position, (space, run, feature, title) in enumerate(shown):
        has = features.loc[run["hash"], feature].astype(bool).set_axis(run.index)
        label = names.FEATURE_NAMES.get(feature, feature)
        main = joint_scatter(fig, outer[0, position], run, SPACE_COLOURS[space], title,
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


# ---------------------------------------------------------------------------------------------
# The chapter's tables: each function returns glue name → value (the table and the numbers its text quotes)


def _interval(effect: float, low: float, high: float) -> str:
    """'+0.12 [+0.08, +0.16]'."""
    return names.mean_ci(effect, low, high, signed=True)


def column_summary(features: pd.DataFrame, residuals: pd.DataFrame, column: str) -> dict[str, Any]:
    """What the chapter reads: its column, its usable runs and distinct cells, and the share of cells whose vertex 1
    is a matter of labelling."""
    return {"n_cells": f"{len(features):,}", "n_runs": f"{residuals.groupby(['space', 'seed']).ngroups}",
            "column": names.column_name(column), "ambiguous_share": f"{features['first_vertex_ambiguous'].mean():.0%}"}


def size_tables(evaluations: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """Space sizes beside Table 1's BNS-FT means (`tab_size`), the size test for every column
    (`size_claim_table`, from `wsnas.claims.size_correlations`) and the numbers the text quotes."""
    size_claim = claims.size_correlations(evaluations)
    paper_bns, recomputed_bns = (size_claim.loc[("BNS-FT", means)] for means in ("paper (Table 1)", "recomputed"))
    paper = size_claim.xs("paper (Table 1)", level="means")
    others = paper.drop(index=["BNS-FT", "NO-FT"])["spearman"]
    significant = paper.query("p_value < 0.05").index
    paper_table, recomputed_table = reference.paper_table1(), reference.table1_recomputed(evaluations)
    sizes = pd.concat([pd.Series(space_sizes(), name="cells"),
                       paper_table[("baseline/bns_ft", "mean")].rename("BNS-FT ρ (paper)"),
                       recomputed_table[("baseline/bns_ft", "mean")].rename("BNS-FT ρ (recomputed)")], axis=1).loc[spaces]
    shown = size_claim.reset_index().rename(columns={
        "means": "Table 1 means", "spearman": "Spearman ρ with size", "p_value": "p (t-approximation)",
        "p_value_exact": "p (exact)", "n_spaces": "spaces"})
    shown = names.readable(shown, {"Spearman ρ with size": names.rho, "p (t-approximation)": names.p_value,
                                   "p (exact)": names.p_value, "spaces": names.integer})
    return {
        "size_rho": names.decimal(paper_bns["spearman"], 3), "size_p": names.p_value(paper_bns["p_value"]),
        "size_p_exact": names.p_value(paper_bns["p_value_exact"]),
        "size_rho_recomputed": names.decimal(recomputed_bns["spearman"], 3),
        "size_p_recomputed": names.p_value(recomputed_bns["p_value"]),
        "size_rho_others": f"{names.rho(others.max())} to {names.rho(others.min())}",
        "size_significant": ", ".join(significant) if len(significant) else "none",
        "size_verdict": claims.size_number_verdict(size_claim),
        "tab_size": names.readable(sizes, {"cells": names.integer, "BNS-FT ρ (paper)": names.rho,
                                           "BNS-FT ρ (recomputed)": lambda value: names.decimal(value, 3)}),
        "size_claim_table": shown.style.hide(axis="index")}


QUOTED_EFFECTS = (("A1", "input_output_edge"), ("A4", "first_vertex_conv3x3"), ("A4", "input_output_edge"),
                  ("A3", "input_output_edge"), ("A0", "input_output_edge"), ("A3", "first_vertex_conv3x3"),
                  ("A0-res", "first_vertex_conv3x3"), ("A4", "input_only_conv3x3"), ("A1", "first_vertex_conv3x3"))
NAMED_BIASES = (("A1", "input_output_edge"), ("A4", "first_vertex_conv3x3"))  # the paper's Figure 4


def effect_numbers(effects: pd.DataFrame) -> dict[str, str]:
    """The effects the text quotes (`effect_<space>_<feature>`, mean [95% CI]) and the verdicts on the paper's two
    named biases (`verdict_<space>_<feature>`, `wsnas.claims.effect_verdict`)."""
    effect = effects.set_index(["space", "feature"])
    quoted = {f"effect_{space_name.replace('-', '_')}_{feature}": _interval(*effect.loc[(space_name, feature),
                                                                                       ["effect", "ci_low", "ci_high"]])
              for space_name, feature in QUOTED_EFFECTS}
    verdicts = {f"verdict_{space_name}_{feature}": claims.effect_verdict(effects, space_name, feature)
                for space_name, feature in NAMED_BIASES}
    return {**quoted, **verdicts}


def _marked(row: pd.Series) -> str:
    mark = "‡" if row["p_holm"] < 0.05 else ("†" if row["p_value"] < 0.05 else "")  # Table 1's * marks divergence
    return names.decimal(row["effect"], 2, signed=True) + mark


def effect_tables(effects: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """The effects as feature × space numbers marked † / ‡ (`tab_effects`), and every effect with its interval and
    raw and Holm-corrected p (`effects_long`)."""
    marked = effects.assign(shown=[_marked(row) for _, row in effects.iterrows()])
    table = marked.pivot(index="feature", columns="space", values="shown").reindex(columns=spaces).reindex(list(bias.FEATURES))
    table = table.rename(index=names.FEATURE_NAMES)
    table.index.name, table.columns.name = None, None
    long = effects[["space", "feature", "effect", "ci_low", "ci_high", "p_value", "p_holm", "prevalence"]].copy()
    long["effect [95% CI]"] = [names.mean_ci(m, lo, hi, signed=True) for m, lo, hi in zip(long["effect"], long["ci_low"], long["ci_high"])]
    long = names.readable(long[["space", "feature", "effect [95% CI]", "p_value", "p_holm", "prevalence"]],
                          {"p_value": names.p_value, "p_holm": names.p_value, "prevalence": names.decimal})
    return {"tab_effects": table.fillna(names.UNDEFINED), "effects_long": long.style.hide(axis="index")}


GROUPS_QUOTED = {"on": "3×3 on vertex 1", "elsewhere": "3×3 fed by the input alone, not on vertex 1"}


def group_table(residuals: pd.DataFrame, features: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """Mean rank residual of the three first-vertex groups per space (`tab_groups`), and the A4 and A3 groups the
    text quotes (`group_<space>_<on|elsewhere>`)."""
    groups = bias.residual_by_group(residuals, bias.first_vertex_groups(features))
    by_group = groups.set_index(["space", "group"])
    quoted = {f"group_{space_name}_{key}": _interval(*by_group.loc[(space_name, group), ["mean_residual", "ci_low", "ci_high"]])
              for space_name in ("A4", "A3") for key, group in GROUPS_QUOTED.items()}
    grouped = groups.pivot(index="group", columns="space", values="mean_residual").reindex(columns=spaces)
    grouped.index.name, grouped.columns.name = "mean rank residual of the cells in which...", None
    return {**quoted, "tab_groups": names.readable(grouped, default=lambda value: names.decimal(value, 2, signed=True))}


def explained_table(residuals: pd.DataFrame, features: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """Adjusted R² of the structural features and the residual's spread per space (`tab_explained`), and the
    values the text quotes."""
    explained = (bias.explained_variance(residuals, features).groupby("space")[["adjusted_r2", "residual_std"]]
                 .mean().reindex(spaces))
    others = explained.drop(index=["A0-res", "A4"])["adjusted_r2"]
    spread = explained.drop(index="A0-res")["residual_std"]
    shown = explained.rename(columns={"adjusted_r2": "adjusted R² of the features", "residual_std": "std of the rank residual"})
    return {"r2_A0res": f"{explained.loc['A0-res', 'adjusted_r2']:.2f}", "r2_A4": f"{explained.loc['A4', 'adjusted_r2']:.2f}",
            "r2_range_others": f"{others.min():.2f}–{others.max():.2f}",
            "std_A0res": f"{explained.loc['A0-res', 'residual_std']:.2f}",
            "std_range_others": f"{spread.min():.2f}–{spread.max():.2f}",
            "tab_explained": names.readable(shown, default=names.decimal)}


def feature_quality_table(residuals: pd.DataFrame, features: pd.DataFrame) -> dict[str, Any]:
    """The residual edge and the 3×3 on vertex 1 among all cells, the true top 10 % and the proxy's, with the mean
    accuracy with and without them (`tab_feature_quality`), and the A1 and A4 values the text quotes."""
    quality = pd.concat({
        "residual edge": bias.feature_quality(residuals, features, "input_output_edge"),
        "3×3 on vertex 1": bias.feature_quality(residuals, features, "first_vertex_conv3x3"),
    }, names=["feature"]).reorder_levels(["space", "feature"])
    quoted = {}
    for prefix, row in (("A1_edge", quality.loc[("A1", "residual edge")]), ("A4_conv", quality.loc[("A4", "3×3 on vertex 1")])):
        quoted.update({f"{prefix}_share": f"{row['share']:.0%}", f"{prefix}_top_truth": f"{row['share_top_truth']:.0%}",
                       f"{prefix}_top_proxy": f"{row['share_top_proxy']:.0%}",
                       f"{prefix}_truth": f"{row['truth_with']:.3f} vs {row['truth_without']:.3f}"})
    picked = quality.loc[[("A1", "residual edge"), ("A4", "3×3 on vertex 1"), ("A0", "residual edge"), ("A4", "residual edge")]]
    picked = picked.rename(columns=lambda name: name.replace("_", " "))
    return {**quoted, "tab_feature_quality": names.readable(picked, default=names.decimal)}


def top_quality_table(residuals: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """How good the proxy's top 10 % is in NB-101 terms per space (`tab_top_quality`), and A4's and A1's percentile."""
    top = bias.proxy_top_quality(residuals).reindex(spaces)
    return {"top_percentile_A4": f"{top.loc['A4', 'top_truth_percentile']:.2f}",
            "top_percentile_A1": f"{top.loc['A1', 'top_truth_percentile']:.2f}",
            "tab_top_quality": names.readable(top.rename(columns=lambda name: name.replace("_", " ")), default=names.decimal)}


OURS_BIAS_FEATURES = ("first_vertex_conv3x3", "input_only_conv3x3", "input_output_edge")  # Figure 4's A4 bias first


def ours_bias_table(evaluations: pd.DataFrame, ours: PaperScaleReading | None, n_boot: int,
                    column: str = "baseline/bns_ft", features: Sequence[str] = OURS_BIAS_FEATURES) -> dict[str, Any]:
    """The A4 bias of Figure 4 in each A4 super-net, ours beside the released: the effect of each of `features`
    on the rank residual with a bootstrap 95% interval over the run's cells (`bias.effect_in_one_run`), for each
    released super-net on its 1,000 cells and on its first n cells (n = ours), and for ours (BNS-FT, last batch).
    Glue: `tab_ours_bias`, ours' effect of the first feature (`ours_bias_effect`), the released range on all and
    on the first n cells (`ours_bias_released`, `ours_bias_released_same`), `ours_bias_label`, `ours_bias_scale`."""
    if ours is None:
        missing = "No reading of our paper-scale run is complete yet."
        return {"tab_ours_bias": pd.DataFrame({"ours": [missing]}), "ours_bias_label": "ours (not read yet)", "ours_bias_scale": missing,
                **dict.fromkeys(("ours_bias_effect", "ours_bias_released", "ours_bias_released_same", "ours_bias_present",
                                 "ours_bias_reading"),
                                names.UNDEFINED)}
    released = evaluations[(evaluations["space"] == ours.space) & (evaluations["column"] == column) & ~evaluations["diverged"]]
    mine = ours.reading(OUR_BNS_FT)
    cells = bias.cell_features(pd.concat([released["hash"], mine["hash"]]).unique()).set_index("hash")
    runs = []  # (kind, row name, cells)
    for seed, run in released.sort_values("position").groupby("seed"):
        runs += [("whole", f"released, seed {seed}", run),
                 ("same", f"released, seed {seed}, first {ours.n_cells:,}", run.head(ours.n_cells))]
    runs.append(("ours", ours.label, mine))
    rows, first = [], {"whole": [], "same": [], "ours": []}
    for kind, name, run in runs:
        row = {"super-net": name, "cells": len(run)}
        for feature in features:
            effect = bias.effect_in_one_run(run["proxy_accuracy"], run[TRUTH], cells.loc[run["hash"], feature], n_boot=n_boot)
            row[names.FEATURE_NAMES.get(feature, feature)] = _interval(effect["effect"], effect["low"], effect["high"])
            if feature == features[0]:
                first[kind].append(effect["effect"])
                present = ("present in ours too (its interval lies above 0)" if effect["low"] > 0 else
                           "reversed in ours (its interval lies below 0)" if effect["high"] < 0 else
                           "not detected in ours (its interval contains 0)")
        rows.append(row)
    table = pd.DataFrame(rows).set_index("super-net")
    spread = {kind: f"{names.decimal(min(values), 2, True)} to {names.decimal(max(values), 2, True)}"
              for kind, values in first.items() if kind != "ours"}
    return {"tab_ours_bias": names.readable(table, {"cells": names.integer}, rename=False),
            "ours_bias_effect": rows[-1][names.FEATURE_NAMES.get(features[0], features[0])],
            "ours_bias_released": spread["whole"], "ours_bias_released_same": spread["same"],
            "ours_bias_present": present, "ours_bias_label": ours.label, "ours_bias_scale": ours.scale,
            "ours_bias_reading": (
                "A super-net trained by this book's code, on JPEG-compressed images, shows the same vertex-slot bias: it "
                "does not hinge on the authors' code or images, and goes with sharing weights by vertex position"
                if present.startswith("present") else
                "Here ours and the authors' super-nets differ" + ("" if ours.final else
                                                                   ", and ours is read at a checkpoint, not at its end"))}

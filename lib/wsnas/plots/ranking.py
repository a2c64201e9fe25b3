"""Figures and display tables of the ranking and variants chapters (the paper's Table 1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from wsnas import claims, metrics, names, reference, results
from wsnas.ours import (
    our_correlations,
    ours_beside_paper,
    run_scale,
    study_beside_paper,
    study_variant_beside_paper,
)
from wsnas.plots import FIGURE_WIDTH, finished
from wsnas.profiles import images_seen, load_profile
from wsnas.results import CORRECTED_MOMENTUM, MAIN_PY_MOMENTUM
from wsnas.space import PAPER_ORDER

if TYPE_CHECKING:
    from wsnas.evaluate import RunOutcome

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
    no_ft = {f"no_ft_{name}": f"NO-FT ρ, {momentum:g}" for name, momentum in
             (("corrected", CORRECTED_MOMENTUM), ("main_py", MAIN_PY_MOMENTUM))}
    accuracy = {f"{column}_accuracy": f"NO-FT mean accuracy, {label.split(', ')[1]}" for column, label in no_ft.items()}
    frame = frame.rename(columns={"super_net": "super-net", "bns_ft_mean": "BNS-FT ρ, mean of the batches",
                                  **no_ft, **accuracy})
    shown = frame.set_index("super-net")[["epochs", "cells", "BNS-FT ρ, last batch [95% CI]",
                                          "BNS-FT ρ, mean of the batches",
                                          *(label for pair in zip(no_ft.values(), accuracy.values()) for label in pair),
                                          "note"]]
    return names.readable(shown, {"epochs": names.integer, "cells": names.integer,
                                  "BNS-FT ρ, last batch [95% CI]": str, "note": lambda v: v if isinstance(v, str) else "",
                                  **{label: lambda v: names.decimal(v, 2) for label in accuracy.values()}},
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


@dataclass(frozen=True)
class Released:
    """The authors' released evaluations and what the Table 1 chapters derive from them."""

    evaluations: pd.DataFrame  # every evaluated cell of every released run (`wsnas.reference.load_evaluations`)
    per_run: pd.DataFrame  # Spearman (Kendall τ, precision@K) of each run
    paper: pd.DataFrame  # the paper's Table 1
    comparison: pd.DataFrame  # the paper beside the recomputation, per (space, column)
    duplicates: pd.DataFrame  # runs released twice
    distinct: pd.DataFrame  # per_run with each run released twice counted once
    intervals: pd.DataFrame  # Student t 95% interval of each mean over the distinct super-nets


def load_released(top_k: Sequence[int] = ()) -> Released:
    """The released evaluations with their per-run correlations (precision at each of `top_k`) and Table 1."""
    evaluations = reference.load_evaluations()
    per_run = reference.correlations(evaluations, top_k=tuple(top_k))
    paper = reference.paper_table1()
    duplicates = reference.duplicate_runs(evaluations)
    distinct = claims.distinct_runs(per_run, duplicates)
    return Released(evaluations, per_run, paper, reference.side_by_side(paper, reference.table1_recomputed(evaluations)),
                    duplicates, distinct, metrics.t_interval_over_supernets(distinct, by=["space", "column"]))


STD_TOLERANCE = 0.03  # a recomputed standard deviation agrees with the paper's within this (`reference.side_by_side`)


def table1_facts(released: Released, columns: Sequence[str]) -> dict[str, str]:
    """The glue of the recomputed Table 1 in `columns`: runs and cells released, cells that agree, the largest
    standard-deviation gap, and how the sample standard deviation (ddof 1) would miss the paper's."""
    shown = released.comparison.loc[(slice(None), list(columns)), :]
    sample_std = metrics.summarise_over_supernets(released.per_run, by=["space", "column"], ddof=1)["std"]
    paper_std = released.comparison["paper_std"].reorder_levels(sample_std.index.names)
    sample_miss = (sample_std - paper_std).abs().loc[(slice(None), list(columns))]
    return {"runs": f"{released.evaluations.groupby(reference.RUN_KEYS).ngroups:,}",
            "cells": f"{released.evaluations['hash'].nunique():,}",
            "agree": f"{int(shown['agrees'].sum())} of {len(shown)}",
            "max_std_difference": f"{shown['std_difference'].abs().max():.3f}",
            "sample_std_misses": f"{int((sample_miss > STD_TOLERANCE).sum())} of {len(sample_miss)}",
            "sample_std_max": f"{sample_miss.max():.3f}"}


def released_runs_tables(released: Released) -> dict[str, Styler]:
    """The glue of the released runs that diverged (best and worst proxy) and of those released twice."""
    diverged = reference.diverged_runs(released.evaluations)[["column", "space", "seed", "best_proxy", "worst_proxy"]]
    diverged = names.readable(diverged.rename(columns={"best_proxy": "best proxy", "worst_proxy": "worst proxy"}),
                              {"best proxy": names.percent, "worst proxy": names.percent})
    copies = released.duplicates.assign(column=released.duplicates["column"].map(names.COLUMN_NAMES))
    return {"diverged_table": diverged.style.hide(axis="index"),
            "duplicates_table": copies.rename(columns={"seed_copy": "copy of it"}).style.hide(axis="index")}


def distinct_cells(released: Released, columns: Sequence[str]) -> pd.DataFrame:
    """The evaluated cells of the kept runs of `columns`: diverged runs and the second copy of a run left out."""
    chosen = released.evaluations[released.evaluations["column"].isin(columns) & ~released.evaluations["diverged"]]
    copies = released.duplicates.rename(columns={"seed_copy": "seed", "seed": "original"})
    return chosen.merge(copies, how="left", on=["column", "space", "seed"]).query("original.isna()")


def ranking_quality_tables(released: Released, columns: Sequence[str], top_k: Sequence[int], n_resamples: int
                   ) -> dict[str, object]:
    """The glue of Kendall τ and precision@K with bootstrap intervals over cells, and precision@10 averaged over
    the spaces for the first column (NO-FT) and the last (BNS-FT)."""
    quality = metrics.cell_bootstrap_ci(distinct_cells(released, columns), ["space", "column"], top_k=tuple(top_k),
                                        n_resamples=n_resamples)
    precision10 = quality[quality["measure"] == "precision@10"].groupby("column")["mean"].mean()
    return {"tab_quality": quality_display(quality, columns),
            "precision10_bns": names.decimal(precision10[columns[-1]]),
            "precision10_noft": names.decimal(precision10[columns[0]])}


def ceiling_tables(released: Released, columns: Sequence[str]) -> dict[str, object]:
    """The glue of the noise ceiling per space beside the best recomputed mean ρ of `columns`, and its range."""
    ceiling = reference.noise_ceiling(released.evaluations)
    best = released.comparison["recomputed_mean"].unstack("column")[list(columns)].max(axis=1)
    shown = ceiling.assign(best_proxy_spearman=best.reindex(ceiling.index))
    return {"tab_ceiling": names.readable(shown, {"cells": names.integer}, default=names.rho).rename(
                columns={"best_proxy_spearman": "best proxy above (ρ)"}),
            "ceiling_low": f"{ceiling['repeat_vs_rest'].min():.2f}",
            "ceiling_high": f"{ceiling['repeat_vs_rest'].max():.2f}"}


NO_FT, BNS_FT = "baseline/no_ft", "baseline/bns_ft"


def bns_ft_gains(released: Released) -> pd.DataFrame:
    """BNS-FT's relative gain over NO-FT (`metrics.relative_improvement`), in %, from the paper's means, the
    recomputed ones and the distinct super-nets of the verdict (diverged ones left out), one row each."""
    rows = {}
    for source, table in (("paper", released.paper), ("recomputed", reference.table1_recomputed(released.evaluations))):
        rows[source] = metrics.relative_improvement(table[(NO_FT, "mean")].astype(float), table[(BNS_FT, "mean")].astype(float))
    distinct = claims.bns_gains(released.distinct)
    rows["distinct super-nets"] = metrics.relative_improvement(distinct["no_ft"], distinct["bns_ft"])
    return pd.DataFrame(rows).T * 100


GAIN_NAMES = {"mean_of_relative_improvements": "mean of per-space gains", "ratio_of_means": "ratio of means − 1",
              "median_of_relative_improvements": "median per-space gain"}


def gain_tables(released: Released) -> dict[str, object]:
    """The glue of the "about 270%" section: BNS-FT's gain three ways, and the numbers the text quotes."""
    gains = bns_ft_gains(released)
    paper_no_ft, paper_bns_ft = released.paper[(NO_FT, "mean")], released.paper[(BNS_FT, "mean")]
    shown = (gains / 100).rename(columns=GAIN_NAMES).rename_axis("BNS-FT over NO-FT")
    return {"mean_of_ratios": f"{gains.loc['paper', 'mean_of_relative_improvements']:.0f}%",
            "ratio_of_means": f"{gains.loc['paper', 'ratio_of_means']:.0f}%",
            "ratio_recomputed": f"{gains.loc['recomputed', 'ratio_of_means']:.0f}%",
            "ratio_distinct": f"{gains.loc['distinct super-nets', 'ratio_of_means']:.0f}%",
            "median_ratio": f"{gains.loc['paper', 'median_of_relative_improvements']:.0f}%",
            "spaces_improved": f"{(paper_bns_ft > paper_no_ft).sum()} of {len(released.paper)}",
            "largest_gain_spaces": " and ".join(((paper_bns_ft - paper_no_ft) / paper_no_ft).nlargest(2).index),
            "times_if_claim": f"{1 + gains.loc['paper', 'mean_of_relative_improvements'] / 100:.1f}",
            "times_better": f"{1 + gains.loc['paper', 'ratio_of_means'] / 100:.1f}",
            "tab_270": names.readable(shown, default=names.percent)}


def released_momentum_facts() -> dict[str, str]:
    """The glue of what the released runs' settings files record (`wsnas.reference.released_momentum`)."""
    recorded = reference.released_momentum()
    return {"released_settings_files": f"{recorded['files']}", "released_momenta": results.momenta_text(recorded),
            "released_same_super_net": f"{recorded['same_super_net']} of {recorded['pairs']}"}


def bn_readings_tables(run: str, n_resamples: int) -> dict[str, object]:
    """The glue of a committed run's NO-FT under replayed BN statistics (`wsnas.results.bn_readings`): the table,
    the spread at main.py's momentum 0.997, the replays at 0.003 and BNS-FT's gain over NO-FT under each."""
    readings = results.bn_readings(run, n_resamples=n_resamples)
    spread = results.momentum_spread(readings)
    trained = readings[readings["replay_steps"] == 0].iloc[0]
    replays = readings[(readings["momentum"] == results.CORRECTED_MOMENTUM) & (readings["replay_steps"] > 0)]
    replays = replays.set_index("precision")
    bns_ft = results.run_spearman(run)
    gains = results.momentum_gains_of_draws(readings, bns_ft)
    quoted = {"trained_rho": trained["spearman"], "main_py_low": spread["low"], "main_py_high": spread["high"],
              "main_py_mean": spread["mean"], "main_py_sd": spread["sd"], "bns_rho": bns_ft,
              "fp32_rho": replays.loc["fp32", "spearman"], "bf16_rho": replays.loc["bf16", "spearman"],
              "gain_main_py": gains["gain_main_py"], "gain_trained": gains["gain_corrected"]}
    return {"tab_bn_readings": bn_readings_display(readings),
            **{f"bn_{key}": names.decimal(value, 2, signed=key.startswith("gain")) for key, value in quoted.items()},
            "bn_draws": f"{spread['draws']}", "bn_trained_accuracy": f"{trained['mean_accuracy']:.2f}",
            "bn_main_py_accuracy": f"{spread['accuracy_low']:.2f}–{spread['accuracy_high']:.2f}"}


def beside_released_tables(run: str, n_resamples: int = results.PAPER_SCALE_RESAMPLES) -> dict[str, object]:
    """The glue of our paper-scale run beside the released A4 super-nets: the table and where our run stands
    (intervals from `n_resamples` resamples of the cells; by default those the introduction quotes too)."""
    beside = results.beside_released(run, n_resamples=n_resamples)
    return {"tab_beside_released": beside_released_display(beside),
            "beside_verdict": results.released_spread_verdict(beside, run),
            **paper_scale_no_ft_glue(run)}


def paper_scale_no_ft_glue(run: str) -> dict[str, str]:
    """The glue of NO-FT under each momentum on the paper-scale run at its latest read epoch, and BNS-FT's gains."""
    read = results.paper_scale_no_ft(run)
    spread = results.paper_scale_draws(run)
    draws = {"beside_draws": results.paper_scale_draws_phrase(run) or (
                 f"Its NO-FT at {MAIN_PY_MOMENTUM:g} is not yet re-read after replays of its last steps "
                 f"(`wsnas study --run {run} --readings {results.study_run(run).epochs} --draws`)."),
             "beside_draws_range": (f"ranges from {names.rho(spread['low'])} to {names.rho(spread['high'])} over "
                                    f"{spread['draws']} replays of its last steps, on its first {spread['cells']:,} cells"
                                    if spread else "is not yet re-read after replays of its last steps")}
    if not read:
        return {**dict.fromkeys(("beside_no_ft", "beside_gain_corrected", "beside_gain_main_py"), names.UNDEFINED),
                **draws}
    return {"beside_no_ft": f"{names.rho(read['no_ft_corrected'])} at {CORRECTED_MOMENTUM:g} (mean proxy accuracy "
                            f"{read['accuracy_corrected']:.2f}) and {names.rho(read['no_ft_main_py'])} at "
                            f"{MAIN_PY_MOMENTUM:g} ({read['accuracy_main_py']:.2f})",
            "beside_gain_corrected": names.decimal(read["gain_corrected"], 2, signed=True),
            "beside_gain_main_py": names.decimal(read["gain_main_py"], 2, signed=True), **draws}


def welch_tables(released: Released, space: str = "A4") -> dict[str, object]:
    """The glue of the per-space Welch test of BNS-FT above NO-FT over the distinct super-nets, and why its NO-FT
    mean in `space` differs from Table 1's (a run released twice)."""
    gains = claims.bns_gains(released.distinct)
    shown = gains[["no_ft", "bns_ft", "p", "p_holm"]].rename(
        columns={"no_ft": "NO-FT mean ρ", "bns_ft": "BNS-FT mean ρ", "p": "p (Welch)"})
    copies = released.duplicates
    copy = copies[(copies["space"] == space) & (copies["column"] == NO_FT)].iloc[0]
    return {"tab_welch": names.readable(shown, {"p (Welch)": names.p_value, "p_holm": names.p_value}, default=names.rho),
            "welch_a4_no_ft": names.rho(gains.loc[space, "no_ft"]),
            "table1_a4_no_ft": names.rho(released.comparison.loc[(space, NO_FT), "recomputed_mean"]),
            "a4_copy": f"seed {copy['seed_copy']}, a copy of seed {copy['seed']}'s file,"}


def spearman_figure(released: Released, columns: Sequence[str], height: float = 4.2) -> Figure:
    """`spearman_by_space` of the distinct released super-nets of `columns` beside the paper's means."""
    figure, ax = plt.subplots(figsize=(FIGURE_WIDTH, height))
    spearman_by_space(released.distinct, released.paper, columns, ax=ax)
    return finished(figure)


def ours_tables(profile: str, outcomes: Sequence[RunOutcome], comparison: pd.DataFrame,
                results_root: str | None = None, with_budget: bool = False) -> dict[str, object]:
    """The glue of "Our super-nets": the scale of `profile`'s runs (`outcomes`, this chapter's), the cells each
    ranks, and every finished run under the results root beside the paper; `with_budget` adds `budget_context`."""
    ours = our_correlations(results_root)
    scale = run_scale(profile, [outcome.result.trained_in for outcome in outcomes])
    glued = {**{f"ours_{key}": text for key, text in scale.items()},
             "ours_cells": f"{load_profile(profile)['num_eval_cells']:,}",
             "tab_ours": ours_beside_paper_display(ours_beside_paper(ours, comparison)).style.hide(axis="index")}
    return {**glued, **budget_context(profile, ours)} if with_budget else glued


def budget_context(profile: str, ours: pd.DataFrame) -> dict[str, str]:
    """How much `profile`'s own A4 runs can say: the images they saw, their BNS-FT ρ, and the CPU-study run of the
    nearest training budget (its ρ with a 95% interval) and of the longest."""
    correlations = results.study_correlations()
    longest, seen = results.longest_run(correlations), images_seen(profile)
    near = results.nearest_budget(seen, correlations)
    own = (ours["profile"] == profile) & (ours["space"] == results.STUDY_SPACE) & (ours["column"] == BNS_FT)
    demo_bns = ours.loc[own, "spearman"].mean()
    return {"demo_images_seen": f"{seen:,}", "demo_bns_rho": names.decimal(demo_bns, signed=True),
            "near_epochs": f"{near['budget']}", "near_images": f"{near['images_seen']:,}",
            "near_rho": names.mean_ci(near["spearman"], near["spearman_low"], near["spearman_high"], signed=True),
            "near_zero": "includes" if near["spearman_low"] <= 0 <= near["spearman_high"] else "excludes",
            "demo_vs_near": "inside" if near["spearman_low"] <= demo_bns <= near["spearman_high"] else "outside",
            "study_bns_rho": names.decimal(longest.loc["bns_ft", "spearman"], signed=True),
            "study_budget": f"{longest['budget'].iloc[0]}"}


def _with_interval(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with `ours` written as 'ρ [low, high]' and the interval's columns dropped."""
    ours = [names.mean_ci(v, lo, hi, signed=True) for v, lo, hi in zip(rows["ours"], rows["low"], rows["high"])]
    return rows.assign(ours=ours).drop(columns=["low", "high", "scale"])


def study_tables(comparison: pd.DataFrame, with_single_k: bool = False) -> dict[str, object]:
    """The glue of the CPU study's longest run beside the paper (`wsnas.ours.study_beside_paper`); `with_single_k`
    adds the study's SINGLE-K minus the baseline beside the paper's difference (`study_variant_beside_paper`)."""
    rows = study_beside_paper(comparison)
    if rows.empty:
        glued = {"study_scale": "No CPU-study run is committed under data/study/",
                 "tab_study": Markdown("No CPU-study run is committed under `data/study/`.")}
    else:
        glued = {"study_scale": rows["scale"].iloc[0], "tab_study": names.readable(
            _with_interval(rows).set_index(["space", "column"]),
            {"paper": names.rho, "recomputed": names.rho, "cells": names.integer})}
    return {**glued, **single_k_tables(comparison)} if with_single_k else glued


def single_k_tables(comparison: pd.DataFrame) -> dict[str, object]:
    """The glue of the CPU study's SINGLE-K minus the baseline at 27 epochs, paired on the same cells, beside the
    paper's and the recomputed difference and the gap between two baseline seeds."""
    rows = study_variant_beside_paper(comparison)
    if rows.empty:
        return {"variant_scale": "Not committed yet", "tab_single_k": Markdown(
                    "The CPU study's SINGLE-K run or its second baseline seed at 27 epochs is not committed yet."),
                **dict.fromkeys(("study_single_k", "study_single_k_paper", "study_seed_gap"), names.UNDEFINED)}
    signed = partial(names.rho, signed=True)
    shown = _with_interval(rows)
    table = names.readable(shown.set_index(["space", "difference"]).rename(columns={"seed_gap": "seed 1 − seed 0"}),
                           {"paper": signed, "recomputed": signed, "seed 1 − seed 0": signed, "cells": names.integer})
    return {"variant_scale": rows["scale"].iloc[0], "tab_single_k": table, "study_single_k": shown["ours"].iloc[0],
            "study_single_k_paper": signed(rows["paper"].iloc[0]), "study_seed_gap": signed(rows["seed_gap"].iloc[0])}


def variant_gain_tables(released: Released, control: str, variants: Sequence[str], confidence: float = 0.95,
                        n_resamples: int = 10_000, seed: int = 0) -> dict[str, object]:
    """The glue of each variant's gain over `control` (`wsnas.claims.variant_tests`): the table, and how many
    (space, variant) pairs are better, worse or within noise by Welch, by the bootstrap and after Holm."""
    columns = [control, *variants]
    gains = claims.variant_tests(released.distinct.loc[released.distinct["column"].isin(columns)], control,
                                 n_resamples=n_resamples, seed=seed)
    significant = gains.loc[gains["welch_p"] < metrics.ALPHA]
    worse = significant.loc[significant["difference"] < 0]
    std = released.comparison["recomputed_std"].unstack("column")
    std_ratio = std[list(variants)].mean(axis=1) / std[control]
    return {"confidence_percent": f"{confidence:.0%}", "tab_gains": improvement_display(gains),
            "cells_total": str(len(gains)), "cells_better": str(int((significant["difference"] > 0).sum())),
            "cells_worse": str(len(worse)), "cells_noise": str(len(gains) - len(significant)),
            "bootstrap_better": str(int((~gains["within_seed_noise"] & (gains["difference"] > 0)).sum())),
            "holm_better": str(int(((gains["welch_p_holm"] < metrics.ALPHA) & (gains["difference"] > 0)).sum())),
            "worse_list": ", ".join(f"{names.COLUMN_NAMES[c]} on {s}" for s, c in zip(worse["space"], worse["column"]))
            or "none",
            "std_smaller": f"{int((std_ratio < 1).sum())} of {len(std_ratio)}"}

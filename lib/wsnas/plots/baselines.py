"""Figures and tables of the baselines chapter: ranking quality against cost per cell (Pareto front marked), the
Spearman heat map, and each table with the numbers its text quotes (glue name → value)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown

from wsnas import baselines, names, ours, proxies, results
from wsnas.ours import OUR_BNS_FT, OUR_READINGS, PaperScaleReading
from wsnas.plots import FIGURE_WIDTH
from wsnas.results import CORRECTED_MOMENTUM

KIND_COLOURS = {"count": "#009E73", "zero-cost": "#E69F00", "training": "#0072B2", "ws": "#D55E00"}


def kind_of(row: str) -> str:
    """Which family a row belongs to, for its colour."""
    if row in baselines.COUNTS:
        return "count"
    if row in baselines.SCORABLE_ZERO_COST:
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


# ---------------------------------------------------------------------------------------------
# The chapter's tables: each function returns glue name → value (the table and the numbers its text quotes)

ROW_ORDER = (*baselines.COUNTS, *baselines.ZERO_COST, baselines.HALFWAY, baselines.WS_SAME_CELLS, baselines.NOISE_CEILING)
MEASURE_TITLES = {"spearman": "Spearman ρ", "kendall": "Kendall τ", "top1%": "precision at the top 1 %",
                  "top5%": "precision at the top 5 %", "top10%": "precision at the top 10 %"}
SEARCH_TEXT = "{p} {direction} ({p_holm})"  # a search test's cell: raw p, direction (Holm's rule), Holm-corrected p


def row_order(present) -> list[str]:
    """`ROW_ORDER` with every zero-cost proxy among `present` (row names), ZiCo and Zen included once scored."""
    return [*baselines.COUNTS, *baselines.zero_cost_rows(present), baselines.HALFWAY, baselines.WS_SAME_CELLS,
            baselines.NOISE_CEILING]


def _shown_spaces(spaces: Sequence[str], present) -> list[str]:
    return [space for space in spaces if space in set(present)]


def scored_cells_table(cells: pd.DataFrame, metadata: dict, spaces: Sequence[str]) -> dict[str, Any]:
    """The scored cells per space (`tab_cells`) and the file's counts the text quotes."""
    per_space = cells.groupby("space").size().reindex(spaces)
    summary = pd.DataFrame({"cells scored": per_space, "of the run's": 1000})
    return {"scored_cells": f"{metadata['done']:,}", "requested_cells": f"{metadata['cells']:,}",
            "min_per_space": f"{per_space.min():,}", "complete": "complete" if metadata["complete"] else "not yet complete",
            "tab_cells": names.readable(summary, default=names.integer)}


def settings_line(metadata: dict) -> str:
    """The settings the committed zero-cost scores were computed with, in one line."""
    settings = metadata["settings"]
    return (f"settings: {settings['proxies']}; seed {settings['seed']}; batch {settings['batch_size']} "
            f"(seed {settings['batch_seed']}); {settings['precision']}, {settings['memory_format']}, "
            f"{settings['threads']} thread; torch {settings['torch']}")


FISHER_SUM_WORDS = {"per_weight": "the per-weight sum, as zero-cost-nas and NASLib compute it",
                    "per_channel": "the per-channel sum (each channel's saliency counted once), as this book first "
                                   "computed it"}


def _rescored(metadata: dict) -> tuple[dict | None, str]:
    """The settings of the rescored proxies that `baselines.load_scored` joined (None if it joined none), and their state."""
    rescored = metadata.get("rescored", {})
    return rescored.get("settings"), rescored.get("state", "not scored yet")


def live_checks(hashes: pd.Series, scores: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """`wsnas.proxies.live_check` of the committed scores on `hashes`, and of the rescored file (its own settings)
    when `baselines.load_scored` joined it; a proxy the rescored file replaced is checked against its settings only."""
    extra, _ = _rescored(metadata)
    if extra is None:
        return proxies.live_check(hashes, scores, metadata["settings"])
    committed = {**metadata["settings"], "proxies": [p for p in metadata["settings"]["proxies"] if p not in extra["proxies"]]}
    return pd.concat([proxies.live_check(hashes, scores, committed), proxies.live_check(hashes, scores, extra)])


def fisher_definition(metadata: dict) -> str:
    """A sentence: how the fisher scores `baselines.load_scored` gave sum their per-channel saliencies, from which file."""
    extra, state = _rescored(metadata)
    rescored = extra is not None and "fisher" in extra["proxies"]
    source, settings = (baselines.RESCORED_FILE, extra) if rescored else (baselines.PROXIES_FILE, metadata["settings"])
    line = f"Fisher here is {FISHER_SUM_WORDS[proxies.setup_of_settings(settings).fisher_sum]} (data/{source})"
    if rescored:
        return line + "."
    return line + f"; the per-weight sum replaces it once these cells are rescored: {state}."


def rescored_phrase(metadata: dict) -> str:
    """Where ZiCo and Zen-score stand among the proxies timed here, for the cost text and caption."""
    extra, state = _rescored(metadata)
    if extra is not None:
        return f"ZiCo and Zen-score among them, from data/{baselines.RESCORED_FILE}"
    return f"ZiCo and Zen-score join them once their scores of these cells are committed: {state}"


def live_table(check: pd.DataFrame, scores: pd.DataFrame, hashes: pd.Series) -> dict[str, Any]:
    """The live re-scoring of the committed proxies (`wsnas.proxies.live_check` on `hashes`) as a table, with
    its counts and the file's median seconds per cell on those cells."""
    not_reproduced = [baselines.ROW_NAMES.get(name, name) for name in check.index[~check["reproduced"]]]
    gap = lambda value: f"{value:.1e}"  # noqa: E731
    table = names.readable(check.rename(index=baselines.ROW_NAMES), formats={
        "gap from committed": gap, "rounding gap here": gap, "reproduced": lambda value: "yes" if value else "no",
        "rank agreement": lambda value: names.decimal(value, 3),
        "CPU seconds per cell, alone": lambda value: names.decimal(value, 2)})
    return {"live_cells": f"{len(hashes):,}",
            "shared_seconds": f"{float(scores.set_index('hash').loc[hashes, 'seconds'].median()):.1f}",
            "reproduced_count": str(int(check["reproduced"].sum())), "proxy_count": str(len(check)),
            "not_reproduced": ", ".join(not_reproduced) if not_reproduced else "none", "tab_live": table}


def quality_table(quality: pd.DataFrame, measure: str, spaces: Sequence[str]) -> pd.DataFrame:
    """One measure of `baselines.proxy_quality`, row × space, each cell 'value [low, high]'."""
    chosen = quality[quality["measure"] == measure]
    chosen = chosen.assign(text=[names.mean_ci(v, lo, hi) for v, lo, hi in zip(chosen["value"], chosen["low"], chosen["high"])])
    table = chosen.pivot(index="row", columns="space", values="text")
    table = table.reindex(index=row_order(table.index), columns=_shown_spaces(spaces, table.columns))
    return table.rename(index=baselines.ROW_NAMES).rename_axis(MEASURE_TITLES[measure])


def quality_tables(quality: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """Every measure's table (`tab_quality_<measure>`, % written pct)."""
    return {f"tab_quality_{measure.replace('%', 'pct')}": quality_table(quality, measure, spaces) for measure in MEASURE_TITLES}


def spearman_heatmap(quality: pd.DataFrame, spaces: Sequence[str]) -> plt.Figure:
    """Spearman ρ of every row (counts, zero-cost proxies, halfway, WS, noise ceiling) per space as a heat map,
    each cell with ρ and, under it, its bootstrap interval; lines separate the families of rows."""
    spearman = quality[quality["measure"] == "spearman"]
    shown, rows = _shown_spaces(spaces, spearman["space"]), row_order(spearman["row"])
    value, low, high = (spearman.pivot(index="row", columns="space", values=field).reindex(index=rows, columns=shown)
                        for field in ("value", "low", "high"))
    labels = [baselines.ROW_NAMES[row].replace(" (", "\n(") for row in rows]
    figure, ax = plt.subplots(figsize=(FIGURE_WIDTH, 0.56 * len(rows) + 0.6))
    sns.heatmap(value.astype(float), ax=ax, cmap="RdBu_r", vmin=-1, vmax=1, center=0, cbar=False,
                linewidths=0.6, linecolor="white", xticklabels=shown, yticklabels=labels)
    for i, row in enumerate(rows):
        for j, space in enumerate(shown):
            rho = value.loc[row, space]
            colour = "white" if np.isfinite(rho) and abs(rho) > 0.6 else "black"
            ax.text(j + 0.5, i + 0.38, names.rho(rho), ha="center", va="center", fontsize=10, weight="bold",
                    color=colour)
            ax.text(j + 0.5, i + 0.74, f"[{names.rho(low.loc[row, space])}, {names.rho(high.loc[row, space])}]",
                    ha="center", va="center", fontsize=7.5, color=colour)
    for boundary in (len(baselines.COUNTS), len(rows) - 3, len(rows) - 1):
        ax.axhline(boundary, color="black", lw=1.2)
    ax.xaxis.tick_top()
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(length=0, labelsize=9)
    for label in ax.get_xticklabels():
        label.set_color(names.SPACE_COLOURS.get(label.get_text(), "black"))
        label.set_fontweight("bold")
    figure.tight_layout()
    return figure


PUBLISHED_FIELDS = {"published_abs_spearman": "abdelfattah", "suite_zero_spearman": "suite_zero",
                    "zico_paper_spearman": "zico_paper"}


NASLIB_HEADS = {  # the columns on NASLib's cells: source, convention, cells and target ({cells} filled in)
    "naslib": "NASLib's published scores (NAS-Bench-Suite-Zero, NASLib 22280f71), recomputed: signed ρ, {cells} of its "
              "NB-101 cells, its validation accuracy (one NB-101 repeat)",
    "published": "ours, published setup (stem 128, batch 32): signed ρ, the same {cells} cells, NASLib's validation accuracy",
    "paper": "ours, paper setup (stem 16, batch 64): signed ρ, the same {cells} cells, NASLib's validation accuracy",
}
NASLIB_CLOSE = 0.10  # issue 20: under the published setup, each proxy NASLib scores ranks within this of NASLib's ρ


def published_table(quality: pd.DataFrame, spaces: Sequence[str], rescored_state: str = "not scored yet",
                    naslib: pd.DataFrame | None = None) -> dict[str, Any]:
    """Every zero-cost proxy scored here, our ρ on A0 (else the first space) beside each published column, each
    column headed with its convention, cells and target (`tab_published`); the numbers the text quotes; and
    `zico_zen_note`, naming ZiCo and Zen with their published values while they are not in the table.

    `naslib` (`baselines.naslib_beside_ours`): also NASLib's published per-cell scores and ours under both setups on
    the same NASLib cells (`NASLIB_HEADS`), rows added for proxies scored only there, and `naslib_*` numbers."""
    space = "A0" if "A0" in spaces else spaces[0]
    published = baselines.beside_published(quality, space)
    cells = int(published["cells"].iloc[0])
    published["ours"] = [names.mean_ci(v, lo, hi, signed=True) for v, lo, hi in
                         zip(published["spearman"], published["low"], published["high"])]
    shown = published.assign(proxy=published["proxy"].map(baselines.ROW_NAMES)).set_index("proxy")
    shown = names.readable(shown[["ours", "abs_spearman", *PUBLISHED_FIELDS]], default=names.rho,
                           formats={"ours": str, **dict.fromkeys(("suite_zero_spearman", "zico_paper_spearman"),
                                                                  lambda value: names.rho(value, signed=True))})
    ours_head = f"{cells:,} {space} cells, mean NB-101 validation accuracy"
    shown = shown.rename(columns={"ours": f"ours (stem 16, batch 64): signed ρ [95% CI], {ours_head}",
                                  "abs_spearman": f"ours: |ρ|, {ours_head}",
                                  **{field: baselines.PUBLISHED_COLUMNS[key] for field, key in PUBLISHED_FIELDS.items()}})
    beside = "; ".join(f"{baselines.ROW_NAMES[row.proxy]} {names.rho(row.spearman, signed=True)} (published |ρ| "
                       f"{names.rho(row.published_abs_spearman)})" for row in published.itertuples()
                       if np.isfinite(row.published_abs_spearman))
    missing = [name for name in baselines.UNCOMMITTED_ZERO_COST if name not in set(published["proxy"])]
    quoted = {**baselines.PUBLISHED_SUITE_ZERO_SPEARMAN, **baselines.PUBLISHED_ZICO_SPEARMAN}
    where = f" on the {space} cells" if naslib is not None else ""
    note = (f"{' and '.join(baselines.ROW_NAMES[name] for name in missing)}: {rescored_state}{where} here, so not in the "
            "table (published: " + "; ".join(f"{baselines.ROW_NAMES[name]} {names.rho(quoted[name], signed=True)}"
                                            for name in missing if name in quoted) + ")." if missing else
            "ZiCo and Zen-score: scored here on the same cells (a second file, joined on the cell's hash).")
    if naslib is not None and missing:
        note = note.replace(", so not in the table", ", so only in the table of NASLib's cells")
    out = {"tab_published": shown.rename_axis(f"zero-cost proxy, {space}"), "published_space": space,
           "published_cells": f"{cells:,}", "a0_published": beside, "zico_zen_note": note}
    return out if naslib is None else {**out, **naslib_columns(out["tab_published"], naslib, published["proxy"])}


def naslib_columns(shown: pd.DataFrame, naslib: pd.DataFrame, rows: Sequence[str]) -> dict[str, Any]:
    """The columns on NASLib's cells (`NASLIB_HEADS`), one row per proxy of `shown` (the published table) and per
    zero-cost proxy scored only there (`tab_published_naslib`), and the numbers the text quotes: `naslib_cells`, `naslib_ci` (median
    half-width of the intervals), `naslib_close` (proxies where ours, published setup, is within `NASLIB_CLOSE` of
    NASLib's ρ), `naslib_far`, `naslib_per_cell` (per-cell ρ of ours, published setup, against NASLib's score),
    `naslib_repeats` (NASLib's first record against its second, on `naslib_repeat_cells` cells) and `naslib_params`
    (the parameter count's ρ on those cells, NASLib's and ours)."""
    count = int(naslib["cells"].iloc[0])
    order = [*rows, *(name for name in baselines.SCORABLE_ZERO_COST if name not in set(rows))]
    columns = naslib.reindex(order)[list(NASLIB_HEADS)].rename(index=baselines.ROW_NAMES)
    columns = columns.map(lambda value: names.rho(value, signed=True))
    table = columns.rename(columns={key: head.format(cells=count) for key, head in NASLIB_HEADS.items()}).fillna(
        names.UNDEFINED)  # a table of its own: beside the A0 columns it would not fit the page at 1,280 px
    scored = naslib[naslib.index.isin(baselines.SCORABLE_ZERO_COST) & naslib["naslib"].notna()]
    gap = (scored["published"] - scored["naslib"]).abs()
    shown_rows = naslib.reindex(order)
    halves = pd.concat([(shown_rows[f"{key}_high"] - shown_rows[f"{key}_low"]) / 2 for key in NASLIB_HEADS]).dropna()
    label = [baselines.ROW_NAMES[name] for name in scored.index]
    return {"tab_published_naslib": table.rename_axis("zero-cost proxy, NASLib's cells"), "naslib_cells": f"{count:,}",
            "naslib_ci": f"±{names.rho(halves.median())}",
            "naslib_close": f"{int((gap <= NASLIB_CLOSE).sum())} of {len(gap)}",
            "naslib_far": ", ".join(f"{name} ({names.rho(row.published, signed=True)} against "
                                    f"{names.rho(row.naslib, signed=True)})" for name, row in
                                    zip(label, scored.itertuples()) if abs(row.published - row.naslib) > NASLIB_CLOSE)
                          or "none",
            "naslib_per_cell": "; ".join(f"{name} {names.rho(value)}" for name, value in
                                         zip(label, scored["published_per_cell"])),
            "naslib_repeats": "; ".join(f"{name} {names.rho(value)}" for name, value in zip(label, scored["naslib_repeat"])),
            "naslib_repeat_cells": f"{int(naslib['repeat_cells'].iloc[0]):,}",
            "naslib_params": f"{names.rho(naslib.loc['params', 'naslib'], signed=True)} (NASLib's count) and "
                             f"{names.rho(naslib.loc['params', 'published'], signed=True)} (ours)"}


def combination_table(evaluations: pd.DataFrame, spaces: Sequence[str], n_boot: int) -> dict[str, Any]:
    """The rank-average of BNS-FT and params against each, per space (`tab_combination`, from
    `baselines.combination_verdict`), and the numbers the text quotes."""
    runs = baselines.combination_runs(evaluations[evaluations["space"].isin(spaces)], n_boot=n_boot)
    verdict = baselines.combination_verdict(runs)
    of_runs = lambda column: [f"{count} of {total}" for count, total in zip(verdict[column], verdict["runs"])]  # noqa: E731
    shown = pd.DataFrame({"BNS-FT ρ": verdict["bns_ft"].map(names.rho), "parameters ρ": verdict["params"].map(names.rho),
                          "rank-average ρ": verdict[baselines.COMBINED].map(names.rho),
                          "runs: beats BNS-FT": of_runs("beats_bns_ft"), "runs: beats parameters": of_runs("beats_params"),
                          "runs: beats both": of_runs("beats_both_runs"),
                          "beats both": verdict["beats_both"].map({True: "yes", False: "no"})}, index=verdict.index)
    gain = runs.assign(best=runs[["bns_ft", "params"]].max(axis=1))
    gain = (gain[baselines.COMBINED] - gain["best"]).groupby(gain["space"]).mean()
    return {"tab_combination": shown.rename_axis("space"), "combination_spaces": str(int(verdict["beats_both"].sum())),
            "combination_of": str(len(verdict)), "combination_runs": str(int(runs["beats_both"].sum())),
            "combination_all_runs": str(len(runs)),
            "combination_gain": f"{names.rho(gain.min(), signed=True)} to {names.rho(gain.max(), signed=True)}",
            "combination_not": "; ".join(
                f"{space}, where it does not always beat " + " nor ".join(
                    part for part, column in (("BNS-FT", "beats_bns_ft"), ("the parameter count", "beats_params"))
                    if verdict.loc[space, column] < verdict.loc[space, "runs"])
                for space in verdict.index[~verdict["beats_both"]]) or "none"}


def ws_own_table(evaluations: pd.DataFrame, spaces: Sequence[str], n_boot: int) -> pd.DataFrame:
    """Spearman ρ of every released WS column on its own runs' cells (`baselines.ws_own_cells`), column × space."""
    ws = baselines.ws_own_cells(evaluations[evaluations["space"].isin(spaces)], n_boot=n_boot)
    ws = ws[ws["measure"] == "spearman"]
    ws = ws.assign(text=[names.mean_ci(v, lo, hi) for v, lo, hi in zip(ws["value"], ws["low"], ws["high"])])
    table = ws.pivot(index="row", columns="space", values="text").reindex(index=list(names.COLUMN_NAMES), columns=spaces)
    return table.rename(index=names.COLUMN_NAMES).rename_axis("Spearman ρ, own cells")


BESIDE_COUNTS = {"ws": "super-net ρ", "params": "parameters ρ", "flops": "FLOPs ρ"}


def ours_table(spaces: Sequence[str]) -> pd.DataFrame | Markdown:
    """Our own finished super-nets beside the counts on their cells (`wsnas.ours.ours_beside_counts`)."""
    table = ours.ours_beside_counts()
    table = table[table["space"].isin(spaces)]
    if table.empty:
        return Markdown("No finished training run of ours under the results directory.")
    shown = table.assign(column=table["column"].map(names.reader)).drop(columns="run")
    shown = shown.rename(columns={"column": "super-net", **BESIDE_COUNTS}).set_index(["space", "super-net", "profile", "seed"])
    return names.readable(shown, formats={"cells": names.integer}, default=names.rho)


def study_table() -> dict[str, Any]:
    """The CPU study's longest run beside the counts on its cells (`tab_study`) and its scale (`study_scale`)."""
    rows = results.longest_run_beside_counts()
    if rows.empty:
        return {"study_scale": "No CPU-study run is committed under data/study/",
                "tab_study": Markdown("No CPU-study run is committed under `data/study/`.")}
    shown = rows.drop(columns="scale").rename(columns=BESIDE_COUNTS)
    shown["mode"] = shown["mode"].map(names.MODE_NAMES)
    return {"study_scale": rows["scale"].iloc[0],
            "tab_study": names.readable(shown.set_index("mode"), formats={"cells": names.integer}, default=names.rho)}


def subsample_table(cells: pd.DataFrame, evaluations: pd.DataFrame, spaces: Sequence[str], n_boot: int) -> pd.DataFrame:
    """`baselines.subsample_ci_widths` for a page."""
    widths = baselines.subsample_ci_widths(cells, evaluations, spaces, n_boot)
    return names.readable(widths, formats={"cells in subsample": names.integer}, default=lambda value: names.decimal(value, 3))


def answer_table(quality: pd.DataFrame, replicates: dict, costs: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """`baselines.plain_answer` per space (`tab_answer`), and the spaces where a count or WS wins."""
    answer = baselines.plain_answer(quality, replicates, costs).set_index("space").reindex(spaces)
    shown = answer.assign(best=answer["best"].map(baselines.ROW_NAMES),
                          cheapest_not_worse=answer["cheapest_not_worse"].map(baselines.ROW_NAMES),
                          ws_not_worse=answer["ws_not_worse"].map({True: "yes", False: "no"}))
    shown = shown.rename(columns={"best": "best row", "best_spearman": "its ρ", "cheapest_not_worse": "cheapest not worse",
                                  "its_spearman": "ρ", "its_seconds": "seconds per cell",
                                  "ws_not_worse": "WS not worse than best", "ws_seconds": "WS seconds per cell"})
    seconds = lambda value: f"{value:.2g}"  # noqa: E731
    free_wins = [space for space in spaces if answer.loc[space, "cheapest_not_worse"] in baselines.COUNTS]
    return {"tab_answer": names.readable(shown, formats={"its ρ": names.rho, "ρ": names.rho, "seconds per cell": seconds,
                                                         "WS seconds per cell": seconds}),
            "free_wins": ", ".join(free_wins) if free_wins else "none",
            "ws_best": ", ".join(s for s in spaces if answer.loc[s, "best"] == baselines.WS_SAME_CELLS) or "none"}


def _search_tables(tests: pd.DataFrame, spaces: Sequence[str], order: list[str], rename: dict, name: str,
                   title: str) -> dict[str, pd.DataFrame]:
    """One table per TOP-k (so that each fits the page): guide × space, each cell `SEARCH_TEXT`."""
    tests = tests.assign(text=[SEARCH_TEXT.format(p=names.p_value(p), direction=d, p_holm=names.p_value(h))
                               for p, d, h in zip(tests["p"], tests["direction"], tests["p_holm"])])
    tables = {}
    for k in sorted(tests["k"].unique()):
        table = tests[tests["k"] == k].pivot_table(index="guide", columns="space", values="text", aggfunc="first")
        table = table.reindex(index=order, columns=_shown_spaces(spaces, table.columns)).rename(index=rename)
        tables[f"{name}{k}"] = table.rename_axis(title.format(k=k)).rename_axis(columns=None)
    return tables


def guided_tables(comparison: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """`baselines.guided_search` as one table per TOP-k (`tab_guided_top<k>`), and the count of Holm-significant tests."""
    order = [*names.COLUMN_NAMES, "params", "flops", baselines.HALFWAY]
    tables = _search_tables(comparison, spaces, order, {**names.COLUMN_NAMES, **baselines.ROW_NAMES}, "tab_guided_top",
                            "TOP-{k}: p direction (Holm)")
    return {**tables, "holm_significant": f"{int(comparison['significant_holm'].sum())}", "tests": f"{len(comparison):,}"}


def scored_search_tables(tests: pd.DataFrame, spaces: Sequence[str]) -> dict[str, Any]:
    """`baselines.subsample_search` as one table per TOP-k (`tab_scored_top<k>`), and the count of significant tests."""
    order = row_order(tests["guide"])[:-1]
    tables = _search_tables(tests, spaces, order, baselines.ROW_NAMES, "tab_scored_top",
                            "TOP-{k}, scored cells: p direction (Holm)")
    return {**tables, "sub_search_significant": f"{int((tests['direction'] != 'x').sum())}",
            "sub_search_tests": f"{len(tests):,}"}


def findings_numbers(quality: pd.DataFrame, costs: pd.DataFrame, scores: pd.DataFrame, cells: pd.DataFrame,
             metadata: dict) -> dict[str, str]:
    """The numbers of the chapter's findings that no table above carries."""
    spearman = quality[quality["measure"] == "spearman"].pivot(index="space", columns="row", values="value")
    below = spearman[list(baselines.zero_cost_rows(spearman.columns))].lt(spearman["params"], axis=0).to_numpy()
    ws_cost = costs[costs["row"] == baselines.WS_SAME_CELLS]["seconds"]
    per_space = cells.groupby("space").size()
    precision = (f"the committed file is complete, and the intervals above are as narrow as its "
                 f"{per_space.min():,}–{per_space.max():,} cells per space allow" if metadata["complete"] else
                 f"the committed file is not yet complete ({per_space.min():,} cells in the smallest space): read the "
                 "point estimates as provisional")
    return {"zc_below_params": f"{int(below.sum())}", "zc_pairs": f"{below.size}",
            "ws_seconds_range": f"{ws_cost.min():.0f}–{ws_cost.max():.0f}",
            "zc_shared_seconds": f"{float(scores['seconds'].median()):.1f}", "precision_note": precision}


def ours_free_rankers_table(evaluations: pd.DataFrame, ours: PaperScaleReading | None, n_boot: int) -> dict[str, Any]:
    """Each A4 super-net against the free counts on its own cells (`baselines.supernet_beside_counts`), ours beside
    the released: each released baseline super-net under BNS-FT on its 1,000 cells and on its first n (n = ours),
    and under NO-FT (momentum 0.003, as the released settings files record) on its 1,000 cells; ours under BNS-FT (last batch) and NO-FT
    under both momenta on its n cells. Glue: `tab_ours_free`, `ours_free_label`, `ours_free_scale`, ours' BNS-FT
    line (`ours_free_bns`), its NO-FT verdicts (`ours_free_no_ft`) and the released verdicts on n cells
    (`ours_free_released_same`)."""
    if ours is None:
        missing = "No reading of our paper-scale run is complete yet."
        return {"tab_ours_free": pd.DataFrame({"ours": [missing]}), "ours_free_label": "ours (not read yet)",
                "ours_free_scale": missing, **dict.fromkeys(("ours_free_bns", "ours_free_no_ft",
                                                             "ours_free_released_same"), names.UNDEFINED)}
    released = evaluations[(evaluations["space"] == ours.space) & ~evaluations["diverged"]].sort_values("position")
    runs = []  # (kind, super-net, reading, cells)
    for seed, run in released[released["column"] == baselines.PROXY_COLUMN].groupby("seed"):
        runs += [("whole", f"released, seed {seed}", "BNS-FT", run),
                 ("same", f"released, seed {seed}, first {ours.n_cells:,}", "BNS-FT", run.head(ours.n_cells))]
    for seed, run in released[released["column"] == "baseline/no_ft"].groupby("seed"):
        runs.append(("whole", f"released, seed {seed}", f"NO-FT, momentum {CORRECTED_MOMENTUM:g}", run))
    for reading in OUR_READINGS:
        runs.append(("ours", ours.label, _reading_name(reading), ours.reading(reading)))
    table = pd.DataFrame([{"kind": kind, "super-net": name, "reading": reading, **baselines.supernet_beside_counts(
        run["hash"], run["proxy_accuracy"], run[baselines.TARGET], n_boot)} for kind, name, reading, run in runs])
    table["super-net − parameters [95% CI]"] = [
        f"{names.mean_ci(d, lo, hi, signed=True)} {verdict}" for d, lo, hi, verdict in
        zip(table["minus_params"], table["low"], table["high"], table["verdict"])]
    shown = table.set_index(["super-net", "reading"])[["cells", "ws", "params", "flops", baselines.COMBINED,
                                                        "super-net − parameters [95% CI]"]]
    shown = shown.rename(columns={**BESIDE_COUNTS, baselines.COMBINED: "rank-average (super-net, parameters) ρ"})
    mine = table[table["kind"] == "ours"].set_index("reading")
    bns = mine.loc[_reading_name(OUR_BNS_FT)]
    same = table[table["kind"] == "same"]["verdict"].value_counts()
    no_ft = [f"{reading}: ρ {names.rho(row['ws'], signed=True)}, " + (
        "not different from the parameter count" if row["verdict"] == "not different" else
        f"{row['verdict']} than the parameter count") for reading, row in mine.iloc[1:].iterrows()]
    return {"tab_ours_free": names.readable(shown, {"cells": names.integer, "super-net − parameters [95% CI]": str},
                                            default=names.rho, rename=False),
            "ours_free_label": ours.label, "ours_free_scale": ours.scale, "ours_free_no_ft": "; ".join(no_ft),
            "ours_free_bns": (f"ρ {names.rho(bns['ws'])} against {names.rho(bns['params'])} for the parameter count on "
                              f"the same cells, a difference of "
                              f"{names.mean_ci(bns['minus_params'], bns['low'], bns['high'], signed=True)} ({bns['verdict']})"),
            "ours_free_released_same": ", ".join(f"{same.get(verdict, 0)} {verdict}" for verdict in
                                                 ("better", "not different", "worse")) + f" (of {int(same.sum())})"}


def _reading_name(reading: str) -> str:
    """A reader name of one of our run's readings (`wsnas.ours.OUR_READINGS`)."""
    return "BNS-FT, last batch" if reading == OUR_BNS_FT else f"NO-FT, momentum {reading.removeprefix('no_ft@')}"

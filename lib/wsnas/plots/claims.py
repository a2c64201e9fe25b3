"""The claims on a page: the scoreboard of the introduction and each chapter's verdict box (HTML)."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd
from IPython.display import HTML, Markdown

from wsnas import baselines, names, reference, results, search
from wsnas.claims import CHAPTER_TITLES, PARTLY, SUPPORTED, WEAK, Claim, search_counts
from wsnas.datafiles import manifest

VERDICT_COLOURS = {SUPPORTED: "#1a7f37", PARTLY: "#9a6700", WEAK: "#9a6700"}  # others: dark red


def _verdict(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#b42318")
    return f'<strong style="color:{colour}">{escape(verdict)}</strong>'


def _robustness(claim: Claim) -> str:
    if claim.robust:
        return f"robust: all {len(claim.readings)} readings agree"
    flips = "; ".join(f"<em>{escape(r.reading)}</em> → {escape(r.verdict)}" for r in claim.flipping)
    return f"depends on the reading ({len(claim.flipping)} of {len(claim.readings)} flip it): {flips}"


def scoreboard_html(claims: list[Claim]) -> HTML:
    """One row per claim: the claim and its evidence, the verdict, whether it is robust, a link to its chapter."""
    rows = "".join(
        f"<tr><td><strong>{escape(claim.claim)}</strong><br><small>{escape(claim.evidence)}</small></td>"
        f"<td>{_verdict(claim.verdict)}</td><td><small>{_robustness(claim)}</small></td>"
        f'<td><a href="{claim.chapter}.html">{CHAPTER_TITLES[claim.chapter]}</a></td></tr>'
        for claim in claims)
    return HTML('<table class="wsnas-table wsnas-claims"><thead><tr><th>claim and evidence (default reading)</th>'
                f"<th>verdict</th><th>robust?</th><th>chapter</th></tr></thead><tbody>{rows}</tbody></table>")


def verdict_line(claim: Claim) -> str:
    """The verdict and whether it is robust, for a sentence: 'supported, robust'."""
    return f"{claim.verdict}, {claim.robustness.split(':')[0]}"


def sensitivity_table(claim: Claim) -> str:
    """The verdict under each reading, as an HTML table (the default reading first)."""
    rows = "".join(
        f"<tr><td>{escape(r.reading)}{' (default)' if i == 0 and 'default' not in r.reading else ''}</td>"
        f"<td>{_verdict(r.verdict)}</td><td><small>{escape(r.evidence)}</small></td></tr>"
        for i, r in enumerate(claim.readings))
    return ('<table class="wsnas-table"><thead><tr><th>reading</th><th>verdict</th><th>evidence</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def verdict_box(claim: Claim) -> HTML:
    """A chapter's verdict on one claim: the rule first, then the verdict, its robustness and every reading."""
    return HTML(
        f'<div class="admonition wsnas-verdict"><p class="admonition-title">Verdict: {escape(claim.claim)}</p>'
        f"<p><strong>Rule.</strong> {escape(claim.rule)}</p>"
        f"<p><strong>Verdict.</strong> {_verdict(claim.verdict)}. {escape(claim.evidence)}</p>"
        f"<p><strong>Sensitivity.</strong> {_robustness(claim)}.</p>"
        + (f"<p><strong>Caveat.</strong> {escape(claim.caveat)}</p>" if claim.caveat else "") +
        f"<details><summary>The verdict under each of the {len(claim.readings)} readings</summary>"
        f"{sensitivity_table(claim)}</details>{_alternatives(claim)}</div>")


def _alternatives(claim: Claim) -> str:
    """Other methods judged by the claim's rule (not readings: they do not enter its robustness)."""
    if not claim.alternatives:
        return ""
    rows = "".join(f"<tr><td>{escape(r.reading)}</td><td>{_verdict(r.verdict)}</td><td><small>{escape(r.evidence)}"
                   "</small></td></tr>" for r in claim.alternatives)
    return (f"<details><summary>Other methods under the same rule ({len(claim.alternatives)}; not readings of the "
            "protocol, so not part of the robustness)</summary><table class=\"wsnas-table\"><thead><tr><th>method</th>"
            f"<th>verdict</th><th>evidence</th></tr></thead><tbody>{rows}</tbody></table></details>")


def provenance_legend(profile: str | None = None) -> HTML:
    """The legend of where numbers come from, shown at the top of every chapter."""
    items = "".join(f"<li><strong>{key}</strong>: {escape(text)}</li>" for key, text in names.PROVENANCE.items())
    trained = f" This page's own runs use the <code>{escape(profile)}</code> profile." if profile else ""
    return HTML(
        '<div class="admonition note wsnas-provenance"><p class="admonition-title">Where the numbers come from</p>'
        f"<ul>{items}</ul><p>{escape(_paper_scale_status())}{trained}</p></div>")


def _paper_scale_status() -> str:
    """Whether one of our super-nets is trained at the paper's scale, from its committed state."""
    log, status = results.training_progress(results.PAPER_SCALE_RUN)
    if not status:
        return "No super-net has been retrained at the paper's scale yet: every number of ours comes from a small " \
               "CPU profile, and is labelled with it."
    epochs = status["total_steps"] // int(log["steps"].iloc[0])
    state = "was trained" if status.get("state") == "done" else f"is being trained (epoch {status['epoch']} of {epochs} committed)"
    return (f"One A4 super-net {state} here at the paper's protocol (profile paper, on the JPEG q75 copy of CIFAR-10); "
            "its numbers name it and the epoch read. Every other number of ours comes from a small CPU profile, and is "
            "labelled with it.")


def paper_scale_line() -> str:
    """Our paper-scale run in one sentence for the introduction: its latest read epoch beside the released
    super-nets and beside the parameter count on the same cells, or how far its training has come."""
    beside = results.beside_released(results.PAPER_SCALE_RUN, n_resamples=results.PAPER_SCALE_RESAMPLES)
    counts = results.readings_beside_counts(results.PAPER_SCALE_RUN)
    if counts.empty:
        _log, status = results.training_progress(results.PAPER_SCALE_RUN)
        return f"trained to epoch {status['epoch']} so far; no checkpoint is read yet." if status else "not started yet."
    latest = counts.loc[counts["epoch"].idxmax()]
    return (f"{results.released_spread_verdict(beside)}; on the same cells the parameter count alone ranks at "
            f"ρ {latest['params']:.2f}.")


def answer_numbers(evaluations: pd.DataFrame, checked: list[Claim]) -> dict[str, Any]:
    """The numbers of the introduction's answer: Table 1 and Table 2 recomputed against the paper, the claims'
    verdicts (`checked`, from `wsnas.claims.check_all`), the mean NO-FT and BNS-FT ρ, and our paper-scale run."""
    recomputed = reference.table1_recomputed(evaluations)
    table1 = reference.side_by_side(reference.paper_table1(), recomputed)
    table2 = search.table2(evaluations)
    compared = search.compare_table2(table2)
    ws_better, ws_worse, _ = search_counts(table2)
    return {"t1_agree": f"{int(table1['agrees'].sum())} of {len(table1)}",
            "t2_agree": f"{int(compared['agrees'].sum())} of {len(compared)}",
            "t2_conclusions": f"{int(compared['conclusion_agrees'].sum())} of {len(compared)}",
            "n_claims": str(len(checked)), "n_supported": str(sum(claim.verdict == SUPPORTED for claim in checked)),
            "n_robust": str(sum(claim.robust for claim in checked)),
            "no_ft_mean": names.rho(recomputed[("baseline/no_ft", "mean")].mean()),
            "bns_ft_mean": names.rho(recomputed[("baseline/bns_ft", "mean")].mean()),
            "ws_better": str(ws_better), "ws_worse": str(ws_worse), "ours_line": Markdown(paper_scale_line())}


def baseline_answer(profile: str) -> dict[str, str]:
    """The introduction's Baselines numbers: in how many spaces the parameter count, and the authors' seed-0
    super-net, rank the committed cells not significantly worse than the best ranker (`baselines.not_worse_than_best`,
    at the profile's Baselines resamples, so the same verdicts as the Baselines chapter's)."""
    _, n_boot, _ = baselines.chapter_scale(profile, None, None)
    *_, cells = baselines.load_scored(list(names.SPACE_NAMES))
    _, replicates = baselines.proxy_quality(cells, n_boot=n_boot, kendall_boot=0)
    counts = {row: len(baselines.not_worse_than_best(replicates, row)) for row in ("params", baselines.WS_SAME_CELLS)}
    return {"params_not_worse": f"{counts['params']} of {len(replicates)}",
            "ws_not_worse": f"{counts[baselines.WS_SAME_CELLS]} of {len(replicates)}",
            "n_rankers": str(len(baselines.rankers(next(iter(replicates.values())))))}


COMMITTED_RUNS_SOURCE = "trained and read here by wsnas study: our committed runs, their states and readings"


def data_files_table() -> pd.DataFrame:
    """The introduction's table of data/: one row per embedded file the book reads (files marked PARTIAL in the
    MANIFEST, an unfinished computation, are not read), our committed runs (study/) as one row; columns file (as
    HTML code), source (commits shortened, parentheses dropped), licence, size (MB)."""
    files = pd.DataFrame(manifest().values())[["file", "bytes", "source", "licence"]]
    files = files[~files["source"].str.contains("PARTIAL")]
    ours = files["file"].str.startswith("study/")
    files.loc[ours, ["file", "source"]] = ["study/", COMMITTED_RUNS_SOURCE]
    files["source"] = (files["source"].str.replace(r"@\s?([0-9a-f]{8})[0-9a-f]{32}", r"@\1", regex=True)
                       .str.replace(r"\s*\([^)]*\)", "", regex=True))
    files["bytes"] = files["bytes"].astype(int)  # MANIFEST is text: sum sizes, not strings
    files = files.groupby(["file", "source", "licence"], sort=False, as_index=False)["bytes"].sum()
    files["size (MB)"] = [names.decimal(size, 2) if size >= 0.01 else "< 0.01" for size in files.pop("bytes") / 1e6]
    files["file"] = [f"<code>{escape(name)}</code>" for name in files["file"]]  # a file name, not a reader's word
    return files

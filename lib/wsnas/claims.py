"""The paper's main claims, each checked against the authors' released evaluations.

Each check returns a `Claim`: the claim in our words, the evidence the book computes, and a
verdict (`supported`, `partly supported`, `not supported`). The introduction shows them as a
scoreboard; the chapters hold the detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from wsnas import bias, metrics, reference, search, space

SUPPORTED, PARTLY, NOT_SUPPORTED = "supported", "partly supported", "not supported"
ALPHA = 0.05


@dataclass(frozen=True)
class Claim:
    claim: str
    evidence: str
    verdict: str
    chapter: str


def batchnorm_fine_tuning_is_necessary(evaluations: pd.DataFrame) -> Claim:
    table = reference.table1_recomputed(evaluations)
    no_ft, bns_ft = table[("baseline/no_ft", "mean")], table[("baseline/bns_ft", "mean")]
    improved = int((bns_ft > no_ft).sum())
    gain = metrics.relative_improvement(no_ft.astype(float), bns_ft.astype(float))
    evidence = (f"BNS-FT beats NO-FT in {improved} of {len(table)} spaces; Spearman rises from "
                f"{no_ft.mean():.2f} to {bns_ft.mean():.2f} on average "
                f"(mean relative gain {gain['mean_of_relative_improvements']:.0%}, "
                f"ratio of means {gain['ratio_of_means']:.0%}).")
    verdict = SUPPORTED if improved == len(table) else PARTLY
    return Claim("Fine-tuning the batch-norm statistics per cell is necessary for a useful ranking",
                 evidence, verdict, "ranking")


def variants_help_a_little(evaluations: pd.DataFrame, seed: int = 0, n_resamples: int = 10_000) -> Claim:
    per_run = reference.correlations(evaluations)
    bns = per_run.loc[per_run["column"].str.endswith("/bns_ft")]
    improvement = metrics.improvement_over(bns, "baseline/bns_ft", n_resamples=n_resamples, seed=seed)
    beyond_noise = improvement.loc[~improvement["within_seed_noise"]]
    better = int((beyond_noise["difference"] > 0).sum())
    worse = int((beyond_noise["difference"] < 0).sum())
    evidence = (f"Of {len(improvement)} (variant, space) pairs, {better} improve on the BNS-FT baseline beyond "
                f"seed noise (95% bootstrap CI), {worse} are worse and {len(improvement) - better - worse} are "
                f"within noise; mean change {improvement['difference'].mean():+.3f} Spearman.")
    verdict = SUPPORTED if better > len(improvement) / 2 and worse == 0 else PARTLY
    return Claim("The weight-sharing variants (single kernel, pro-rata sampling, AVG-3) improve the ranking a little",
                 evidence, verdict, "variants")


def ws_rarely_beats_random(evaluations: pd.DataFrame) -> Claim:
    table = search.table2(evaluations)
    directions = table.xs("direction", axis=1, level=1)
    ws_better = int((directions == "<").to_numpy().sum())
    ws_worse = int((directions == ">").to_numpy().sum())
    cells = directions.size
    evidence = (f"Recomputed Table 2: WS-guided search is significantly better than random search in "
                f"{ws_better} of {cells} (space, TOP-k) cells, worse in {ws_worse}, and not different in "
                f"{cells - ws_better - ws_worse} (one-sided Wilcoxon, 5 paired runs).")
    verdict = SUPPORTED if ws_better <= cells / 3 else NOT_SUPPORTED
    return Claim("Search guided by weight-sharing is rarely better than random search", evidence, verdict, "ws_search")


def correlation_does_not_explain_search(evaluations: pd.DataFrame, k: int = 10) -> Claim:
    correlation = reference.table1_recomputed(evaluations)[("baseline/bns_ft", "mean")].astype(float)
    advantage = pd.Series({
        name: float((regrets["random"] - regrets["ws"]).mean())
        for name in correlation.index
        for regrets in [search.top_k_regrets(evaluations, name, k)]
    })
    result = scipy.stats.spearmanr(correlation, advantage.reindex(correlation.index))
    evidence = (f"Across the 7 spaces, the Spearman between a space's BNS-FT correlation and WS's mean TOP-{k} "
                f"regret advantage over random search is {result.statistic:+.2f} (p = {result.pvalue:.2f}).")
    verdict = SUPPORTED if result.pvalue > ALPHA else NOT_SUPPORTED
    return Claim("A higher ranking correlation does not by itself give a better search", evidence, verdict, "ws_search")


def larger_spaces_correlate_worse(evaluations: pd.DataFrame) -> Claim:
    sizes = pd.Series(space.space_sizes(), dtype=float)
    paper = bias.size_correlation(reference.paper_table1()[("baseline/bns_ft", "mean")].astype(float), sizes)
    recomputed = bias.size_correlation(
        reference.table1_recomputed(evaluations)[("baseline/bns_ft", "mean")].astype(float), sizes)
    evidence = (f"Spearman between space size and BNS-FT correlation: {paper['spearman']:+.2f} from the paper's "
                f"rounded table (p = {paper['p_value']:.2f}; exact permutation p = {paper['p_value_exact']:.2f}), "
                f"{recomputed['spearman']:+.2f} recomputed; 7 nested spaces, so the test is weak.")
    verdict = PARTLY if paper["p_value_exact"] > ALPHA else SUPPORTED
    return Claim("Larger search spaces give lower correlations", evidence, verdict, "bias")


def spaces_bias_differently(evaluations: pd.DataFrame) -> Claim:
    effects = bias.feature_effects(evaluations)
    significant = effects.loc[effects["p_value"] < ALPHA]
    signs = significant.groupby("feature")["effect"].agg(lambda effect: set(np.sign(effect)))
    reversed_features = sorted(name for name, found in signs.items() if found == {-1.0, 1.0})
    evidence = (f"{len(significant)} of {len(effects)} (space, feature) effects on the proxy's rank residual are "
                f"significant over the super-nets; {len(reversed_features)} features change sign between spaces "
                f"({', '.join(reversed_features[:4]) or 'none'}).")
    verdict = SUPPORTED if reversed_features else PARTLY
    return Claim("Each search space biases the super-net in its own way", evidence, verdict, "bias")


CHECKS = (
    batchnorm_fine_tuning_is_necessary,
    variants_help_a_little,
    ws_rarely_beats_random,
    correlation_does_not_explain_search,
    larger_spaces_correlate_worse,
    spaces_bias_differently,
)


def scoreboard(evaluations: pd.DataFrame | None = None) -> pd.DataFrame:
    """All claims with their evidence and verdict, one row each."""
    evaluations = reference.load_evaluations() if evaluations is None else evaluations
    return pd.DataFrame([vars(check(evaluations)) for check in CHECKS])

"""The paper's main claims, each with its decision rule, its verdict and how the verdict changes
under every reading the project computes.

The rule comes first. A claim is "supported" only by a significant test in the claim's
direction (or, for a claim of no effect, an equivalence test); a non-significant result is
"not contradicted (weak evidence)"; a significant test against the claim "contradicts" it;
claims about several spaces can be "partly supported". Each claim is then re-decided under
every reading of the data the project computes (test, multiple-testing correction, counting
of duplicate runs, protocol of the search, ...): the verdict is "robust" when every reading
gives the same verdict, else it "depends on the reading", and the readings that flip it are
named. By default each distinct super-net counts once: a run released twice (byte-identical,
`wsnas.reference.duplicate_runs`) is one super-net; the paper's counting is one reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.stats

from wsnas import bias, metrics, names, reference, results, search, space
from wsnas.metrics import ALPHA, EQUIVALENCE_MARGIN, correlation_equivalence_p, holm, spearman_test

SUPPORTED = "supported"
PARTLY = "partly supported"
WEAK = "not contradicted (weak evidence)"
CONTRADICTED = "contradicted"
VERDICTS = (SUPPORTED, PARTLY, WEAK, CONTRADICTED)
ROBUST, DEPENDS = "robust", "depends on the reading"

CHAPTER_TITLES = {"ranking": "Ranking", "variants": "Variants", "ws_search": "Search", "bias": "Bias"}


@dataclass(frozen=True)
class ClaimReading:
    """The verdict of a claim under one reading of the data, and the numbers behind it."""

    reading: str
    verdict: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: its rule, its verdict under the default reading and under every other."""

    id: str
    claim: str
    rule: str
    chapter: str
    readings: tuple[ClaimReading, ...] = field(repr=False)
    # other methods judged by the same rule (e.g. search guided by another super-net's proxies): shown beside the
    # verdict, never counted in its robustness, which is about readings of the paper's own protocol
    alternatives: tuple[ClaimReading, ...] = field(default=(), repr=False)
    caveat: str = ""  # what the verdict's numbers do not show (e.g. a setting behind one of the columns compared)

    @property
    def verdict(self) -> str:
        return self.readings[0].verdict

    @property
    def evidence(self) -> str:
        return self.readings[0].evidence

    @property
    def robust(self) -> bool:
        return len({reading.verdict for reading in self.readings}) == 1

    @property
    def flipping(self) -> list[ClaimReading]:
        """The readings whose verdict differs from the default's."""
        return [reading for reading in self.readings if reading.verdict != self.verdict]

    @property
    def robustness(self) -> str:
        """'robust', or 'depends on the reading: <reading> → <verdict>; ...'."""
        if self.robust:
            return f"{ROBUST} (all {len(self.readings)} readings agree)"
        flips = "; ".join(f"{reading.reading} → {reading.verdict}" for reading in self.flipping)
        return f"{DEPENDS}: {flips}"

    def as_json(self) -> dict:
        """The claim for `wsnas reference claims --json`."""
        return {"id": self.id, "claim": self.claim, "rule": self.rule, "verdict": self.verdict,
                "evidence": self.evidence, "chapter": self.chapter, "robust": self.robust,
                "sensitivity": [{"reading": r.reading, "verdict": r.verdict, "evidence": r.evidence}
                                for r in self.readings],
                "alternatives": [{"method": r.reading, "verdict": r.verdict, "evidence": r.evidence}
                                 for r in self.alternatives], "caveat": self.caveat}


# ---------------------------------------------------------------------------------------------
# Statistics shared by the rules


def distinct_runs(per_run: pd.DataFrame, duplicates: pd.DataFrame) -> pd.DataFrame:
    """`per_run` (one row per column, space, seed) without the second copy of each run released twice."""
    copies = pd.MultiIndex.from_frame(duplicates[["column", "space", "seed_copy"]])
    keys = pd.MultiIndex.from_frame(per_run[["column", "space", "seed"]])
    return per_run.loc[~keys.isin(copies)].reset_index(drop=True)


def distinct_correlations(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Per-run correlations (`wsnas.reference.correlations`), each distinct super-net once (`distinct_runs`)."""
    return distinct_runs(reference.correlations(evaluations), reference.duplicate_runs(evaluations))


def _counting(per_run: pd.DataFrame, duplicates: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"distinct super-nets": distinct_runs(per_run, duplicates), "paper's count (copies twice)": per_run}


def _kept(per_run: pd.DataFrame) -> pd.DataFrame:
    return per_run.loc[~per_run["diverged"].astype(bool)]


def _count_verdict(better: int, worse: int, total: int) -> str:
    """Verdict of a claim "X is better" tested in `total` places."""
    if better > total / 2 and worse == 0:
        return SUPPORTED
    if better > worse:
        return PARTLY
    if worse > better:
        return CONTRADICTED
    return WEAK


def _correlation_verdict(rho: float, p_claim: float, p_against: float, p_equivalent: float | None = None) -> str:
    if p_claim < ALPHA or (p_equivalent is not None and p_equivalent < ALPHA):
        return SUPPORTED
    if p_against < ALPHA:
        return CONTRADICTED
    return WEAK


def _claim(id: str, claim: str, rule: str, chapter: str, readings: dict[str, tuple[str, str]],
           alternatives: dict[str, tuple[str, str]] | None = None, caveat: str = "") -> Claim:
    return Claim(id, claim, rule, chapter, tuple(ClaimReading(name, *value) for name, value in readings.items()),
                 tuple(ClaimReading(name, *value) for name, value in (alternatives or {}).items()), caveat)


# ---------------------------------------------------------------------------------------------
# The claims


def bns_gains(per_run: pd.DataFrame, correction: str = "holm") -> pd.DataFrame:
    """Per space: mean Spearman of BNS-FT and NO-FT over kept super-nets, one-sided Welch p (BNS-FT > NO-FT)."""
    kept = _kept(per_run)
    rows = []
    for space_name in space.PAPER_ORDER:
        values = {mode: kept.loc[(kept["space"] == space_name) & (kept["column"] == f"baseline/{mode}"),
                                 "spearman"].to_numpy() for mode in ("bns_ft", "no_ft")}
        test = scipy.stats.ttest_ind(values["bns_ft"], values["no_ft"], equal_var=False, alternative="greater")
        rows.append({"space": space_name, "bns_ft": values["bns_ft"].mean(), "no_ft": values["no_ft"].mean(),
                     "p": float(test.pvalue), "p_against": 1 - float(test.pvalue)})
    table = pd.DataFrame(rows).set_index("space")
    table["p_holm"] = holm(table["p"])
    table["p_against_holm"] = holm(table["p_against"])
    return table


def batchnorm_fine_tuning_is_necessary(evaluations: pd.DataFrame, per_run: pd.DataFrame,
                                       duplicates: pd.DataFrame) -> Claim:
    rule = ("Per space, BNS-FT's Spearman ρ must be significantly higher than NO-FT's (one-sided Welch t-test "
            "over the super-nets, α = 0.05, Holm-corrected over the 7 spaces). Supported if it is in every space; "
            "partly supported if in more spaces than the reverse; contradicted if NO-FT wins more often.")
    readings = {}
    for counting, runs in _counting(per_run, duplicates).items():
        gains = bns_gains(runs)
        for correction, column in (("Holm", "p_holm"), ("uncorrected", "p")):
            better = int((gains[column] < ALPHA).sum())
            worse = int((gains["p_against" + column[1:]] < ALPHA).sum())
            relative = metrics.relative_improvement(gains["no_ft"], gains["bns_ft"])
            verdict = SUPPORTED if better == len(gains) else _count_verdict(better, worse, len(gains))
            evidence = (f"BNS-FT is significantly above NO-FT in {better} of {len(gains)} spaces "
                        f"(largest {correction} p = {names.p_value(gains[column].max())}); mean ρ "
                        f"{names.rho(gains['no_ft'].mean())} → {names.rho(gains['bns_ft'].mean())} "
                        f"(ratio of means {names.percent(relative['ratio_of_means'], signed=True)}; {counting}, "
                        "diverged ones left out).")
            readings[f"{counting}, {correction}"] = (verdict, evidence)
    return _claim("bns-ft-necessary", "Fine-tuning the batch-norm statistics per cell (BNS-FT) is necessary "
                  "for a useful ranking", rule, "ranking", readings, caveat=results.momentum_caveat())


def variant_tests(per_run: pd.DataFrame, control: str = "baseline/bns_ft", n_resamples: int = 10_000,
                  seed: int = 0) -> pd.DataFrame:
    """Per (space, variant): difference of mean ρ over the control, bootstrap CI, Welch p, Holm-corrected Welch p."""
    bns = per_run.loc[per_run["column"].str.endswith("/bns_ft")]
    tests = metrics.improvement_over(bns, control, n_resamples=n_resamples, seed=seed)
    tests["welch_p_holm"] = holm(tests["welch_p"])
    return tests


def variants_help_a_little(evaluations: pd.DataFrame, per_run: pd.DataFrame, duplicates: pd.DataFrame,
                           n_resamples: int = 10_000) -> Claim:
    rule = ("Per (space, variant) pair, the variant's mean Spearman ρ must differ significantly from the BNS-FT "
            "baseline's over the super-nets (Welch's t-test, two-sided α = 0.05; super-nets of two columns are "
            "independent). Supported if more than half of the 28 pairs are significantly better and none worse; "
            "partly supported if more pairs are better than worse; contradicted if more are worse; not "
            "contradicted (weak evidence) if none differ.")
    readings = {}
    for counting, runs in _counting(per_run, duplicates).items():
        tests = variant_tests(runs, n_resamples=n_resamples)
        decisions = {
            "Welch": tests["welch_p"] < ALPHA,
            "Welch, Holm over 28 pairs": tests["welch_p_holm"] < ALPHA,
            "percentile bootstrap CI": ~tests["within_seed_noise"],
        }
        for test, significant in decisions.items():
            better = int((significant & (tests["difference"] > 0)).sum())
            worse = int((significant & (tests["difference"] < 0)).sum())
            evidence = (f"{better} of {len(tests)} pairs significantly better than the BNS-FT baseline, {worse} "
                        f"worse, {len(tests) - better - worse} indistinguishable; mean change "
                        f"{names.decimal(tests['difference'].mean(), 3, signed=True)} ρ.")
            readings[f"{test}, {counting}"] = (_count_verdict(better, worse, len(tests)), evidence)
    return _claim("variants-help", "The variants (SINGLE-K, PRO-RATA, AVG-3, S-K + P-R) improve the ranking a "
                  "little over the BNS-FT baseline", rule, "variants", readings)


def search_counts(table: pd.DataFrame, corrected: bool = False) -> tuple[int, int, int]:
    """Of a Table-2-style table: the cells where WS is significantly better, worse, and all cells (Holm if `corrected`)."""
    p = table.xs("p", axis=1, level=1).to_numpy(dtype=float).ravel()
    direction = table.xs("direction", axis=1, level=1).to_numpy().ravel()
    if corrected:
        significant = holm(p) < ALPHA
        direction = np.where(significant, direction, "x")
    return int((direction == "<").sum()), int((direction == ">").sum()), direction.size


def _search_verdict(better: int, cells: int) -> str:
    """"Rarely better": significantly better in at most a third of the cells; more than half contradicts it."""
    if better > cells / 2:
        return CONTRADICTED
    return SUPPORTED if better <= cells / 3 else PARTLY


HOLM_READINGS = ("default", "random_expectation")  # readings also shown with Holm over the 21 cells


def search_tables(evaluations: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Table 2 recomputed under every reading of the search protocol (`wsnas.search.READINGS`)."""
    tables, with_repeats = {}, None
    for reading, chosen in search.READINGS.items():
        frame = evaluations
        if chosen.repeat is not None:
            with_repeats = reference.with_repeats(evaluations) if with_repeats is None else with_repeats
            frame = with_repeats
        tables[reading] = search.table2(frame, chosen)
    return tables


PAPERS_TABLE2_READING = "the paper's Table 2 as printed"  # the rule applied to the paper's own numbers


def search_readings(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per reading of the search protocol (and Holm over the 21 cells), then the paper's own Table 2: cells where
    WS is better, worse, the verdict; `alternative` marks search guided by another super-net's proxies (another
    method, not a reading of the protocol)."""
    rows = []
    default_column = search.READINGS["default"].column
    for reading, table in {**tables, PAPERS_TABLE2_READING: reference.paper_table2()}.items():
        alternative = reading in search.READINGS and search.READINGS[reading].column != default_column
        for corrected in (False, True) if reading in HOLM_READINGS else (False,):
            better, worse, cells = search_counts(table, corrected)
            label = names.READING_NAMES.get(reading, reading) + (", Holm over 21 cells" if corrected else "")
            rows.append({"reading": label, "better": better, "worse": worse, "cells": cells,
                         "verdict": _search_verdict(better, cells), "alternative": alternative})
    return pd.DataFrame(rows)


def ws_rarely_beats_random(evaluations: pd.DataFrame, tables: dict[str, pd.DataFrame] | None = None) -> Claim:
    rule = ("Per (space, TOP-k) cell, WS-guided and random search are compared by the paper's one-sided Wilcoxon "
            "signed-rank test over the 5 paired runs (α = 0.05). \"Rarely better\": supported if WS is significantly "
            "better in at most a third of the 21 cells, contradicted if in more than half, partly supported in "
            "between. The claim says nothing of WS being worse, so cells where it is worse do not count. Applied to "
            "the paper's own Table 2 as a check of the rule.")
    table = search_readings(search_tables(evaluations) if tables is None else tables)
    described = {row.reading: (row.verdict, (f"WS significantly better than random in {row.better} of {row.cells} "
                                             f"(space, TOP-k) cells, worse in {row.worse}, not different in "
                                             f"{row.cells - row.better - row.worse}."))
                 for row in table.itertuples()}
    alternative = set(table.loc[table["alternative"], "reading"])
    return _claim("ws-rarely-beats-random", "Search guided by weight-sharing is rarely better than random search",
                  rule, "ws_search", {key: value for key, value in described.items() if key not in alternative},
                  {key: value for key, value in described.items() if key in alternative})


def search_advantage(evaluations: pd.DataFrame, k: int) -> pd.Series:
    """Per space: mean over runs of random's TOP-k regret minus WS's (positive = WS better)."""
    return pd.Series({space_name: float((regrets["random"] - regrets["ws"]).mean())
                      for space_name in space.PAPER_ORDER
                      for regrets in [search.top_k_regrets(evaluations, space_name, k)]})


def correlation_does_not_explain_search(evaluations: pd.DataFrame, per_run: pd.DataFrame,
                                        top_k: tuple[int, ...] = (10, 1, 100)) -> Claim:
    rule = ("Across the 7 spaces, Spearman ρ between a space's mean BNS-FT correlation and WS's mean TOP-k regret "
            "advantage over random search (exact permutation test, α = 0.05). Supported if ρ is significantly "
            f"negative (one-sided) or equivalent to zero (two one-sided tests, |ρ| < {EQUIVALENCE_MARGIN}); "
            "contradicted if significantly positive; otherwise not contradicted (weak evidence).")
    correlation = _kept(per_run).loc[lambda runs: runs["column"] == "baseline/bns_ft"].groupby("space")["spearman"].mean()
    readings = {}
    for k in top_k:
        advantage = search_advantage(evaluations, k).reindex(correlation.index)
        rho, p_less = spearman_test(correlation, advantage, "less")
        _, p_greater = spearman_test(correlation, advantage, "greater")
        p_equivalent = correlation_equivalence_p(rho, len(correlation))
        verdict = _correlation_verdict(rho, p_less, p_greater, p_equivalent)
        readings[f"TOP-{k}" + (" (default)" if k == top_k[0] else "")] = (
            verdict, (f"ρ = {names.rho(rho, signed=True)} over 7 spaces (one-sided p = {names.p_value(p_less)} "
                     f"for a negative ρ, {names.p_value(p_greater)} for a positive one; equivalence p = "
                     f"{names.p_value(p_equivalent)})."))
    return _claim("correlation-not-search", "A higher ranking correlation does not by itself give a better search",
                  rule, "ws_search", readings)


NESTING_CAVEAT = ("The 7 spaces are nested (A0 holds all the others, A0-res and A0-nores split it), so they are "
                  "not 7 independent points and every p here is optimistic.")


def size_correlations(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Spearman ρ between space size and every column of Table 1 (`wsnas.bias.size_correlation`), from the paper's
    means and from the recomputed ones; index (column's reader name, "paper (Table 1)" | "recomputed")."""
    sizes = pd.Series(space.space_sizes(), name="cells")
    tables = {"paper (Table 1)": reference.paper_table1(), "recomputed": reference.table1_recomputed(evaluations)}
    rows = [{"column": names.COLUMN_NAMES[column], "means": source, **bias.size_correlation(table[(column, "mean")], sizes)}
            for column in names.COLUMN_NAMES for source, table in tables.items()]
    return pd.DataFrame(rows).set_index(["column", "means"])


def size_number_verdict(size_claim: pd.DataFrame) -> str:
    """Whether the paper's Spearman(BNS-FT ρ, space size) and its p come out of Table 1's means to two decimals
    (`size_correlations`): "recomputed exactly" or "not recomputed exactly"."""
    paper = size_claim.loc[(names.COLUMN_NAMES["baseline/bns_ft"], "paper (Table 1)")]
    stated = reference.PAPER_NUMBERS
    exact = round(paper["spearman"], 2) == stated["size_spearman"] and round(paper["p_value"], 2) == stated["size_p_value"]
    return "recomputed exactly" if exact else "not recomputed exactly"


def effect_verdict(effects: pd.DataFrame, space_name: str, feature: str) -> str:
    """A named bias, "feature over-evaluated in this space" (`bias_effects`): supported when its confidence interval
    over super-nets lies above 0, contradicted when below, else not contradicted (weak evidence)."""
    row = effects.set_index(["space", "feature"]).loc[(space_name, feature)]
    return SUPPORTED if row["ci_low"] > 0 else (CONTRADICTED if row["ci_high"] < 0 else WEAK)


def larger_spaces_correlate_worse(evaluations: pd.DataFrame) -> Claim:
    rule = ("Spearman ρ between a space's number of cells and its BNS-FT correlation over the 7 spaces must be "
            "significantly negative (exact permutation test, two-sided by default, α = 0.05: the paper reports "
            "a two-sided p; the one-sided test in the claim's direction is a reading). Contradicted if significantly "
            f"positive; otherwise not contradicted (weak evidence). {NESTING_CAVEAT}")
    sizes = pd.Series(space.space_sizes(), dtype=float)
    means = {"recomputed means": reference.table1_recomputed(evaluations)[("baseline/bns_ft", "mean")],
             "the paper's rounded means": reference.paper_table1()[("baseline/bns_ft", "mean")]}
    readings = {}
    for source, mean in means.items():
        mean = mean.astype(float)
        size = sizes.reindex(mean.index)
        rho, p_less = spearman_test(size, mean, "less")
        _, p_greater = spearman_test(size, mean, "greater")
        _, p_two_sided = spearman_test(size, mean, "two-sided")
        t_two_sided = float(scipy.stats.spearmanr(size, mean).pvalue)
        tests = {"exact two-sided": (p_two_sided if rho < 0 else 1.0, p_two_sided if rho > 0 else 1.0),
                 "exact one-sided": (p_less, p_greater),
                 "t-approximation, two-sided (the paper's p)": (t_two_sided if rho < 0 else 1.0,
                                                                t_two_sided if rho > 0 else 1.0)}
        for test, (p_claim, p_against) in tests.items():
            readings[f"{source}, {test}"] = (
                _correlation_verdict(rho, p_claim, p_against),
                (f"ρ(space size, BNS-FT ρ) = {names.rho(rho, signed=True)}, p = {names.p_value(p_claim)} "
                 "(7 nested spaces: p is optimistic)."))
    return _claim("larger-spaces-worse", "Larger search spaces give lower correlations", rule, "bias", readings)


def bias_effects(evaluations: pd.DataFrame, ci: str = "t", features: pd.DataFrame | None = None,
                 column: str = "baseline/bns_ft", seed: int = 0) -> pd.DataFrame:
    """Feature effects on the rank residual (`wsnas.bias.feature_effects`) with Holm-corrected p beside the raw p."""
    effects = bias.feature_effects(evaluations, column=column, ci=ci, features=features, seed=seed)
    effects["p_holm"] = holm(effects["p_value"])
    return effects


def sign_changes(effects: pd.DataFrame, significant: pd.Series) -> list[str]:
    """Features with significant effects of both signs in different spaces."""
    chosen = effects.loc[significant.to_numpy()]
    signs = chosen.groupby("feature")["effect"].agg(lambda effect: set(np.sign(effect)))
    return sorted(name for name, found in signs.items() if {-1.0, 1.0} <= found)


def spaces_bias_differently(evaluations: pd.DataFrame, features: pd.DataFrame | None = None) -> Claim:
    rule = ("A feature's effect on the rank residual is estimated per super-net and tested against zero over the "
            "super-nets of each space (one-sample t-test, Holm-corrected over every (space, feature) pair). "
            "Supported if some feature is significantly over-evaluated in one space and significantly "
            "under-evaluated in another; otherwise not contradicted (weak evidence).")
    readings = {}
    for ci in ("t", "bootstrap"):
        effects = bias_effects(evaluations, ci=ci, features=features)
        decisions = {"t-test, Holm": effects["p_holm"] < ALPHA, "t-test, uncorrected": effects["p_value"] < ALPHA}
        if ci == "bootstrap":
            decisions = {"bootstrap CI excludes 0": (effects["ci_low"] > 0) | (effects["ci_high"] < 0)}
        for test, significant in decisions.items():
            flipped = sign_changes(effects, significant.fillna(False))
            evidence = (f"{int(significant.sum())} of {int(effects['p_value'].notna().sum())} testable (space, feature) "
                        f"effects are significant; {len(flipped)} features change sign between spaces"
                        f"{': ' + ', '.join(names.FEATURE_NAMES.get(f, f) for f in flipped) if flipped else ''}.")
            readings[test] = (SUPPORTED if flipped else WEAK, evidence)
    return _claim("spaces-bias-differently", "Each search space biases the super-net in its own way", rule, "bias",
                  readings)


# ---------------------------------------------------------------------------------------------
# All claims


def check_all(evaluations: pd.DataFrame | None = None, n_resamples: int = 10_000) -> list[Claim]:
    """Every claim, decided on the released evaluations."""
    evaluations = reference.load_evaluations() if evaluations is None else evaluations
    per_run = reference.correlations(evaluations)
    duplicates = reference.duplicate_runs(evaluations)
    distinct = distinct_runs(per_run, duplicates)
    return [
        batchnorm_fine_tuning_is_necessary(evaluations, per_run, duplicates),
        variants_help_a_little(evaluations, per_run, duplicates, n_resamples=n_resamples),
        ws_rarely_beats_random(evaluations),
        correlation_does_not_explain_search(evaluations, distinct),
        larger_spaces_correlate_worse(evaluations),
        spaces_bias_differently(evaluations),
    ]


def scoreboard(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: claim, verdict, robustness, evidence, chapter."""
    return pd.DataFrame([{"id": claim.id, "claim": claim.claim, "verdict": claim.verdict,
                          "robustness": claim.robustness, "evidence": claim.evidence, "chapter": claim.chapter}
                         for claim in claims])


def sensitivity(claim: Claim) -> pd.DataFrame:
    """The claim's verdict under each reading, for a page (reading, verdict, evidence)."""
    return pd.DataFrame([vars(reading) for reading in claim.readings])


def by_id(claims: list[Claim], id: str) -> Claim:
    """The claim with this id."""
    for claim in claims:
        if claim.id == id:
            return claim
    raise KeyError(f"no claim {id!r}: choose one of {', '.join(c.id for c in claims)}")

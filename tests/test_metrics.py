"""wsnas.metrics on small hand-made inputs and on real released runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from wsnas import metrics, reference


@pytest.fixture(scope="module")
def released() -> pd.DataFrame:
    return reference.read_released_evaluations()


def test_precision_at_k_counts_true_top_k_among_proxy_top_k():
    target = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    proxy = np.array([0.1, 0.8, 0.7, 0.9, 0.2])  # proxy's top-2: positions 3, 1; true top-2: 0, 1
    assert metrics.precision_at_k(proxy, target, 2) == 0.5
    assert metrics.precision_at_k(target, target, 3) == 1.0
    assert metrics.precision_at_k(-target, target, 2) == 0.0


def test_top_k_breaks_ties_by_position():
    assert list(metrics.top_k_indices(np.array([0.5, 0.7, 0.7, 0.7]), 2)) == [1, 2]
    with pytest.raises(ValueError, match="top-5 of 4"):
        metrics.top_k_indices(np.zeros(4), 5)


def test_ranking_quality_matches_scipy_run_by_run(released):
    runs = released[(released["space"] == "A2") & (released["mode"] == "bns_ft") & (released["variant"] == "baseline")]
    # A real run and a synthetic target: a noisy monotone function of the proxy.
    rng = np.random.default_rng(0)
    runs = runs.assign(target=runs["proxy_accuracy"] + rng.normal(0, 0.05, len(runs)))
    quality = metrics.ranking_quality(runs, by=["seed"], target="target", with_kendall=True, top_k=(10, 100))
    assert list(quality["seed"]) == [0, 1, 2, 3, 4] and (quality["n"] == 1000).all()
    for _, row in quality.iterrows():
        run = runs[runs["seed"] == row["seed"]]
        assert row["spearman"] == pytest.approx(scipy.stats.spearmanr(run["proxy_accuracy"], run["target"]).statistic)
        assert row["kendall"] == pytest.approx(scipy.stats.kendalltau(run["proxy_accuracy"], run["target"]).statistic)
        assert 0 <= row["precision@10"] <= 1 and 0 <= row["precision@100"] <= 1
    assert (quality["kendall"] < quality["spearman"]).all()  # for positive rank association τ < ρ


def test_constant_proxy_has_no_correlation(released):
    diverged = released[(released["space"] == "A4") & (released["variant"] == "avg3") & (released["seed"] == 1)]
    quality = metrics.ranking_quality(diverged.assign(target=np.arange(1000.0)), by=["seed"], target="target",
                                      with_kendall=True, top_k=(10,))
    assert quality[["spearman", "kendall", "precision@10"]].isna().all(axis=None)


def test_ranking_quality_names_missing_columns(released):
    with pytest.raises(KeyError, match="mean_validation_accuracy"):
        metrics.ranking_quality(released.head(10), by=["seed"])


def test_summary_uses_population_std_and_lists_excluded_seeds():
    per_run = pd.DataFrame({"space": "A1", "seed": [0, 1, 2, 3], "spearman": [0.5, 0.7, 0.6, np.nan],
                            "diverged": [False, False, False, True]})
    summary = metrics.summarise_over_supernets(per_run, by=["space"])
    row = summary.loc["A1"]
    assert row["mean"] == pytest.approx(0.6)
    assert row["std"] == pytest.approx(np.std([0.5, 0.7, 0.6]))  # ddof=0, as the paper
    assert row["n"] == 3 and row["excluded_seeds"] == (3,)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(1).normal(0.6, 0.03, 5)
    low, high = metrics.bootstrap_ci(values, seed=3)
    assert (low, high) == metrics.bootstrap_ci(values, seed=3)
    assert low < values.mean() < high
    wide = metrics.bootstrap_ci(np.random.default_rng(1).normal(0.6, 0.3, 5), seed=3)
    assert wide[1] - wide[0] > high - low
    with pytest.raises(ValueError, match="at least 2"):
        metrics.bootstrap_ci(np.array([0.5]))


def test_improvement_over_control_flags_seed_noise():
    per_run = pd.DataFrame({
        "space": "A1", "column": ["control"] * 5 + ["better"] * 5 + ["same"] * 5,
        "seed": list(range(5)) * 3, "diverged": False,
        "spearman": [0.60, 0.62, 0.61, 0.59, 0.60, 0.70, 0.72, 0.71, 0.69, 0.70, 0.61, 0.59, 0.62, 0.60, 0.58],
    })
    result = metrics.improvement_over(per_run, "control").set_index("column")
    assert result.loc["better", "difference"] == pytest.approx(0.10)
    assert not result.loc["better", "within_seed_noise"] and result.loc["better", "welch_p"] < 0.01
    assert result.loc["same", "within_seed_noise"]


def test_about_270_percent_is_the_mean_of_per_space_improvements():
    paper = reference.paper_table1()
    improvement = metrics.relative_improvement(paper["baseline/no_ft", "mean"], paper["baseline/bns_ft", "mean"])
    assert improvement["mean_of_relative_improvements"] == pytest.approx(2.735, abs=0.001)
    assert improvement["ratio_of_means"] == pytest.approx(1.924, abs=0.001)


def test_noise_ceiling_is_one_for_identical_repeats_and_lower_with_noise():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.8, 0.95, 300)
    identical = pd.DataFrame({"space": "A1", "r0": truth, "r1": truth, "r2": truth})
    noisy = pd.DataFrame({"space": "A2", **{f"r{r}": truth + rng.normal(0, 0.02, 300) for r in range(3)}})
    ceiling = metrics.noise_ceiling_of_repeats(pd.concat([identical, noisy]))
    assert ceiling.loc["A1", "repeat_vs_rest"] == pytest.approx(1.0)
    assert ceiling.loc["A1", "repeat_vs_repeat"] == pytest.approx(1.0)
    assert 0.5 < ceiling.loc["A2", "repeat_vs_repeat"] < ceiling.loc["A2", "repeat_vs_rest"] < 1.0
    assert ceiling.loc["A2", "cells"] == 300
    with pytest.raises(KeyError, match="r2"):
        metrics.noise_ceiling_of_repeats(noisy.drop(columns="r2"))


def test_the_spearman_bootstrap_interval_holds_the_estimate_and_is_undefined_for_constant_proxies():
    table = reference.load_evaluations().query("space == 'A4' and mode == 'bns_ft' and variant == 'baseline' and seed == 0")
    proxy, truth = table["proxy_accuracy"].to_numpy(), table["mean_validation_accuracy"].to_numpy()
    low, high = metrics.spearman_ci(proxy, truth, n_boot=500)
    assert -1 <= low < scipy.stats.spearmanr(proxy, truth).statistic < high <= 1
    assert np.isnan(metrics.spearman_ci(np.full(len(truth), 0.1), truth, n_boot=50)).all()


def test_precision_at_k_over_rows_is_the_one_row_measure_with_the_same_ties():
    rng = np.random.default_rng(1)
    proxy, target = rng.random((50, 40)).round(1), rng.random((50, 40))  # rounded: many ties
    for k in (1, 5, 10):
        expected = [metrics.precision_at_k(p, t, k) for p, t in zip(proxy, target)]
        assert metrics.precision_at_k_rows(proxy, target, k).tolist() == expected


def test_cell_bootstrap_is_the_mean_over_runs_with_an_interval_around_it():
    evaluations = reference.load_evaluations()
    runs = evaluations[(evaluations["space"] == "A4") & (evaluations["column"] == "baseline/bns_ft") & ~evaluations["diverged"]]
    table = metrics.cell_bootstrap_ci(runs, ["space", "column"], top_k=(10, 100), n_resamples=40).set_index("measure")
    per_run = [(run["proxy_accuracy"].to_numpy(), run["mean_validation_accuracy"].to_numpy()) for _, run in runs.groupby("seed")]
    assert table.loc["kendall", "mean"] == pytest.approx(np.mean([metrics.kendall(x, y) for x, y in per_run]))
    assert table.loc["precision@100", "mean"] == pytest.approx(np.mean([metrics.precision_at_k(x, y, 100) for x, y in per_run]))
    assert (table["ci_low"] <= table["mean"]).all() and (table["mean"] <= table["ci_high"]).all()
    again = metrics.cell_bootstrap_ci(runs, ["space", "column"], top_k=(10, 100), n_resamples=40).set_index("measure")
    pd.testing.assert_frame_equal(table, again)

"""Tests of wsnas.search: the search protocol's pieces, and Table 2 recomputed from the released evaluations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wsnas import metrics, reference, search
from wsnas.space import PAPER_ORDER


@pytest.fixture(scope="module")
def evaluations() -> pd.DataFrame:
    from wsnas import reference

    return reference.load_evaluations()


# --- the Wilcoxon convention -------------------------------------------------------------------


def test_five_of_five_pairs_give_the_papers_0_02():
    ws = np.array([0.03, 0.022, 0.021, 0.023, 0.012])
    random = ws - np.array([0.001, 0.002, 0.003, 0.004, 0.005])
    assert metrics.wilcoxon_paper(ws, random) == (pytest.approx(0.0216, abs=1e-4), ">")
    assert metrics.wilcoxon_paper(random, ws) == (pytest.approx(0.0216, abs=1e-4), "<")


def test_exact_two_sided_test_cannot_go_below_0_0625_with_five_pairs():
    differences = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    exact = stats.wilcoxon(differences, method="exact").pvalue
    assert exact == pytest.approx(metrics.exact_two_sided_floor(5)) == pytest.approx(0.0625)


@pytest.mark.parametrize("pairs", [4, 5])
def test_attainable_p_values_are_the_ones_wilcoxon_paper_gives(pairs):
    table = metrics.attainable_p_values(pairs)
    ranks = np.arange(1, pairs + 1)
    for w_plus, p in zip(table["W+"], table["one-sided p"]):
        # differences ±rank whose positive ranks sum to W+ (greedy from the largest rank)
        positive, left = np.zeros(pairs, dtype=bool), int(w_plus)
        for rank in ranks[::-1]:
            if rank <= left:
                positive[rank - 1], left = True, left - rank
        assert left == 0
        differences = np.where(positive, ranks, -ranks).astype(float)
        assert metrics.wilcoxon_paper(differences, np.zeros(pairs)) == (pytest.approx(p), ">" if p < 0.05 else "x")
    assert len(table) == pairs * (pairs + 1) // 2 - pairs * (pairs + 1) // 4


def test_a_zero_difference_is_dropped_and_gives_the_papers_0_03():
    ws = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    random = ws + np.array([0.0, 0.1, 0.2, 0.3, 0.4])  # WS better in the 4 non-zero pairs
    p, direction = metrics.wilcoxon_paper(ws, random)
    assert round(p, 2) == 0.03 and direction == "<"


def test_not_significant_and_degenerate_cases():
    assert metrics.wilcoxon_paper([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == (1.0, "x")
    p, direction = metrics.wilcoxon_paper([1, 2, 3, 4, 5], [1.5, 1.8, 3.3, 3.6, 5.5])
    assert direction == "x" and p > 0.05
    with pytest.raises(ValueError, match="paired"):
        metrics.wilcoxon_paper([1, 2, 3], [1, 2])


# --- orders, incumbents, budgets ----------------------------------------------------------------

# Recorded with numpy 1.24.4 (classic introsort): np.argsort(x), np.argsort(-x).
NUMPY_124_INPUT = [0.4, 0.5, 0.5, 0.1, 0.2, 0.5, 0.0, 0.5, 0.5, 0.3, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.6, 0.5, 0.4, 0.6,
                   0.1, 0.1, 0.4, 0.0, 0.0, 0.3, 0.3, 0.6, 0.4, 0.3, 0.3, 0.1, 0.0, 0.1, 0.4, 0.1, 0.2, 0.0, 0.5, 0.1]
NUMPY_124_ARGSORT = [37, 23, 32, 6, 24, 39, 20, 21, 33, 3, 35, 31, 4, 10, 11, 12, 36, 29, 13, 15, 14, 25, 9, 30, 26,
                     28, 34, 0, 22, 18, 38, 17, 8, 7, 5, 2, 1, 16, 27, 19]
NUMPY_124_ARGSORT_NEGATED = [19, 27, 16, 1, 2, 5, 7, 8, 38, 17, 34, 28, 22, 18, 0, 15, 13, 9, 25, 26, 14, 29, 30, 12,
                             11, 10, 36, 4, 35, 3, 33, 39, 21, 20, 31, 32, 24, 23, 37, 6]


def test_numpy_quicksort_orders_replay_numpy_1_24():
    proxy = np.array(NUMPY_124_INPUT)
    assert search.ws_order(proxy, "numpy_quicksort_reversed").tolist() == NUMPY_124_ARGSORT[::-1]
    assert search.ws_order(proxy, "numpy_quicksort_negated").tolist() == NUMPY_124_ARGSORT_NEGATED


def test_tie_orders_on_real_proxies(evaluations):
    run = evaluations[(evaluations["column"] == "baseline/bns_ft") & (evaluations["space"] == "A4")
                      & (evaluations["seed"] == 4)].sort_values("position")
    proxy = run["proxy_accuracy"].to_numpy()
    orders = {ties: search.ws_order(proxy, ties) for ties in search.TIE_ORDERS}
    for order in orders.values():
        assert sorted(order.tolist()) == list(range(len(proxy)))
        assert np.all(np.diff(proxy[order]) <= 0)
    tied = proxy == proxy[orders["position"][0]]
    assert tied.sum() > 1, "this run's two best proxies are equal (0.6489)"
    first_tied = np.flatnonzero(tied)
    assert orders["position"][0] == first_tied[0] and orders["reverse_position"][0] == first_tied[-1]
    with pytest.raises(ValueError, match="tie order"):
        search.ws_order(proxy, "alphabetical")


def test_incumbent_is_the_best_by_selection_score_earliest_on_ties():
    score = np.array([0.5, 0.7, 0.7, 0.6, 0.9])
    test = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    assert search.incumbent_accuracy(score, test).tolist() == [10, 20, 20, 20, 50]
    batch = np.stack([score, score[::-1]])
    expected = np.stack([search.incumbent_accuracy(score, test), search.incumbent_accuracy(score[::-1], test)])
    assert np.array_equal(search.incumbent_accuracy(batch, np.stack([test, test])), expected)


def test_a_training_running_at_the_budget_is_ignored_unless_asked():
    cumulative = np.cumsum([10.0, 10.0, 10.0])
    assert search.finished_within(cumulative, 25.0).tolist() == [2]
    assert search.finished_within(cumulative, 20.0).tolist() == [2]
    assert search.finished_within(cumulative, 25.0, running_counts=True).tolist() == [3]
    assert search.finished_within(cumulative, 5.0).tolist() == [0]


def test_bad_readings_are_refused():
    with pytest.raises(ValueError, match="random_order"):
        search.Reading("x", random_order="shuffled")
    with pytest.raises(ValueError, match="repeat"):
        search.Reading("x", repeat=3)
    with pytest.raises(KeyError, match="unknown reading"):
        search.table2(pd.DataFrame(), reading="nonsense")


# --- on the released evaluations -------------------------------------------------------------------


def test_regret_curves_follow_the_protocol(evaluations):
    curves = search.regret_curves(evaluations, "A1")
    assert set(curves["method"]) == {"ws", "random"} and sorted(curves["seed"].unique()) == [0, 1, 2, 3, 4]
    for (seed, method), curve in curves.groupby(["seed", "method"]):
        assert len(curve) == 1000
        assert np.all(np.diff(curve["time"]) > 0)
        assert (curve["regret"] >= 0).all(), "the reference is the best test accuracy of all released cells"
    run = evaluations[(evaluations["column"] == "baseline/bns_ft") & (evaluations["space"] == "A1")
                      & (evaluations["seed"] == 0)].sort_values("position")
    times = run["mean_training_time"].to_numpy()
    ws = curves[(curves["seed"] == 0) & (curves["method"] == "ws")]
    first = search.ws_order(run["proxy_accuracy"].to_numpy())[0]
    assert ws["time"].iloc[0] == pytest.approx(4 * times.mean() + times[first])
    random = curves[(curves["seed"] == 0) & (curves["method"] == "random")]
    assert random["time"].iloc[-1] == pytest.approx(times.sum())


def test_top1_column_of_table2_reproduces_the_paper(evaluations):
    comparison = search.compare_table2(search.table2(evaluations))
    top1 = comparison[comparison["top"] == "top1"]
    assert top1["agrees"].all(), top1[~top1["agrees"]]
    assert comparison["agrees"].sum() == 13
    # the conclusions (direction mark: better, worse, not significant) agree more often than the rounded p-values
    assert comparison["conclusion_agrees"].sum() == 19
    differing = comparison.loc[~comparison["conclusion_agrees"], ["space", "top"]]
    assert sorted(map(tuple, differing.to_numpy())) == [("A0", "top10"), ("A0-res", "top10")]
    assert (comparison["conclusion_agrees"] >= comparison["agrees"]).all()


def test_best_of_space_cancels_in_the_paired_test(evaluations):
    default = search.table2(evaluations)
    offset = search.table2(evaluations, reading="best_of_runs")
    pd.testing.assert_frame_equal(default, offset)


def test_the_stored_order_beats_a_random_permutation(evaluations):
    stored = search.compare_table2(search.table2(evaluations))
    permuted = search.compare_table2(search.table2(evaluations, reading="random_permutation"))
    assert stored["agrees"].sum() > permuted["agrees"].sum()


def test_table2_json_shape():
    result = search.table2_json()
    assert list(result) == list(PAPER_ORDER)
    assert result["A4"]["top1"]["direction"] == ">" and round(result["A4"]["top1"]["p"], 2) == 0.02


def test_search_over_any_cells_is_table_2s_comparison_of_one_run():
    """On one released A4 run's 1,000 cells, the guided regret and the budget are those of `top_k_regrets` under the
    expectation reading (the same cost model), and the random regret their expectation over the same permutations."""
    evaluations = reference.load_evaluations()
    run = evaluations.query("space == 'A4' and column == 'baseline/bns_ft' and seed == 0").sort_values("position")
    expected = search.top_k_regrets(evaluations, "A4", 10, reading="random_expectation").set_index("seed").loc[0]
    found = search.search_over_cells(run["proxy_accuracy"], run["mean_validation_accuracy"], run["mean_test_accuracy"],
                                     run["mean_training_time"], 10, rng_seed=0)
    best_of_run = run["mean_test_accuracy"].max()  # the released reading's best is that of the union of the 5 runs
    best = search.best_test_accuracy(evaluations.query("space == 'A4' and column == 'baseline/bns_ft'"),
                                     search.READINGS["default"])
    assert found["budget"] == pytest.approx(expected["budget"])
    assert found["guided"] == pytest.approx(expected["ws"] - (best - best_of_run))
    assert found["random"] == pytest.approx(expected["random"] - (best - best_of_run))
    free = search.search_over_cells(run["proxy_accuracy"], run["mean_validation_accuracy"], run["mean_test_accuracy"],
                                    run["mean_training_time"], 10, upfront_factor=0.0)
    assert free["guided"] == found["guided"] and free["budget"] < found["budget"]
    with pytest.raises(ValueError, match="one length"):
        search.search_over_cells([1.0, 2.0], [0.9], [0.9], [1.0], 1)


def test_resolve_reading_sets_the_guide_only_when_one_is_given() -> None:
    assert search.resolve_reading("default") == search.READINGS["default"]
    assert search.resolve_reading("default", "").column == search.READINGS["default"].column
    assert search.resolve_reading("default", "pro_rata/bns_ft").column == "pro_rata/bns_ft"


def test_the_whole_space_search_measures_every_regret_against_the_best_cell_of_the_whole_space():
    """Over the 1,000 cells of a released A4 run taken as a 'whole space': a ranker that is the validation accuracy
    itself finds, at TOP-1, the cell of best validation accuracy (regret = best test − its test); over samples of
    200 cells the regrets are against the best of all 1,000, so never negative even where a sample's own best is
    worse; a sample as large as the set is refused."""
    evaluations = reference.load_evaluations()
    run = evaluations.query("space == 'A4' and column == 'baseline/bns_ft' and seed == 0")
    wide = pd.DataFrame({"oracle": run["mean_validation_accuracy"].to_numpy(), "validation": run["mean_validation_accuracy"].to_numpy(),
                         "test": run["mean_test_accuracy"].to_numpy(), "time": run["mean_training_time"].to_numpy()})
    table = search.whole_space_search(wide, {"oracle": 0.0}, ks=(1,), sample_size=200, samples=5, permutations=20)
    whole = table[table["cells"] == "all"].iloc[0]
    chosen = wide["validation"].idxmax()
    assert whole["guided"] == pytest.approx(wide["test"].max() - wide.loc[chosen, "test"])
    sampled = table[table["cells"] == "200"].iloc[0]
    assert 0 <= sampled["guided_low"] <= sampled["guided"] <= sampled["guided_high"]
    own_best = [search.search_over_cells(wide["oracle"].to_numpy()[index], wide["validation"].to_numpy()[index],
                                         wide["test"].to_numpy()[index], wide["time"].to_numpy()[index], 1, 0.0, 20)["guided"]
                for index in [np.random.default_rng([0, draw]).choice(1000, 200, replace=False) for draw in range(5)]]
    assert sampled["guided"] >= np.mean(own_best)  # against the whole set's best, never below the sample's own
    with pytest.raises(ValueError, match="need more than the 1,000 cells"):
        search.whole_space_search(wide, {"oracle": 0.0}, sample_size=1000)

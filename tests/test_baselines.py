"""The baselines analysis (wsnas.baselines): the scored sample, Holm, Pareto front, bootstrap rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wsnas import baselines, metrics, reference, search, space
from wsnas.nb101 import NB101


@pytest.fixture(scope="module")
def evaluations() -> pd.DataFrame:
    return reference.load_evaluations()


def test_any_prefix_of_the_scoring_order_is_a_uniform_sample_of_every_space(evaluations) -> None:
    small = baselines.released_sample(evaluations, per_space=30)
    large = baselines.released_sample(evaluations, per_space=300)
    assert small.groupby("space").size().eq(30).all() and len(large) == 7 * 300
    # The 30-per-space sample is the first 30 draws of the 300-per-space one, space by space.
    for name, rows in small.groupby("space"):
        assert rows["position"].tolist() == large[large["space"] == name]["position"].head(30).tolist()
    # Interleaved: the first 7 rows hold one cell of every space, in the paper's order.
    assert large["space"].head(7).tolist() == list(space.PAPER_ORDER)
    run = evaluations[(evaluations["variant"] == "baseline") & (evaluations["mode"] == "bns_ft")
                      & (evaluations["seed"] == 0)]
    merged = large.merge(run, on=["space", "position"], suffixes=("", "_run"))
    assert len(merged) == len(large) and (merged["hash"] == merged["hash_run"]).all()
    assert not large.duplicated(["space", "position"]).any()


def test_holm_matches_the_step_down_definition() -> None:
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.20])
    adjusted = baselines.holm(p)
    assert np.isnan(adjusted[3])
    np.testing.assert_allclose(adjusted[[0, 2, 1, 4]], [0.04, 0.09, 0.09, 0.20])


def test_pareto_front_keeps_only_undominated_points() -> None:
    cost = np.array([1.0, 2.0, 3.0, 0.5, 3.0])
    quality = np.array([0.5, 0.4, 0.9, 0.1, 0.8])
    assert baselines.pareto_front(cost, quality).tolist() == [True, False, True, True, False]


def test_vectorised_spearman_and_precision_equal_scipy_and_metrics() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 50)), rng.normal(size=(3, 50))
    x[0, :5] = x[0, 0]  # ties
    expected = [stats.spearmanr(a, b).statistic for a, b in zip(x, y)]
    np.testing.assert_allclose(metrics.spearman_rows(x.copy(), y), expected, rtol=1e-12)
    from wsnas.metrics import precision_at_k

    k = baselines.top_count(50, 10)
    assert k == 5
    np.testing.assert_allclose(baselines._precision_rows(x, y, k), [precision_at_k(a, b, k) for a, b in zip(x, y)])


def test_published_values_sit_beside_our_signed_spearman_on_the_committed_a0_cells(evaluations) -> None:
    scores, _ = baselines.read_proxy_scores()
    cells = baselines.scored_cells(evaluations, scores)
    a0 = cells[cells["space"] == "A0"]
    quality, _ = baselines.proxy_quality(a0, n_boot=20, kendall_boot=2)
    table = baselines.beside_published(quality, "A0").set_index("proxy")
    assert list(table.index) == list(baselines.ZERO_COST)
    for proxy, row in table.iterrows():
        expected = stats.spearmanr(a0[proxy], a0[baselines.TARGET]).statistic
        assert row["spearman"] == pytest.approx(expected)
        assert row["abs_spearman"] == pytest.approx(abs(expected))
        assert row["low"] <= row["spearman"] <= row["high"]
    assert table["published_abs_spearman"].notna().sum() == len(baselines.PUBLISHED_NB101_ABS_SPEARMAN) == 6
    assert np.isnan(table.loc["naswot", "published_abs_spearman"])
    with pytest.raises(ValueError, match="A9"):
        baselines.beside_published(quality, "A9")


def test_rank_average_of_bns_ft_and_params_is_compared_with_each_on_every_run_that_did_not_diverge(evaluations) -> None:
    chosen = evaluations[evaluations["space"].isin(["A4", "A0-nores"])]
    runs = baselines.combination_runs(chosen, n_boot=100)
    assert sorted(runs.groupby("space").size().items()) == [("A0-nores", 4), ("A4", 5)]  # A0-nores seed 3 diverged
    assert 3 not in set(runs.loc[runs["space"] == "A0-nores", "seed"]) and (runs["cells"] == 1000).all()
    row = runs[(runs["space"] == "A4") & (runs["seed"] == 2)].iloc[0]
    run = chosen[(chosen["column"] == baselines.PROXY_COLUMN) & (chosen["space"] == "A4") & (chosen["seed"] == 2)]
    params = space.counts_of(run["hash"])["params"]
    combined = (stats.rankdata(run["proxy_accuracy"]) + stats.rankdata(params)) / 2
    target = run[baselines.TARGET]
    assert row["bns_ft"] == pytest.approx(stats.spearmanr(run["proxy_accuracy"], target).statistic)
    assert row["params"] == pytest.approx(stats.spearmanr(params, target).statistic)
    assert row[baselines.COMBINED] == pytest.approx(stats.spearmanr(combined, target).statistic)
    for name in ("bns_ft", "params"):
        assert row[f"minus_{name}_low"] <= row[f"minus_{name}"] <= row[f"minus_{name}_high"]
    assert (runs["beats_both"] == (runs["minus_bns_ft_low"] > 0) & (runs["minus_params_low"] > 0)).all()
    verdict = baselines.combination_verdict(runs)
    assert list(verdict.index) == ["A4", "A0-nores"]
    assert (verdict["beats_both"] == (verdict["beats_both_runs"] == verdict["runs"])).all()
    assert verdict.loc["A4", baselines.COMBINED] == pytest.approx(runs.loc[runs["space"] == "A4", baselines.COMBINED].mean())
    assert np.array_equal(baselines.rank_average([3.0, 1.0, 2.0], [3.0, 1.0, 2.0]), [3.0, 1.0, 2.0])


def test_zico_zen_and_the_per_weight_fisher_join_the_committed_scores_only_when_they_score_every_cell(evaluations, tmp_path) -> None:
    from wsnas import proxies

    scores, metadata = baselines.read_proxy_scores()
    a4 = baselines.scored_cells(evaluations, scores).query("space == 'A4'")["hash"].unique()[:3]
    path = tmp_path / "rescored.parquet"
    proxies.score_to_file(space.cells_at(space.index_of(a4)), path, names=["zico", "zen", "fisher"])
    frame, _, state = baselines.read_rescored(scores, path)
    assert frame is None and state == f"being scored (3 of {len(scores):,} cells so far)"
    some = scores[scores["hash"].isin(a4)]
    extra, extra_metadata, state = baselines.read_rescored(some, path)
    assert state == "scored" and baselines.zero_cost_rows(extra.columns) == ("fisher", "zico", "zen")
    joined = baselines.join_rescored(some, metadata, extra, extra_metadata)
    assert list(joined.columns) == [*scores.columns, "zico", "zen"]
    for name in ("zico", "fisher"):  # fisher: the rescored file's (per weight) replaces the committed (per channel)
        assert joined[name].tolist() == extra.set_index("hash").loc[some["hash"], name].tolist()
    assert not np.allclose(joined["fisher"], some["fisher"])
    assert joined["seconds"].tolist() == pytest.approx((some.set_index("hash")["seconds"]
                                                        + extra.set_index("hash")["seconds"]).loc[some["hash"]].tolist())
    cells = baselines.scored_cells(evaluations, joined)
    assert baselines.zero_cost_rows(cells.columns) == baselines.SCORABLE_ZERO_COST and cells["zen"].notna().all()
    quality, _ = baselines.proxy_quality(cells, n_boot=10, kendall_boot=2)
    table = baselines.beside_published(quality, "A4").set_index("proxy")
    assert list(table.index) == list(baselines.SCORABLE_ZERO_COST)
    assert table.loc["zen", "suite_zero_spearman"] == 0.59 and table.loc["zico", "zico_paper_spearman"] == 0.63
    other = {**extra_metadata, "settings": {**extra_metadata["settings"], "batch_size": 32}}
    with pytest.raises(ValueError, match="batch_size"):
        baselines.join_rescored(some, metadata, extra, other)


def test_subsample_search_matches_a_plain_loop_over_the_same_random_orders(evaluations) -> None:
    scores, _ = baselines.read_proxy_scores()
    cells = baselines.scored_cells(evaluations, scores)
    cells = cells[cells["space"] == "A4"]
    seconds = {**{name: 2.5 for name in baselines.ZERO_COST}, "params": 1e-5, "flops": 1e-5}
    table = baselines.subsample_search(cells, evaluations, seconds, permutations=50, seed=3)
    assert len(table) == 12 * 2 and set(table["k"]) == {1, 10}
    assert (table["p_holm"] >= table["p"]).all() and table["p"].between(1 / 51, 1).all()

    row = table[(table["guide"] == "synflow") & (table["k"] == 10)].iloc[0]
    group = cells.sort_values("position")
    run = evaluations[(evaluations["column"] == baselines.PROXY_COLUMN) & (evaluations["seed"] == 0)
                      & (evaluations["space"] == "A4")].set_index("position")
    test = run.loc[group["position"], "mean_test_accuracy"].to_numpy()
    valid, time = group[baselines.TARGET].to_numpy(), group["mean_training_time"].to_numpy()
    best = evaluations.loc[evaluations["space"] == "A4", "mean_test_accuracy"].max()

    def regret(chosen) -> float:  # the incumbent: best validation accuracy so far, earliest on ties
        chosen = list(chosen)
        if not chosen:
            return np.inf
        return best - test[chosen[int(np.argmax(valid[chosen]))]]

    # the guide's 10 best cells, ties broken by reverse sampling position
    order = sorted(range(len(group)), key=lambda i: (-group["synflow"].to_numpy()[i], -i))[:10]
    assert row["guided_regret"] == pytest.approx(regret(order))
    budget = 2.5 * len(group) + time[order].sum()
    rng = np.random.default_rng([3, list(space.PAPER_ORDER).index("A4")])
    randoms = []
    for _ in range(50):
        permutation = rng.permutation(len(group))
        randoms.append(regret(permutation[:int((np.cumsum(time[permutation]) <= budget).sum())]))
    randoms = np.array(randoms)
    better = (np.sum(randoms <= row["guided_regret"]) + 1) / 51
    worse = (np.sum(randoms >= row["guided_regret"]) + 1) / 51
    assert row["p"] == pytest.approx(min(better, worse))


def test_paired_spearman_difference_is_zero_for_one_proxy_and_excludes_zero_for_a_clearly_better_one(evaluations) -> None:
    run = evaluations[(evaluations["space"] == "A1") & (evaluations["variant"] == "baseline") & (evaluations["seed"] == 0)]
    bns, no_ft = (run[run["mode"] == mode].set_index("position").sort_index() for mode in ("bns_ft", "no_ft"))
    truth = bns["mean_validation_accuracy"].to_numpy()
    same = baselines.spearman_difference_ci(bns["proxy_accuracy"], bns["proxy_accuracy"], truth, n_boot=300)
    assert same == (0.0, 0.0, 0.0)
    difference, low, high = baselines.spearman_difference_ci(truth, bns["proxy_accuracy"], truth, n_boot=300)
    assert difference == pytest.approx(1 - stats.spearmanr(bns["proxy_accuracy"], truth).statistic)
    assert 0 < low <= difference <= high
    difference, low, high = baselines.spearman_difference_ci(bns["proxy_accuracy"], no_ft["proxy_accuracy"], truth, n_boot=300)
    assert difference == pytest.approx(stats.spearmanr(bns["proxy_accuracy"], truth).statistic
                                       - stats.spearmanr(no_ft["proxy_accuracy"], truth).statistic)
    assert low <= difference <= high


def test_image_noise_of_spearman_vanishes_with_many_images_and_grows_with_few(evaluations) -> None:
    run = evaluations[(evaluations["space"] == "A4") & (evaluations["column"] == "baseline/bns_ft") & (evaluations["seed"] == 0)]
    proxy, truth = run["proxy_accuracy"].to_numpy(), run["mean_validation_accuracy"].to_numpy()
    exact = baselines.spearman_image_noise(proxy, truth, n_images=10**12, n_boot=50)
    assert np.allclose(exact, stats.spearmanr(proxy, truth).statistic, atol=1e-3)
    few, many = (np.std(baselines.spearman_image_noise(proxy, truth, n_images=n, n_boot=300)) for n in (200, 5000))
    assert few > 2 * many > 0


def test_guided_search_marks_directions_after_holm_like_the_scored_cells_table(evaluations) -> None:
    """search_comparison: p is the paper's Wilcoxon of top_k_regrets, and a direction is kept only where the
    Holm-adjusted p over the table is below ALPHA (the rule of subsample_search too)."""
    table = baselines.search_comparison(baselines.with_baseline_columns(evaluations), {"baseline/bns_ft": 4.0, "params": 0.0},
                                        top_k=(1, 10), spaces=["A4", "A1"])
    assert len(table) == 8 and (table["p_holm"] >= table["p"]).all()
    assert ((table["direction"] == "x") == (table["p_holm"] >= metrics.ALPHA)).all()
    row = table.query("space == 'A4' and guide == 'params' and k == 10").iloc[0]
    reading = search.READINGS["default"]
    regrets = search.top_k_regrets(baselines.with_baseline_columns(evaluations), "A4", 10,
                                   reading=replace(reading, column="params", supernet_factor=0.0))
    assert row["p"] == metrics.wilcoxon_paper(regrets["ws"], regrets["random"])[0]


def test_chapter_scale_comes_from_the_profile_unless_given() -> None:
    assert baselines.chapter_scale("demo") == (4, 300, 40)
    assert baselines.chapter_scale("smoke") == (1, 50, 10)
    assert baselines.chapter_scale("paper", live_cells=2, cell_resamples=7) == (2, 7, 500)


def test_subsample_intervals_are_wider_than_those_of_the_whole_run(evaluations) -> None:
    _, _, _, cells = baselines.load_scored(["A4"])
    widths = baselines.subsample_ci_widths(cells, evaluations, ["A4"], n_boot=100)
    assert list(widths.index) == [("A4", baselines.ROW_NAMES["params"]), ("A4", baselines.ROW_NAMES[baselines.WS_SAME_CELLS])]
    assert (widths["cells in subsample"] == len(cells)).all() and len(cells) < 1000
    assert (widths["CI width, all 1,000"] > 0).all()
    assert (widths["CI width, subsample"] > widths["CI width, all 1,000"]).all()


def test_guided_search_tests_every_guide_with_holms_rule(evaluations) -> None:
    from wsnas.names import COLUMN_NAMES

    tests = baselines.guided_search(evaluations, ["A4"])
    assert set(tests["guide"]) == {*COLUMN_NAMES, "params", "flops", baselines.HALFWAY}
    assert len(tests) == 9 * 3 and (tests["p_holm"] >= tests["p"] - 1e-12).all()
    assert (tests.loc[~tests["significant_holm"], "direction"] == "x").all()


def test_seconds_per_cell_adds_the_counts_measured_here() -> None:
    seconds = baselines.seconds_per_cell({"synflow": 0.5})
    assert seconds["synflow"] == 0.5 and seconds["params"] == seconds["flops"] > 0
    assert seconds["params"] < 1e-3  # counting a cell takes microseconds


def test_the_best_ranker_is_never_worse_than_itself_and_the_parameter_count_trails_only_in_a0():
    *_, cells = baselines.load_scored(["A4", "A0"])
    _, replicates = baselines.proxy_quality(cells, n_boot=300, kendall_boot=0)
    for space_name, spearmans in replicates.items():
        best = max(baselines.rankers(spearmans), key=lambda row: spearmans[row][0])
        assert space_name in baselines.not_worse_than_best(replicates, best)
    # A0 (the whole space): NB-101's halfway training ranks best and the count is significantly behind it
    assert baselines.not_worse_than_best(replicates, "params") == ["A4"]


# ---------------------------------------------------------------------------------------------
# NASLib's published per-cell scores (data/naslib_zc_nasbench101.json) and ours on the same cells


def test_naslib_file_maps_to_our_hashes_its_targets_are_nb101_repeats_and_its_counts_ours() -> None:
    records = baselines.naslib_records()
    distinct = baselines.read_naslib()
    assert len(records) == 500 and len(distinct) == 292 and distinct["records"].sum() == 500
    assert (space.index_of(distinct["hash"].to_numpy()) >= 0).all()  # every NASLib cell is a cell of NB-101
    # Where data/ holds the cell's NB-101 record, NASLib's target is exactly one of its 3 repeats' validation accuracy.
    truth = NB101.default().metrics(distinct["hash"])
    known = records[records["hash"].isin(truth.index[truth["mean_validation_accuracy"].notna()])]
    repeats = reference.nb101_repeats(pd.unique(known["hash"])).loc[known["hash"], ["r0", "r1", "r2"]].to_numpy()
    gaps = np.abs(repeats * 100 - known["val_accuracy"].to_numpy()[:, None]).min(axis=1)
    assert len(known) >= 150 and gaps.max() < 1e-9
    # NASLib's parameter count (millions) is NB-101's of our hash, except where its unpruned spec keeps dead vertices.
    params = space.counts_of(records["hash"])["params"] / 1e6
    assert np.mean(np.abs(params - records["params"]) < 1e-9) > 0.9
    np.testing.assert_allclose(params, records["params"], rtol=0.02)
    with pytest.raises(ValueError, match=r"V·V \+ V entries \(56 for 7 vertices\), got 55"):
        baselines.naslib_cell([0] * 55)


def test_the_committed_scores_cover_the_naslib_sample_under_both_setups() -> None:
    sample = baselines.naslib_sample(baselines.read_naslib())
    assert len(sample) == baselines.NASLIB_SAMPLE["cells"] == 60 and sample["hash"].is_unique
    for setup in ("published", "paper"):
        scores, metadata = baselines.read_naslib_scores(setup)
        assert set(scores["hash"]) == set(sample["hash"]) and metadata["complete"]
        assert metadata["settings"]["setup"]["name"] == setup and metadata["settings"]["seed"] == 0
        names = [*baselines.COUNTS, *baselines.SCORABLE_ZERO_COST]
        assert set(names) <= set(scores.columns) and np.isfinite(scores[names].to_numpy(dtype=float)).all()
    assert baselines.read_naslib_scores("published")[1]["settings"]["network"]["stem_out_channels"] == 128
    with pytest.raises(ValueError, match="no committed scores"):
        baselines.read_naslib_scores("other")


def test_naslib_beside_ours_recomputes_naslibs_rho_and_pairs_ours_on_the_same_cells() -> None:
    table = baselines.naslib_beside_ours(n_boot=50)
    sample = baselines.naslib_sample(baselines.read_naslib())
    published = baselines.read_naslib_scores("published")[0].set_index("hash").loc[sample["hash"]]
    assert (table["cells"] == 60).all()
    assert table.loc["snip", "naslib"] == pytest.approx(metrics.spearman(sample["snip"], sample["val_accuracy"]))
    assert table.loc["jacob_cov", "naslib"] == pytest.approx(metrics.spearman(sample["jacov"], sample["val_accuracy"]))
    assert table.loc["synflow", "published"] == pytest.approx(
        metrics.spearman(published["synflow"], sample["val_accuracy"]))
    assert table.loc["params", "published_per_cell"] == pytest.approx(1.0)
    assert table.loc[["naswot", "zico", "zen"], "naslib"].isna().all()
    assert table.loc[["naswot", "zico", "zen"], ["published", "paper"]].notna().all().all()
    scored = table.dropna(subset=["naslib"])
    assert len(scored) == 9 and (scored["naslib_low"] < scored["naslib_high"]).all()
    assert (table["published_low"] < table["published_high"]).all() and table["paper_low"].notna().all()
    agreement = baselines.naslib_repeat_agreement()
    assert agreement.attrs["cells"] == table["repeat_cells"].iloc[0] > 10 and agreement["params"] > 0.99

"""The chapters' drawings show what they claim to (matplotlib artists, no image comparison)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from wsnas.plots.spaces import draw_cell  # noqa: E402
from wsnas.space import Cell  # noqa: E402


def test_cell_drawings_bend_every_edge_that_skips_a_column() -> None:
    """A chain IN → 3×3 → MP → OUT with the input→output edge and IN → MP: the two skipping edges are arcs, the
    three chain edges straight, so no edge hides along the chain's line."""
    adjacency = [[0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    cell = Cell(adjacency, ("input", "conv3x3-bn-relu", "maxpool3x3", "output"))
    figure, ax = plt.subplots(figsize=(3, 2))
    draw_cell(cell, ax)
    arrows = [patch for patch in ax.patches if isinstance(patch, FancyArrowPatch)]
    bends = sorted(abs(arrow.get_connectionstyle().rad) if hasattr(arrow.get_connectionstyle(), "rad") else 0.0
                   for arrow in arrows)
    plt.close(figure)
    assert len(arrows) == 5
    assert bends[:3] == [0.0, 0.0, 0.0] and all(bend > 0 for bend in bends[3:])


# ---------------------------------------------------------------------------------------------
# The chapters' tables and the Baselines heat map, on the released evaluations and the committed zero-cost scores

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wsnas import baselines, bias, claims, names, reference, search  # noqa: E402
from wsnas.plots import baselines as baseline_plots  # noqa: E402
from wsnas.plots import bias as bias_plots  # noqa: E402
from wsnas.plots import claims as claim_plots  # noqa: E402
from wsnas.plots import glossary  # noqa: E402
from wsnas.plots import search as search_plots  # noqa: E402

SCORED_SPACES = ["A4", "A1"]


@pytest.fixture(scope="module")
def scored():
    """The released evaluations, the committed scores, their metadata and the scored cells of A4 and A1."""
    return baselines.load_scored(SCORED_SPACES)


@pytest.fixture(scope="module")
def quality(scored):
    return baselines.proxy_quality(scored[3], n_boot=20, kendall_boot=2)


def test_spearman_heat_map_shows_every_row_and_space_with_rho_and_its_interval(quality) -> None:
    spearman = quality[0][quality[0]["measure"] == "spearman"].set_index(["row", "space"])
    figure = baseline_plots.spearman_heatmap(quality[0], SCORED_SPACES)
    ax = figure.axes[0]
    rows = baseline_plots.ROW_ORDER
    assert [label.get_text() for label in ax.get_xticklabels()] == SCORED_SPACES
    assert [label.get_color() for label in ax.get_xticklabels()] == [names.SPACE_COLOURS[s] for s in SCORED_SPACES]
    assert len(ax.get_yticklabels()) == len(rows)
    colours = np.asarray(ax.collections[0].get_array()).reshape(len(rows), len(SCORED_SPACES))
    texts = [text.get_text() for text in ax.texts]
    assert len(texts) == 2 * len(rows) * len(SCORED_SPACES)  # ρ and its interval in every cell
    for i, row in enumerate(rows):
        for j, space_name in enumerate(SCORED_SPACES):
            value, low, high = spearman.loc[(row, space_name), ["value", "low", "high"]]
            at = 2 * (i * len(SCORED_SPACES) + j)
            assert texts[at] == names.rho(value)
            assert texts[at + 1] == f"[{names.rho(low)}, {names.rho(high)}]"
            assert colours[i, j] == pytest.approx(value)
    plt.close(figure)


def test_quality_tables_hold_every_measure_row_and_space(quality) -> None:
    tables = baseline_plots.quality_tables(quality[0], SCORED_SPACES)
    assert set(tables) == {"tab_quality_spearman", "tab_quality_kendall", "tab_quality_top1pct", "tab_quality_top5pct",
                           "tab_quality_top10pct"}
    spearman = tables["tab_quality_spearman"]
    assert spearman.shape == (len(baseline_plots.ROW_ORDER), 2) and list(spearman.columns) == SCORED_SPACES
    row = quality[0].query("measure == 'spearman' and row == 'params' and space == 'A4'").iloc[0]
    assert spearman.loc[baselines.ROW_NAMES["params"], "A4"] == names.mean_ci(row["value"], row["low"], row["high"])


def test_baselines_tables_answer_and_findings_agree_with_the_quality_table(scored, quality) -> None:
    evaluations, scores, metadata, cells = scored
    seconds = {**dict.fromkeys(baselines.ZERO_COST, 0.1), **dict.fromkeys(baselines.COUNTS, 1e-6)}
    costs = baselines.cost_per_cell(cells, evaluations, seconds, seconds)
    answer = baseline_plots.answer_table(quality[0], quality[1], costs, SCORED_SPACES)
    assert list(answer["tab_answer"].index) == SCORED_SPACES
    assert set(answer["free_wins"].split(", ")) <= {*SCORED_SPACES, "none"}
    found = baseline_plots.findings_numbers(quality[0], costs, scores, cells, metadata)
    assert int(found["zc_pairs"]) == len(SCORED_SPACES) * len(baselines.ZERO_COST)
    assert 0 <= int(found["zc_below_params"]) <= int(found["zc_pairs"])
    published = baseline_plots.published_table(quality[0], SCORED_SPACES)
    assert published["published_space"] == "A4" and len(published["tab_published"]) == len(baselines.ZERO_COST)
    summary = baseline_plots.scored_cells_table(cells, metadata, SCORED_SPACES)
    assert summary["tab_cells"]["cells scored"].tolist() == [names.integer(n) for n in cells.groupby("space").size()[SCORED_SPACES]]
    assert baseline_plots.settings_line(metadata).startswith("settings: ")


def test_search_tables_per_top_k_follow_holms_rule(scored) -> None:
    evaluations, _, _, cells = scored
    seconds = {**dict.fromkeys(baselines.ZERO_COST, 0.1), **dict.fromkeys(baselines.COUNTS, 1e-6)}
    tests = baselines.subsample_search(cells, evaluations, seconds, permutations=200)
    shown = baseline_plots.scored_search_tables(tests, SCORED_SPACES)
    assert {"tab_scored_top1", "tab_scored_top10"} <= set(shown) and shown["sub_search_tests"] == f"{len(tests):,}"
    assert list(shown["tab_scored_top1"].columns) == SCORED_SPACES
    assert all(text.split()[1] in "<>x" for text in shown["tab_scored_top1"].to_numpy().ravel())


def test_glossary_tables_list_every_space_reading_and_feature() -> None:
    assert glossary.spaces_table().data.count("<tr>") == len(names.SPACE_DEFINITIONS) + 1
    assert len(glossary.reading_definitions().data) == len(search.READINGS)
    assert list(glossary.features_table().data["feature"]) == [names.FEATURE_NAMES[key] for key in bias.FEATURES]


@pytest.fixture(scope="module")
def evaluations():
    return reference.load_evaluations()


def test_search_chapter_tables(evaluations) -> None:
    default = search.READINGS["default"]
    cost = search_plots.supernet_cost_table(evaluations, default, ["A4"])
    runs = evaluations[(evaluations["column"] == default.column) & (evaluations["space"] == "A4")]
    seed0 = 4 * runs[runs["seed"] == 0]["mean_training_time"].mean() / 3600
    assert cost["supernet_cells"] == "4" and cost["tab_supernet_cost"].iloc[0, 0] == names.decimal(seed0, 2)
    attainable = search_plots.attainable_table()
    used = attainable["attainable_table"].data.query("`in Table 2` == 'yes'")["one-sided p"].astype(float).round(2)
    paper = set(reference.paper_table2().xs("p", axis=1, level="field").to_numpy().ravel())
    assert set(used) == paper  # every p of the paper's Table 2 is one the test can give
    table2 = search_plots.table2_tables(evaluations, default, list(reference.paper_table1().index))
    assert 0 <= table2["agree_total"] <= 21 and table2["tab_table2"].shape == (7, 6)
    best = search_plots.best_of_space_table(evaluations)
    named = [s for s in (best["bos_exact_spaces"] + ", " + best["bos_open_spaces"]).split(", ") if s and s != "none"]
    assert sorted(named) == sorted(best["best_of_space_table"].index)


def test_bias_chapter_tables(evaluations) -> None:
    features, residuals = bias.features_and_residuals(evaluations)
    effects = claims.bias_effects(evaluations, features=features)
    numbers = bias_plots.effect_numbers(effects)
    assert numbers["verdict_A1_input_output_edge"] == claims.SUPPORTED  # the paper's named bias, Figure 4
    row = effects.set_index(["space", "feature"]).loc[("A1", "input_output_edge")]
    assert numbers["effect_A1_input_output_edge"] == f"{row['effect']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
    spaces = list(reference.paper_table1().index)
    tables = bias_plots.effect_tables(effects, spaces)
    assert tables["tab_effects"].shape == (len(bias.FEATURES), len(spaces))
    groups = bias_plots.group_table(residuals, features, spaces)
    assert groups["tab_groups"].shape == (3, len(spaces))
    assert bias_plots.column_summary(features, residuals, "baseline/bns_ft")["n_cells"] == f"{len(features):,}"


def test_verdict_line_names_the_verdict_and_its_robustness(evaluations) -> None:
    claim = claims.larger_spaces_correlate_worse(evaluations)
    line = claim_plots.verdict_line(claim)
    assert line.startswith(claim.verdict + ", ") and line.endswith(("robust", "depends on the reading"))


def test_baselines_combination_table_counts_the_runs_and_spaces_where_the_rank_average_beats_both(evaluations) -> None:
    shown = baseline_plots.combination_table(evaluations, ["A4", "A0-nores"], n_boot=100)
    table = shown["tab_combination"]
    assert list(table.index) == ["A4", "A0-nores"] and table.loc["A0-nores", "runs: beats both"].endswith(" of 4")
    verdict = baselines.combination_verdict(baselines.combination_runs(
        evaluations[evaluations["space"].isin(["A4", "A0-nores"])], n_boot=100))
    assert shown["combination_spaces"] == str(int(verdict["beats_both"].sum())) and shown["combination_of"] == "2"
    assert shown["combination_all_runs"] == "9"
    assert table.loc["A4", "rank-average ρ"] == names.rho(verdict.loc["A4", baselines.COMBINED])
    assert (table["beats both"] == verdict["beats_both"].map({True: "yes", False: "no"})).all()


def test_baselines_published_table_heads_each_column_and_names_zico_and_zen_until_scored(quality) -> None:
    shown = baseline_plots.published_table(quality[0], SCORED_SPACES, "not scored yet")
    heads = list(shown["tab_published"].columns)
    assert heads[2:] == list(baselines.PUBLISHED_COLUMNS.values()) and "signed ρ" in heads[0] and "|ρ|" in heads[1]
    assert all("accuracy" in head and "cells" in head for head in heads)
    assert shown["zico_zen_note"] == ("ZiCo and Zen-score: not scored yet here, so not in the table "
                                      "(published: ZiCo +0.63; Zen-score +0.59).")
    assert baseline_plots.row_order(["params", "zen", "synflow"]) == [
        "params", "flops", "synflow", "zen", baselines.HALFWAY, baselines.WS_SAME_CELLS, baselines.NOISE_CEILING]


def test_baselines_published_table_adds_our_and_naslibs_columns_on_naslibs_cells_from_the_committed_data(quality) -> None:
    naslib = baselines.naslib_beside_ours(n_boot=20)
    plain = baseline_plots.published_table(quality[0], SCORED_SPACES, "not scored yet")["tab_published"]
    shown = baseline_plots.published_table(quality[0], SCORED_SPACES, "not scored yet", naslib)
    assert shown["tab_published"].equals(plain)  # the NASLib columns are a table of their own (page width)
    table = shown["tab_published_naslib"]
    heads = [head.format(cells=60) for head in baseline_plots.NASLIB_HEADS.values()]
    assert list(table.columns) == heads
    assert all("signed ρ" in head and " 60 " in head and "validation accuracy" in head for head in heads)
    assert "NASLib's published scores" in heads[0] and "published setup" in heads[1] and "paper setup" in heads[2]
    assert list(table.index) == [baselines.ROW_NAMES[name] for name in (*baselines.ZERO_COST, "zico", "zen")]
    for key, head in zip(baseline_plots.NASLIB_HEADS, heads):
        assert table.loc["synflow", head] == names.rho(naslib.loc["synflow", key], signed=True)
        assert table.loc["Jacob-cov", head] == names.rho(naslib.loc["jacob_cov", key], signed=True)
    assert table.loc["ZiCo", heads[0]] == names.UNDEFINED and table.loc["ZiCo"].iloc[0] == names.UNDEFINED
    assert table.loc["Zen-score", heads[1]] == names.rho(naslib.loc["zen", "published"], signed=True)
    assert shown["naslib_cells"] == "60" and shown["naslib_close"].endswith(" of 7")
    assert shown["naslib_repeats"].startswith("synflow ") and shown["naslib_ci"].startswith("±")
    assert "so only in the table of NASLib's cells" in shown["zico_zen_note"]


def test_baselines_live_checks_add_the_rescored_proxies_with_their_own_settings_once_joined(evaluations, tmp_path) -> None:
    from wsnas import proxies, space

    scores, metadata = baselines.read_proxy_scores()
    two = scores["hash"].iloc[:2]
    names_ = ["zico", "zen", "fisher"]
    proxies.score_to_file(space.cells_at(space.index_of(two.to_numpy())), tmp_path / "z.parquet", names=names_)
    extra, extra_metadata, _ = baselines.read_rescored(scores[scores["hash"].isin(two)], tmp_path / "z.parquet")
    joined = baselines.join_rescored(scores[scores["hash"].isin(two)], metadata, extra, extra_metadata)
    one = two.iloc[:1]
    rescored = {**metadata, "rescored": {"settings": extra_metadata["settings"]}}
    check = baseline_plots.live_checks(one, joined, rescored)
    committed = [name for name in metadata["settings"]["proxies"] if name != "fisher"]
    assert list(check.index) == [*committed, "fisher", "zico", "zen"]
    assert check.loc[["zico", "zen", "fisher"], "reproduced"].all() and (check["CPU seconds per cell, alone"] > 0).all()
    assert list(baseline_plots.live_checks(one, scores, metadata).index) == metadata["settings"]["proxies"]
    assert baseline_plots.fisher_definition(rescored) == ("Fisher here is the per-weight sum, as zero-cost-nas and NASLib "
                                                          "compute it (data/proxies_released_seed0_rescored.parquet).")
    assert baseline_plots.fisher_definition({**metadata, "rescored": {"state": "not scored yet", "settings": None}}) == (
        "Fisher here is the per-channel sum (each channel's saliency counted once), as this book first computed it "
        "(data/proxies_released_seed0.parquet); the per-weight sum replaces it once these cells are rescored: not "
        "scored yet.")
    assert baseline_plots.rescored_phrase(rescored).endswith("from data/proxies_released_seed0_rescored.parquet")
    assert baseline_plots.rescored_phrase({**metadata, "rescored": {"state": "being scored (1 of 2 cells so far)",
                                                                     "settings": None}}).endswith("(1 of 2 cells so far)")


def test_a_number_that_rounds_to_zero_is_written_without_a_minus_sign():
    from wsnas import names

    assert names.decimal(-0.001) == "0.00" and names.decimal(-0.02) == "−0.02"
    assert names.mean_ci(0.03, -0.004, 0.07, signed=True) == "+0.03 [+0.00, +0.07]"

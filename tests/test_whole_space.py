"""The whole-space ranking of the study's 81-epoch A4 super-net, as committed, and the chapter's tables of it."""

from __future__ import annotations

import numpy as np
import pytest

from wsnas import results
from wsnas.nb101 import NB101
from wsnas.plots import whole_space as whole_plots
from wsnas.space import flops_of_all_cells, index_of

RUN = "A4_baseline_seed0_e81"


@pytest.fixture(scope="module")
def wide():
    table = results.whole_space_rankers(RUN)
    if table.empty:
        pytest.fail(f"no whole-space chunk of {RUN} is committed (wsnas study --run {RUN} --whole-space)")
    return table


def test_every_ranked_cell_has_both_modes_its_free_counts_and_its_truth(wide):
    committed = results.load_whole_space(RUN)
    assert set(committed["mode"]) == {"no_ft", "bns_ft"} and committed.groupby("hash").size().eq(2).all()
    assert wide["precision"].isin(["fp32", "bf16"]).all() and wide["precision"].nunique() == 1
    truth = NB101.default().metrics(wide["hash"])
    assert (wide["params"].to_numpy() == truth["trainable_parameters"].to_numpy()).all()
    assert (wide["flops"].to_numpy() == flops_of_all_cells()[index_of(list(wide["hash"]))]).all()
    assert wide[["bns_ft", "no_ft"]].stack().between(0, 1).all() and wide[["validation", "test", "time"]].notna().all().all()


def test_the_chapter_tables_show_every_ranker_and_true_ranks(wide):
    correlations = whole_plots.correlation_table(wide, whole_plots.run_sample(RUN))["tab_ws_correlations"]
    assert list(correlations.index) == list(results.WHOLE_SPACE_RANKERS.values())
    recall = whole_plots.recall_table(wide)["tab_ws_recall"]
    assert set(recall.index.get_level_values("ranker")) == set(whole_plots.SHOWN.values())
    top = whole_plots.top10_table(wide)["tab_ws_top10"]
    best_by_proxy = wide.loc[wide["bns_ft"].idxmax()]  # ties: the first in table order, as the table breaks them
    true_rank = int((wide["validation"] > best_by_proxy["validation"]).sum()) + 1
    assert top.loc[1, "BNS-FT"].startswith(f"{true_rank:,} (")
    glued = whole_plots.search_table(wide, samples=2, permutations=5)
    search_table = glued["tab_ws_search"]
    assert set(search_table.index.get_level_values("ranker")) == {"BNS-FT", "parameters"}
    assert (search_table.index.get_level_values("cells") == "all").sum() == 2
    for (ranker, cells), row in search_table.iterrows():  # the text quotes the table's TOP-10 cells, guided vs random
        key = f"ws_search_{'bns_ft' if ranker == 'BNS-FT' else 'params'}_{'all' if cells == 'all' else 'sample'}"
        assert row["TOP-10"].startswith(f"{glued[key]} vs {glued[key + '_random']}")


def test_the_run_sample_is_the_runs_own_evaluation_cells():
    sample = whole_plots.run_sample(RUN)
    assert len(sample) == 300 and np.unique(sample).size == 300


def test_the_intro_line_gives_the_committed_ranking():
    line = whole_plots.answer_line(RUN)
    wide = results.whole_space_rankers(RUN)
    rho = results.whole_space_summary(wide, whole_plots.run_sample(RUN)).set_index("ranker").loc["BNS-FT", "spearman"]
    assert f"BNS-FT reaches ρ {rho:.2f}" in line and "of A4" in line

"""The library calls behind the Spaces, Ranking, Variants and Training chapters, on the embedded data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from wsnas import nb101, results  # noqa: E402
from wsnas.plots import FIGURE_WIDTH  # noqa: E402
from wsnas.plots import ranking as ranking_plots  # noqa: E402
from wsnas.plots import spaces as space_plots  # noqa: E402
from wsnas.plots import training as training_plots  # noqa: E402
from wsnas.profiles import images_per_epoch  # noqa: E402
from wsnas.space import space_sizes  # noqa: E402

BASELINE = ["baseline/no_ft", "baseline/bns_ft"]
VARIANTS = ["single_k/bns_ft", "pro_rata/bns_ft", "avg3/bns_ft", "single_k+pro_rata/bns_ft"]


def integer(text: str) -> int:
    return int(text.replace(",", ""))


# ---- Spaces -------------------------------------------------------------------------------------

def test_run0_accuracy_covers_every_cell_of_a_space_and_the_summary_counts_them() -> None:
    accuracy = nb101.space_run0_accuracy("A4")
    summary = nb101.run0_accuracy_summary(["A4", "A0"])
    assert len(accuracy) == space_sizes()["A4"] == 10_467
    assert summary.loc["A4", "count"] == np.count_nonzero(~np.isnan(accuracy))
    assert summary.loc["A0", "max"] >= summary.loc["A4", "max"]  # A0 holds every cell of A4
    assert 0 < summary.loc["A0", "share below 50%"] < 0.01  # the few cells that failed to train


def test_space_tables_count_every_cell_once() -> None:
    glued = space_plots.summary_tables()
    by_vertices = glued["tab_by_vertices"].map(integer)
    assert glued["n_cells"] == "423,624"
    assert by_vertices.loc["A4"].sum() == 10_467 and by_vertices.loc["A0"].sum() == 423_624
    accuracy = space_plots.accuracy_table()
    assert accuracy["best_A0"] == f"{np.nanmax(nb101.space_run0_accuracy('A0')):.2%}"


# ---- Ranking and Variants: the released evaluations ----------------------------------------------

@pytest.fixture(scope="module")
def released() -> ranking_plots.Released:
    return ranking_plots.load_released(top_k=(10,))


def test_table1_facts_reproduce_the_paper_left_half(released) -> None:
    facts = ranking_plots.table1_facts(released, BASELINE)
    assert facts["runs"] == "210" and facts["cells"] == "151,644"
    assert facts["agree"] == "14 of 14"
    assert float(facts["max_std_difference"]) <= ranking_plots.STD_TOLERANCE


def test_the_270_percent_is_the_mean_of_per_space_gains_not_the_ratio_of_means(released) -> None:
    gains = ranking_plots.gain_tables(released)
    assert 260 <= int(gains["mean_of_ratios"].rstrip("%")) <= 280  # the paper's "about 270%"
    assert int(gains["ratio_of_means"].rstrip("%")) < 200
    assert gains["spaces_improved"] == "7 of 7"


def test_distinct_cells_leave_out_diverged_runs_and_second_copies(released) -> None:
    cells = ranking_plots.distinct_cells(released, BASELINE)
    copies = set(zip(released.duplicates["column"], released.duplicates["space"], released.duplicates["seed_copy"]))
    kept = set(zip(cells["column"], cells["space"], cells["seed"]))
    assert not cells["diverged"].any() and not copies & kept
    assert set(cells["column"]) == set(BASELINE)


def test_welch_table_explains_its_a4_no_ft_mean_by_the_copied_run(released) -> None:
    welch = ranking_plots.welch_tables(released)
    assert welch["welch_a4_no_ft"] != welch["table1_a4_no_ft"]
    assert welch["a4_copy"].startswith("seed ") and "a copy of seed" in welch["a4_copy"]


def test_variant_gains_count_every_pair_once(released) -> None:
    gains = ranking_plots.variant_gain_tables(released, "baseline/bns_ft", VARIANTS, n_resamples=200)
    counts = [int(gains[key]) for key in ("cells_better", "cells_worse", "cells_noise")]
    assert gains["cells_total"] == "28" and sum(counts) == 28
    assert gains["tab_gains"].shape == (7, 4)


def test_the_variants_figure_does_not_start_its_axis_at_zero(released) -> None:
    figure = ranking_plots.spearman_figure(released, ["baseline/bns_ft", *VARIANTS])
    low, high = figure.axes[0].get_ylim()
    assert low > 0.2 and high < 1  # BNS-FT ρ lie between about 0.4 and 0.8: a zero line would squash them


def test_study_tables_set_the_study_beside_the_paper_and_single_k_on_request(released) -> None:
    ranking = ranking_plots.study_tables(released.comparison)
    variants = ranking_plots.study_tables(released.comparison, with_single_k=True)
    assert "tab_single_k" not in ranking and set(ranking) < set(variants)
    assert variants["study_single_k"].startswith(("+", "−", "-")) and "[" in variants["study_single_k"]


def test_budget_context_finds_the_study_run_nearest_the_demo() -> None:
    context = ranking_plots.budget_context("demo", pd.DataFrame(columns=["profile", "space", "column", "spearman"]))
    budget = int(context["near_epochs"])
    assert integer(context["near_images"]) == budget * images_per_epoch(results.STUDY_PROFILE)
    assert context["demo_bns_rho"] == "—"  # no demo run here: undefined, not zero


# ---- Training ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def paper_scale_logs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first 3 epochs of the committed paper-scale run's step and epoch logs."""
    state = results.data_dir() / results.STUDY_DIR / results.PAPER_SCALE_RUN / "state"
    steps = pd.read_parquet(state / "train_steps.parquet")
    epochs = pd.read_parquet(state / "train_epochs.parquet")
    return steps[steps["epoch"] < 3], epochs[epochs["epoch"] < 3]


def test_training_curves_fit_the_column_with_one_legend_and_a_title_that_matches_the_schedule(paper_scale_logs) -> None:
    steps, epochs = paper_scale_logs
    figure = training_plots.training_curves(steps, epochs, "cosine_per_epoch")
    learning_rate = figure.axes[2].lines[0].get_ydata()
    assert figure.get_figwidth() <= FIGURE_WIDTH
    assert len(figure.legends) == 1 and figure.legends[0].get_texts()[0].get_fontsize() >= 9
    assert "per epoch" in figure.axes[2].get_title() and len(np.unique(learning_rate)) <= epochs["epoch"].nunique()


def test_a_precision_switch_shows_its_epoch_in_words_and_on_the_progress_figure() -> None:
    progress, _ = results.training_progress(results.PAPER_SCALE_RUN)
    before = progress["trained_in"].iloc[0]
    switched = progress.assign(trained_in=np.where(progress["epoch"] >= 3, "fp32" if before == "bf16" else "bf16", before))
    spans = training_plots.precision_spans(switched.iloc[:5])
    assert [(first, last) for _, first, last, _ in spans] == [(1, 3), (4, 5)]
    assert training_plots.precision_history(switched.iloc[:5]).count(", then ") == 1
    figure = training_plots.progress_beside_study(switched, 432, results.load_training_logs(), training_plots.STUDY_RUN_BESIDE)
    marks = [line for line in figure.axes[0].lines if line.get_linestyle() == "--"]
    assert [line.get_xdata()[0] for line in marks] == [4]
    assert any(text.get_text().endswith("from epoch 4") for text in figure.legends[0].get_texts())


def test_study_figures_fit_the_column_and_group_the_legend_by_mode() -> None:
    correlations = results.study_correlations(n_resamples=50)
    figure = training_plots.study_curve(correlations, training_plots.paper_means())
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    half = len(labels) // 2
    assert figure.get_figwidth() <= FIGURE_WIDTH and not figure.axes[0].get_legend()
    assert all(label.startswith("NO-FT") for label in labels[:half])
    assert all(label.startswith("BNS-FT") for label in labels[half:])
    assert training_plots.study_accuracy_figure().get_figwidth() <= FIGURE_WIDTH


def test_differences_quote_the_bns_ft_comparisons_the_text_names() -> None:
    glued = training_plots.differences_tables(results.comparisons(n_resamples=50))
    assert set(training_plots.GLUED_DIFFERENCES) < set(glued)
    assert all("[" in glued[key] for key in training_plots.GLUED_DIFFERENCES)


def test_cost_and_precision_sentences() -> None:
    cost = training_plots.cost_tables()
    precision = results.evaluation_precision(results.study_correlations(n_resamples=50), n_resamples=50)
    assert cost["cost_total"].startswith("In all: ") and "CPU-hours" in cost["cost_total"]
    [sentence] = training_plots.precision_finding(precision)
    assert sentence.startswith("Precision: with 300 cells") and sentence.endswith(("limit it.", "as the cells."))
    assert training_plots.precision_finding(precision.iloc[:0]) == []

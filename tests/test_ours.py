"""Tests of wsnas.ours: our runs beside the paper's."""

from __future__ import annotations

from wsnas import ours


def test_no_runs_without_results(tmp_path):
    assert ours.our_runs(tmp_path).empty
    assert ours.our_correlations(tmp_path).empty


def test_the_study_single_k_gain_is_its_paired_comparison_beside_the_paper_difference():
    import pytest

    from wsnas import reference, results

    evaluations = reference.load_evaluations()
    comparison = reference.side_by_side(reference.paper_table1(), reference.table1_recomputed(evaluations))
    rows = ours.study_variant_beside_paper(comparison)
    bns = results.comparisons().query("mode == 'bns_ft'").set_index("comparison")
    single_k = [label for label in bns.index if label.startswith("SINGLE-K")]
    if not single_k or not any(label.startswith("seed 1") for label in bns.index):
        assert rows.empty
        return
    row = rows.iloc[0]
    assert row["ours"] == pytest.approx(bns.loc[single_k[0], "difference"])
    assert row["low"] <= row["ours"] <= row["high"] and row["cells"] == 300
    paper = reference.paper_table1().loc["A4"]
    assert row["paper"] == pytest.approx(paper[("single_k/bns_ft", "mean")] - paper[("baseline/bns_ft", "mean")])
    assert "27 epochs" in row["scale"] and "cpu-study" in row["scale"]

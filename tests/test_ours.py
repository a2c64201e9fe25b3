"""Tests of wsnas.ours: our runs beside the paper's."""

from __future__ import annotations

from wsnas import ours


def test_no_runs_without_results(tmp_path):
    assert ours.our_runs(tmp_path).empty
    assert ours.our_correlations(tmp_path).empty

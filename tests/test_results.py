"""wsnas.results: our committed runs read back without torch (real files under data/study/)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from wsnas import names, results, study
from wsnas.data import validation_precision

STUDY_RUN = "A4_baseline_seed0_e81"


def test_the_bn_readings_of_the_81_epoch_run_hold_every_reading_on_its_300_cells():
    readings = results.bn_readings(STUDY_RUN, n_resamples=200)
    trained = readings.iloc[0]
    assert trained["replay_steps"] == 0 and trained["momentum"] == 0.003 and trained["label"].startswith("as trained")
    assert set(readings["n_cells"]) == {300}
    assert (readings["spearman_low"] <= readings["spearman"]).all() and (readings["spearman"] <= readings["spearman_high"]).all()
    committed = {(r.momentum, r.replay_steps, r.precision, r.draw) for r in study.BN_READINGS}
    assert committed <= set(zip(readings["momentum"], readings["replay_steps"], readings["precision"], readings["draw"]))
    # NO-FT as trained is what the study committed for the run's final epoch
    table = results.study_correlations(n_resamples=50)
    expected = table.query("run == @STUDY_RUN and epoch == 81 and mode == 'no_ft'")["spearman"].iloc[0]
    assert trained["spearman"] == pytest.approx(expected, abs=1e-12)


def test_the_spread_at_main_pys_momentum_summarises_its_draws():
    readings = results.bn_readings(STUDY_RUN, n_resamples=50)
    spread = results.momentum_spread(readings)
    draws = readings[(readings["momentum"] == 0.997) & (readings["replay_steps"] > 0)]
    assert spread["draws"] == len(draws) == 5
    assert spread["low"] == draws["spearman"].min() <= spread["mean"] <= spread["high"] == draws["spearman"].max()
    gains = results.momentum_gains_of_draws(readings, bns_ft_spearman=0.5)
    assert gains["gain_main_py"] == pytest.approx(0.5 - spread["mean"])
    assert gains["gain_corrected"] == pytest.approx(0.5 - readings.loc[readings["replay_steps"] == 0, "spearman"].iloc[0])


def test_released_no_ft_is_at_chance_outside_a0_res():
    released = results.released_mean_accuracy()
    assert set(released.index) == {"A0", "A0-nores", "A0-res", "A1", "A2", "A3", "A4"}
    assert released.drop(index="A0-res")["no_ft"].between(0.10, 0.13).all()
    assert released.loc["A0-res", "no_ft"] > 0.3 and (released["bns_ft"] > 0.3).all()
    lines = results.bn_momentum_findings(results.bn_readings(STUDY_RUN, n_resamples=50), released)
    assert "A0-res (0.40)" in lines[0] and len(lines) == 3


def test_the_paper_scale_run_commits_its_training_progress():
    log, status = results.training_progress("A4_baseline_seed0_paper_e432")
    assert status["total_steps"] == 432 * 157 and status["trained_in"] in ("bf16", "fp32")
    assert len(log) == status["epoch"] and list(log["epoch"]) == list(range(len(log)))
    assert {"accuracy", "images_per_second", "trained_in"} <= set(log.columns)
    empty, nothing = results.training_progress("no_such_run")
    assert empty.empty and nothing == {}


def test_run_spearman_reads_the_committed_final_epoch():
    rho = results.run_spearman(STUDY_RUN, "bns_ft")
    assert np.isfinite(rho) and rho == pytest.approx(0.4445, abs=1e-4)


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of data/ (links to the real files, its own MANIFEST, the 81-epoch run's folder and study/ as real
    folders) that computations may write to; yields its path."""
    import shutil

    from wsnas import datafiles

    real = datafiles.data_dir()
    data = tmp_path / "data"
    (data / "study" / STUDY_RUN).mkdir(parents=True)
    for entry in real.iterdir():
        if entry.name not in ("study", "MANIFEST"):
            (data / entry.name).symlink_to(entry)
    for entry in (real / "study").iterdir():
        if entry.name != STUDY_RUN:
            (data / "study" / entry.name).symlink_to(entry)
    for entry in (real / "study" / STUDY_RUN).iterdir():
        if entry.name != results.WHOLE_SPACE_DIR:
            (data / "study" / STUDY_RUN / entry.name).symlink_to(entry)
    shutil.copyfile(real / "MANIFEST", data / "MANIFEST")
    monkeypatch.setenv("WSNAS_DATA", str(data))
    datafiles.forget_manifest()
    yield data
    datafiles.forget_manifest()


def test_the_whole_space_is_evaluated_in_committed_chunks_that_resume(tmp_path, data_copy):
    """Two chunks of 3 cells of the 81-epoch run: each chunk is committed with its MANIFEST row, a second call skips
    them, and the reader joins NB-101."""
    from wsnas import datafiles

    run = results.study_run(STUDY_RUN)
    written = study.evaluate_whole_space(run, chunks=[0, 1], chunk_size=3, results_root=tmp_path / "results",
                                         progress=False)
    assert written == [results.whole_space_chunk(STUDY_RUN, k) for k in (0, 1)]
    datafiles.forget_manifest()
    for name in written:
        assert datafiles.manifest()[name]["sha256"] == datafiles.sha256_of(data_copy / name)
    assert study.evaluate_whole_space(run, chunks=[0, 1], chunk_size=3, results_root=tmp_path / "results") == []
    table = results.load_whole_space(STUDY_RUN)
    assert len(table) == 12 and set(table["mode"]) == {"no_ft", "bns_ft"} and table["hash"].nunique() == 6
    assert table["mean_validation_accuracy"].notna().all() and table["proxy_accuracy"].between(0, 1).all()
    assert set(table["precision"]) == {validation_precision("auto", "cpu")}  # the profiles' default eval_precision


def test_a_resumed_whole_space_evaluation_keeps_the_precision_of_its_committed_chunks(tmp_path, data_copy):
    """Chunk 0 committed in the other precision than `auto` means here (or before chunks recorded one: fp32): the
    chunk evaluated next is in that precision too, so one evaluation never mixes precisions."""
    from wsnas import datafiles

    run = results.study_run(STUDY_RUN)
    study.evaluate_whole_space(run, chunks=[0], chunk_size=3, results_root=tmp_path / "results", progress=False)
    chunk0 = data_copy / results.whole_space_chunk(STUDY_RUN, 0)
    table = pd.read_parquet(chunk0)
    if validation_precision("auto", "cpu") == "bf16":
        other = "fp32"
        table = table.drop(columns="precision")  # a chunk from before the column: fp32
    else:
        other = "bf16"
        table = table.assign(precision=other)
    table.to_parquet(chunk0, index=False)
    datafiles.record_in_manifest(results.whole_space_chunk(STUDY_RUN, 0), source="this test", licence="MIT (this project)",
                                 made_by="this test")
    study.evaluate_whole_space(run, chunks=[1], chunk_size=3, results_root=tmp_path / "results", progress=False)
    assert set(results.load_whole_space(STUDY_RUN)["precision"]) == {other}


def test_a_run_with_two_sets_of_statistics_is_read_four_ways_in_committed_chunks(tmp_path, data_copy):
    """A tiny run (profile smoke) trained with a second set of BN statistics at 0.997: its readings come in committed
    chunks, a second call skips them, NO-FT under the first set and BNS-FT of the first chunk are exactly the
    standard evaluation's, NO-FT under the second set is not, and the draws re-read NO-FT at 0.997."""
    from wsnas import datafiles
    from wsnas.evaluate import evaluate_run
    from wsnas.train import train_supernet

    run = results.StudyRun(2, checkpoints=(1,), profile="smoke", settings=(("second_bn_momentum", 0.997),))
    spec, run_dir = study.open_study_run(run, tmp_path / "results")
    train_supernet(spec.train, run_dir, progress=False)
    written = study.evaluate_readings(run, 2, n_cells=5, chunk_size=3, results_root=tmp_path / "results", progress=False)
    assert written == [results.readings_chunk(run.name, 2, k) for k in (0, 1)]
    datafiles.forget_manifest()
    assert all(datafiles.manifest()[name]["sha256"] == datafiles.sha256_of(data_copy / name) for name in written)
    assert study.evaluate_readings(run, 2, n_cells=5, chunk_size=3, results_root=tmp_path / "results") == []
    readings = results.load_readings(run.name)
    names = results.reading_names(0.003, 0.997)
    assert len(readings) == 5 * 4 and set(readings["reading"]) == set(names) and set(readings["epoch"]) == {2}
    standard = evaluate_run(spec, run_dir, progress=False).set_index(["mode", "hash"])["proxy_accuracy"]
    first_set = readings[readings["reading"] == "no_ft@0.003"].set_index("hash")["proxy_accuracy"]
    assert (first_set == standard["no_ft"].loc[first_set.index]).all()
    chunk0 = readings[readings["reading"] == "bns_ft_mean"].iloc[:3].set_index("hash")["proxy_accuracy"]
    assert (chunk0 == standard["bns_ft"].loc[chunk0.index]).all()  # smoke reads BNS-FT from the mean, one stream
    second_set = readings[readings["reading"] == "no_ft@0.997"].set_index("hash")["proxy_accuracy"]
    assert not (second_set == first_set.loc[second_set.index]).all()
    summary = results.readings_summary(run.name, n_resamples=20)
    assert set(summary["reading"]) == set(names) and set(summary["n_cells"]) == {5}

    drawn = study.evaluate_readings(run, 1, n_cells=2, draws=True, results_root=tmp_path / "results", progress=False)
    assert drawn == [results.readings_chunk(run.name, 1, 0, draws=True)]
    draws = results.load_readings(run.name).query("epoch == 1")
    assert set(draws["reading"]) == {results.draw_reading(0.003, d) for d in range(results.SPREAD_DRAWS)}
    assert len(draws) == 2 * results.SPREAD_DRAWS

    # `--last-first`: the same chunks from the last (a second process shares them), each the same as before
    before = results.load_readings(run.name).query("epoch == 2").reset_index(drop=True)
    for name in written:
        (data_copy / name).unlink()
    again = study.evaluate_readings(run, 2, n_cells=5, chunk_size=3, results_root=tmp_path / "results", progress=False,
                                    last_first=True)
    assert again == written[::-1]
    datafiles.forget_manifest()
    pd.testing.assert_frame_equal(results.load_readings(run.name).query("epoch == 2").reset_index(drop=True), before)
    with pytest.raises(ValueError, match="keeps epochs"):
        study.evaluate_readings(run, 3, results_root=tmp_path / "results")
    with pytest.raises(ValueError, match="one set of BN statistics"):
        study.evaluate_readings(results.study_run(STUDY_RUN), 81, results_root=tmp_path / "results")


def test_our_paper_scale_run_stands_beside_the_paper_and_each_released_a4_super_net():
    from wsnas import reference

    beside = results.beside_released("A4_baseline_seed0_paper_e432", n_resamples=100)
    assert list(beside.columns) == results.BESIDE_RELEASED_COLUMNS
    paper = beside.iloc[0]
    assert paper["super_net"] == "paper" and (paper["bns_ft_last"], paper["no_ft_corrected"]) == (0.64, 0.08)
    released = beside[beside["super_net"].str.startswith("released")].set_index("super_net")
    per_run = reference.correlations().query("space == 'A4'").set_index(["column", "seed"])["spearman"]
    assert len(released) == 5 and set(released["cells"]) == {1000}
    for seed in range(5):
        row = released.loc[f"released, seed {seed}"]
        assert row["bns_ft_last"] == pytest.approx(per_run[("baseline/bns_ft", seed)], abs=1e-12)
        assert row["no_ft_corrected"] == pytest.approx(per_run[("baseline/no_ft", seed)], abs=1e-12)
        assert pd.isna(row["no_ft_main_py"])  # the released runs were never read at 0.997
        assert row["bns_ft_last_low"] < row["bns_ft_last"] < row["bns_ft_last_high"]
    assert sorted(released["bns_ft_last"].round(2)) == [0.61, 0.61, 0.64, 0.64, 0.70]  # as the issue recomputed them
    assert released["no_ft_corrected_accuracy"].between(0.10, 0.13).all()  # chance, at the 0.003 their settings record
    assert released.loc["released, seed 4", "note"] == "NO-FT copies seed 3"  # its file, byte for byte
    assert (released.drop(index="released, seed 4")["note"] == "").all()
    ours = beside[beside["super_net"].str.startswith("ours")]
    summary = results.readings_summary("A4_baseline_seed0_paper_e432", n_resamples=100)
    read_epochs = summary.loc[summary["reading"] == "bns_ft_last", "epoch"]
    assert list(ours["epochs"]) == sorted(read_epochs)
    for row in ours.itertuples():
        by = summary[summary["epoch"] == row.epochs].set_index("reading")
        assert row.bns_ft_last == pytest.approx(by.loc["bns_ft_last", "spearman"])
        assert row.no_ft_corrected == pytest.approx(by.loc["no_ft@0.003", "spearman"])
        assert row.no_ft_main_py == pytest.approx(by.loc["no_ft@0.997", "spearman"])
        assert row.no_ft_corrected_accuracy == pytest.approx(by.loc["no_ft@0.003", "mean_accuracy"])
        assert row.no_ft_main_py_accuracy == pytest.approx(by.loc["no_ft@0.997", "mean_accuracy"])
        assert row.cells == by.loc["bns_ft_last", "n_cells"]
    verdict = results.released_spread_verdict(beside)
    assert verdict.startswith("at epoch") if len(ours) else verdict == "none of our epochs is read yet"


def test_the_momentum_caveat_of_claim_1_is_computed_from_our_committed_readings():
    from wsnas import claims, reference

    assert results.PAPER_SCALE_RUN == results.PAPER_SCALE_RUNS[0].name
    readings = results.bn_readings(STUDY_RUN, n_resamples=200)
    gains = results.momentum_gains_of_draws(readings, results.run_spearman(STUDY_RUN))
    caveat = results.momentum_caveat()
    assert results.gains_phrase(gains) in caveat
    assert "a7237c3" in caveat and "1a746cb" in caveat
    recorded = reference.released_momentum()
    assert f"Every one of the {recorded['files']} settings files of the released runs records BN momentum 0.003" in caveat
    evaluations = reference.load_evaluations()
    per_run = reference.correlations(evaluations)
    claim = claims.batchnorm_fine_tuning_is_necessary(evaluations, per_run, reference.duplicate_runs(evaluations))
    assert claim.caveat == caveat and claim.as_json()["caveat"] == caveat
    assert results.momentum_gains(0.5, 0.1, 0.3) == pytest.approx({"gain_corrected": 0.4, "gain_main_py": 0.2})


def test_the_gains_under_each_momentum_read_in_words_whichever_is_larger():
    phrase = results.gains_phrase(results.momentum_gains(0.63, 0.23, 0.47))
    assert phrase == ("BNS-FT gains ρ +0.40 over NO-FT at 0.003 (the released runs' setting) and +0.16 over NO-FT at "
                      "0.997 (main.py's default)")
    negative = results.gains_phrase(results.momentum_gains(0.3, 0.4, 0.1))
    assert "−" not in phrase and "−0.10" in negative and "-0.10" not in negative  # the book's minus sign


def test_the_paper_scale_runs_no_ft_draws_are_read_on_the_cells_they_share_with_its_trained_reading():
    from wsnas.datafiles import data_dir, data_path
    from wsnas.nb101 import NB101

    run = results.PAPER_SCALE_RUN
    folder = data_dir() / results.STUDY_DIR / run / results.READINGS_DIR
    names_of = sorted(path.name for path in folder.glob("epoch*_draws*.parquet"))
    draws = results.paper_scale_draws(run)
    if not names_of:
        assert draws == {} and results.paper_scale_draws_phrase(run) == ""
        pytest.skip("no NO-FT draws of the paper-scale run are committed yet")
    epoch = max(int(name[len("epoch"):len("epoch") + 3]) for name in names_of)
    read = pd.concat([pd.read_parquet(data_path(f"{results.STUDY_DIR}/{run}/{results.READINGS_DIR}/{name}"))
                      for name in names_of if name.startswith(f"epoch{epoch:03d}")])
    truth = NB101.default().metrics(read["hash"].unique())["mean_validation_accuracy"]
    rho = {reading: scipy.stats.spearmanr(group["proxy_accuracy"], group["hash"].map(truth)).statistic
           for reading, group in read.groupby("reading")}
    assert set(rho) == {results.draw_reading(0.997, draw) for draw in range(len(rho))}
    assert draws["epoch"] == epoch and draws["draws"] == len(rho) and draws["cells"] == read["hash"].nunique()
    assert draws["low"] == pytest.approx(min(rho.values())) and draws["high"] == pytest.approx(max(rho.values()))
    trained = results.load_readings(run).query("epoch == @epoch and reading == 'no_ft@0.997'")
    trained = trained[trained["hash"].isin(read["hash"])]
    assert len(trained) == read["hash"].nunique()  # the draws re-read cells the run's own reading covers
    expected = scipy.stats.spearmanr(trained["proxy_accuracy"], trained["nb101_validation_accuracy"]).statistic
    assert draws["as_trained"] == pytest.approx(expected)
    phrase = results.paper_scale_draws_phrase(run)
    assert f"ρ {names.rho(draws['low'])} to {names.rho(draws['high'])}" in phrase and phrase in results.momentum_caveat()


def test_the_paper_scale_runs_interval_is_the_same_in_the_introduction_ranking_and_training():
    from wsnas.plots import claims as claims_plots
    from wsnas.plots import ranking as ranking_plots

    verdict = ranking_plots.beside_released_tables(results.PAPER_SCALE_RUN)["beside_verdict"]
    assert claims_plots.paper_scale_line().startswith(f"{verdict};")
    summary = results.readings_summary(results.PAPER_SCALE_RUN)
    final = summary[(summary["reading"] == "bns_ft_last")].sort_values("epoch").iloc[-1]
    assert f"[{final['spearman_low']:.2f}, {final['spearman_high']:.2f}]" in verdict


def test_an_epoch_read_in_part_says_so():
    run = results.PAPER_SCALE_RUN
    assert results.planned_cells(run, 432) == 1000 and results.planned_cells(run, 81) == results.CHECKPOINT_CELLS
    assert results.cells_read_phrase(run, 432, 1000) == "1,000 cells"
    assert results.cells_read_phrase(run, 432, 200) == "200 of its 1,000 cells, the rest still being read"
    assert results.cells_read_phrase(run, 81, 300) == "300 cells"


def test_the_study_run_beside_the_free_counts_on_the_same_cells():
    from wsnas.nb101 import NB101
    from wsnas.space import counts_of

    table = results.load_study().query("run == @STUDY_RUN and epoch == 81")
    beside = results.spearman_beside_counts(table).set_index("mode")
    assert set(beside.index) == {"no_ft", "bns_ft"} and set(beside["cells"]) == {300}
    assert beside.loc["bns_ft", "ws"] == pytest.approx(results.run_spearman(STUDY_RUN, "bns_ft"), abs=1e-12)
    cells = table[table["mode"] == "bns_ft"]
    params = NB101.default().metrics(cells["hash"])["trainable_parameters"].to_numpy()
    assert (counts_of(cells["hash"])["params"] == params).all()  # the space table agrees with NB-101's own count
    assert beside.loc["no_ft", "params"] == beside.loc["bns_ft", "params"]  # same cells in both modes
    assert results.longest_run_beside_counts().set_index("mode")["ws"].to_dict() == beside["ws"].to_dict()


def test_the_paper_scale_readings_beside_the_parameter_count_on_the_same_cells():
    from wsnas.space import counts_of

    beside = results.readings_beside_counts(results.PAPER_SCALE_RUN)
    readings = results.load_readings(results.PAPER_SCALE_RUN)
    last = readings[readings["reading"] == "bns_ft_last"]
    assert sorted(beside["epoch"]) == sorted(last["epoch"].unique())
    for row in beside.itertuples():
        cells = last[last["epoch"] == row.epoch]
        assert row.cells == len(cells)
        truth = cells["nb101_validation_accuracy"]
        assert row.params == pytest.approx(scipy.stats.spearmanr(counts_of(cells["hash"])["params"], truth).statistic)
        assert row.ws == pytest.approx(scipy.stats.spearmanr(cells["proxy_accuracy"], truth).statistic)


def test_the_paper_scale_findings_line_gives_the_latest_read_epoch():
    summary = results.readings_summary(results.PAPER_SCALE_RUN, n_resamples=1000)
    lines = results.paper_scale_findings()
    if summary.empty:
        assert lines == []
    else:
        epoch = int(summary["epoch"].max())
        assert len(lines) == 1 and f"at epoch {epoch} of 432" in lines[0]
        rho = summary.query("epoch == @epoch").set_index("reading")["spearman"]
        assert f"ρ {rho['bns_ft_last']:.2f}".replace("-", "−") in lines[0]


def _study_as_whole_space() -> pd.DataFrame:
    """The 81-epoch run's 300 committed cells in the whole-space layout (hash, mode, proxy_accuracy + NB-101)."""
    from wsnas.nb101 import NB101

    table = results.load_study().query("run == @STUDY_RUN and epoch == 81")[["hash", "mode", "proxy_accuracy"]]
    truth = NB101.default().metrics(table["hash"].unique())[["mean_validation_accuracy", "mean_test_accuracy"]]
    return table.join(truth, on="hash").reset_index(drop=True)


def test_whole_space_correlations_beside_the_sample_and_the_recall_of_the_true_best():
    table = _study_as_whole_space()
    every = results.whole_space_correlations(table, pd.Index(table["hash"].unique())).set_index("mode")
    assert (every["spearman"] == every["sample_spearman"]).all() and set(every["cells"]) == {300}
    assert every.loc["bns_ft", "spearman"] == pytest.approx(results.run_spearman(STUDY_RUN, "bns_ft"), abs=1e-12)
    half = results.whole_space_correlations(table, pd.Index(table["hash"].unique()[:150])).set_index("mode")
    assert set(half["sample_cells"]) == {150}
    bns = table[table["mode"] == "bns_ft"]
    perfect = results.top_recall(bns["mean_validation_accuracy"], bns["mean_validation_accuracy"])
    assert perfect.loc["top 10", "10"] == 1.0 and perfect.loc["top 100", "10"] == pytest.approx(0.1)
    recall = results.top_recall(bns["proxy_accuracy"], bns["mean_validation_accuracy"])
    assert ((recall >= 0) & (recall <= 1)).all().all()
    by_size = recall[["1%", "10", "10%", "100"]]  # 3, 10, 30 and 100 of 300 cells
    assert (by_size.diff(axis=1).fillna(0) >= 0).all().all()  # more cells kept never find fewer
    ranks = results.true_ranks_of_proxy_top(bns, k=10)
    assert len(ranks) == 10 and ranks["proxy_accuracy"].is_monotonic_decreasing
    best = ranks.iloc[0]
    assert best["true_rank"] == 1 + (bns["mean_validation_accuracy"] > best["mean_validation_accuracy"]).sum()


def test_the_ranking_chapter_states_the_momentum_on_the_paper_scale_run_with_the_cells_it_read():
    from wsnas.plots import ranking as ranking_plots

    glued = ranking_plots.beside_released_tables(results.PAPER_SCALE_RUN, n_resamples=50)
    summary = results.readings_summary(results.PAPER_SCALE_RUN, n_resamples=50)
    latest = summary[summary["reading"] == "bns_ft_last"]
    epoch = int(latest["epoch"].max())
    cells = int(latest.loc[latest["epoch"] == epoch, "n_cells"].iloc[0])
    phrase = results.cells_read_phrase(results.PAPER_SCALE_RUN, epoch, cells)
    assert f"({phrase})" in glued["beside_verdict"]
    assert f"at epoch {epoch} of 432, on {phrase}:" in results.paper_scale_momentum() in results.momentum_caveat()
    rows = summary[summary["epoch"] == epoch].set_index("reading")
    corrected, main_py = rows.loc["no_ft@0.003"], rows.loc["no_ft@0.997"]
    assert glued["beside_no_ft"] == (f"{names.rho(corrected['spearman'])} at 0.003 (mean proxy accuracy "
                                     f"{corrected['mean_accuracy']:.2f}) and {names.rho(main_py['spearman'])} at 0.997 "
                                     f"({main_py['mean_accuracy']:.2f})")
    gain = rows.loc["bns_ft_last", "spearman"] - corrected["spearman"]
    assert glued["beside_gain_corrected"] == names.decimal(gain, 2, signed=True)
    draws = results.paper_scale_draws()  # committed: the final epoch's NO-FT at 0.997 after replays of its last steps
    assert glued["beside_draws"] == results.paper_scale_draws_phrase()
    assert glued["beside_draws_range"] == (f"ranges from {names.rho(draws['low'])} to {names.rho(draws['high'])} over "
                                           f"{draws['draws']} replays of its last steps, on its first "
                                           f"{draws['cells']:,} cells")

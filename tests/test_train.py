"""wsnas.train, wsnas.profiles and wsnas.runs: optimisers, schedule, exact resume, damaged checkpoints, divergence."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from wsnas import runs
from wsnas.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from wsnas.evaluate import evaluate_run
from wsnas.metrics import mode_correlations
from wsnas.optim import AuthorsRMSProp, TFRMSProp, cosine_learning_rate
from wsnas.profiles import ProfileError, load_profile
from wsnas.settings import RunSettings, config_for, evaluation_settings
from wsnas.train import TIMING_COLUMNS, train_supernet

# A few seconds on a CPU: 256 images, batches of 64, 2 epochs = 8 steps.
TINY = {"train_subset": 256, "batch_size": 64, "epochs": 2, "stem_channels": 8}


def tiny_config(**overrides):
    return config_for("smoke", **{**TINY, **overrides})


def test_tf_rmsprop_follows_tensorflow_update_rule():
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    optimizer = TFRMSProp([param], lr=0.2, decay=0.9, momentum=0.9, eps=1.0, weight_decay=1e-4)
    p, ms, mom = param.detach().numpy().astype(np.float64).copy(), np.ones(3), np.zeros(3)  # TF: ms starts at one
    for gradient in ([0.3, -0.1, 2.0], [1.0, 0.0, -0.5], [0.2, 0.2, 0.2]):
        param.grad = torch.tensor(gradient)
        optimizer.step()
        g = np.array(gradient) + 1e-4 * p
        ms = 0.9 * ms + 0.1 * g**2
        mom = 0.9 * mom + 0.2 * g / np.sqrt(ms + 1.0)
        p = p - mom
        np.testing.assert_allclose(param.detach().numpy(), p, rtol=1e-6)


def test_authors_rmsprop_shrinks_its_step_about_tenfold():
    """Adding eps into the square average every step: the denominator grows from 1 to about 10."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = AuthorsRMSProp([param], lr=0.1, momentum=0.0, eps=1.0)
    moves = []
    for _ in range(600):
        before = param.detach().clone()
        param.grad = torch.full((1,), 1e-3)
        optimizer.step()
        moves.append(float((before - param.detach()).abs()))
    assert 8.0 < moves[0] / moves[-1] < 11.0


def test_cosine_schedule_runs_from_base_to_zero():
    assert cosine_learning_rate(0, 100, 0.2) == pytest.approx(0.2)
    assert cosine_learning_rate(50, 100, 0.2) == pytest.approx(0.1)
    assert cosine_learning_rate(100, 100, 0.2) == pytest.approx(0.0, abs=1e-12)


def test_profiles_hold_the_papers_settings_and_reject_bad_input():
    paper = load_profile("paper")
    assert (paper["epochs"], paper["batch_size"], paper["stem_channels"], paper["learning_rate"]) == (432, 256, 16, 0.2)
    assert (paper["num_eval_cells"], paper["num_bn_batches"], paper["allow_lossy"]) == (1000, 4, False)
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("huge")
    with pytest.raises(ProfileError, match="unknown profile setting 'epoch'"):
        load_profile("demo", epoch=3)
    with pytest.raises(ProfileError, match="must be int"):
        load_profile("demo", epochs="3")
    with pytest.raises(ProfileError, match="must be one of"):
        load_profile("demo", optimizer="adam")


def test_variants_set_sampler_averaging_and_kernel():
    assert (config_for("demo", variant="avg3").avg_k, config_for("demo", variant="avg3").sampler) == (3, "uniform")
    both = config_for("demo", variant="single_k+pro_rata")
    assert (both.sampler, both.single_kernel, both.avg_k) == ("pro_rata", True, 1)
    with pytest.raises(ProfileError, match="unknown variant"):
        config_for("demo", variant="avg-3")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An uninterrupted tiny run: (config, its directory, its result)."""
    config = tiny_config()
    directory = tmp_path_factory.mktemp("whole")
    return config, directory, train_supernet(config, directory, progress=False)


def test_killed_run_resumes_bit_identically(tmp_path, trained):
    config, whole_dir, whole = trained
    partial = train_supernet(config, tmp_path / "split", progress=False, stop_after_epochs=1)
    assert runs.get_status(tmp_path / "split")["state"] == "running" and len(partial.epoch_logs) == 1
    resumed = train_supernet(config, tmp_path / "split", progress=False)
    assert whole.state == resumed.state == "done"
    first, second = load_checkpoint(whole.checkpoint_path), load_checkpoint(resumed.checkpoint_path)
    assert first["model"].keys() == second["model"].keys()
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name
    for key, state in first["optimizer"]["state"].items():
        for slot, tensor in state.items():
            assert torch.equal(tensor, second["optimizer"]["state"][key][slot])
    for table in ("step_logs", "epoch_logs"):
        pd.testing.assert_frame_equal(getattr(whole, table).drop(columns=list(TIMING_COLUMNS)),
                                      getattr(resumed, table).drop(columns=list(TIMING_COLUMNS)))
    assert len(whole.step_logs) == 8 and whole.step_logs["loss"].map(math.isfinite).all()
    # A finished run is reused, not retrained.
    again = train_supernet(config, whole_dir, progress=False)
    pd.testing.assert_frame_equal(again.step_logs, whole.step_logs)


def test_damaged_checkpoints_are_refused(tmp_path):
    config = tiny_config(epochs=1)
    result = train_supernet(config, tmp_path, progress=False)
    raw = result.checkpoint_path.read_bytes()
    result.checkpoint_path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        train_supernet(config, tmp_path, progress=False)
    flipped = bytearray(raw)
    flipped[-100] ^= 0xFF
    result.checkpoint_path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        train_supernet(config, tmp_path, progress=False)
    result.checkpoint_path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad header"):
        train_supernet(config, tmp_path, progress=False)


def test_a_run_resumes_only_in_the_precision_it_trained_in(tmp_path):
    config = tiny_config(precision="bf16")
    partial = train_supernet(config, tmp_path, progress=False, stop_after_epochs=1)
    assert partial.trained_in == "bf16" and load_checkpoint(partial.checkpoint_path)["trained_in"] == "bf16"
    # As if `auto` had meant fp32 on the machine that started the run.
    saved = load_checkpoint(partial.checkpoint_path)
    save_checkpoint(partial.checkpoint_path, {**saved, "trained_in": "fp32"})
    with pytest.raises(CheckpointError, match="trained in fp32, but precision='bf16' means bf16"):
        train_supernet(config, tmp_path, progress=False)


def test_a_precision_switch_asked_for_is_logged_with_its_epoch(tmp_path):
    config = tiny_config(precision="bf16")
    partial = train_supernet(config, tmp_path, progress=False, stop_after_epochs=1)
    saved = load_checkpoint(partial.checkpoint_path)
    save_checkpoint(partial.checkpoint_path, {**saved, "trained_in": "fp32"})  # as if epoch 0 trained in fp32
    finished = train_supernet(config, tmp_path, progress=False, allow_precision_switch=True)
    assert finished.state == "done" and finished.trained_in == "bf16"
    switch = {"epoch": 1, "step": saved["step"], "from": "fp32", "to": "bf16"}
    assert runs.get_status(tmp_path)["precision_switches"] == [switch]
    assert load_checkpoint(finished.checkpoint_path)["precision_switches"] == [switch]
    assert list(finished.epoch_logs["trained_in"]) == ["bf16", "bf16"]  # what each epoch's own log row recorded


def test_the_second_statistics_are_those_of_a_run_at_that_momentum(tmp_path):
    """One training keeps running statistics at two momenta; each set equals what a copy trained at that
    momentum holds, in either order (the second set is read back from the first set's update)."""
    paper = train_supernet(tiny_config(bn_momentum=0.997, second_bn_momentum=0.003), tmp_path / "a", progress=False)
    corrected = train_supernet(tiny_config(bn_momentum=0.003, second_bn_momentum=0.997), tmp_path / "b", progress=False)
    alone = train_supernet(tiny_config(bn_momentum=0.003), tmp_path / "c", progress=False)
    first, second, single = (load_checkpoint(run.checkpoint_path)["model"] for run in (paper, corrected, alone))
    means = [key for key in first if key.endswith(".running_mean") and not key.endswith("second_running_mean")]
    assert len(means) > 20
    for key in means:
        for statistic in ("running_mean", "running_var"):
            name, second_name = key.replace("running_mean", statistic), key.replace("running_mean", f"second_{statistic}")
            torch.testing.assert_close(first[second_name], single[name], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(first[second_name], second[name], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(second[second_name], first[name], rtol=1e-3, atol=1e-5)  # read back at factor 0.003
    assert not any("second" in key for key in single)  # a run without a second set keeps its old checkpoint layout
    assert paper.step_logs["loss"].equals(alone.step_logs["loss"])  # training uses batch statistics: same weights


def test_divergence_stops_the_run_and_marks_it(tmp_path):
    exploding = train_supernet(tiny_config(learning_rate=float("inf")), tmp_path / "inf", progress=False)
    assert exploding.diverged and "non-finite loss" in exploding.reason
    assert json.loads((tmp_path / "inf" / "status.json").read_text())["state"] == "diverged"
    # With a margin of 1, any accuracy counts as "at chance": the run stops after `patience` epochs.
    stuck = train_supernet(tiny_config(divergence_patience=1, chance_margin=1.0), tmp_path / "chance", progress=False)
    assert stuck.diverged and len(stuck.epoch_logs) == 1 and "chance" in stuck.reason


def test_run_directories_refuse_other_parameters(tmp_path):
    params = tiny_config().params()
    directory = runs.open_run("training", params, root=tmp_path)
    assert directory.name == "A4_baseline_seed0_smoke"
    assert runs.open_run("training", params, root=tmp_path) == directory
    with pytest.raises(runs.RunConflictError, match="epochs"):
        runs.open_run("training", {**params, "epochs": 7}, root=tmp_path)
    other = runs.open_run("training", {**params, "epochs": 7}, overrides={"epochs": 7}, root=tmp_path)
    assert other.name.startswith("A4_baseline_seed0_smoke_") and other != directory
    runs.set_status(directory, "done")
    table = runs.catalogue(tmp_path)
    assert sorted(table["state"]) == ["done", "not started"] and set(table["stage"]) == {"training"}


def test_evaluation_ranks_cells_in_both_modes_and_is_cached(trained):
    config, directory, _ = trained
    settings = evaluation_settings("smoke", num_eval_cells=6, valid_subset=200)
    evaluations = evaluate_run(RunSettings(config, settings), directory, progress=False)
    assert sorted(evaluations["mode"].unique()) == ["bns_ft", "no_ft"] and len(evaluations) == 12
    assert evaluations["proxy_accuracy"].between(0, 1).all()
    assert evaluations["nb101_validation_accuracy"].between(0.05, 1).all()
    assert (evaluations["proxy_accuracy"] * 200).round(6).eq((evaluations["proxy_accuracy"] * 200).round()).all()
    table = mode_correlations(evaluations)
    assert list(table.index) == ["no_ft", "bns_ft"]
    for mode, group in evaluations.groupby("mode"):  # a constant proxy (an untrained net) has no ranking
        rho = table.loc[mode, "spearman"]
        assert math.isnan(rho) if group["proxy_accuracy"].nunique() == 1 else -1 <= rho <= 1
    pd.testing.assert_frame_equal(evaluate_run(RunSettings(config, settings), directory, progress=False), evaluations)

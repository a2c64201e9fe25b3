"""NO-FT / BNS-FT proxy evaluation, checked against PyTorch's own BN on the extracted standalone network."""

import numpy as np
import pytest
import scipy.stats
import torch

from wsnas.data import normalise
from wsnas.evaluate import (
    AUTHORS_DRAWS_PER_SPACE,
    evaluation_cells,
    fine_tuned_statistics,
    inclusion_probability,
    proxy_accuracy,
)
from wsnas.metrics import weighted_spearman
from wsnas.nb101 import NB101
from wsnas.space import OPS, Cell, index_of, space_mask, space_sizes
from wsnas.supernet import SuperNet, extract_network

C3, C1, MP = OPS
CELL_A = Cell(np.array([[0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]]), ("input", C3, C1, "output"))
CELL_B = Cell(np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]), ("input", C1, MP, "output"))
STEM = 8


@pytest.fixture(scope="module")
def supernet() -> SuperNet:
    """A super-net whose running statistics are far from what 4 new batches give (so re-estimation shows)."""
    net = SuperNet("A0", stem_channels=STEM)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in net.named_buffers():
            if name.endswith("running_mean"):
                tensor.copy_(torch.randn(tensor.shape, generator=generator))
            elif name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 3 + 0.2)
    return net.eval()


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(1)
    valid_images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=generator)
    valid_labels = torch.randint(0, 10, (64,), generator=generator)
    # Batches of different brightness, so that the mean and the last batch's statistics differ.
    train_batches = [
        (torch.randn(8, 3, 32, 32, generator=generator) * (1 + i) + i, torch.randint(0, 10, (8,), generator=generator))
        for i in range(4)
    ]
    return valid_images, valid_labels, train_batches


def state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in net.state_dict().items()}


def assert_same_state(before: dict, net: torch.nn.Module) -> None:
    after = net.state_dict()
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert not changed, f"evaluation changed {changed[:5]}"


def standalone_logits(supernet, cell, batches, momentum, images):
    """PyTorch's BN on the extracted network: reset, run the batches in train mode, evaluate."""
    network = extract_network(supernet, cell)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = momentum
    network.train()
    with torch.no_grad():
        for batch, _ in batches:
            network(batch)
        network.eval()
        return network(images)


@pytest.mark.parametrize("cell", [CELL_A, CELL_B], ids=["A", "B"])
def test_bns_ft_mean_is_the_cumulative_average_and_last_the_last_batch(supernet, data, cell):
    valid_images, _, batches = data
    images = normalise(valid_images[:16])
    with torch.no_grad():
        with fine_tuned_statistics(supernet, cell, batches, 4, "mean"):
            mean_logits = supernet(images, cell)
        with fine_tuned_statistics(supernet, cell, batches, 4, "last"):
            last_logits = supernet(images, cell)
    torch.testing.assert_close(mean_logits, standalone_logits(supernet, cell, batches, None, images), rtol=0, atol=1e-5)
    torch.testing.assert_close(last_logits, standalone_logits(supernet, cell, batches, 1.0, images), rtol=0, atol=1e-5)
    assert (mean_logits - last_logits).abs().max() > 1e-2


def test_no_ft_uses_the_supernet_statistics_and_leaves_them_untouched(supernet, data):
    valid_images, valid_labels, _ = data
    before = state(supernet)
    result = proxy_accuracy(supernet, [CELL_A, CELL_B], valid_images, valid_labels, mode="no_ft", progress=False)
    assert_same_state(before, supernet)
    for cell, accuracy in zip([CELL_A, CELL_B], result["proxy_accuracy"]):
        network = extract_network(supernet, cell).eval()
        with torch.no_grad():
            expected = (network(normalise(valid_images)).argmax(1) == valid_labels).float().mean().item()
        assert accuracy == pytest.approx(expected)


def test_bns_ft_restores_the_statistics_and_cells_do_not_see_each_other(supernet, data):
    valid_images, valid_labels, batches = data
    before = state(supernet)
    kwargs = dict(mode="bns_ft", train_batches=batches, batch_size=20, progress=False)
    both = proxy_accuracy(supernet, [CELL_A, CELL_B], valid_images, valid_labels, **kwargs)
    assert_same_state(before, supernet)
    alone = proxy_accuracy(supernet, [CELL_B], valid_images, valid_labels, **kwargs)
    assert both["proxy_accuracy"].iloc[1] == alone["proxy_accuracy"].iloc[0]
    assert not supernet.training


def test_results_are_keyed_by_hash(supernet, data):
    valid_images, valid_labels, batches = data
    result = proxy_accuracy(
        supernet, [CELL_B, CELL_A], valid_images, valid_labels, train_batches=batches, progress=False
    )
    assert list(result.columns) == ["hash", "proxy_accuracy", "mode"]
    assert list(result["hash"]) == [CELL_B.hash, CELL_A.hash]
    assert (result["mode"] == "bns_ft").all()
    assert result["proxy_accuracy"].between(0, 1).all()


def test_each_cell_takes_the_next_batches_of_a_reiterable(supernet, data):
    """With 8 batches, cell 1 sees batches 0–3 and cell 2 batches 4–7; with a 4-batch list both see 0–3."""
    valid_images, valid_labels, batches = data
    eight = batches + [(images.flip(0) * 0.5, labels) for images, labels in batches]
    kwargs = dict(mode="bns_ft", progress=False)
    second_of_eight = proxy_accuracy(
        supernet, [CELL_A, CELL_A], valid_images, valid_labels, train_batches=eight, **kwargs
    )
    on_last_four = proxy_accuracy(supernet, [CELL_A], valid_images, valid_labels, train_batches=eight[4:], **kwargs)
    assert second_of_eight["proxy_accuracy"].iloc[1] == on_last_four["proxy_accuracy"].iloc[0]


def test_bad_arguments_raise_clear_errors(supernet, data):
    valid_images, valid_labels, batches = data
    with pytest.raises(ValueError, match="unknown evaluation mode"):
        proxy_accuracy(supernet, [CELL_A], valid_images, valid_labels, mode="bns", progress=False)
    with pytest.raises(ValueError, match="needs train_batches"):
        proxy_accuracy(supernet, [CELL_A], valid_images, valid_labels, progress=False)
    with pytest.raises(TypeError, match="uint8"):
        proxy_accuracy(supernet, [CELL_A], normalise(valid_images), valid_labels, mode="no_ft", progress=False)
    with pytest.raises(ValueError, match="bn_statistics"):
        proxy_accuracy(supernet, [CELL_A], valid_images, valid_labels, train_batches=batches,
                       bn_statistics="median", progress=False)
    one_shot = iter(batches[:4])
    with pytest.raises(ValueError, match="one-shot generator"):
        proxy_accuracy(supernet, [CELL_A, CELL_B], valid_images, valid_labels, train_batches=one_shot, progress=False)
    before = state(supernet)
    with pytest.raises(ValueError, match="ran out after 2 of 4"):
        with fine_tuned_statistics(supernet, CELL_A, batches[:2]):
            pass
    assert_same_state(before, supernet)


def test_weighted_spearman_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, 50).astype(float)  # ties included
    y = x + rng.normal(0, 5, 50)
    assert weighted_spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
    weights = rng.integers(1, 4, 50)
    repeated = scipy.stats.spearmanr(np.repeat(x, weights), np.repeat(y, weights)).statistic
    assert weighted_spearman(x, y, weights) == pytest.approx(repeated, abs=1e-12)
    with pytest.raises(ValueError, match="same length"):
        weighted_spearman(x, y, weights[:-1])


def test_inclusion_probability_follows_the_draw_counts():
    sizes = space_sizes()
    a4_cell = np.flatnonzero(space_mask("A4") & space_mask("A0-res"))[0]
    missed = 1.0
    for space in ("A0", "A4", "A0-res"):
        missed *= (1 - 1 / sizes[space]) ** AUTHORS_DRAWS_PER_SPACE
    assert inclusion_probability(np.array([a4_cell]))[0] == pytest.approx(1 - missed, rel=1e-12)
    # A0-nores cells of A1 had fewer chances than A4 cells (A4 is small: nearly every draw repeats).
    a1_nores = np.flatnonzero(space_mask("A1") & space_mask("A0-nores"))[0]
    assert inclusion_probability(np.array([a1_nores]))[0] < inclusion_probability(np.array([a4_cell]))[0]


def test_evaluation_cells_are_distinct_known_cells_of_the_space():
    nb101 = NB101.load()
    cells, weights = evaluation_cells("A2", 50, seed=3, nb101=nb101)
    hashes = [cell.hash for cell in cells]
    assert len(set(hashes)) == 50 and all("A2" in cell.spaces() for cell in cells)
    assert nb101.metrics(hashes)["mean_validation_accuracy"].notna().all()
    assert weights.mean() == pytest.approx(1.0)
    probability = inclusion_probability(index_of(hashes))
    np.testing.assert_allclose(weights * probability, (weights * probability)[0])
    again, _ = evaluation_cells("A2", 50, seed=3, nb101=nb101)
    assert [cell.hash for cell in again] == hashes
    with pytest.raises(ValueError, match="known NB-101 metrics"):
        evaluation_cells("A4", 10**6, seed=0, nb101=nb101)


def test_todays_evaluation_gives_the_committed_accuracies_of_the_81_epoch_run(tmp_path):
    """The evaluation's speed-ups (freed memory kept, max-pools as maxima of shifted views) change no arithmetic:
    on the first 8 of the study's cells, NO-FT and BNS-FT of the committed 81-epoch super-net give its committed
    accuracies, to one image of the 2,000 (they were computed on another CPU, whose rounding may flip one image)."""
    import pandas as pd

    from wsnas import results, study
    from wsnas.checkpoints import load_trained_supernet
    from wsnas.data import TrainingBatches, load_training_data
    from wsnas.datafiles import data_path
    from wsnas.evaluate import run_evaluation_cells, validation_indices

    run = results.study_run("A4_baseline_seed0_e81")
    spec, run_dir = study.open_study_run(run, tmp_path)
    config, settings = spec.train, spec.evaluate
    supernet = load_trained_supernet(config, run_dir)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    cells = run_evaluation_cells(spec, NB101.default())[0][:8]
    committed = pd.read_parquet(data_path(f"{study.STUDY_DIR}/{run.name}/evaluations.parquet")).query("epoch == 81")
    for mode in ("no_ft", "bns_ft"):
        batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"], layout=config.memory_format)
        today = proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                               train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                               bn_statistics=settings["bn_statistics"], batch_size=settings["eval_batch_size"],
                               progress=False, layout=config.memory_format).set_index("hash")["proxy_accuracy"]
        before = committed[committed["mode"] == mode].set_index("hash")["proxy_accuracy"].loc[today.index]
        assert (today - before).abs().max() <= 1 / settings["valid_subset"] + 1e-12, mode


def test_the_bf16_evaluation_ranks_cells_as_the_plain_fp32_one_does(tmp_path):
    """The ranking check on a trained super-net (the study's committed 81-epoch one), 80 of its cells, its 2,000
    validation images: the fast setting in bf16 (channels-last, BN folded, stem convolution once; the default where
    the CPU has native bf16) against plain fp32 (contiguous, BN as its own pass), in both modes: Spearman between them
    >= 0.99 and their Spearman against NB-101 within 0.01. (The fp32 fast setting is exact: see the test above.)"""
    from wsnas import results, study
    from wsnas.checkpoints import load_trained_supernet
    from wsnas.data import TrainingBatches, load_training_data
    from wsnas.evaluate import run_evaluation_cells, validation_indices
    from wsnas.metrics import ranking_check

    run = results.study_run("A4_baseline_seed0_e81")
    spec, run_dir = study.open_study_run(run, tmp_path)
    config, settings = spec.train, spec.evaluate
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    cells = run_evaluation_cells(spec, NB101.default())[0][:80]
    truth = NB101.default().metrics([cell.hash for cell in cells])["mean_validation_accuracy"].to_numpy()
    for mode in ("no_ft", "bns_ft"):
        proxies = {}
        for name, layout, fold, setting in (("plain", "contiguous", False, "fp32"), ("fast", "channels_last", True, "bf16")):
            supernet = load_trained_supernet(config, run_dir).to(
                memory_format=torch.channels_last if layout == "channels_last" else torch.contiguous_format)
            supernet.set_batch_norm_folding(fold)
            batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"], layout=layout)
            proxies[name] = proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                                           train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                                           bn_statistics=settings["bn_statistics"], batch_size=500, progress=False,
                                           layout=layout, precision=setting)["proxy_accuracy"].to_numpy()
        check = ranking_check(proxies["plain"], proxies["fast"], truth)
        assert check["passes"], (mode, check)

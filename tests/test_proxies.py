"""Training-free proxies (wsnas.proxies), FLOPs of the channel rule and the `wsnas proxies` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nasbench_pytorch.model import Network
from torch import nn

from wsnas import baselines, proxies, space
from wsnas.cli import main
from wsnas.datafiles import data_path

SMALL = space.Cell(np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]),
                   ("input", "conv3x3-bn-relu", "maxpool3x3", "output"))
RESIDUAL = space.Cell(np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]),
                      ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "output"))


@pytest.fixture(scope="module")
def batch() -> proxies.ProxyBatch:
    return proxies.proxy_batch()


def test_batch_is_fixed_and_class_balanced(batch) -> None:
    assert batch.images.shape == (proxies.BATCH_SIZE, 3, 32, 32)
    counts = torch.bincount(batch.labels, minlength=10)
    assert counts.max() - counts.min() <= 1
    again = proxies.proxy_batch.__wrapped__()
    assert torch.equal(again.images, batch.images) and torch.equal(again.labels, batch.labels)


def test_same_cell_seed_and_batch_give_identical_scores(batch) -> None:
    first = proxies.cell_proxies(SMALL, seed=3, batch=batch)
    second = proxies.cell_proxies(SMALL, seed=3, batch=batch)
    assert first == second  # bit for bit
    other_seed = proxies.cell_proxies(SMALL, seed=4, batch=batch)
    assert other_seed["snip"] != first["snip"] and other_seed["params"] == first["params"]


def test_shared_pass_equals_each_proxy_alone(batch) -> None:
    together = proxies.cell_proxies(RESIDUAL, seed=0, batch=batch)
    for name in proxies.PROXIES:
        alone = proxies.cell_proxies(RESIDUAL, names=[name], seed=0, batch=batch)
        assert alone[name] == pytest.approx(together[name], rel=1e-6), name


def _separate_loss_pass(network: nn.Module, batch: proxies.ProxyBatch) -> dict[str, float]:
    """snip, grad_norm and grasp by the textbook recipe: backward, then a second forward for H g."""
    network.train()
    layers = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    F.cross_entropy(network(batch.images), batch.labels).backward()
    grads = [layer.weight.grad.clone() for layer in layers]
    scores = {"grad_norm": sum(float(g.norm()) for g in grads),
              "snip": sum(float((layer.weight.detach() * g).abs().sum()) for layer, g in zip(layers, grads))}
    network.zero_grad()
    loss = F.cross_entropy(network(batch.images), batch.labels)
    differentiable = torch.autograd.grad(loss, [layer.weight for layer in layers], create_graph=True)
    sum((g * d).sum() for g, d in zip(grads, differentiable)).backward()
    scores["grasp"] = sum(float((-layer.weight * layer.weight.grad).sum()) for layer in layers)
    return scores


def test_loss_proxies_match_the_textbook_two_pass_recipe(batch) -> None:
    expected = _separate_loss_pass(proxies.build_network(SMALL, 0), batch)
    got = proxies.cell_proxies(SMALL, names=["grad_norm", "snip", "grasp"], seed=0, batch=batch)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-4), name


def test_naswot_kernel_counts_agreements() -> None:
    generator = torch.Generator().manual_seed(0)
    codes = [torch.rand((6, 4, 3, 3), generator=generator) > 0.5, torch.rand((6, 10), generator=generator) > 0.3]
    binary = np.concatenate([c.reshape(6, -1).numpy() for c in codes], axis=1).astype(np.int64)
    agreements = (binary[:, None, :] == binary[None, :, :]).sum(axis=2).astype(np.float64)
    assert proxies._log_det_binary_kernel(codes) == pytest.approx(np.linalg.slogdet(agreements)[1], rel=1e-12)


def test_unknown_names_and_settings_are_refused() -> None:
    with pytest.raises(proxies.ProxyError, match="unknown proxies"):
        proxies.check_proxies(["snip", "te_nas"])
    with pytest.raises(proxies.ProxyError, match="memory format"):
        proxies.cell_proxies(SMALL, names=["params"], memory_format="nhwc")


def _multiply_adds_by_hooks(cell: space.Cell) -> int:
    """Count conv and linear multiply-adds of the nasbench_pytorch network at 128 channels by running it."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output[0].numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1]
        else:
            total += module.in_features * module.out_features

    network = Network((np.asarray(cell.pruned().adjacency), list(cell.pruned().ops)), stem_out_channels=128)
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.register_forward_hook(count)
    with torch.no_grad():
        network.eval()(torch.zeros(1, 3, 32, 32))
    return total


def test_flops_equal_the_multiply_adds_of_the_built_network() -> None:
    rng = np.random.default_rng(7)
    for cell in [SMALL, RESIDUAL, *space.cells_at(rng.choice(space.NUM_CELLS, 4, replace=False))]:
        assert space.network_flops(cell) == _multiply_adds_by_hooks(cell), cell


def test_flops_of_all_cells_match_the_single_cell_function() -> None:
    flops = space.flops_of_all_cells()
    assert flops.shape == (space.NUM_CELLS,) and (flops > 0).all()
    for index in (0, 1234, 400_000):
        assert flops[index] == space.network_flops(space.cell_at(index))


def write_cells(tmp_path, items) -> str:
    path = tmp_path / "cells.json"
    path.write_text(json.dumps(items))
    return str(path)


def test_command_scores_cells_in_order(tmp_path, capsys) -> None:
    items = [RESIDUAL.to_dict(), SMALL.to_dict(), RESIDUAL.to_dict()]
    out = tmp_path / "scores.parquet"
    assert main(["proxies", "--cells", write_cells(tmp_path, items), "--proxies", "params,naswot,flops",
                 "--json", "--out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["hash"] for row in rows] == [RESIDUAL.hash, SMALL.hash, RESIDUAL.hash]
    assert list(rows[0]) == ["hash", "naswot", "params", "flops"]
    assert rows[1]["params"] == space.trainable_parameters(SMALL) and rows[0] == rows[2]
    frame, metadata = proxies.read_scores(out)
    assert metadata["complete"] and metadata["cells"] == 2 and len(frame) == 2
    # Resuming: nothing left to do, same answer.
    assert main(["proxies", "--cells", write_cells(tmp_path, items), "--proxies", "params,naswot,flops",
                 "--json", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == rows


def test_command_names_the_bad_cell_and_writes_nothing(tmp_path, capsys) -> None:
    bad = {"adjacency": [[0, 1], [0, 0]], "ops": ["input", "conv3x3-bn-relu"]}
    out = tmp_path / "scores.parquet"
    assert main(["proxies", "--cells", write_cells(tmp_path, [SMALL.to_dict(), bad]), "--json",
                 "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "cell 1 (counting from 0)" in captured.err
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "cells.json"]


def test_command_refuses_unknown_proxies(tmp_path, capsys) -> None:
    assert main(["proxies", "--cells", write_cells(tmp_path, [SMALL.to_dict()]), "--proxies", "te_nas"]) == 2
    assert "unknown proxies" in capsys.readouterr().err


def test_committed_scores_recompute_live() -> None:
    """12 cells of the committed file, drawn with a fixed seed, scored again here (same settings).

    The file was written on other CPUs, which round convolutions differently: every proxy but the
    rounding-sensitive ones must sit no farther from its committed value than two fp32 memory
    formats sit from each other on this CPU; grasp must still rank the cells alike.
    """
    frame, metadata = proxies.read_scores(data_path(baselines.PROXIES_FILE))
    settings = metadata["settings"]
    assert settings["seed"] == 0 and settings["batch_size"] == proxies.BATCH_SIZE
    sample = frame.sample(12, random_state=0)
    cells = space.cells_at(space.index_of(sample["hash"].to_numpy()))
    torch.set_num_threads(settings["threads"])
    check = proxies.reproduction(cells, frame, settings)
    stable = check.drop(index=list(proxies.ROUNDING_SENSITIVE))
    assert stable["reproduced"].all(), check
    for name in baselines.COUNTS + ("l2_norm", "synflow"):  # no data-dependent rounding: exact everywhere
        assert check.loc[name, "gap from committed"] <= proxies.EXACT_GAP, check
    assert (check.loc[list(proxies.ROUNDING_SENSITIVE), "rank agreement"] >= 0.9).all(), check

def test_reproduction_flags_a_committed_value_that_our_code_does_not_give() -> None:
    frame, metadata = proxies.read_scores(data_path(baselines.PROXIES_FILE))
    settings = {**metadata["settings"], "proxies": ["l2_norm", "params"]}
    sample = frame.sample(3, random_state=1)
    cells = space.cells_at(space.index_of(sample["hash"].to_numpy()))
    assert proxies.reproduction(cells, frame, settings)["reproduced"].all()
    tampered = frame.copy()
    tampered.loc[tampered["hash"] == cells[1].hash, "l2_norm"] *= 1.001
    check = proxies.reproduction(cells, tampered, settings)
    assert not check.loc["l2_norm", "reproduced"] and check.loc["params", "reproduced"]


def test_fp64_scores_do_not_depend_on_the_memory_format() -> None:
    """An A4 cell whose fp32 grasp moved by 40 % between the two memory formats on one CPU."""
    cell = space.cells_at(space.index_of(np.array(["a3abb13755224faa4dfeadd31a4faba1"])))[0]
    names = ("snip", "grad_norm", "fisher", "grasp", "jacob_cov", "naswot")
    torch.set_num_threads(1)
    scores = {(precision, fmt): proxies.cell_proxies(cell, names, precision=precision, memory_format=fmt)
              for precision in ("fp32", "fp64") for fmt in ("contiguous", "channels_last")}
    # The network's rounding errors scale with the unit roundoff: in double precision the gap between the two
    # memory formats is at most the fp32 gap (which measures this cell's conditioning on this CPU) times
    # eps64 / eps32, with a margin of 64 for the randomness of one fp32 realisation. A fixed relative tolerance
    # held on the CPU that wrote it only. jacob_cov is the exception: its last step, the eigenvalues of a
    # near-singular correlation matrix (scored through 1 / (λ + 1e-5)), runs in float64 in both precisions, so
    # its fp64 gap does not shrink with the network's rounding; there fp64 must remove 99.9 % of the fp32 gap.
    eps32 = np.finfo(np.float32).eps
    ratio = np.finfo(np.float64).eps / eps32
    for name in names:
        value = scores["fp64", "contiguous"][name]
        gap32 = max(abs(scores["fp32", "channels_last"][name] - scores["fp32", "contiguous"][name]), abs(value) * eps32)
        gap64 = abs(scores["fp64", "channels_last"][name] - value)
        bound = 1e-3 * gap32 if name == "jacob_cov" else 64 * ratio * gap32
        assert gap64 <= bound, (name, gap64, gap32, bound)


# ---------------------------------------------------------------------------------------------
# Setups, ZiCo, Zen-score, and the fixes of issue 20


def test_setups_are_the_paper_network_and_nb101s_own() -> None:
    paper, published = proxies.setup_of("paper"), proxies.setup_of("published")
    assert (paper.stem_out_channels, paper.batch_size) == (16, proxies.BATCH_SIZE)
    network = proxies.build_network(SMALL, 0, published)
    stem = next(m for m in network.layers[0].modules() if isinstance(m, nn.Conv2d))
    assert stem.out_channels == 128 and len(network.cell_indices) == 9
    assert network.classifier.in_features == 512  # channels doubled twice
    batch = proxies.setup_batch(published)
    assert batch.images.shape == (32, 3, 32, 32) and "uniformly drawn" in batch.description
    with pytest.raises(proxies.ProxyError, match="unknown setup 'nb201': choose one of paper, published"):
        proxies.setup_of("nb201")


def test_command_refuses_an_unknown_setup(tmp_path, capsys) -> None:
    assert main(["proxies", "--cells", write_cells(tmp_path, [SMALL.to_dict()]), "--setup", "nb201"]) == 2
    assert "choose one of paper, published" in capsys.readouterr().err


@pytest.mark.slow
def test_command_gives_zico_and_zen_under_both_setups(tmp_path, capsys) -> None:
    cells = write_cells(tmp_path, [SMALL.to_dict(), RESIDUAL.to_dict()])
    assert main(["proxies", "--cells", cells, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(list(row) == ["hash", *proxies.PROXIES] for row in rows)
    assert main(["proxies", "--cells", cells, "--json", "--setup", "published", "--proxies", "zico,zen"]) == 0
    published = json.loads(capsys.readouterr().out)
    assert all(np.isfinite([row["zico"], row["zen"]]).all() for row in published)
    assert published[0]["zen"] != rows[0]["zen"]  # another network


def test_zico_and_zen_are_finite_and_deterministic(batch) -> None:
    for cell in (SMALL, RESIDUAL):
        first = proxies.cell_proxies(cell, ["zico", "zen"], seed=2, batch=batch)
        assert np.isfinite(list(first.values())).all()
        assert proxies.cell_proxies(cell, ["zico", "zen"], seed=2, batch=batch) == first  # bit for bit
        assert proxies.cell_proxies(cell, ["zico", "zen"], seed=3, batch=batch) != first


def test_zico_uses_each_batch_alone(batch) -> None:
    """The paper's mean and std over batches do not depend on their order; the reference code's accumulated
    gradients (the second batch's gradient is the sum of both) would."""
    swapped = proxies.ProxyBatch(torch.cat(batch.images.chunk(2)[::-1]), torch.cat(batch.labels.chunk(2)[::-1]), "")
    score = proxies.zico(proxies.build_network(RESIDUAL, 0), batch)
    assert proxies.zico(proxies.build_network(RESIDUAL, 0), swapped) == pytest.approx(score, rel=1e-12)


def _zen(stem: int, cells_per_stack: int) -> float:
    pruned = RESIDUAL.pruned()
    network = Network((np.asarray(pruned.adjacency), list(pruned.ops)), stem_out_channels=stem,
                      num_modules_per_stack=cells_per_stack)
    return proxies.zen(network, (16, 3, 32, 32), seed=0)


def test_zen_grows_with_width_and_depth() -> None:
    """Under N(0, 1) weights a BN layer's input variance is about its fan-in, so each BN layer adds
    log σ > 0 and wider layers add more: Zen-score rises with width and with depth (Lin et al. 2021)."""
    assert _zen(16, 1) < _zen(32, 1) < _zen(64, 1)
    assert _zen(16, 1) < _zen(16, 2) < _zen(16, 3)


def _textbook_fp64(network: nn.Module, batch: proxies.ProxyBatch) -> dict[str, float]:
    """grad_norm, snip and fisher in float64 by the reference recipe: fisher's channel saliencies broadcast
    to every weight of their channel, then summed (zero-cost-nas / NASLib `fisher.py`, `reshape_elements`)."""
    network = network.double().train()
    layers = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    outputs = []
    hooks = [layer.register_forward_hook(lambda m, i, o: outputs.append(o)) for layer in layers]
    loss = F.cross_entropy(network(batch.images.double()), batch.labels)
    for hook in hooks:
        hook.remove()
    grads = torch.autograd.grad(loss, [layer.weight for layer in layers] + outputs)
    weight_grads, output_grads = grads[: len(layers)], grads[len(layers):]
    fisher = 0.0
    for layer, act, grad in zip(layers, outputs, output_grads):
        per_image = (act * grad).sum(dim=(2, 3)) if act.dim() == 4 else act * grad
        saliency = 0.5 * per_image.pow(2).mean(0)
        fisher += float(saliency.detach().view(-1, *[1] * (layer.weight.dim() - 1)).expand_as(layer.weight).sum())
    return {"grad_norm": sum(float(g.norm()) for g in weight_grads),
            "snip": sum(float((layer.weight * g).abs().sum()) for layer, g in zip(layers, weight_grads)),
            "fisher": fisher}


def test_fp64_loss_and_fisher_follow_the_reference_recipe(batch) -> None:
    """In fp64 the loss is fp64 too (it was rounded to fp32: relative gaps near 1e-7), and fisher counts each
    channel once per weight it holds, as the reference code does (it counted each channel once)."""
    expected = _textbook_fp64(proxies.build_network(RESIDUAL, 0), batch)
    got = proxies.cell_proxies(RESIDUAL, ["grad_norm", "snip", "fisher"], seed=0, batch=batch, precision="fp64")
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-10), name


def test_a_file_of_other_settings_is_not_resumed(tmp_path) -> None:
    out = tmp_path / "scores.parquet"
    proxies.score_to_file([SMALL], out, names=["params"])
    _, metadata = proxies.read_scores(out)
    assert proxies.setup_of_settings(metadata["settings"]) == proxies.SETUPS["paper"]
    with pytest.raises(proxies.ProxyError, match="was made with settings"):
        proxies.score_to_file([SMALL], out, names=["params"], setup="published")
    legacy = proxies.read_scores(data_path(baselines.PROXIES_FILE))[1]["settings"]
    assert proxies.setup_of_settings(legacy).fisher_sum == "per_channel"


def test_live_check_times_each_proxy_alone_and_the_baselines_table_reads_it() -> None:
    from wsnas.plots import baselines as baseline_plots

    frame, metadata = proxies.read_scores(data_path(baselines.PROXIES_FILE))
    settings = {**metadata["settings"], "proxies": ["l2_norm", "params"]}
    hashes = frame["hash"].sample(2, random_state=2)
    check = proxies.live_check(hashes, frame, settings)
    assert list(check.index) == ["l2_norm", "params"] and check["reproduced"].all()
    assert (check["CPU seconds per cell, alone"] > 0).all()
    shown = baseline_plots.live_table(check, frame, hashes)
    assert shown["live_cells"] == "2" and shown["reproduced_count"] == "2" and shown["not_reproduced"] == "none"
    assert list(shown["tab_live"].index) == [baselines.ROW_NAMES["l2_norm"], baselines.ROW_NAMES["params"]]

"""Proxy accuracy of many cells with a trained super-net: NO-FT and BNS-FT, and the evaluation sample.

NO-FT uses the super-net's own batch-norm statistics. BNS-FT re-estimates, per cell, the
statistics of the batch norms the cell uses from a few training mini-batches before measuring
accuracy on the validation split. The paper says the statistics are averaged over 4 batches
(`bn_statistics="mean"`, a true cumulative average: PyTorch BN with `momentum=None`); the
authors' code keeps only the last batch's (`bn_statistics="last"`, BN momentum 1). Either way the
super-net's stored statistics are restored after every cell, so cells never see each other's.

Ground truth is known for the 151,644 cells of the authors' released evaluations: 30,000 uniform
draws with replacement in each of the 7 sub-spaces (6 variant columns × 5 seeds × 1,000). Inside
a sub-space that union is not uniform (cells of several sub-spaces, e.g. an A1 cell also in A0
and A0-nores, had more chances), so `evaluation_cells` returns weights ∝ 1 / P(cell in the
union); use them with `weighted_spearman` (or any weighted statistic) to estimate what a
uniform sample of the whole sub-space would give.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from wsnas.data import eval_batches
from wsnas.space import SPACES, Cell, cells_at, index_of, space_mask, space_sizes
from wsnas.supernet import SuperNet

MODES: tuple[str, ...] = ("no_ft", "bns_ft")
BN_STATISTICS: tuple[str, ...] = ("mean", "last")
AUTHORS_DRAWS_PER_SPACE = 30_000  # 6 variant columns × 5 seeds × 1,000 cells, in each of the 7 spaces


# ---------------------------------------------------------------------------------------------
# Proxy accuracy


def proxy_accuracy(
    supernet: SuperNet,
    cells: Sequence[Cell],
    valid_images: torch.Tensor,
    valid_labels: torch.Tensor,
    *,
    mode: str = "bns_ft",
    train_batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
    num_bn_batches: int = 4,
    bn_statistics: str = "mean",
    batch_size: int = 1000,
    device: str | torch.device | None = None,
    progress: bool = True,
    layout: str = "contiguous",
    precision: str = "fp32",
) -> pd.DataFrame:
    """Validation accuracy of each cell run by the super-net; columns hash, proxy_accuracy, mode.

    `layout` (contiguous | channels_last) is the memory format of the validation batches (the
    super-net's weights should match it); `precision` "bf16" runs the validation pass under bf16
    autocast (the BNS-FT statistics are always estimated in fp32).

    `valid_images` are uint8 NCHW images (as in `wsnas.data.CifarSplit`), normalised here.
    `train_batches` (BNS-FT only) yields (normalised images, labels) mini-batches of the training
    split; each cell takes the next `num_bn_batches` of them, starting a new pass when one ends.
    A list therefore gives every cell the same batches; a re-iterable loader gives fresh ones
    (as the authors' code did); a one-shot generator that runs out is an error. The super-net is
    moved to `device` (default: its own) and left in its original mode with its statistics intact.
    """
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "bns_ft" and train_batches is None:
        raise ValueError("mode='bns_ft' needs train_batches (training mini-batches to re-estimate BN statistics)")
    _check_images(valid_images, valid_labels)
    device = torch.device(device) if device is not None else next(supernet.parameters()).device
    supernet.to(device)
    batches = _cycle(train_batches) if mode == "bns_ft" else None
    was_training = supernet.training
    rows = []
    try:
        supernet.eval()
        for cell in tqdm(cells, desc=f"proxy accuracy ({mode})", unit="cell", disable=not progress):
            if mode == "bns_ft":
                with fine_tuned_statistics(supernet, cell, batches, num_bn_batches, bn_statistics, device):
                    accuracy = _accuracy(supernet, cell, valid_images, valid_labels, batch_size, device, layout, precision)
            else:
                accuracy = _accuracy(supernet, cell, valid_images, valid_labels, batch_size, device, layout, precision)
            rows.append((cell.hash, accuracy))
    finally:
        supernet.train(was_training)
    return pd.DataFrame({"hash": [h for h, _ in rows], "proxy_accuracy": [a for _, a in rows], "mode": mode})


@contextmanager
def fine_tuned_statistics(
    supernet: SuperNet,
    cell: Cell,
    train_batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_bn_batches: int = 4,
    bn_statistics: str = "mean",
    device: str | torch.device | None = None,
):
    """Within the block, the super-net (in eval mode) holds `cell`'s BNS-FT statistics; on exit, its own again.

    The statistics are re-estimated from the next `num_bn_batches` (normalised images, labels) of
    `train_batches`: their cumulative average ("mean", the paper) or the last batch's ("last", the
    authors' code).
    """
    if bn_statistics not in BN_STATISTICS:
        raise ValueError(f"unknown bn_statistics {bn_statistics!r}: choose one of {', '.join(BN_STATISTICS)}")
    if int(num_bn_batches) != num_bn_batches or num_bn_batches < 1:
        raise ValueError(f"num_bn_batches must be a positive integer, got {num_bn_batches!r}")
    device = torch.device(device) if device is not None else next(supernet.parameters()).device
    norms = [module for module in supernet.modules() if isinstance(module, nn.BatchNorm2d)]
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms]
    was_training = supernet.training
    batches = iter(train_batches)
    try:
        for module in norms:
            module.reset_running_stats()
            module.momentum = None if bn_statistics == "mean" else 1.0  # None: PyTorch's cumulative average
        supernet.train()
        with torch.no_grad():
            for count in range(num_bn_batches):
                images, _labels = next(batches, (None, None))
                if images is None:
                    raise ValueError(f"train_batches ran out after {count} of {num_bn_batches} mini-batches")
                if not images.is_floating_point():
                    raise TypeError("train_batches must yield normalised float images (see wsnas.data.epoch_batches)")
                supernet(images.to(device, non_blocking=True), cell)
        supernet.eval()
        yield supernet
    finally:
        for module, (momentum, mean, var, tracked) in zip(norms, saved):
            module.momentum = momentum
            module.running_mean.copy_(mean)
            module.running_var.copy_(var)
            module.num_batches_tracked.copy_(tracked)
        supernet.train(was_training)


def _check_images(valid_images: torch.Tensor, valid_labels: torch.Tensor) -> None:
    if valid_images.dtype != torch.uint8 or valid_images.dim() != 4:
        raise TypeError(
            f"valid_images must be uint8 NCHW images (wsnas.data.CifarSplit.valid_images), got "
            f"{valid_images.dtype} of shape {tuple(valid_images.shape)}; they are normalised here"
        )
    if len(valid_labels) != len(valid_images):
        raise ValueError(f"{len(valid_images)} validation images but {len(valid_labels)} labels")


def _cycle(batches: Iterable) -> Iterator:
    """Endless passes over `batches`; a pass that yields nothing (exhausted one-shot iterator) is an error."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError(
                "train_batches yielded no batch: pass a list of mini-batches, or an iterable that "
                "starts a new pass on each iter() (a one-shot generator runs out)"
            )


@torch.inference_mode()
def _accuracy(supernet, cell, images, labels, batch_size, device, layout="contiguous", precision="fp32") -> float:
    correct = torch.zeros((), dtype=torch.int64, device=device)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    for batch, batch_labels in eval_batches(images, labels, batch_size, layout):
        with autocast:
            logits = supernet(batch.to(device, non_blocking=True), cell)
        correct += (logits.argmax(dim=1) == batch_labels.to(device, non_blocking=True)).sum()
    return correct.item() / len(labels)


# ---------------------------------------------------------------------------------------------
# Which cells to evaluate, and their weights


def inclusion_probability(indices: np.ndarray, draws_per_space: int = AUTHORS_DRAWS_PER_SPACE) -> np.ndarray:
    """P(table cell i is in the authors' union) = 1 − Π_s (1 − 1/|s|)^draws, over the spaces s holding it."""
    indices = np.asarray(indices)
    sizes = space_sizes()
    log_missed = np.zeros(len(indices))
    for space in SPACES:
        log_missed += space_mask(space)[indices] * draws_per_space * np.log1p(-1.0 / sizes[space])
    return -np.expm1(log_missed)


def evaluation_cells(space: str, n: int, seed: int | Sequence[int], nb101) -> tuple[list[Cell], np.ndarray]:
    """n distinct cells drawn uniformly from the cells of `space` whose NB-101 metrics are known, and their weights.

    Weights ∝ 1 / P(cell in the authors' union), normalised to mean 1: weighted statistics over
    the sample then estimate those of a uniform sample of the whole space. (The model of uniform
    draws predicts the union's size within 0.5% overall and per space, except A1 (+1.4%): the
    authors' A1 draws repeat cells more often than uniform draws would.)
    """
    known = np.zeros(len(space_mask(space)), dtype=bool)
    known[index_of(nb101.known_hashes())] = True
    candidates = np.flatnonzero(known & space_mask(space))
    if not 0 < n <= len(candidates):
        raise ValueError(
            f"cannot draw n={n} distinct cells: {space} has {len(candidates):,} cells with known NB-101 metrics"
        )
    chosen = np.random.default_rng(seed).choice(candidates, size=n, replace=False)
    if known[space_mask(space)].all():  # a full NB-101 table: the draw is already uniform over the space
        return cells_at(chosen), np.ones(n)
    weights = 1.0 / inclusion_probability(chosen)
    return cells_at(chosen), weights / weights.mean()


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Spearman's rho with observation weights: weighted Pearson correlation of weighted mid-ranks.

    With equal weights it equals `scipy.stats.spearmanr`; with integer weights, spearmanr of the
    data with each row repeated that many times.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    weights = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    if not (len(x) == len(y) == len(weights)) or (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError("x, y and weights must have the same length and weights must be finite and ≥ 0")
    rank_x, rank_y = _weighted_ranks(x, weights), _weighted_ranks(y, weights)
    covariance = np.cov(rank_x, rank_y, aweights=weights)
    return float(covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1]))


def _weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weight of all smaller values plus half the weight of the ties (mid-rank, shifted by a constant)."""
    unique, inverse = np.unique(values, return_inverse=True)
    tie_weight = np.bincount(inverse, weights=weights, minlength=len(unique))
    below = np.cumsum(tie_weight) - tie_weight
    return (below + tie_weight / 2)[inverse]

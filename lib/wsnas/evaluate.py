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
union); use them with `wsnas.metrics.weighted_spearman` (or any weighted statistic) to estimate
what a uniform sample of the whole sub-space would give.

`evaluate_run` evaluates a trained run with its profile's evaluation settings; `train_and_evaluate`
is one training chapter: train (or resume, or reuse) a super-net, then evaluate it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from wsnas import runs
from wsnas.checkpoints import load_trained_supernet
from wsnas.data import (
    TrainingBatches,
    balanced_subset,
    eval_batches,
    keep_freed_memory,
    load_training_data,
    precision_context,
    validation_precision,
)
from wsnas.nb101 import NB101
from wsnas.settings import RunSettings, TrainConfig, run_settings
from wsnas.space import SPACES, Cell, cells_at, index_of, space_mask, space_sizes
from wsnas.supernet import SharedInput, SuperNet
from wsnas.train import TrainResult, train_supernet

MODES: tuple[str, ...] = ("no_ft", "bns_ft")
BN_STATISTICS: tuple[str, ...] = ("mean", "last")
SHARED_INPUT_BYTES = 1 << 30  # NO-FT keeps up to 1 GiB of first-cell results computed from the stem output alone
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
    super-net's weights should match it); `precision` "bf16" runs the validation passes under bf16
    autocast (the BNS-FT statistics are estimated in fp32: see `fine_tuned_statistics`). Work that is the same for
    every cell is done once per call: the stem's convolution (both modes), and under NO-FT the whole stem and what the
    first cell position computes from its output alone (`wsnas.supernet.SharedInput`); the values are unchanged.

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
    keep_freed_memory()
    device = torch.device(device) if device is not None else next(supernet.parameters()).device
    supernet.to(device)
    batches = _Passes(train_batches) if mode == "bns_ft" else None
    was_training = supernet.training
    rows = []
    try:
        supernet.eval()
        # NO-FT: the stem's statistics are the same for every cell, so its whole output is computed once too
        validation = _stem_outputs(supernet, valid_images, valid_labels, batch_size, device, layout, precision,
                                   convolution_only=mode == "bns_ft")
        # NO-FT: every cell's first cell position sees the same input with the same statistics, so what it computes
        # from that input alone is computed once too
        shared = [(SharedInput(stemmed, SHARED_INPUT_BYTES // len(validation)), labels)
                  for stemmed, labels in validation] if mode == "no_ft" else []
        for cell in tqdm(cells, desc=f"proxy accuracy ({mode})", unit="cell", disable=not progress):
            if mode == "bns_ft":
                with fine_tuned_statistics(supernet, cell, batches, num_bn_batches, bn_statistics, device):
                    accuracy = _accuracy(validation, device, precision,
                                         lambda stemmed: supernet.from_stem_convolution(stemmed, cell))
            else:
                accuracy = _accuracy(shared, device, precision,
                                     lambda stem: supernet.after_stem(stem.input, cell, stem))
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
    authors' code). The statistics are estimated in fp32 whatever the validation's precision: estimated from
    bf16 activations they moved the 81-epoch study run's BNS-FT ρ with NB-101 by 0.012, past the ranking
    check's 0.01 (benchmarks/RESULTS.md).
    """
    if bn_statistics not in BN_STATISTICS:
        raise ValueError(f"unknown bn_statistics {bn_statistics!r}: choose one of {', '.join(BN_STATISTICS)}")
    if int(num_bn_batches) != num_bn_batches or num_bn_batches < 1:
        raise ValueError(f"num_bn_batches must be a positive integer, got {num_bn_batches!r}")
    device = torch.device(device) if device is not None else next(supernet.parameters()).device
    batches = iter(train_batches)
    with _statistics_kept(supernet, None if bn_statistics == "mean" else 1.0):  # None: PyTorch's cumulative average
        for module in supernet.batch_norms():
            module.reset_running_stats()
        supernet.train()
        with torch.no_grad():
            for count in range(num_bn_batches):
                if bn_statistics == "last" and count < num_bn_batches - 1:
                    _skip_batch(batches, count, num_bn_batches)  # momentum 1: only the last batch's statistics survive
                    continue
                supernet(_next_images(batches, count, num_bn_batches).to(device, non_blocking=True), cell)
        supernet.eval()
        yield supernet


@contextmanager
def second_statistics(supernet: SuperNet):
    """Within the block the super-net's norms hold their second set of running statistics (NO-FT at the second
    BN momentum); on exit, their first set again."""
    supernet.swap_statistics()
    try:
        yield supernet
    finally:
        supernet.swap_statistics()


@contextmanager
def replayed_statistics(supernet: SuperNet, cells: Sequence[Cell], train_batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                        momentum: float, precision: str = "fp32", reset: bool = True):
    """Within the block, the super-net (in eval mode) holds the running statistics that training steps of `cells[i]`
    on the i-th batch of `train_batches` accumulate at BN `momentum`, forward passes only (the weights stay); on
    exit, its own statistics again.

    NO-FT reads these statistics. Under the published code's default momentum 0.997 they are those of the last batch or two, so
    NO-FT depends on which cells and batches came last: replaying a few steps with other draws measures that. At
    0.003 they average about the last thousand steps; `reset` starts them from PyTorch's initial values.
    `precision` bf16 replays under autocast, as a bf16 training accumulates them.
    """
    if not 0.0 < momentum <= 1.0:
        raise ValueError(f"momentum must lie in (0, 1] (PyTorch convention), got {momentum!r}")
    device = next(supernet.parameters()).device
    batches = _Passes(train_batches)  # a replay may be longer than one pass over the training set
    with _statistics_kept(supernet, momentum):
        if reset:
            for module in supernet.batch_norms():
                module.reset_running_stats()
        supernet.train()
        with torch.no_grad(), precision_context(device, precision):
            for count, cell in enumerate(cells):
                supernet(_next_images(batches, count, len(cells)).to(device, non_blocking=True), cell)
        supernet.eval()
        yield supernet


@contextmanager
def _statistics_kept(supernet: SuperNet, momentum: float | None):
    """Within the block every norm runs at `momentum` and a second set of statistics is left alone; on exit the
    super-net has its own momenta, running statistics and mode again."""
    norms = supernet.batch_norms()
    saved = [(m.momentum, getattr(m, "second_momentum", None), m.running_mean.clone(), m.running_var.clone(),
              m.num_batches_tracked.clone()) for m in norms]
    was_training = supernet.training
    try:
        for module in norms:
            module.momentum, module.second_momentum = momentum, None
        yield
    finally:
        for module, (first, second, mean, var, tracked) in zip(norms, saved):
            module.momentum, module.second_momentum = first, second
            module.running_mean.copy_(mean)
            module.running_var.copy_(var)
            module.num_batches_tracked.copy_(tracked)
        supernet.train(was_training)


def _next_images(batches: Iterator, count: int, wanted: int) -> torch.Tensor:
    images, _labels = next(batches, (None, None))
    if images is None:
        raise ValueError(f"train_batches ran out after {count} of {wanted} mini-batches")
    if not images.is_floating_point():
        raise TypeError("train_batches must yield normalised float images (see wsnas.data.epoch_batches)")
    return images


def _check_images(valid_images: torch.Tensor, valid_labels: torch.Tensor) -> None:
    if valid_images.dtype != torch.uint8 or valid_images.dim() != 4:
        raise TypeError(
            f"valid_images must be uint8 NCHW images (wsnas.data.CifarSplit.valid_images), got "
            f"{valid_images.dtype} of shape {tuple(valid_images.shape)}; they are normalised here"
        )
    if len(valid_labels) != len(valid_images):
        raise ValueError(f"{len(valid_images)} validation images but {len(valid_labels)} labels")


def _skip_batch(batches: Iterator, count: int, wanted: int) -> None:
    """Pass over the next mini-batch, without building it where the iterator can skip (`wsnas.data.EpochBatches`)."""
    skip = getattr(batches, "skip", None)
    if skip is None:
        _next_images(batches, count, wanted)
        return
    try:
        skip()
    except StopIteration:
        raise ValueError(f"train_batches ran out after {count} of {wanted} mini-batches") from None


class _Passes:
    """Endless passes over re-iterable `batches` (each iter() a new pass); `skip()` as the current pass's, if it has
    one. A pass that yields nothing (an exhausted one-shot iterator) is an error."""

    def __init__(self, batches: Iterable):
        self.batches, self.current, self.empty = batches, iter(batches), True

    def __iter__(self) -> _Passes:
        return self

    def __next__(self):
        return self._advance(next)

    def skip(self) -> None:
        self._advance(lambda current: current.skip() if hasattr(current, "skip") else next(current))

    def _advance(self, step):
        while True:
            try:
                value = step(self.current)
            except StopIteration:
                if self.empty:
                    raise ValueError(
                        "train_batches yielded no batch: pass a list of mini-batches, or an iterable that "
                        "starts a new pass on each iter() (a one-shot generator runs out)"
                    ) from None
                self.current, self.empty = iter(self.batches), True
                continue
            self.empty = False
            return value


@torch.inference_mode()
def _stem_outputs(supernet, images, labels, batch_size, device, layout, precision,
                  convolution_only: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(stem output of a validation batch, its labels) for every batch, computed once and shared by all cells: the
    stem's convolution alone (`convolution_only`: BNS-FT, whose stem statistics change with each cell), or the whole
    stem (convolution, batch norm with the super-net's statistics, ReLU)."""
    outputs = []
    with precision_context(device, precision):
        for batch, batch_labels in eval_batches(images, labels, batch_size, layout):
            convolved = supernet.stem_convolution(batch.to(device, non_blocking=True))
            outputs.append((convolved if convolution_only else supernet.stem_activation(convolved),
                            batch_labels.to(device, non_blocking=True)))
    return outputs


@torch.inference_mode()
def _accuracy(validation: list[tuple[Any, torch.Tensor]], device: torch.device, precision: str, logits_of) -> float:
    """Accuracy over the validation batches, `logits_of(batch)` giving the logits of each (batch, labels) pair."""
    correct, count = 0, 0
    for batch, labels in validation:
        with precision_context(device, precision):
            logits = logits_of(batch)
        correct += int((logits.argmax(dim=1) == labels).sum())
        count += len(labels)
    return correct / count


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


# ---------------------------------------------------------------------------------------------
# Evaluation of a trained run (the profile's evaluation settings), and one training chapter

def evaluations_name(epoch: int | None = None) -> str:
    """The run table holding the evaluations of the final checkpoint, or of a kept mid-run epoch."""
    return "evaluations" if epoch is None else f"evaluations_epoch{epoch}"


def evaluate_run(run: RunSettings, run_dir: Path, nb101=None, progress: bool = True,
                 epoch: int | None = None) -> pd.DataFrame:
    """NO-FT and BNS-FT proxy accuracy of the run's evaluation cells, joined to NB-101; cached in the run.

    One row per (cell, mode): hash, mode, proxy_accuracy, precision (of the validation passes), weight (of
    `evaluation_cells`), nb101_validation_accuracy (mean of the 3 repeats), nb101_test_accuracy,
    trainable_parameters.
    `epoch` evaluates a kept mid-run checkpoint instead of the final one.
    """
    run_dir = Path(run_dir)
    config, settings = run.train, run.evaluate
    stored = runs.read_table(run_dir, evaluations_name(epoch))
    if stored is not None:  # before tables recorded it, evaluation ran in the training precision, auto meaning fp32
        return stored if "precision" in stored else stored.assign(precision=config.precision.replace("auto", "fp32"))
    nb101 = nb101 if nb101 is not None else NB101.default()
    supernet = load_trained_supernet(config, run_dir, epoch)
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    cells, weights = run_evaluation_cells(run, nb101)
    precision = validation_precision(settings["eval_precision"], config.device)
    tables = []
    for mode in MODES:
        batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"], layout=config.memory_format)
        table = proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                               train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                               bn_statistics=settings["bn_statistics"], batch_size=settings["eval_batch_size"],
                               progress=progress, layout=config.memory_format, precision=precision)
        tables.append(table.assign(weight=weights, precision=precision))
    evaluations = pd.concat(tables, ignore_index=True)
    truth = nb101.metrics(evaluations["hash"].unique())
    evaluations["nb101_validation_accuracy"] = evaluations["hash"].map(truth["mean_validation_accuracy"])
    evaluations["nb101_test_accuracy"] = evaluations["hash"].map(truth["mean_test_accuracy"])
    evaluations["trainable_parameters"] = evaluations["hash"].map(truth["trainable_parameters"]).astype("int64")
    runs.write_table(run_dir, evaluations_name(epoch), evaluations)
    return evaluations


def validation_indices(split, settings: dict[str, Any]) -> slice | torch.Tensor:
    """The validation images a run's evaluation uses: all, or a class-balanced subset of `valid_subset`."""
    if not settings["valid_subset"]:
        return slice(None)
    # class-balanced: the embedded validation arrays are ordered by class
    return torch.from_numpy(balanced_subset(split.valid_labels.cpu().numpy(), settings["valid_subset"], settings["eval_seed"]))


def run_evaluation_cells(run: RunSettings, nb101) -> tuple[list[Cell], np.ndarray]:
    """The cells a run's evaluation ranks, and their weights (`evaluation_cells`).

    per_supernet: each super-net ranks its own sample, as in the paper; shared: every run ranks the same cells.
    """
    settings = run.evaluate
    sample_seed = [settings["eval_seed"], run.train.seed] if settings["eval_sample"] == "per_supernet" else settings["eval_seed"]
    return evaluation_cells(run.train.space, settings["num_eval_cells"], sample_seed, nb101)


@dataclass
class RunOutcome:
    """What one training chapter produces: the run's settings, its training and its evaluations."""

    run: RunSettings
    run_dir: Path
    result: TrainResult
    evaluations: pd.DataFrame | None  # None when the super-net diverged

    @property
    def config(self) -> TrainConfig:
        return self.run.train

    @property
    def settings(self) -> dict[str, Any]:
        """The evaluation settings."""
        return self.run.evaluate


def train_and_evaluate(profile: str, space: str, variant: str, seed: int, *, device: str = "cpu",
                       results_root: str | Path | None = None, overrides: dict[str, Any] | None = None,
                       progress: bool = True) -> RunOutcome:
    """Train (or resume, or reuse) one super-net and evaluate it NO-FT and BNS-FT, in its run directory."""
    run = run_settings(profile, space=space, variant=variant, seed=seed, device=device, **(overrides or {}))
    run_dir = runs.open_run("training", run.params(), overrides=run.overrides, root=runs.resolve_root(results_root))
    result = train_supernet(run.train, run_dir, progress=progress)
    evaluations = None if result.diverged else evaluate_run(run, run_dir, progress=progress)
    return RunOutcome(run, run_dir, result, evaluations)

# Verbatim copy of lib/wsnas/evaluate.py at commit 947de03, the evaluation baseline of benchmarks/bench_evaluate.py;
# only the SuperNet import points at the copy of supernet.py beside it.
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
from torch import nn
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from wsnas import runs
from wsnas.data import TrainingBatches, balanced_subset, eval_batches, precision_context, validation_precision
from wsnas.nb101 import NB101
from wsnas.profiles import SECTIONS, profile_sections
from wsnas.space import SPACES, Cell, cells_at, index_of, space_mask, space_sizes
from baseline_947de03.supernet import SuperNet  # 947de03: from wsnas.supernet import SuperNet
from wsnas.checkpoints import load_trained_supernet  # 947de03: these five from wsnas.train
from wsnas.data import load_training_data
from wsnas.settings import TrainConfig, config_for
from wsnas.train import TrainResult, train_supernet

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
        validation = _stem_convolutions(supernet, valid_images, valid_labels, batch_size, device, layout, precision)
        for cell in tqdm(cells, desc=f"proxy accuracy ({mode})", unit="cell", disable=not progress):
            if mode == "bns_ft":
                with fine_tuned_statistics(supernet, cell, batches, num_bn_batches, bn_statistics, device):
                    accuracy = _accuracy(supernet, cell, validation, precision)
            else:
                accuracy = _accuracy(supernet, cell, validation, precision)
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
                if bn_statistics == "last" and count < num_bn_batches - 1:
                    continue  # momentum 1: only the last batch's statistics survive, the others need not run
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
def _stem_convolutions(supernet, images, labels, batch_size, device, layout, precision) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(stem convolution of a validation batch, its labels) for every batch: computed once, shared by all cells."""
    with precision_context(device, precision):
        return [(supernet.stem_convolution(batch.to(device, non_blocking=True)), batch_labels.to(device, non_blocking=True))
                for batch, batch_labels in eval_batches(images, labels, batch_size, layout)]


@torch.inference_mode()
def _accuracy(supernet, cell, validation: list[tuple[torch.Tensor, torch.Tensor]], precision: str) -> float:
    correct, count = 0, 0
    for convolved, labels in validation:
        with precision_context(convolved.device, precision):
            logits = supernet.from_stem_convolution(convolved, cell)
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

EVALUATION_SETTINGS: tuple[str, ...] = tuple(SECTIONS["evaluate"])  # the profile's [evaluate] section


def evaluation_settings(profile: str = "demo", **overrides: Any) -> dict[str, Any]:
    """The [evaluate] section of `profile` (overrides that are not evaluation settings are ignored)."""
    return profile_sections(profile, **{key: value for key, value in overrides.items() if key in EVALUATION_SETTINGS})["evaluate"]


def evaluations_name(epoch: int | None = None) -> str:
    """The run table holding the evaluations of the final checkpoint, or of a kept mid-run epoch."""
    return "evaluations" if epoch is None else f"evaluations_epoch{epoch}"


def evaluate_run(config: TrainConfig, run_dir: Path, settings: dict[str, Any], nb101=None,
                 progress: bool = True, epoch: int | None = None) -> pd.DataFrame:
    """NO-FT and BNS-FT proxy accuracy of the run's evaluation cells, joined to NB-101; cached in the run.

    One row per (cell, mode): hash, mode, proxy_accuracy, weight (of `evaluation_cells`),
    nb101_validation_accuracy (mean of the 3 repeats), nb101_test_accuracy, trainable_parameters.
    `epoch` evaluates a kept mid-run checkpoint instead of the final one.
    """
    run_dir = Path(run_dir)
    stored = runs.read_table(run_dir, evaluations_name(epoch))
    if stored is not None:
        return stored
    nb101 = nb101 if nb101 is not None else NB101.default()
    supernet = load_trained_supernet(config, run_dir, epoch)
    split = load_training_data(config)
    valid = slice(None)
    if settings["valid_subset"]:  # class-balanced: the embedded validation arrays are ordered by class
        valid = torch.from_numpy(balanced_subset(split.valid_labels.cpu().numpy(), settings["valid_subset"], settings["eval_seed"]))
    # per_supernet: each super-net ranks its own sample of cells, as in the paper; shared: all rank the same
    sample_seed = [settings["eval_seed"], config.seed] if settings["eval_sample"] == "per_supernet" else settings["eval_seed"]
    cells, weights = evaluation_cells(config.space, settings["num_eval_cells"], sample_seed, nb101)
    tables = []
    for mode in MODES:
        batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"], layout=config.memory_format)
        table = proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                               train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                               bn_statistics=settings["bn_statistics"], batch_size=settings["eval_batch_size"],
                               progress=progress, layout=config.memory_format, precision=validation_precision(config.precision))
        tables.append(table.assign(weight=weights))
    evaluations = pd.concat(tables, ignore_index=True)
    truth = nb101.metrics(evaluations["hash"].unique())
    evaluations["nb101_validation_accuracy"] = evaluations["hash"].map(truth["mean_validation_accuracy"])
    evaluations["nb101_test_accuracy"] = evaluations["hash"].map(truth["mean_test_accuracy"])
    evaluations["trainable_parameters"] = evaluations["hash"].map(truth["trainable_parameters"]).astype("int64")
    runs.write_table(run_dir, evaluations_name(epoch), evaluations)
    return evaluations


@dataclass
class RunOutcome:
    """What one training chapter produces: the run's settings, its training and its evaluations."""

    config: TrainConfig
    settings: dict[str, Any]
    run_dir: Path
    result: TrainResult
    evaluations: pd.DataFrame | None  # None when the super-net diverged


def train_and_evaluate(profile: str, space: str, variant: str, seed: int, *, device: str = "cpu",
                       results_root: str | Path | None = None, overrides: dict[str, Any] | None = None,
                       progress: bool = True) -> RunOutcome:
    """Train (or resume, or reuse) one super-net and evaluate it NO-FT and BNS-FT, in its run directory."""
    overrides = dict(overrides or {})
    config = config_for(profile, space=space, variant=variant, seed=seed, device=device, **overrides)
    settings = evaluation_settings(profile, **overrides)
    run_dir = runs.open_run("training", {**config.params(), **settings}, overrides=overrides,
                            root=runs.resolve_root(results_root))
    result = train_supernet(config, run_dir, progress=progress)
    evaluations = None if result.diverged else evaluate_run(config, run_dir, settings, progress=progress)
    return RunOutcome(config, settings, run_dir, result, evaluations)

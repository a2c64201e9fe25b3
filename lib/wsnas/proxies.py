"""Training-free proxies of a cell, computed on a standalone network of the cell (the setup's).

The network is NB-101's network of the cell (`nasbench_pytorch` `Network`: 3 stacks × 3 cells, NB-101
channel rule) at the setup's width (stem 16 by default, the paper's scale), initialised with
`nasbench_pytorch`'s own initialisation under a fixed seed, in training mode (batch statistics), and
scored on one fixed mini-batch of CIFAR-10 training images (`setup_batch`), the same for every cell.

Definitions follow the original papers and their reference code (read, not copied):
Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS" (ICLR; github.com/SamsungLabs/
zero-cost-nas) for `synflow`, `snip`, `grad_norm`, `fisher`, `grasp`, `jacob_cov` and `l2_norm`;
Mellor et al. 2021, "Neural Architecture Search without Training" (ICML, second version) for
`naswot`. Each per-weight saliency is summed over all convolution and linear weights, as the
reference code does. No maintained pip package implements them (zero-cost-nas and NASLib are
research repositories, not released packages, and bring their own model zoos), so they are
written here; sharing one forward pass between them is also only possible in our own code.

Shared passes: one forward pass of the mini-batch with the input, convolution outputs and ReLU
inputs retained serves `naswot` (binary codes of the ReLU inputs), `jacob_cov` (one backward of
the summed logits to the input), `grad_norm`, `snip`, `fisher` (one backward of the loss to the
weights and convolution outputs) and `grasp` (the same gradient, kept differentiable, gives the
Hessian-gradient product by a second backward). `synflow` needs its own pass (BN-free network,
absolute weights, float64, an all-ones input); `l2_norm` needs none. `params` and `flops` are
exact counts of the NB-101 network (128 stem channels) from `wsnas.space`.

Li et al. 2023, "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients" (ICLR;
github.com/SLDGroup/ZiCo) for `zico`, and Lin et al. 2021, "Zen-NAS: A Zero-Shot NAS for High-Performance
Image Recognition" (ICCV; github.com/idstcv/ZenNAS) for `zen`, need passes of their own: ZiCo compares the
gradients of two mini-batches (the setup's batch split in two halves; in train mode each half has its own
BatchNorm statistics, so the full-batch gradient of the shared pass cannot serve), and Zen re-initialises
the network with Gaussian weights and feeds it Gaussian noise.

Two setups (`SETUPS`): `paper`, the paper's network (stem 16) on 64 class-balanced images, and `published`,
NB-101's own network (stem 128) on 32 uniformly drawn images, as NAS-Bench-Suite-Zero's NB-101 scores were
computed (NASLib's `ZeroCost` predictor: one batch of its CIFAR-10 training loader, batch size 32, images
standardised with the CIFAR-10 mean and std, network initialised by its own `_initialize_weights`; the
NB-101 scores NASLib published in 2022 came from archai's NB-101 model, the same network and initialisation as
nasbench_pytorch's, which NASLib uses since). Choices here, in both setups: one fixed batch without
augmentation and one initialisation seed for every cell, where NASLib draws a fresh, augmented (pad-4 crop +
flip) batch and a fresh initialisation for every cell and every proxy (on the cells its file scores twice, its
grasp and jacov agree with themselves at Spearman ≈ 0.5 only); the embedded CIFAR-10 (JPEG) unless the
lossless one is given; NASLib's log of synflow is not taken (the ranking is the same).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import nasbench_pytorch
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from nasbench_pytorch.model import Network
from scipy.stats import spearmanr
from torch import nn
from tqdm import tqdm

from wsnas import space
from wsnas.baselines import COUNTS, UNCOMMITTED_ZERO_COST, ZERO_COST
from wsnas.data import MEMORY_FORMATS, PRECISIONS, balanced_subset, keep_freed_memory, load_cifar10, normalise, precision_context
from wsnas.datafiles import atomic_path

PROXIES = ZERO_COST + UNCOMMITTED_ZERO_COST + COUNTS
LOSS_PASS = ("snip", "grad_norm", "fisher", "grasp")  # need the gradient of the loss
BATCH_PASS = LOSS_PASS + ("jacob_cov", "naswot")  # served by the one shared forward pass
BATCH_SEED = 0  # the fixed mini-batch: a seeded draw from the NB-101 training split
JACOB_COV_EPSILON = 1e-5  # Abdelfattah et al.'s k in -Σ log(λ + k) + 1/(λ + k)
ZICO_BATCHES = 2  # ZiCo's mean and std of gradients across mini-batches: the setup's batch in two halves
ZEN_MIXUP_GAMMA = 1e-2  # Zen-NAS's perturbation scale (its reference code's default)
# How fisher's per-channel saliencies add up to one score. per_weight: each channel counted once per weight
# it holds (fan-in x kernel), as zero-cost-nas and NASLib broadcast them to the weights before summing;
# per_channel: each channel once (this module before issue 20; the committed scores file holds it).
FISHER_SUMS = ("per_weight", "per_channel")


@dataclass(frozen=True)
class Setup:
    """The network, mini-batch and score definitions on which every proxy of a cell is computed."""
    name: str
    stem_out_channels: int
    batch_size: int
    class_balanced: bool  # the batch: as equal a number per class as possible, else a uniform draw
    fisher_sum: str = "per_weight"
    description: str = ""

    @property
    def network(self) -> dict:
        """nasbench_pytorch `Network` arguments: 3 stacks x 3 cells, CIFAR-10's 10 labels."""
        return {"stem_out_channels": self.stem_out_channels, "num_stacks": 3, "num_modules_per_stack": 3,
                "num_labels": 10}


SETUPS = {setup.name: setup for setup in (
    Setup("paper", 16, 64, True, description="the paper's network (stem 16, 3 x 3 cells) on 64 class-balanced "
          "training images (zero-cost-nas's default batch; Mellor et al. use 128, 64 halves the CPU cost)"),
    Setup("published", 128, 32, False, description="NB-101's network (stem 128, 3 x 3 cells) on 32 uniformly "
          "drawn training images, as NAS-Bench-Suite-Zero / NASLib score NB-101 (their batch size 32)"),
)}
DEFAULT_SETUP = "paper"
# What a scores file written before setups existed was computed with (its settings name no setup).
LEGACY_SETUP = Setup("paper", 16, 64, True, fisher_sum="per_channel", description="before issue 20")
NETWORK = SETUPS[DEFAULT_SETUP].network
BATCH_SIZE = SETUPS[DEFAULT_SETUP].batch_size
# batch_proxies computes the loss in the network's precision (fp32 or fp64; fp32 under bf16 autocast). Before
# issue 20 it was always fp32, so fp64 scores rounded the loss gradient to fp32; files say which they hold.
LOSS_PRECISION = "network"
# Σ -W ⊙ Hg cancels: on some cells fp32 rounding alone moves it by more than the spread of all cells
# (measured: docs in `reproduction`), so a committed grasp is reproduced in rank, not in value.
ROUNDING_SENSITIVE = ("grasp",)
# fp64 runs the network in double precision: 1.5-2.5x the CPU time of fp32, and the scores no longer depend on
# how a CPU rounds (in fp32 snip moved 7 % and grasp 40 % between two memory formats on one A4 cell).
PROXY_PRECISIONS = (*PRECISIONS, "fp64")
EXACT_GAP = 1e-9  # in interquartile ranges: what "no gap" means for the exactly reproducible proxies


class ProxyError(ValueError):
    """An unknown proxy, setup, memory format or precision."""


def setup_of(name: str | Setup) -> Setup:
    """The setup called `name` (a Setup passes through); unknown names raise ProxyError naming the choices."""
    if isinstance(name, Setup):
        return name
    if name not in SETUPS:
        raise ProxyError(f"unknown setup {name!r}: choose one of {', '.join(SETUPS)}")
    return SETUPS[name]


def setup_of_settings(settings: dict) -> Setup:
    """The setup a scores file's settings record (LEGACY_SETUP for files written before setups existed)."""
    return Setup(**settings["setup"]) if "setup" in settings else LEGACY_SETUP


def check_proxies(names: Iterable[str]) -> tuple[str, ...]:
    """The requested proxy names in the canonical order; unknown names raise ProxyError naming them."""
    names = tuple(names)
    unknown = sorted(set(names) - set(PROXIES))
    if unknown:
        raise ProxyError(f"unknown proxies {unknown}: choose among {', '.join(PROXIES)}")
    if not names:
        raise ProxyError(f"no proxy requested: choose among {', '.join(PROXIES)}")
    return tuple(name for name in PROXIES if name in names)


@dataclass(frozen=True)
class ProxyBatch:
    """One fixed mini-batch: normalised float32 NCHW images and int64 labels."""
    images: torch.Tensor
    labels: torch.Tensor
    description: str


@cache
def proxy_batch(batch_size: int = BATCH_SIZE, batch_seed: int = BATCH_SEED, source: str = "embedded",
                class_balanced: bool = True) -> ProxyBatch:
    """`batch_size` training images chosen by `batch_seed`, class-balanced or uniform (embedded CIFAR-10 by default)."""
    split = load_cifar10(source)
    labels = split.train_labels.numpy()
    if class_balanced:
        index = balanced_subset(labels, batch_size, batch_seed)
    else:
        index = np.sort(np.random.default_rng(batch_seed).choice(len(labels), batch_size, replace=False))
    images = normalise(split.train_images[torch.from_numpy(index)])
    draw = "class-balanced" if class_balanced else "uniformly drawn"
    description = f"{batch_size} {draw} training images (seed {batch_seed}) of {split.description}"
    return ProxyBatch(images, split.train_labels[torch.from_numpy(index)], description)


def setup_batch(setup: str | Setup = DEFAULT_SETUP) -> ProxyBatch:
    """The fixed mini-batch of a setup."""
    setup = setup_of(setup)
    return proxy_batch(setup.batch_size, BATCH_SEED, class_balanced=setup.class_balanced)


def build_network(cell: space.Cell, seed: int, setup: str | Setup = DEFAULT_SETUP) -> Network:
    """The setup's standalone network of `cell` (pruned), initialised by nasbench_pytorch under `seed`."""
    pruned = cell.pruned()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Network((np.asarray(pruned.adjacency, dtype=np.int64), list(pruned.ops)), **setup_of(setup).network)


def _weighted_layers(network: nn.Module) -> list[nn.Module]:
    return [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@contextlib.contextmanager
def deterministic():
    """Deterministic kernels inside the block (restores the caller's setting)."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def l2_norm(network: nn.Module) -> float:
    """Σ over conv/linear layers of ‖W‖₂ (Abdelfattah et al. 2021, the `l2_norm` baseline)."""
    with torch.no_grad():
        return float(sum(layer.weight.double().norm() for layer in _weighted_layers(network)))


def synflow(network: nn.Module, image_shape: tuple[int, ...]) -> float:
    """Σ |θ ⊙ ∂R/∂θ| with R = Σ f(1) of the BN-free, |θ| network in float64 (Tanaka et al. 2020; Abdelfattah et al. 2021).

    As in zero-cost-nas (`bn=False`), BatchNorm layers are removed; runs on a copy of `network`.
    """
    clone = _without_batch_norm(network).double()
    with torch.no_grad():
        for parameter in clone.parameters():
            parameter.abs_()
    output = clone(torch.ones((1, *image_shape), dtype=torch.float64))
    layers = _weighted_layers(clone)
    grads = torch.autograd.grad(output.sum(), [layer.weight for layer in layers])
    with torch.no_grad():
        return float(sum((layer.weight * grad).abs().sum() for layer, grad in zip(layers, grads)))


def _without_batch_norm(network: nn.Module) -> nn.Module:

    clone = copy.deepcopy(network)
    for module in list(clone.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.Identity())
    return clone


def _log_det_binary_kernel(codes: list[torch.Tensor]) -> float:
    """log|K_H|, K_H[i,j] = number of ReLU units on which the codes of inputs i and j agree (Mellor et al. 2021, v2).

    K_H = X Xᵀ + (1-X)(1-X)ᵀ = 2 X Xᵀ - r 1ᵀ - 1 rᵀ + U for the N×U binary matrix X with row sums r;
    every entry is an integer below 2^24, so the float32 product is exact whatever the summation order.
    """
    count = codes[0].shape[0]
    binary = torch.cat([code.reshape(count, -1) for code in codes], dim=1).float()
    units = binary.shape[1]
    if units >= 2**24:
        raise ValueError(f"{units:,} ReLU units: the float32 kernel would not be exact")
    ones = binary.sum(dim=1, keepdim=True)
    kernel = (2.0 * binary @ binary.T - ones - ones.T + units).double()
    return float(torch.linalg.slogdet(kernel)[1])


def _jacobian_score(jacobian: torch.Tensor) -> float:
    """-Σ log(λ + k) + 1/(λ + k) over the eigenvalues λ of the correlation matrix of per-image input Jacobians."""
    flat = jacobian.reshape(jacobian.shape[0], -1).double().numpy()
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(flat))
    k = JACOB_COV_EPSILON
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def batch_proxies(network: Network, batch: ProxyBatch, names: tuple[str, ...], memory_format: str = "contiguous",
                  precision: str = "fp32", fisher_sum: str = "per_weight") -> dict[str, float]:
    """The proxies of `BATCH_PASS` in `names`, from one forward pass of `batch` through `network` (train mode).

    - `naswot`: log-determinant of the binary-code kernel of the ReLU inputs (Mellor et al. 2021).
    - `jacob_cov`: score of the correlations of ∂Σf/∂x per image (Abdelfattah et al. 2021, after Mellor et al. v1).
    - `grad_norm`: Σ over layers of ‖∂L/∂W‖₂ (Abdelfattah et al. 2021).
    - `snip`: Σ |W ⊙ ∂L/∂W| (Lee et al. 2019; Abdelfattah et al. 2021).
    - `fisher`: Σ over channels c of n_c · ½ mean over images of (Σ_hw a ⊙ ∂L/∂a)², a = conv/linear outputs
      and n_c = the weights of channel c (`per_weight`, the reference code's broadcast) or 1 (`per_channel`)
      (Theis et al. 2018; Turner et al. 2020; Abdelfattah et al. 2021).
    - `grasp`: Σ -W ⊙ (H g), g = ∂L/∂W (Wang et al. 2020; Abdelfattah et al. 2021).
    L is the mean cross-entropy of the mini-batch, in the network's precision (fp32 under bf16 autocast).
    """
    wanted = [name for name in names if name in BATCH_PASS]
    if not wanted:
        return {}
    fmt = MEMORY_FORMATS[memory_format]
    dtype = torch.float64 if precision == "fp64" else torch.float32
    network = network.to(dtype=dtype, memory_format=fmt).train()
    layers = _weighted_layers(network)
    weights = [layer.weight for layer in layers]
    outputs: list[torch.Tensor] = []
    codes: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda m, i, o: outputs.append(o)) for layer in layers]
    if "naswot" in wanted:
        hooks += [m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).detach()))
                  for m in network.modules() if isinstance(m, nn.ReLU)]
    images = batch.images.to(dtype=dtype, memory_format=fmt).clone().requires_grad_("jacob_cov" in wanted)
    autocast = precision_context(images.device, "bf16" if precision == "bf16" else "fp32")
    try:
        with autocast:
            logits = network(images)
            logits = logits if logits.dtype == dtype else logits.float()  # bf16 autocast: the loss in fp32
            loss = F.cross_entropy(logits, batch.labels)
    finally:
        for hook in hooks:
            hook.remove()
    scores: dict[str, float] = {}
    if "naswot" in wanted:
        scores["naswot"] = _log_det_binary_kernel(codes)
    loss_wanted = [name for name in wanted if name in LOSS_PASS]
    if "jacob_cov" in wanted:
        (jacobian,) = torch.autograd.grad(logits.sum(), images, retain_graph=bool(loss_wanted))
        scores["jacob_cov"] = _jacobian_score(jacobian)
    if loss_wanted:
        scores.update(_loss_proxies(loss, weights, outputs, loss_wanted, fisher_sum))
    return scores


def _loss_proxies(loss: torch.Tensor, weights: list[torch.Tensor], outputs: list[torch.Tensor],
                  wanted: list[str], fisher_sum: str = "per_weight") -> dict[str, float]:
    """grad_norm, snip, fisher and grasp from one (double when grasp is wanted) backward of the loss."""
    grasp = "grasp" in wanted
    targets = weights + (outputs if "fisher" in wanted else [])
    grads = torch.autograd.grad(loss, targets, create_graph=grasp)
    weight_grads = [g.detach() for g in grads[: len(weights)]]
    scores: dict[str, float] = {}
    with torch.no_grad():
        if "grad_norm" in wanted:
            scores["grad_norm"] = float(sum(g.double().norm() for g in weight_grads))
        if "snip" in wanted:
            scores["snip"] = float(sum((w.detach() * g).double().abs().sum() for w, g in zip(weights, weight_grads)))
        if "fisher" in wanted:
            scores["fisher"] = float(sum(_fisher_of_layer(a.detach(), g.detach(), _channel_weights(w, fisher_sum))
                                         for a, g, w in zip(outputs, grads[len(weights):], weights)))
    if grasp:
        z = sum((g_fixed * g).sum() for g_fixed, g in zip(weight_grads, grads[: len(weights)]))
        hessian_grad = torch.autograd.grad(z, weights)
        with torch.no_grad():
            scores["grasp"] = float(sum((-w.detach() * hg).double().sum() for w, hg in zip(weights, hessian_grad)))
    return scores


def _channel_weights(weight: torch.Tensor, fisher_sum: str) -> int:
    """How many times fisher counts each output channel of a layer with this weight."""
    if fisher_sum not in FISHER_SUMS:
        raise ProxyError(f"unknown fisher sum {fisher_sum!r}: choose one of {', '.join(FISHER_SUMS)}")
    return weight[0].numel() if fisher_sum == "per_weight" else 1


def _fisher_of_layer(activation: torch.Tensor, grad: torch.Tensor, per_channel_count: int = 1) -> torch.Tensor:
    per_channel = (activation * grad).double()
    if per_channel.dim() > 2:
        per_channel = per_channel.sum(dim=tuple(range(2, per_channel.dim())))
    return per_channel_count * (0.5 * per_channel.pow(2).mean(0)).sum()


def zico(network: Network, batch: ProxyBatch, memory_format: str = "contiguous", precision: str = "fp32") -> float:
    """Σ over conv/linear layers of log Σ_θ mean|g_θ| / std(g_θ) over `ZICO_BATCHES` mini-batches (Li et al. 2023).

    g_θ = ∂L/∂θ of each half of `batch` (train mode, mean cross-entropy), std with ddof 0 as in the reference
    code (SLDGroup/ZiCo `compute_zico.py`); weights whose gradient does not vary are left out, and so is a
    layer whose sum is 0. The reference code never zeroes the gradients between batches, so its second
    "batch" gradient is the sum of both; here each batch has its own gradient, as the paper defines.
    """
    fmt = MEMORY_FORMATS[memory_format]
    dtype = torch.float64 if precision == "fp64" else torch.float32
    network = network.to(dtype=dtype, memory_format=fmt).train()
    weights = [layer.weight for layer in _weighted_layers(network)]
    per_batch = []
    autocast = precision_context(batch.images.device, "bf16" if precision == "bf16" else "fp32")
    for images, labels in zip(batch.images.chunk(ZICO_BATCHES), batch.labels.chunk(ZICO_BATCHES)):
        with autocast:
            logits = network(images.to(dtype=dtype, memory_format=fmt))
        loss = F.cross_entropy(logits if logits.dtype == dtype else logits.float(), labels)
        per_batch.append([g.detach().double() for g in torch.autograd.grad(loss, weights)])
    score = 0.0
    for grads in zip(*per_batch):
        stacked = torch.stack(grads)
        std = stacked.std(dim=0, unbiased=False)
        varying = std > 0
        total = float((stacked.abs().mean(dim=0)[varying] / std[varying]).sum())
        score += np.log(total) if total > 0 else 0.0
    return float(score)


def zen(network: Network, batch_shape: tuple[int, ...], seed: int, memory_format: str = "contiguous",
        precision: str = "fp32") -> float:
    """log E‖f(x) - f(x + γε)‖₁ + Σ_BN log √(mean σ²) on a Gaussian-initialised copy (Lin et al. 2021, Zen-score).

    As the reference code (idstcv/ZenNAS `compute_zen_score.py`, one repeat): conv and linear weights N(0, 1),
    BatchNorm γ = 1 and β = 0, train mode, x and ε standard Gaussian of `batch_shape`, γ = `ZEN_MIXUP_GAMMA`,
    f = the feature map before global average pooling, σ² = each BN layer's running variance after the two
    passes (nasbench_pytorch's momentum 0.997 makes it the batch variance of the second pass, the σ of the
    paper). Weights and noise are drawn in fp32 under `seed`, then cast, so every precision sees the same ones.
    """
    clone = copy.deepcopy(network).float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _gaussian_init(clone)
        inputs = torch.randn(batch_shape)
        perturbed = inputs + ZEN_MIXUP_GAMMA * torch.randn(batch_shape)
    fmt = MEMORY_FORMATS[memory_format]
    dtype = torch.float64 if precision == "fp64" else torch.float32
    clone = clone.to(dtype=dtype, memory_format=fmt).train()
    autocast = precision_context(inputs.device, "bf16" if precision == "bf16" else "fp32")
    with torch.no_grad(), autocast:
        difference = (_features(clone, inputs.to(dtype=dtype, memory_format=fmt))
                      - _features(clone, perturbed.to(dtype=dtype, memory_format=fmt))).double()
    expansion = difference.abs().sum(dim=(1, 2, 3)).mean()
    bn_scale = sum(0.5 * torch.log(m.running_var.double().mean()) for m in clone.modules()
                   if isinstance(m, nn.BatchNorm2d))
    return float(torch.log(expansion) + bn_scale)


def _gaussian_init(network: nn.Module) -> None:
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


def _features(network: Network, images: torch.Tensor) -> torch.Tensor:
    """The network's feature map before global average pooling."""
    for layer in network.layers:
        images = layer(images)
    return images


def counts(cells: list[space.Cell]) -> dict[str, np.ndarray]:
    """Exact `params` (NB-101 trainable parameters) and `flops` (multiply-adds) of the NB-101 network of each cell."""
    return {
        "params": np.array([space.trainable_parameters(cell) for cell in cells], dtype=np.int64),
        "flops": np.array([space.network_flops(cell) for cell in cells], dtype=np.int64),
    }


def _check_settings(memory_format: str, precision: str) -> None:
    if memory_format not in MEMORY_FORMATS:
        raise ProxyError(f"unknown memory format {memory_format!r}: choose one of {', '.join(MEMORY_FORMATS)}")
    if precision not in PROXY_PRECISIONS:
        raise ProxyError(f"unknown precision {precision!r}: choose one of {', '.join(PROXY_PRECISIONS)}")


def cell_proxies(cell: space.Cell, names: Iterable[str] = PROXIES, seed: int = 0, batch: ProxyBatch | None = None,
                 memory_format: str = "contiguous", precision: str = "fp32",
                 setup: str | Setup = DEFAULT_SETUP) -> dict[str, float]:
    """Every requested proxy of one cell (the setup's network initialised under `seed`, scored on `batch`)."""
    names = check_proxies(names)
    _check_settings(memory_format, precision)
    setup = setup_of(setup)
    keep_freed_memory()
    batch = batch if batch is not None else setup_batch(setup)
    scores: dict[str, float] = {}
    with deterministic():
        network = build_network(cell, seed, setup) if set(names) - set(COUNTS) else None
        if "l2_norm" in names:
            scores["l2_norm"] = l2_norm(network)
        if "synflow" in names:
            scores["synflow"] = synflow(network, tuple(batch.images.shape[1:]))
        if "zen" in names:
            scores["zen"] = zen(network, tuple(batch.images.shape), seed, memory_format, precision)
        if "zico" in names:
            scores["zico"] = zico(network, batch, memory_format, precision)
        if network is not None:
            scores.update(batch_proxies(network, batch, names, memory_format, precision, setup.fisher_sum))
    for name, values in counts([cell]).items():
        if name in names:
            scores[name] = int(values[0])
    return {name: scores[name] for name in names}


def timed_proxies(cell: space.Cell, names: Iterable[str], seed: int = 0, batch: ProxyBatch | None = None,
                  memory_format: str = "contiguous", precision: str = "fp32",
                  setup: str | Setup = DEFAULT_SETUP) -> tuple[dict[str, float], float]:
    """`cell_proxies` and the seconds it took (process CPU time is not used: threads are fixed by the caller)."""
    start = time.perf_counter()
    scores = cell_proxies(cell, names, seed, batch, memory_format, precision, setup)
    return scores, time.perf_counter() - start


def score_cells(cells: list[space.Cell], names: Iterable[str] = PROXIES, seed: int = 0,
                memory_format: str = "contiguous", precision: str = "fp32", progress: bool = False,
                setup: str | Setup = DEFAULT_SETUP) -> Iterator[dict[str, float]]:
    """Yield {"hash", proxies..., "seconds"} for each cell in order (a tqdm bar on stderr when `progress`)."""
    names = check_proxies(names)
    setup = setup_of(setup)
    batch = setup_batch(setup)
    for cell in tqdm(cells, desc="proxies", unit="cell", disable=not progress):
        scores, seconds = timed_proxies(cell, names, seed, batch, memory_format, precision, setup)
        yield {"hash": cell.hash, **scores, "seconds": seconds}


# ---------------------------------------------------------------------------------------------
# Scores of many cells, resumable in a parquet file

FILE_METADATA_KEY = b"wsnas.proxies"


def settings(names: Iterable[str], seed: int, memory_format: str, precision: str,
             setup: str | Setup = DEFAULT_SETUP) -> dict:
    """What fixes the scores of a cell: proxies, seed, setup (network, batch, fisher's sum), numerics, threads
    and library versions."""
    setup = setup_of(setup)
    return {"proxies": list(check_proxies(names)), "seed": int(seed), "batch_size": setup.batch_size,
            "batch_seed": BATCH_SEED, "network": setup.network, "setup": asdict(setup),
            "memory_format": memory_format, "precision": precision, "loss_precision": LOSS_PRECISION,
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "nasbench_pytorch": getattr(nasbench_pytorch, "__version__", "1.3.1")}


def read_scores(path) -> tuple[pd.DataFrame, dict]:
    """The scores of a proxies parquet file and its metadata (settings, cells requested, `complete`)."""
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(FILE_METADATA_KEY)
    if raw is None:
        raise ProxyError(f"{path} is not a proxies file written by `wsnas proxies --out` (no {FILE_METADATA_KEY!r} metadata)")
    return table.to_pandas(), json.loads(raw)


def _write_scores(path, rows: list[dict], metadata: dict) -> None:

    frame = pd.DataFrame(rows, columns=["hash", *metadata["settings"]["proxies"], "seconds"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({FILE_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")


def _resumed_rows(path, wanted: dict, hashes: list[str]) -> list[dict]:
    """Rows already in `path`, after checking they were made with the same settings for these cells."""
    if not Path(path).exists():
        return []
    frame, metadata = read_scores(path)
    stored = {key: value for key, value in metadata["settings"].items() if key not in ("torch", "nasbench_pytorch")}
    asked = {key: value for key, value in wanted.items() if key not in ("torch", "nasbench_pytorch")}
    if stored != asked:
        raise ProxyError(f"{path} was made with settings {stored}, not {asked}: remove it or choose another --out")
    unknown = set(frame["hash"]) - set(hashes)
    if unknown:
        raise ProxyError(f"{path} holds {len(unknown)} cells that are not in this request, e.g. "
                         f"{sorted(unknown)[:3]}: remove it or choose another --out")
    return frame.to_dict("records")


def score_to_file(cells: list[space.Cell], path, names: Iterable[str] = PROXIES, seed: int = 0,
                  memory_format: str = "contiguous", precision: str = "fp32", progress: bool = False,
                  flush_seconds: float = 60.0, extra_metadata: dict | None = None,
                  setup: str | Setup = DEFAULT_SETUP) -> pd.DataFrame:
    """Score the distinct cells (by hash) into `path`, resuming what it holds; rewritten atomically as it grows.

    The file's metadata records the settings, the number of cells requested and `complete`, so a
    partial file is never mistaken for a whole one. Returns the scores of all requested cells.
    """
    names = check_proxies(names)
    _check_settings(memory_format, precision)
    by_hash = {}
    for cell in cells:
        by_hash.setdefault(cell.hash, cell)
    hashes = list(by_hash)
    wanted = settings(names, seed, memory_format, precision, setup)
    rows = _resumed_rows(path, wanted, hashes)
    done = {row["hash"] for row in rows}
    todo = [by_hash[h] for h in hashes if h not in done]
    metadata = {"settings": wanted, "cells": len(hashes), **(extra_metadata or {})}
    last_flush = time.monotonic()
    for row in score_cells(todo, names, seed, memory_format, precision, progress, setup):
        rows.append(row)
        if time.monotonic() - last_flush > flush_seconds:
            _write_scores(path, rows, {**metadata, "done": len(rows), "complete": False})
            last_flush = time.monotonic()
    _write_scores(path, rows, {**metadata, "done": len(rows), "complete": len(rows) == len(hashes)})
    return pd.DataFrame(rows).set_index("hash").loc[hashes].reset_index()


# ---------------------------------------------------------------------------------------------
# Committed scores against scores computed here


def reproduction(cells: list[space.Cell], committed: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Each proxy scored again here beside its committed value (`committed`: the whole scores file).

    Gaps are in interquartile ranges of the proxy over all committed cells, the largest over `cells`:
    - "gap from committed": live (the file's settings, its setup included: `setup_of_settings`) minus committed;
    - "rounding gap here": the file's memory format minus the other one, both on this machine, an
      equally valid fp32 computation that only rounds differently;
    - "reproduced": the gap from committed is no larger than the rounding gap here (or both ≈ 0):
      another CPU may round differently, but by no more than one CPU already does;
    - "rank agreement": Spearman of committed and live over `cells` (NaN under 3 cells).
    """
    names = list(settings["proxies"])
    other_format = next(f for f in MEMORY_FORMATS if f != settings["memory_format"])
    setup = setup_of_settings(settings)
    batch = setup_batch(setup)
    live, rounded = ([cell_proxies(cell, names, settings["seed"], batch, fmt, settings["precision"], setup)
                      for cell in cells] for fmt in (settings["memory_format"], other_format))
    live, rounded = pd.DataFrame(live, columns=names), pd.DataFrame(rounded, columns=names)
    stored = committed.set_index("hash").loc[[cell.hash for cell in cells], names].reset_index(drop=True)
    spread = committed[names].quantile(0.75) - committed[names].quantile(0.25)
    gap = ((live - stored).abs() / spread).max()
    rounding = ((rounded - live).abs() / spread).max()
    agreement = {name: spearmanr(stored[name], live[name])[0] if len(cells) >= 3 else np.nan for name in names}
    return pd.DataFrame({"gap from committed": gap, "rounding gap here": rounding,
                         "reproduced": gap <= np.maximum(rounding, EXACT_GAP), "rank agreement": pd.Series(agreement)})


def live_check(hashes: Iterable[str], committed: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """`reproduction` of the committed scores on these cells (one thread, as the file was made), plus each proxy's
    median CPU seconds per cell when computed alone ("CPU seconds per cell, alone")."""
    torch.set_num_threads(1)
    cells = space.cells_at(space.index_of(np.asarray(list(hashes))))
    check = reproduction(cells, committed, settings)
    alone: dict[str, list[float]] = {name: [] for name in settings["proxies"]}
    for cell in cells:
        for name in settings["proxies"]:
            start = time.process_time()  # CPU time of this single-threaded process: robust to a busy machine
            cell_proxies(cell, [name], seed=settings["seed"])
            alone[name].append(time.process_time() - start)
    check["CPU seconds per cell, alone"] = pd.Series({name: float(np.median(values)) for name, values in alone.items()})
    return check

"""The weight-sharing super-net over a NAS-Bench-101 sub-space, and extraction of standalone networks.

The macro-structure is NB-101's (Ying et al., 2019): a 3×3 conv-bn-relu stem, `num_stacks`
stacks of `cells_per_stack` cells, a 2×2 max-pool and channel doubling between stacks, global
average pooling and a linear classifier. Each of the 9 cell positions holds its own shared
weights: for each interior vertex slot 1…5, a 3×3 and a 1×1 conv-bn-relu at the space's
maximum vertex width (`vertex_width`), a 1×1 projection of the cell input per vertex slot and
one to the output. A cell runs on the slots of its pruned vertices (vertex v uses slot v, as
in the authors' code), each op using the first `c` filters that NB-101's channel rule gives
vertex v; batch norm is sliced the same way (first `c` scales, shifts and running statistics).

SINGLE-K (Stamoulis et al., 2019) keeps one 3×3 kernel per vertex slot; the 1×1 op is its
centre tap. As in the authors' code (`models/nasbench_101/graph_comps.py`), the 1×1 and 3×3
ops of a slot then also share one batch norm.

`extract_network` builds the standalone `nasbench_pytorch.model.Network` of a cell with the
weights the super-net uses for it; the tests prove the two compute the same logits.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from nasbench_pytorch.model import Network
from torch import nn

from wsnas.data import memory_format
from wsnas.settings import TrainConfig
from wsnas.space import OPS, SPACES, Cell, UnknownSpaceError, cell_channels, compute_vertex_channels

CONV3X3, CONV1X1, MAXPOOL3X3 = range(3)  # indices into wsnas.space.OPS
MAX_INTERIOR_VERTICES = 5
_PLAN_CACHE_SIZE = 4096


class CellOutsideSpaceError(ValueError):
    """A cell was given to a super-net of a sub-space that does not contain it."""


def vertex_width(space: str, out_channels: int) -> int:
    """Maximum channels of a vertex in a cell of `space` with `out_channels` outputs.

    In A_k exactly k vertices share the output channels, so no vertex needs more than
    ceil(c_out / k); in A0 and its halves a lone output-feeding vertex takes all c_out.
    """
    if space not in SPACES:
        raise UnknownSpaceError(space)
    if space.startswith("A0"):
        return out_channels
    return math.ceil(out_channels / int(space[1:]))


def _min_stem_channels(space: str) -> int:
    """Every output-feeding vertex needs at least one channel: c_out ≥ number of such vertices."""
    return MAX_INTERIOR_VERTICES if space.startswith("A0") else int(space[1:])


# ---------------------------------------------------------------------------------------------
# Sliced building blocks


def sliced_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """Batch norm of `x` with the first x.shape[1] channels of `bn` (running stats updated in place).

    Same semantics as `nn.BatchNorm2d.forward`, including `momentum=None` for a cumulative average.
    A norm with second statistics (`add_second_statistics`) updates them too, from the same batch.
    """
    channels = x.shape[1]
    factor = 0.0
    if bn.training:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    second = bn.training and getattr(bn, "second_momentum", None) is not None
    if second:
        before = (bn.running_mean[:channels].clone(), bn.running_var[:channels].clone())
    output = F.batch_norm(
        x,
        bn.running_mean[:channels],
        bn.running_var[:channels],
        bn.weight[:channels],
        bn.bias[:channels],
        bn.training,
        factor,
        bn.eps,
    )
    if second:
        _update_second_statistics(bn, channels, factor, before)
    return output


def add_second_statistics(bn: nn.BatchNorm2d, momentum: float) -> None:
    """Give `bn` a second set of running statistics, updated at `momentum` (PyTorch convention) in training.

    One training then yields NO-FT under two BN momenta: the published code's default 0.997 (the running statistics
    are the last batch or two) and 0.003, the authors' correction, which their released runs recorded
    (`SuperNet.swap_statistics`).
    """
    if not 0.0 < momentum <= 1.0:
        raise ValueError(f"a second BN momentum must lie in (0, 1], got {momentum!r}")
    bn.register_buffer("second_running_mean", torch.zeros_like(bn.running_mean))
    bn.register_buffer("second_running_var", torch.ones_like(bn.running_var))
    bn.second_momentum = momentum


@torch.no_grad()
def _update_second_statistics(bn: nn.BatchNorm2d, channels: int, factor: float,
                              before: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Move the second statistics toward the batch's, read back from the first set's update.

    F.batch_norm set running = (1 - factor)·before + factor·batch (unbiased variance), so the batch's
    statistics are (running - (1 - factor)·before) / factor: no second pass over the activations.
    """
    if factor <= 0.0:
        raise ValueError("second BN statistics need a positive momentum for the first set")
    for running, old, second in ((bn.running_mean, before[0], bn.second_running_mean),
                                 (bn.running_var, before[1], bn.second_running_var)):
        batch = (running[:channels] - (1.0 - factor) * old) / factor
        second[:channels].lerp_(batch, bn.second_momentum)


def max_pool3x3(x: torch.Tensor) -> torch.Tensor:
    """3×3 max-pool, stride 1, padding 1 (NB-101's maxpool3x3 op).

    Without a gradient to route (evaluation, BN re-estimation) it is two 1-D maxima, over columns then rows: the
    same values as F.max_pool2d, whose CPU kernel is slow on the few channels of a narrow vertex (channels-last, 4
    channels: 66 ms against 11 ms for a batch of 500; half the time of a NO-FT pass). With one, F.max_pool2d, for
    its gradient rule (the first maximum of each window) and its speed in training.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return F.max_pool2d(x, 3, 1, 1)
    padded = F.pad(x, (1, 1, 1, 1), value=float("-inf"))
    across = torch.maximum(padded[..., :-2], padded[..., 1:-1])
    torch.maximum(across, padded[..., 2:], out=across)
    pooled = torch.maximum(across[..., :-2, :], across[..., 1:-1, :])
    return torch.maximum(pooled, across[..., 2:, :], out=pooled)


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """2×2 max-pool, stride 2 (the down-sampling between stacks): without a gradient to route, the maximum of the
    four strided quarter-views (same values, no index tensor); with one, F.max_pool2d (see `max_pool3x3`)."""
    if torch.is_grad_enabled() and x.requires_grad or x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.max_pool2d(x, 2, 2)
    return torch.maximum(torch.maximum(x[..., ::2, ::2], x[..., ::2, 1::2]),
                         torch.maximum(x[..., 1::2, ::2], x[..., 1::2, 1::2]))


class SlicedConvBnRelu(nn.Module):
    """Conv (no bias) → BN → ReLU held at `max_channels` filters; a call uses the first `channels`."""

    def __init__(self, in_channels: int, max_channels: int, kernel_size: int, bn_momentum: float, bn_eps: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, max_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(max_channels, eps=bn_eps, momentum=bn_momentum)
        self.fold_batch_norm = True  # in eval mode, BN folds into the conv (SuperNet.set_batch_norm_folding)

    def conv_weight(self, in_channels: int, channels: int, kernel_size: int) -> torch.Tensor:
        """The slice of the kernel used for `in_channels` → `channels` (centre tap for a 1×1 of a 3×3)."""
        weight = self.conv.weight[:channels, :in_channels]
        full = self.conv.kernel_size[0]
        if kernel_size != full:
            start = full // 2 - kernel_size // 2
            weight = weight[:, :, start : start + kernel_size, start : start + kernel_size]
        return weight

    def forward(self, x: torch.Tensor, channels: int, kernel_size: int | None = None) -> torch.Tensor:
        kernel_size = self.conv.kernel_size[0] if kernel_size is None else kernel_size
        weight = self.conv_weight(x.shape[1], channels, kernel_size)
        if self.fold_batch_norm and not self.bn.training:  # fixed statistics: BN folds into the conv, one pass fewer
            return F.relu(F.conv2d(x, *self.folded(weight, channels), padding=kernel_size // 2),
                          inplace=not torch.is_grad_enabled())  # in place: one activation fewer to write
        return F.relu(sliced_batch_norm(self.bn, F.conv2d(x, weight, padding=kernel_size // 2)),
                      inplace=not torch.is_grad_enabled())

    def folded(self, weight: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The kernel and bias of conv → BN (eval mode) as one convolution, for the first `channels` filters."""
        bn = self.bn
        scale = bn.weight[:channels] * torch.rsqrt(bn.running_var[:channels] + bn.eps)
        bias = bn.bias[:channels] - bn.running_mean[:channels] * scale
        return weight * scale.view(-1, 1, 1, 1), bias

    def sliced_state(self, in_channels: int, channels: int, kernel_size: int) -> dict[str, torch.Tensor]:
        """The weights a call uses, keyed as in nasbench_pytorch's `ConvBnRelu.conv_bn_relu` Sequential."""
        bn = self.bn
        return {
            "0.weight": self.conv_weight(in_channels, channels, kernel_size),
            "1.weight": bn.weight[:channels],
            "1.bias": bn.bias[:channels],
            "1.running_mean": bn.running_mean[:channels],
            "1.running_var": bn.running_var[:channels],
            "1.num_batches_tracked": bn.num_batches_tracked,
        }


class SuperVertex(nn.Module):
    """The three candidate ops of one interior vertex slot."""

    def __init__(self, width: int, single_kernel: bool, bn_momentum: float, bn_eps: float):
        super().__init__()
        self.single_kernel = single_kernel
        self.conv3x3 = SlicedConvBnRelu(width, width, 3, bn_momentum, bn_eps)
        if not single_kernel:
            self.conv1x1 = SlicedConvBnRelu(width, width, 1, bn_momentum, bn_eps)

    def op_module(self, op: int) -> SlicedConvBnRelu:
        """The module holding the weights of conv op `op`."""
        return self.conv3x3 if op == CONV3X3 or self.single_kernel else self.conv1x1

    def forward(self, x: torch.Tensor, op: int, channels: int) -> torch.Tensor:
        if op == MAXPOOL3X3:
            return max_pool3x3(x)
        kernel_size = 3 if op == CONV3X3 else 1
        return self.op_module(op)(x, channels, kernel_size)


@dataclass(frozen=True)
class VertexStep:
    """How one vertex of a cell is computed at one cell position."""

    vertex: int  # 1..V-2, also the super-net slot
    op: int  # index into OPS
    channels: int
    predecessors: tuple[tuple[int, bool], ...]  # (interior source vertex, needs truncation)
    from_input: bool


@dataclass(frozen=True)
class CellPlan:
    """A pruned cell laid out for one (in_channels, out_channels) cell position."""

    steps: tuple[VertexStep, ...]
    output_vertices: tuple[int, ...]
    input_to_output: bool
    channels: tuple[int, ...]  # NB-101 channel rule, vertex by vertex

    @classmethod
    def build(cls, cell: Cell, in_channels: int, out_channels: int) -> CellPlan:
        """Plan of a pruned cell (vertex channels from NB-101's rule)."""
        adjacency = np.asarray(cell.adjacency, dtype=bool)
        channels = tuple(compute_vertex_channels(in_channels, out_channels, adjacency))
        last = len(channels) - 1
        steps = tuple(
            VertexStep(
                vertex=v,
                op=OPS.index(cell.ops[v]),
                channels=channels[v],
                predecessors=tuple((u, channels[u] > channels[v]) for u in range(1, v) if adjacency[u, v]),
                from_input=bool(adjacency[0, v]),
            )
            for v in range(1, last)
        )
        output_vertices = tuple(v for v in range(1, last) if adjacency[v, last])
        return cls(steps, output_vertices, bool(adjacency[0, last]), channels)


class SuperCell(nn.Module):
    """The shared weights of one cell position."""

    def __init__(
        self, in_channels: int, out_channels: int, width: int, single_kernel: bool, bn_momentum: float, bn_eps: float
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.width = in_channels, out_channels, width
        slots = range(MAX_INTERIOR_VERTICES)
        self.vertices = nn.ModuleList(SuperVertex(width, single_kernel, bn_momentum, bn_eps) for _ in slots)
        self.input_projections = nn.ModuleList(
            SlicedConvBnRelu(in_channels, width, 1, bn_momentum, bn_eps) for _ in slots
        )
        self.output_projection = SlicedConvBnRelu(in_channels, out_channels, 1, bn_momentum, bn_eps)

    def forward(self, x: torch.Tensor, plan: CellPlan, shared: SharedInput | None = None) -> torch.Tensor:
        """The cell's output; `shared` (a `SharedInput` of `x`) reuses what earlier cells computed from `x` alone."""
        if shared is not None and (shared.input is not x or self.training):
            raise ValueError("a SharedInput serves only the eval-mode cell position whose input it was made for")
        outputs = [x]
        for step in plan.steps:
            terms = [outputs[u][:, : step.channels] if truncate else outputs[u] for u, truncate in step.predecessors]
            if step.from_input:
                terms.append(_reused(shared, ("input", step.vertex, step.channels),
                                     lambda: self.input_projections[step.vertex - 1](x, step.channels)))
            if not step.predecessors:  # computed from x alone: the same in every cell with this vertex, op and width
                outputs.append(_reused(shared, ("vertex", step.vertex, step.op, step.channels),
                                       lambda: self.vertices[step.vertex - 1](terms[0], step.op, step.channels)))
                continue
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            outputs.append(self.vertices[step.vertex - 1](total, step.op, step.channels))
        def projection() -> torch.Tensor:
            return _reused(shared, ("output",), lambda: self.output_projection(x, self.out_channels))

        if not plan.output_vertices:
            return projection()
        concatenated = [outputs[v] for v in plan.output_vertices]
        result = concatenated[0] if len(concatenated) == 1 else torch.cat(concatenated, dim=1)
        if plan.input_to_output:
            result = result + projection()
        return result


class SharedInput:
    """What a cell position computes from its input alone (projections, vertices fed only by the input), kept for the
    next cells run on the same input: NO-FT runs every cell on the same stem outputs with the same statistics, so
    these are the same tensors cell after cell (the same operations on the same values: bit for bit).

    Holds at most `max_bytes`, dropping the least recently used. Nothing may write into a kept tensor in place.
    """

    def __init__(self, input: torch.Tensor, max_bytes: int):
        self.input, self.max_bytes = input, max_bytes
        self._kept: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        """How many tensors are kept."""
        return len(self._kept)

    def get(self, key: tuple, compute) -> torch.Tensor:
        """The tensor kept under `key`, or `compute()`, kept if it fits."""
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        value = compute()
        size = value.untyped_storage().nbytes()
        while self._kept and self._bytes + size > self.max_bytes:
            self._bytes -= self._kept.popitem(last=False)[1].untyped_storage().nbytes()
        if size <= self.max_bytes:
            self._kept[key] = value
            self._bytes += size
        return value


def _reused(shared: SharedInput | None, key: tuple, compute) -> torch.Tensor:
    return compute() if shared is None else shared.get(key, compute)


# ---------------------------------------------------------------------------------------------
# The super-net


class SuperNet(nn.Module):
    """Shared weights of all cells of one NB-101 sub-space; `supernet(images, cell)` runs one cell's network."""

    def __init__(
        self,
        space: str,
        single_kernel: bool = False,
        stem_channels: int = 16,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        num_labels: int = 10,
        bn_momentum: float = 0.003,
        bn_eps: float = 1e-5,
        second_bn_momentum: float | None = None,
    ):
        super().__init__()
        if space not in SPACES:
            raise UnknownSpaceError(space)
        if stem_channels < _min_stem_channels(space):
            raise ValueError(
                f"stem_channels={stem_channels} is too small for {space}: cells there have up to "
                f"{_min_stem_channels(space)} output-feeding vertices, each needing a channel; "
                f"use stem_channels >= {_min_stem_channels(space)}"
            )
        self.space, self.single_kernel = space, single_kernel
        self.stem_channels, self.num_stacks, self.cells_per_stack = stem_channels, num_stacks, cells_per_stack
        self.num_labels, self.bn_momentum, self.bn_eps = num_labels, bn_momentum, bn_eps

        self.stem = SlicedConvBnRelu(3, stem_channels, 3, bn_momentum, bn_eps)
        self.cells = nn.ModuleList()
        self.downsample_before: set[int] = set()  # indices of cells preceded by a 2×2 max-pool
        for position, (stack, in_channels, out_channels) in enumerate(cell_channels(stem_channels, num_stacks, cells_per_stack)):
            if stack > 0 and position == stack * cells_per_stack:  # a 2×2 max-pool before each stack but the first
                self.downsample_before.add(position)
            width = vertex_width(space, out_channels)
            self.cells.append(SuperCell(in_channels, out_channels, width, single_kernel, bn_momentum, bn_eps))
        self.classifier = nn.Linear(out_channels, num_labels)
        self._plans: OrderedDict[Cell, tuple[CellPlan, ...]] = OrderedDict()
        self.second_bn_momentum = second_bn_momentum
        if second_bn_momentum is not None:
            for norm in self.batch_norms():
                add_second_statistics(norm, second_bn_momentum)

    def batch_norms(self) -> list[nn.BatchNorm2d]:
        return [module for module in self.modules() if isinstance(module, nn.BatchNorm2d)]

    def swap_statistics(self) -> None:
        """Exchange every norm's running statistics with its second set (a second call swaps them back).

        NO-FT under the second momentum is NO-FT between two swaps (`wsnas.evaluate.second_statistics`).
        """
        if self.second_bn_momentum is None:
            raise ValueError("this super-net keeps no second BN statistics (set second_bn_momentum to keep them)")
        with torch.no_grad():
            for norm in self.batch_norms():
                for name in ("running_mean", "running_var"):
                    first, second = getattr(norm, name), getattr(norm, f"second_{name}")
                    kept = first.clone()
                    first.copy_(second)
                    second.copy_(kept)

    def set_batch_norm_folding(self, enabled: bool) -> None:
        """Fold batch norm into the convolutions in eval mode (default), or run it as a separate pass."""
        for module in self.modules():
            if isinstance(module, SlicedConvBnRelu):
                module.fold_batch_norm = enabled

    def plans(self, cell: Cell) -> tuple[CellPlan, ...]:
        """The cell's plan at every cell position (LRU-cached by cell; raises for a cell outside the space)."""
        if not isinstance(cell, Cell):
            raise TypeError(
                f"expected a wsnas.space.Cell, got {type(cell).__name__}: build one with Cell(adjacency, ops)"
            )
        plans = self._plans.get(cell)
        if plans is None:
            plans = self._build_plans(cell)
            self._plans[cell] = plans
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(cell)
        return plans

    def _build_plans(self, cell: Cell) -> tuple[CellPlan, ...]:
        pruned = cell.pruned()
        if self.space not in pruned.spaces():
            raise CellOutsideSpaceError(
                f"cell {cell.hash} is not in search space {self.space} (it is in {', '.join(pruned.spaces())}): "
                f"give this {self.space} super-net cells of {self.space}, e.g. from "
                f"wsnas.space.sample_cells({self.space!r}, ...)"
            )
        by_shape: dict[tuple[int, int], CellPlan] = {}
        for supercell in self.cells:
            shape = (supercell.in_channels, supercell.out_channels)
            if shape not in by_shape:
                by_shape[shape] = CellPlan.build(pruned, *shape)
        return tuple(by_shape[(c.in_channels, c.out_channels)] for c in self.cells)

    def forward(self, images: torch.Tensor, cell: Cell) -> torch.Tensor:
        return self.after_stem(self.stem(images, self.stem_channels), cell)

    def stem_convolution(self, images: torch.Tensor) -> torch.Tensor:
        """The stem's convolution alone: the same for every cell, so an evaluation computes it once."""
        return F.conv2d(images, self.stem.conv.weight, padding=1)

    def stem_activation(self, convolved: torch.Tensor) -> torch.Tensor:
        """The stem's output from `stem_convolution(images)`: its batch norm (with the current statistics), then ReLU."""
        return F.relu(sliced_batch_norm(self.stem.bn, convolved), inplace=not torch.is_grad_enabled())

    def from_stem_convolution(self, convolved: torch.Tensor, cell: Cell) -> torch.Tensor:
        """Logits of `cell` from `stem_convolution(images)` (the stem's batch norm and ReLU, then the cells)."""
        return self.after_stem(self.stem_activation(convolved), cell)

    def after_stem(self, x: torch.Tensor, cell: Cell, shared: SharedInput | None = None) -> torch.Tensor:
        """Logits of `cell` from the stem's output `x`; `shared` (a `SharedInput` of `x`) serves the first cell position."""
        plans = self.plans(cell)
        for index, (supercell, plan) in enumerate(zip(self.cells, plans)):
            if index in self.downsample_before:
                x = max_pool2x2(x)
            x = supercell(x, plan, shared if index == 0 else None)
        return self.classifier(torch.mean(x, (2, 3)))


# ---------------------------------------------------------------------------------------------
# Extraction


def _copy_conv_bn(target: nn.Module, source: SlicedConvBnRelu, in_channels: int, channels: int, kernel: int) -> None:
    """Load the slice of `source` a call uses into a nasbench_pytorch `ConvBnRelu`."""
    target.conv_bn_relu.load_state_dict(source.sliced_state(in_channels, channels, kernel))


def extract_network(supernet: SuperNet, cell: Cell) -> Network:
    """The standalone nasbench_pytorch Network of `cell` holding the weights (and BN statistics) the super-net uses.

    nasbench_pytorch passes `momentum` to PyTorch BN as is and builds the vertex ops with default
    BN settings; both are overwritten here with the super-net's (PyTorch-convention) values.
    """
    plans = supernet.plans(cell)
    pruned = cell.pruned()
    adjacency = np.asarray(pruned.adjacency, dtype=np.int64)
    network = Network(
        (adjacency, list(pruned.ops)),
        num_labels=supernet.num_labels,
        stem_out_channels=supernet.stem_channels,
        num_stacks=supernet.num_stacks,
        num_modules_per_stack=supernet.cells_per_stack,
        momentum=supernet.bn_momentum,
        eps=supernet.bn_eps,
    )
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum, module.eps = supernet.bn_momentum, supernet.bn_eps
    reference = next(supernet.parameters())
    network.to(device=reference.device, dtype=reference.dtype)

    with torch.no_grad():
        _copy_conv_bn(network.layers[0], supernet.stem, 3, supernet.stem_channels, 3)
        nb_cells = [network.layers[i] for i in sorted(network.cell_indices)]
        last = len(pruned.ops) - 1
        for nb_cell, supercell, plan in zip(nb_cells, supernet.cells, plans):
            if list(plan.channels) != list(nb_cell.vertex_channels):
                raise AssertionError(f"channel rule mismatch: {plan.channels} vs {nb_cell.vertex_channels}")
            for step in plan.steps:
                if step.op != MAXPOOL3X3:
                    vertex = supercell.vertices[step.vertex - 1]
                    kernel = 3 if step.op == CONV3X3 else 1
                    wrapper = nb_cell.vertex_op[step.vertex]
                    target = wrapper.conv3x3 if step.op == CONV3X3 else wrapper.conv1x1
                    _copy_conv_bn(target, vertex.op_module(step.op), step.channels, step.channels, kernel)
                if step.from_input:
                    projection = supercell.input_projections[step.vertex - 1]
                    _copy_conv_bn(nb_cell.input_op[step.vertex], projection, supercell.in_channels, step.channels, 1)
            if plan.input_to_output:
                _copy_conv_bn(nb_cell.input_op[last], supercell.output_projection, supercell.in_channels,
                              supercell.out_channels, 1)
        network.classifier.load_state_dict(supernet.classifier.state_dict())
    network.train(supernet.training)
    return network


def build_supernet(config: TrainConfig) -> SuperNet:
    """A freshly initialised super-net for `config`, seeded by `config.seed`, on `config.device`."""
    torch.manual_seed(config.seed)
    supernet = SuperNet(config.space, single_kernel=config.single_kernel, stem_channels=config.stem_channels,
                        num_stacks=config.num_stacks, cells_per_stack=config.cells_per_stack, num_labels=10,
                        bn_momentum=config.bn_momentum, bn_eps=config.bn_eps,
                        second_bn_momentum=config.second_bn_momentum or None)
    return supernet.to(config.device, memory_format=memory_format(config.memory_format))


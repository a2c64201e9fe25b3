"""The NAS-Bench-101 search space: cells, channels, parameters, the table of all cells, sub-spaces, samplers.

A cell is a DAG of at most 7 vertices (input, up to 5 operations, output) and at most 9 edges,
stored as an upper-triangular adjacency matrix (edge i→j at row i, column j, i < j) plus one
op name per vertex. As in NB-101, the limits apply to the pruned cell: a spec may carry extra
vertices and edges off every input→output path (NASLib and NB-101's `original_matrix` do).
Everything here follows the NAS-Bench-101 code bit for bit: pruning
(`model_spec.ModelSpec._prune`), the hash (`graph_util.hash_module`, in `wsnas.graph_hash`), the
channel rule (`model_builder.compute_vertex_channels`) and the enumeration order
(`generate_graphs.py`, in `wsnas.enumeration`).

The table of all 423,624 unique cells (`space_table()`) is stored in `data/nb101_space.parquet`
(built by `wsnas.enumeration.build_space_table`), one row per cell in sorted-hash order (the order
of the official dataset). Its columns:

- `hash`: the NB-101 module hash (32 lowercase hex characters);
- `num_vertices` (uint8) V, `num_edges` (uint8);
- `adjacency` (uint32): the V×V upper triangle in NB-101's generator bit order — edge x→y
  (x < y) is bit `x + y*(y-1)/2` — the same integer `generate_graphs.py` enumerates;
- `ops` (uint16): the op code (index into `OPS`) of interior vertex v (1 ≤ v ≤ V-2) in bits
  `2*(v-1)` and `2*(v-1)+1`;
- `output_in_degree` (uint8): non-input vertices feeding the output (k of the sub-space A_k);
- `input_output_edge` (bool): the input→output edge is present;
- `trainable_parameters` (int64): NB-101 parameter count at 128 stem channels.

The stored (adjacency, ops) of a hash is the representative NB-101 itself stores: the first
(adjacency bits, op labelling) pair met in `generate_graphs.py`'s enumeration order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from wsnas.datafiles import data_path
from wsnas.graph_hash import INPUT_LABEL, OUTPUT_LABEL, hash_graphs

OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
MAX_VERTICES = 7
MAX_EDGES = 9
SPACES: tuple[str, ...] = ("A0", "A1", "A2", "A3", "A4", "A0-res", "A0-nores")
PAPER_ORDER: tuple[str, ...] = ("A4", "A3", "A2", "A1", "A0", "A0-nores", "A0-res")  # rows of the paper's tables
# Each space is defined by two structural properties of the pruned cell; None means "any".
SPACE_RULES: dict[str, dict[str, int | bool | None]] = {
    "A0": {"output_in_degree": None, "input_output_edge": None},
    **{f"A{k}": {"output_in_degree": k, "input_output_edge": None} for k in range(1, 5)},
    "A0-res": {"output_in_degree": None, "input_output_edge": True},
    "A0-nores": {"output_in_degree": None, "input_output_edge": False},
}
SAMPLING_METHODS = ("uniform", "pro_rata")
TABLE_FILE = "nb101_space.parquet"
NUM_CELLS = 423_624

# Parameters of a conv-bn-relu op per output channel c: kernel² · c_in · c + 2c (BN gamma, beta).
_KERNEL_AREA = {0: 9, 1: 1}  # op code -> kernel area; maxpool (2) has no parameters


class InvalidCellError(ValueError):
    """A cell is not a valid NAS-Bench-101 cell."""


class UnknownSpaceError(ValueError):
    """A sub-space name is not one of `SPACES`."""

    def __init__(self, space: object):
        super().__init__(f"unknown search space {space!r}: choose one of {', '.join(SPACES)}")


class UnknownHashError(LookupError):
    """A hash is not one of the 423,624 NAS-Bench-101 cells."""


# ---------------------------------------------------------------------------------------------
# Cells


@dataclass(frozen=True, eq=False)
class Cell:
    """A NAS-Bench-101 cell: V×V upper-triangular 0/1 adjacency and V op names ("input" … "output")."""

    adjacency: np.ndarray
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        adjacency = _validated_adjacency(self.adjacency)
        ops = _validated_ops(self.ops, len(adjacency))
        from_input, to_output = _reaches(adjacency[None].astype(bool))
        if not from_input[0, -1]:
            raise InvalidCellError(
                "no path connects the input (vertex 0) to the output (last vertex): "
                "add an edge from the input, through operations, to the output"
            )
        _check_pruned_limits(adjacency, ops, np.flatnonzero(from_input[0] & to_output[0]))
        adjacency.setflags(write=False)
        object.__setattr__(self, "adjacency", adjacency)
        object.__setattr__(self, "ops", ops)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return self.ops == other.ops and np.array_equal(self.adjacency, other.adjacency)

    def __hash__(self) -> int:
        return hash((self.ops, self.adjacency.tobytes()))

    def __repr__(self) -> str:
        return f"Cell(adjacency={self.adjacency.tolist()}, ops={self.ops})"

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return int(self.adjacency.sum())

    @property
    def labels(self) -> tuple[int, ...]:
        """NB-101 hash labels: -1 input, op index in `OPS`, -2 output."""
        return (INPUT_LABEL, *(OPS.index(op) for op in self.ops[1:-1]), OUTPUT_LABEL)

    def pruned(self) -> Cell:
        """The cell without the vertices that are not on an input→output path (NB-101 pruning)."""
        from_input, to_output = _reaches(self.adjacency[None].astype(bool))
        keep = np.flatnonzero(from_input[0] & to_output[0])
        if len(keep) == self.num_vertices:
            return self
        adjacency = self.adjacency[np.ix_(keep, keep)]
        return Cell(adjacency, tuple(self.ops[v] for v in keep))

    @cached_property
    def hash(self) -> str:
        """The NB-101 module hash of the pruned cell (what `nasbench.api` queries with)."""
        cell = self.pruned()
        return str(hash_graphs(cell.adjacency[None], np.array([cell.labels]))[0])

    @property
    def output_in_degree(self) -> int:
        """Number of non-input vertices feeding the output (of this cell, as given)."""
        return int(self.adjacency[1:, -1].sum())

    @property
    def input_output_edge(self) -> bool:
        return bool(self.adjacency[0, -1])

    def spaces(self) -> list[str]:
        """The sub-spaces (names in `SPACES`) that the pruned cell belongs to."""
        cell = self.pruned()
        properties = {"output_in_degree": cell.output_in_degree, "input_output_edge": cell.input_output_edge}
        return [
            name for name, rule in SPACE_RULES.items()
            if all(wanted is None or properties[key] == wanted for key, wanted in rule.items())
        ]

    def to_dict(self) -> dict:
        return {"adjacency": self.adjacency.tolist(), "ops": list(self.ops)}

    @classmethod
    def from_dict(cls, d: dict) -> Cell:
        missing = {"adjacency", "ops"} - set(d)
        if missing:
            raise InvalidCellError(
                f"cell dict lacks {sorted(missing)}: give {{'adjacency': [[0/1, ...], ...], 'ops': [...]}}"
            )
        return cls(np.asarray(d["adjacency"]), tuple(d["ops"]))


def _validated_adjacency(adjacency: object) -> np.ndarray:
    try:
        matrix = np.asarray(adjacency)
    except ValueError as error:  # ragged nested lists
        raise InvalidCellError(f"adjacency must be a square V×V matrix: {error}") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InvalidCellError(f"adjacency must be a square V×V matrix, got shape {matrix.shape}")
    if not (np.issubdtype(matrix.dtype, np.number) or matrix.dtype == bool) or not np.isin(matrix, (0, 1)).all():
        raise InvalidCellError("adjacency entries must be 0 or 1 (1 = edge from row vertex to column vertex)")
    num_vertices = matrix.shape[0]
    if num_vertices < 2:
        raise InvalidCellError(f"{num_vertices} vertices: a cell needs at least an input and an output vertex")
    below = np.argwhere(np.tril(matrix) != 0)
    if len(below):
        raise InvalidCellError(
            f"adjacency must be strictly upper triangular, but has entries on or below the diagonal at "
            f"{[tuple(map(int, rc)) for rc in below]}: number the vertices in topological order and put "
            "edge i→j (i < j) at row i, column j"
        )
    return np.array(matrix, dtype=np.uint8)


def _check_pruned_limits(adjacency: np.ndarray, ops: tuple[str, ...], kept: np.ndarray) -> None:
    """NB-101's `_check_spec` on the pruned cell (the `kept` vertices): size, edges and op names.

    As in NB-101, vertices off every input→output path (and their edges and ops) are pruned
    first, so an unpruned spec with extra vertices or edges is valid when its pruned cell is.
    """
    if len(kept) > MAX_VERTICES:
        raise InvalidCellError(
            f"{len(kept)} vertices: NAS-Bench-101 cells have at most {MAX_VERTICES} (input, up to 5 "
            "operations, output; counted after pruning the vertices off every input→output path); remove vertices"
        )
    num_edges = int(adjacency[np.ix_(kept, kept)].sum())
    if num_edges > MAX_EDGES:
        raise InvalidCellError(
            f"{num_edges} edges: NAS-Bench-101 cells have at most {MAX_EDGES} (counted after pruning the "
            "vertices off every input→output path); remove edges"
        )
    unknown = [ops[v] for v in kept[1:-1] if ops[v] not in OPS]
    if unknown:
        raise InvalidCellError(f"unknown op(s) {unknown}: interior vertices take one of {list(OPS)}")


def _validated_ops(ops: Iterable[str], num_vertices: int) -> tuple[str, ...]:
    if isinstance(ops, str):
        raise InvalidCellError(f"ops must be a sequence of op names, got the string {ops!r}")
    ops = tuple(ops)
    if len(ops) != num_vertices:
        raise InvalidCellError(
            f"{len(ops)} ops for a {num_vertices}×{num_vertices} adjacency: give one op per vertex, "
            f"including {INPUT!r} first and {OUTPUT!r} last"
        )
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise InvalidCellError(f"ops must start with {INPUT!r} and end with {OUTPUT!r}, got {ops[0]!r} … {ops[-1]!r}")
    not_names = [op for op in ops if not isinstance(op, str)]
    if not_names:
        raise InvalidCellError(f"ops must be op names (strings), got {not_names[:3]}: use {list(OPS)}")
    return ops


def _reaches(adjacency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For N bool V×V DAGs in topological order: (reachable from input, reaches output), each N×V."""
    count, num_vertices = adjacency.shape[0], adjacency.shape[1]
    from_input = np.zeros((count, num_vertices), dtype=bool)
    to_output = np.zeros((count, num_vertices), dtype=bool)
    from_input[:, 0] = True
    to_output[:, -1] = True
    for v in range(1, num_vertices):
        from_input[:, v] = (from_input[:, :v] & adjacency[:, :v, v]).any(axis=1)
    for v in range(num_vertices - 2, -1, -1):
        to_output[:, v] = (to_output[:, v + 1 :] & adjacency[:, v, v + 1 :]).any(axis=1)
    return from_input, to_output


# ---------------------------------------------------------------------------------------------
# Channels and parameters


def _vertex_channels_batch(adjacency: np.ndarray, in_channels: int, out_channels: int) -> np.ndarray:
    """The NB-101 channel rule for N pruned cells of the same size V: N×V int64 channels."""
    adjacency = adjacency.astype(bool)
    count, num_vertices = adjacency.shape[0], adjacency.shape[1]
    channels = np.zeros((count, num_vertices), dtype=np.int64)
    channels[:, 0] = in_channels
    channels[:, -1] = out_channels
    if num_vertices == 2:
        return channels
    feeds_output = adjacency[:, 1:-1, -1]  # interior vertices 1..V-2
    num_feeding = feeds_output.sum(axis=1, keepdims=True)
    if (num_feeding == 0).any():
        raise ValueError("a cell has operations but none feeds the output: prune it first (Cell.pruned())")
    # The remainder out_channels % k goes, one channel each, to the first output-feeding vertices.
    rank_among_feeding = np.cumsum(feeds_output, axis=1) - 1
    share = out_channels // num_feeding + (rank_among_feeding < out_channels % num_feeding)
    channels[:, 1:-1] = np.where(feeds_output, share, 0)
    for v in range(num_vertices - 3, 0, -1):
        successors = np.where(adjacency[:, v, v + 1 : -1], channels[:, v + 1 : -1], 0).max(axis=1, initial=0)
        channels[:, v] = np.where(feeds_output[:, v - 1], channels[:, v], successors)
    if (channels[:, 1:-1] <= 0).any():
        raise ValueError("a vertex does not reach the output: prune the cell first (Cell.pruned())")
    return channels


def compute_vertex_channels(in_channels: int, out_channels: int, adjacency: np.ndarray) -> list[int]:
    """Channels of every vertex of a pruned cell (NB-101's `compute_vertex_channels`)."""
    matrix = np.asarray(adjacency)
    return [int(c) for c in _vertex_channels_batch(matrix[None], in_channels, out_channels)[0]]


def cell_channels(stem_channels: int, num_stacks: int, cells_per_stack: int) -> Iterator[tuple[int, int, int]]:
    """(stack, in_channels, out_channels) of each cell of the NB-101 network in order: the channels
    double at the first cell of every stack but the first."""
    in_channels = out_channels = stem_channels
    for stack in range(num_stacks):
        if stack > 0:
            out_channels *= 2
        for _ in range(cells_per_stack):
            yield stack, in_channels, out_channels
            in_channels = out_channels


def _cell_weights_batch(
    adjacency: np.ndarray, op_codes: np.ndarray, in_channels: int, out_channels: int, batch_norm: bool
) -> np.ndarray:
    """Convolution weights of one cell instance for N pruned cells of size V (op_codes N×(V-2)), plus
    with `batch_norm` the 2 BN parameters of each convolution's output channel: the cell's trainable
    parameters with it, its multiply-adds per output pixel without."""
    adjacency = adjacency.astype(bool)
    channels = _vertex_channels_batch(adjacency, in_channels, out_channels)[:, 1:-1]
    kernel_area = np.select([op_codes == 0, op_codes == 1], [_KERNEL_AREA[0], _KERNEL_AREA[1]], 0)
    per_channel = 2 * int(batch_norm)
    ops = np.where(op_codes == 2, 0, kernel_area * channels * channels + per_channel * channels)
    projections = np.where(adjacency[:, 0, 1:-1], in_channels * channels + per_channel * channels, 0)
    output_projection = np.where(adjacency[:, 0, -1], in_channels * out_channels + per_channel * out_channels, 0)
    return ops.sum(axis=1) + projections.sum(axis=1) + output_projection


def network_parameters_batch(adjacency: np.ndarray, op_codes: np.ndarray, stem_channels: int = 128, num_stacks: int = 3,
                             cells_per_stack: int = 3, num_labels: int = 10) -> np.ndarray:
    """NB-101 `trainable_parameters` of the whole network for N pruned cells of size V."""
    stem = 3 * 3 * 3 * stem_channels + 2 * stem_channels
    total = np.full(len(adjacency), stem, dtype=np.int64)
    for _, in_channels, out_channels in cell_channels(stem_channels, num_stacks, cells_per_stack):
        total += _cell_weights_batch(adjacency, op_codes, in_channels, out_channels, batch_norm=True)
    return total + out_channels * num_labels + num_labels


def trainable_parameters(
    cell: Cell, stem_channels: int = 128, num_stacks: int = 3, cells_per_stack: int = 3, num_labels: int = 10
) -> int:
    """NB-101 `trainable_parameters` of the network built from `cell` (pruned first)."""
    pruned = cell.pruned()
    op_codes = np.array([pruned.labels[1:-1]], dtype=np.int64)
    return int(
        network_parameters_batch(
            pruned.adjacency[None], op_codes, stem_channels, num_stacks, cells_per_stack, num_labels
        )[0]
    )


def network_flops_batch(adjacency: np.ndarray, op_codes: np.ndarray, stem_channels: int = 128, num_stacks: int = 3,
                        cells_per_stack: int = 3, num_labels: int = 10, image_size: int = 32) -> np.ndarray:
    """Multiply-adds of convolutions and classifier for one image, N pruned cells of size V (BN, ReLU, pooling, sums not counted)."""
    total = np.full(len(adjacency), 3 * 3 * 3 * stem_channels * image_size**2, dtype=np.int64)
    for stack, in_channels, out_channels in cell_channels(stem_channels, num_stacks, cells_per_stack):
        size = image_size // 2**stack
        total += _cell_weights_batch(adjacency, op_codes, in_channels, out_channels, batch_norm=False) * size**2
    return total + out_channels * num_labels


def network_flops(cell: Cell, stem_channels: int = 128, num_stacks: int = 3, cells_per_stack: int = 3) -> int:
    """Multiply-adds of the NB-101 network built from `cell` (pruned first) on one 32×32 image."""
    pruned = cell.pruned()
    op_codes = np.array([pruned.labels[1:-1]], dtype=np.int64)
    return int(network_flops_batch(pruned.adjacency[None], op_codes, stem_channels, num_stacks, cells_per_stack)[0])


@cache
def flops_of_all_cells() -> np.ndarray:
    """`network_flops` of every row of `space_table()` (NB-101 network, 128 stem channels), vectorised by vertex count."""
    table = space_table()
    flops = np.zeros(len(table), dtype=np.int64)
    vertices = table["num_vertices"].to_numpy()
    for num_vertices in np.unique(vertices):
        rows = np.flatnonzero(vertices == num_vertices)
        adjacency = adjacency_from_bits(table["adjacency"].to_numpy()[rows], int(num_vertices))
        op_codes = op_codes_from_packed(table["ops"].to_numpy()[rows], int(num_vertices)).astype(np.int64)
        flops[rows] = network_flops_batch(adjacency, op_codes)
    flops.setflags(write=False)
    return flops


# ---------------------------------------------------------------------------------------------
# The stored table's columns (the space table is built by wsnas.enumeration)

TABLE_COLUMNS = (
    "hash",
    "num_vertices",
    "adjacency",
    "ops",
    "num_edges",
    "output_in_degree",
    "input_output_edge",
    "trainable_parameters",
)


def edge_bit(source: int, target: int) -> int:
    """NB-101 generator bit of edge source→target (source < target): column-major over the upper triangle."""
    return source + target * (target - 1) // 2


def adjacency_from_bits(bits: np.ndarray, num_vertices: int) -> np.ndarray:
    """Decode NB-101 generator bitmasks (the table's `adjacency` column) into N×V×V uint8 matrices."""
    bits = np.asarray(bits, dtype=np.uint32)
    matrices = np.zeros((len(bits), num_vertices, num_vertices), dtype=np.uint8)
    for target in range(1, num_vertices):
        for source in range(target):
            matrices[:, source, target] = (bits >> edge_bit(source, target)) & 1
    return matrices


def op_codes_from_packed(packed: np.ndarray, num_vertices: int) -> np.ndarray:
    """Decode the table's `ops` column into N×(V-2) op codes (indices into `OPS`)."""
    packed = np.asarray(packed, dtype=np.uint16)
    shifts = 2 * np.arange(num_vertices - 2, dtype=np.uint16)
    return ((packed[:, None] >> shifts) & 3).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The stored table, sub-spaces, samplers


@cache
def space_table() -> pd.DataFrame:
    """All 423,624 cells, row i = the i-th hash in sorted order (checksum-verified from data/)."""
    table = pq.read_table(data_path(TABLE_FILE)).to_pandas()
    if len(table) != NUM_CELLS or list(table.columns) != list(TABLE_COLUMNS):
        raise RuntimeError(
            f"{TABLE_FILE} has {len(table)} rows and columns {list(table.columns)}; "
            "regenerate it with `python scripts/build_space_table.py`"
        )
    return table


@cache
def _sorted_hashes() -> np.ndarray:
    return space_table()["hash"].to_numpy().astype("S32")


@cache
def _space_mask(space: str) -> np.ndarray:
    table = space_table()
    mask = np.ones(len(table), dtype=bool)
    for column, wanted in SPACE_RULES[space].items():
        if wanted is not None:
            mask &= table[column].to_numpy() == wanted
    mask.setflags(write=False)
    return mask


def space_mask(space: str) -> np.ndarray:
    """Boolean mask over `space_table()` rows of the cells in `space` (read-only)."""
    if space not in SPACES:
        raise UnknownSpaceError(space)
    return _space_mask(space)


def space_sizes() -> dict[str, int]:
    """Number of cells in each sub-space."""
    return {space: int(space_mask(space).sum()) for space in SPACES}


def space_summary() -> pd.DataFrame:
    """Per space: number of cells, share of the whole space, share with the input→output edge, mean parameters."""
    table = space_table()
    rows = {}
    for name in SPACES:
        cells = table[space_mask(name)]
        rows[name] = {
            "cells": len(cells),
            "share of A0": len(cells) / len(table),
            "share with input→output edge": float(cells["input_output_edge"].mean()),
            "median parameters (128 ch.)": float(cells["trainable_parameters"].median()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def counts_by_vertices() -> pd.DataFrame:
    """Number of cells per space (rows) and number of vertices after pruning (columns)."""
    table = space_table()
    counts = {name: table.loc[space_mask(name), "num_vertices"].value_counts() for name in SPACES}
    frame = pd.DataFrame(counts).T.fillna(0).astype(int).sort_index(axis=1)
    frame.columns = [f"V={v}" for v in frame.columns]
    return frame


def cell_at(index: int) -> Cell:
    """The cell of `space_table()` row `index`."""
    table = space_table()
    if not 0 <= index < len(table):
        raise IndexError(f"cell index {index} out of range: the table has rows 0 … {len(table) - 1}")
    row = table.iloc[int(index)]
    num_vertices = int(row["num_vertices"])
    adjacency = adjacency_from_bits(np.array([row["adjacency"]]), num_vertices)[0]
    codes = op_codes_from_packed(np.array([row["ops"]]), num_vertices)[0]
    return Cell(adjacency, (INPUT, *(OPS[c] for c in codes), OUTPUT))


def cells_at(indices: Iterable[int]) -> list[Cell]:
    """The cells of several table rows."""
    return [cell_at(int(i)) for i in np.asarray(indices).ravel()]


def index_of(hashes: str | Iterable[str]) -> np.ndarray:
    """Table indices of NB-101 hashes (same shape as the input); UnknownHashError names unknown ones."""
    query = np.asarray(hashes, dtype=object) if not isinstance(hashes, np.ndarray) else hashes
    query = np.asarray(query).astype(str)
    if query.size and ((np.char.str_len(query) != 32).any() or not np.char.isalnum(query).all()):
        bad = query.ravel()[(np.char.str_len(query.ravel()) != 32) | ~np.char.isalnum(query.ravel())]
        raise UnknownHashError(f"not NB-101 hashes (32 hex characters): {bad[:5].tolist()}")
    table_hashes = _sorted_hashes()
    needles = np.char.lower(query).astype("S32")
    positions = np.searchsorted(table_hashes, needles.ravel()).clip(max=len(table_hashes) - 1)
    unknown = table_hashes[positions] != needles.ravel()
    if unknown.any():
        missing = query.ravel()[unknown]
        raise UnknownHashError(
            f"{unknown.sum()} hash(es) are not NB-101 cells, e.g. {missing[:5].tolist()}: "
            "hash pruned cells with Cell(...).hash"
        )
    return positions.reshape(query.shape)


def counts_of(hashes: Iterable[str]) -> dict[str, np.ndarray]:
    """The free counts of these cells (NB-101's network, stem 128): trainable parameters ("params") and
    multiply-adds per image ("flops"), as float arrays in the order of `hashes`."""
    indices = index_of(hashes)
    return {"params": space_table()["trainable_parameters"].to_numpy()[indices].astype(float),
            "flops": flops_of_all_cells()[indices].astype(float)}


def sample_cells(space: str, n: int, seed: int, method: str = "uniform") -> np.ndarray:
    """n table indices drawn with replacement from `space`: uniformly, or ∝ trainable parameters ("pro_rata")."""
    if method not in SAMPLING_METHODS:
        raise ValueError(f"unknown sampling method {method!r}: choose one of {', '.join(SAMPLING_METHODS)}")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    candidates = np.flatnonzero(space_mask(space))
    rng = np.random.default_rng(seed)
    if method == "uniform":
        return rng.choice(candidates, size=int(n), replace=True)
    weights = space_table()["trainable_parameters"].to_numpy()[candidates].astype(np.float64)
    return rng.choice(candidates, size=int(n), replace=True, p=weights / weights.sum())

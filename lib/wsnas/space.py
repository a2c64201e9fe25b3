"""The NAS-Bench-101 search space: cells, the module hash, channels, parameters, the table of all cells, sub-spaces, samplers.

A cell is a DAG of at most 7 vertices (input, up to 5 operations, output) and at most 9 edges,
stored as an upper-triangular adjacency matrix (edge i→j at row i, column j, i < j) plus one
op name per vertex. As in NB-101, the limits apply to the pruned cell: a spec may carry extra
vertices and edges off every input→output path (NASLib and NB-101's `original_matrix` do).
Everything here follows the NAS-Bench-101 code bit for bit: pruning
(`model_spec.ModelSpec._prune`), the hash (`graph_util.hash_module`), the channel rule
(`model_builder.compute_vertex_channels`) and the enumeration order (`generate_graphs.py`).

The table of all 423,624 unique cells (`space_table()`) is stored in `data/nb101_space.parquet`,
one row per cell in sorted-hash order (the order of the official dataset). Its columns:

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

import hashlib
import itertools
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Iterable

import numpy as np
import pandas as pd

OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
INPUT_LABEL, OUTPUT_LABEL = -1, -2  # NB-101 hash labels of the input and output vertices
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
# The NB-101 module hash, batched
#
# `graph_util.hash_module` gives every vertex md5(repr((out_degree, in_degree, label))), then V
# times replaces it by md5(sorted in-neighbour hashes + '|' + sorted out-neighbour hashes + '|' +
# own hash), and hashes repr(sorted vertex hashes). Here each round's hashes are interned as
# their rank among the round's distinct hashes (so sorting ranks sorts the hex strings), and md5
# runs once per distinct (in-neighbours, out-neighbours, own) key across the whole batch.

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _md5_rows(rows: np.ndarray) -> np.ndarray:
    """Raw md5 digest (16 bytes) of each row of a uint8 matrix."""
    width = rows.shape[1]
    buffer = memoryview(np.ascontiguousarray(rows)).cast("B")
    digests = b"".join([hashlib.md5(buffer[i : i + width]).digest() for i in range(0, len(buffer), width)])
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, 16)


def _hex(digests: np.ndarray) -> np.ndarray:
    """Raw digests (M×16 uint8) as lowercase hex ASCII (M×32 uint8)."""
    return np.stack([_HEX_DIGITS[digests >> 4], _HEX_DIGITS[digests & 15]], axis=2).reshape(-1, 32)


def _ascii(text: str, count: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (count, len(text)))


def _intern(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hex of the sorted distinct digests, rank of each input digest among them).

    Raw digests sort like their hex strings, so ranks order vertex hashes as `sorted()` does.
    """
    words = np.ascontiguousarray(digests).view(">u8").astype(np.uint64)  # M×2, big-endian words
    order = np.argsort(words[:, 0])
    if (np.diff(words[order, 0]) == 0).any():  # equal leading words (rare): sort on both words
        order = np.lexsort((words[:, 1], words[:, 0]))
    ordered = words[order]
    is_new = np.ones(len(order), dtype=bool)
    is_new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    ranks = np.empty(len(order), dtype=np.int32)
    ranks[order] = np.cumsum(is_new) - 1
    return _hex(digests[order[is_new]]), ranks


def _distinct_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(one row index per distinct row, index of each row's distinct row) for rows given as int columns.

    Rows are grouped by a 64-bit fingerprint (sorting 64-bit integers is far faster than sorting
    rows), then every row is checked against its group's representative; on a fingerprint
    collision the exact but slow row-wise `np.unique` is used instead.
    """
    fingerprint = np.zeros(len(columns[0]), dtype=np.uint64)
    for column in columns:
        fingerprint = _mix64(fingerprint ^ column.astype(np.uint64))
    _, representatives, inverse = np.unique(fingerprint, return_index=True, return_inverse=True)
    if all(np.array_equal(column, column[representatives][inverse]) for column in columns):
        return representatives, inverse
    _, representatives, inverse = np.unique(np.stack(columns, axis=1), axis=0, return_index=True, return_inverse=True)
    return representatives, inverse.ravel()


def _packed_pairs(columns: list[np.ndarray]) -> list[np.ndarray]:
    """Non-negative int32 columns packed two per uint64 (exact), to halve the work of `_distinct_rows`."""
    pairs = [(columns[j].astype(np.uint64) << np.uint64(32)) for j in range(0, len(columns), 2)]
    for j in range(1, len(columns), 2):
        pairs[j // 2] |= columns[j].astype(np.uint64)
    return pairs


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijective scramble of uint64 values."""
    values = values + np.uint64(0x9E3779B97F4A7C15)
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _neighbour_ranks(ranks: np.ndarray, edges: np.ndarray, sentinel: int) -> np.ndarray:
    """For each graph and vertex v, the sorted ranks of vertices w with edges[n, w, v], padded with `sentinel`."""
    candidates = np.where(edges, ranks[:, :, None], np.int32(sentinel))  # [n, w, v]
    return np.sort(candidates, axis=1).transpose(0, 2, 1)  # [n, v, sorted w]


def _round_digests(keys: np.ndarray, hex_table: np.ndarray, num_vertices: int, sentinel: int) -> np.ndarray:
    """md5 digest of in-hashes + '|' + out-hashes + '|' + own for each distinct round key."""
    num_in = (keys[:, :num_vertices] != sentinel).sum(axis=1)
    num_out = (keys[:, num_vertices : 2 * num_vertices] != sentinel).sum(axis=1)
    result = np.empty((len(keys), 16), dtype=np.uint8)
    group_of = num_in * (num_vertices + 1) + num_out
    for group in np.unique(group_of):
        members = np.flatnonzero(group_of == group)
        count_in, count_out = divmod(int(group), num_vertices + 1)
        block = keys[members]
        ins = hex_table[block[:, :count_in]].reshape(len(members), -1)
        outs = hex_table[block[:, num_vertices : num_vertices + count_out]].reshape(len(members), -1)
        own = hex_table[block[:, -1]]
        bar = _ascii("|", len(members))
        result[members] = _md5_rows(np.concatenate([ins, bar, outs, bar, own], axis=1))
    return result


def hash_graphs(adjacency: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """NB-101 `hash_module` of N graphs of the same size V: adjacency N×V×V (0/1), labels N×V -> N hashes (str)."""
    return _hash_graphs_ascii(adjacency, labels).astype("U32")


def _hash_graphs_ascii(adjacency: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`hash_graphs` as an N array of 32-byte ASCII strings (dtype S32)."""
    adjacency = np.asarray(adjacency).astype(bool)
    labels = np.asarray(labels, dtype=np.int64)
    count, num_vertices = labels.shape
    if adjacency.shape != (count, num_vertices, num_vertices) or num_vertices > MAX_VERTICES:
        raise ValueError(
            f"hash_graphs takes N×V×V adjacency and N×V labels with V ≤ {MAX_VERTICES}, "
            f"got shapes {adjacency.shape} and {labels.shape}"
        )
    if count == 0:
        return np.array([], dtype="S32")
    in_degree = adjacency.sum(axis=1)
    out_degree = adjacency.sum(axis=2)
    # Degrees are < 8 and labels in -2..2, so (out, in, label) packs into one small integer.
    packed = (out_degree * 8 + in_degree) * 8 + (labels + 2)
    initial_keys, initial_inverse = np.unique(packed.ravel(), return_inverse=True)
    out_in, label = np.divmod(initial_keys, 8)
    initial_digests = np.array(
        [
            list(hashlib.md5(str((int(o), int(i), int(l))).encode()).digest())
            for o, i, l in zip(*np.divmod(out_in, 8), label - 2)
        ],
        dtype=np.uint8,
    )
    hex_table, key_ranks = _intern(initial_digests)
    ranks = key_ranks[initial_inverse].reshape(count, num_vertices)
    sentinel = np.iinfo(np.int32).max
    for _ in range(num_vertices):
        ins = _neighbour_ranks(ranks, adjacency, sentinel).reshape(count * num_vertices, num_vertices)
        outs = _neighbour_ranks(ranks, adjacency.transpose(0, 2, 1), sentinel).reshape(count * num_vertices, -1)
        own = ranks.reshape(count * num_vertices, 1)
        representatives, inverse = _distinct_rows(_packed_pairs([*ins.T, *outs.T, *own.T]))
        distinct_keys = np.concatenate([ins[representatives], outs[representatives], own[representatives]], axis=1)
        hex_table, key_ranks = _intern(_round_digests(distinct_keys, hex_table, num_vertices, sentinel))
        ranks = key_ranks[inverse].reshape(count, num_vertices)
    return _fingerprints(np.sort(ranks, axis=1), hex_table)


def _fingerprints(sorted_ranks: np.ndarray, hex_table: np.ndarray) -> np.ndarray:
    """md5 of repr(sorted list of hex strings) for each row of sorted vertex-hash ranks."""
    representatives, inverse = _distinct_rows(list(sorted_ranks.T))
    distinct = sorted_ranks[representatives]
    count, num_vertices = distinct.shape
    quoted = np.concatenate(
        [
            _ascii("'", count * num_vertices).reshape(count, num_vertices, 1),
            hex_table[distinct],
            _ascii("'", count * num_vertices).reshape(count, num_vertices, 1),
            _ascii(", ", count * num_vertices).reshape(count, num_vertices, 2),
        ],
        axis=2,
    ).reshape(count, -1)[:, :-2]
    text = np.concatenate([_ascii("[", count), quoted, _ascii("]", count)], axis=1)
    return _hex(_md5_rows(text)).view("S32").ravel()[inverse]


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


def _cell_parameters_batch(
    adjacency: np.ndarray, op_codes: np.ndarray, in_channels: int, out_channels: int
) -> np.ndarray:
    """Trainable parameters of one cell instance for N pruned cells of size V (op_codes N×(V-2))."""
    adjacency = adjacency.astype(bool)
    channels = _vertex_channels_batch(adjacency, in_channels, out_channels)[:, 1:-1]
    kernel_area = np.select([op_codes == 0, op_codes == 1], [_KERNEL_AREA[0], _KERNEL_AREA[1]], 0)
    ops = np.where(op_codes == 2, 0, kernel_area * channels * channels + 2 * channels)
    projections = np.where(adjacency[:, 0, 1:-1], in_channels * channels + 2 * channels, 0)
    output_projection = np.where(adjacency[:, 0, -1], in_channels * out_channels + 2 * out_channels, 0)
    return ops.sum(axis=1) + projections.sum(axis=1) + output_projection


def _network_parameters_batch(
    adjacency: np.ndarray,
    op_codes: np.ndarray,
    stem_channels: int = 128,
    num_stacks: int = 3,
    cells_per_stack: int = 3,
    num_labels: int = 10,
) -> np.ndarray:
    """NB-101 `trainable_parameters` of the whole network for N pruned cells of size V."""
    stem = 3 * 3 * 3 * stem_channels + 2 * stem_channels
    total = np.full(len(adjacency), stem, dtype=np.int64)
    in_channels = out_channels = stem_channels
    for stack in range(num_stacks):
        if stack > 0:
            out_channels *= 2
        for _ in range(cells_per_stack):
            total += _cell_parameters_batch(adjacency, op_codes, in_channels, out_channels)
            in_channels = out_channels
    return total + out_channels * num_labels + num_labels


def trainable_parameters(
    cell: Cell, stem_channels: int = 128, num_stacks: int = 3, cells_per_stack: int = 3, num_labels: int = 10
) -> int:
    """NB-101 `trainable_parameters` of the network built from `cell` (pruned first)."""
    pruned = cell.pruned()
    op_codes = np.array([pruned.labels[1:-1]], dtype=np.int64)
    return int(
        _network_parameters_batch(
            pruned.adjacency[None], op_codes, stem_channels, num_stacks, cells_per_stack, num_labels
        )[0]
    )


# ---------------------------------------------------------------------------------------------
# Enumeration of the whole space (what NB-101's generate_graphs.py does, vectorised)

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


def _edge_bit(source: int, target: int) -> int:
    """NB-101 generator bit of edge source→target (source < target): column-major over the upper triangle."""
    return source + target * (target - 1) // 2


def _full_dag_bits(num_vertices: int, limit: int | None = None) -> np.ndarray:
    """Ascending adjacency bitmasks < limit of V-vertex DAGs with ≤ 9 edges where every vertex is on an input→output path."""
    num_bits = num_vertices * (num_vertices - 1) // 2
    stop = 2**num_bits if limit is None else min(limit, 2**num_bits)
    bits = np.arange(stop, dtype=np.uint32)
    keep = np.bitwise_count(bits) <= MAX_EDGES
    # Upper triangular, so "every vertex but the output has an out-edge and every vertex but the
    # input has an in-edge" is equivalent to "every vertex is on an input→output path".
    for v in range(num_vertices):
        row = sum(1 << _edge_bit(v, w) for w in range(v + 1, num_vertices))
        column = sum(1 << _edge_bit(u, v) for u in range(v))
        if v < num_vertices - 1:
            keep &= (bits & row) != 0
        if v > 0:
            keep &= (bits & column) != 0
    return bits[keep]


def adjacency_from_bits(bits: np.ndarray, num_vertices: int) -> np.ndarray:
    """Decode NB-101 generator bitmasks (the table's `adjacency` column) into N×V×V uint8 matrices."""
    bits = np.asarray(bits, dtype=np.uint32)
    matrices = np.zeros((len(bits), num_vertices, num_vertices), dtype=np.uint8)
    for target in range(1, num_vertices):
        for source in range(target):
            matrices[:, source, target] = (bits >> _edge_bit(source, target)) & 1
    return matrices


def op_codes_from_packed(packed: np.ndarray, num_vertices: int) -> np.ndarray:
    """Decode the table's `ops` column into N×(V-2) op codes (indices into `OPS`)."""
    packed = np.asarray(packed, dtype=np.uint16)
    shifts = 2 * np.arange(num_vertices - 2, dtype=np.uint16)
    return ((packed[:, None] >> shifts) & 3).astype(np.int64)


def _pack_op_codes(op_codes: np.ndarray) -> np.ndarray:
    shifts = 2 * np.arange(op_codes.shape[1], dtype=np.uint16)
    return (op_codes.astype(np.uint16) << shifts).sum(axis=1, dtype=np.uint16)


def _labellings(num_vertices: int) -> np.ndarray:
    """All op-code assignments of the V-2 interior vertices, in itertools.product order."""
    interior = num_vertices - 2
    return np.indices((len(OPS),) * interior).reshape(interior, -1).T if interior else np.zeros((1, 0), np.int64)


def enumerate_cells(num_vertices: int, adjacency_limit: int | None = None) -> pd.DataFrame:
    """All unique V-vertex cells (table columns, NB-101 representatives), unsorted.

    NB-101's generate_graphs.py hashes every labelled graph (bitmask ascending, then labellings
    in itertools.product order) and keeps the first of each hash. Hash-equal cells are exactly
    the isomorphic ones (NB-101 verified this), so here the first member of each isomorphism
    class is found by relabelling the interior vertices, and only those are hashed.
    With `adjacency_limit`, only the adjacency bitmasks below it are enumerated: the result is
    then exactly the table's V-vertex rows whose `adjacency` is below the limit.
    """
    bits = _full_dag_bits(num_vertices, adjacency_limit)
    labellings = _labellings(num_vertices)
    first = np.unique(_first_isomorphic_graph(bits, num_vertices))
    matrix_index, labelling_index = np.divmod(first, len(labellings))
    adjacency = adjacency_from_bits(bits[matrix_index], num_vertices)
    op_codes = labellings[labelling_index]
    labels = np.concatenate(
        [np.full((len(first), 1), INPUT_LABEL), op_codes, np.full((len(first), 1), OUTPUT_LABEL)], axis=1
    )
    hashes = _hash_graphs_ascii(adjacency, labels)
    if len(np.unique(hashes)) != len(hashes):
        raise RuntimeError("two non-isomorphic cells share an NB-101 hash: the enumeration cannot dedupe by isomorphism")
    return _table_rows(hashes, num_vertices, bits[matrix_index], op_codes)


def _first_isomorphic_graph(bits: np.ndarray, num_vertices: int) -> np.ndarray:
    """For every labelled graph (index = matrix index × 3^(V-2) + labelling index), the smallest index isomorphic to it."""
    labellings = _labellings(num_vertices)
    place_values = len(OPS) ** np.arange(num_vertices - 3, -1, -1)  # itertools.product: first vertex most significant
    matrices = adjacency_from_bits(bits, num_vertices).astype(bool)
    upper = np.triu(np.ones((num_vertices, num_vertices), dtype=bool), k=1)
    first = np.arange(len(bits) * len(labellings)).reshape(len(bits), len(labellings))
    for interior in itertools.permutations(range(1, num_vertices - 1)):
        order = np.array([0, *interior, num_vertices - 1])  # new vertex i is old vertex order[i]
        permuted = matrices[:, order][:, :, order]
        stays_upper = ~(permuted & ~upper).any(axis=(1, 2))
        permuted_bits = _bits_from_adjacency(permuted)
        position = np.searchsorted(bits, permuted_bits).clip(max=len(bits) - 1)
        valid = stays_upper & (bits[position] == permuted_bits)
        permuted_labelling = labellings[:, order[1:-1] - 1] @ place_values
        candidate = position[:, None] * len(labellings) + permuted_labelling[None, :]
        first = np.where(valid[:, None], np.minimum(first, candidate), first)
    return first.ravel()


def _bits_from_adjacency(matrices: np.ndarray) -> np.ndarray:
    """Inverse of `adjacency_from_bits` (entries below the diagonal are ignored)."""
    num_vertices = matrices.shape[1]
    bits = np.zeros(len(matrices), dtype=np.uint32)
    for target in range(1, num_vertices):
        for source in range(target):
            bits |= matrices[:, source, target].astype(np.uint32) << np.uint32(_edge_bit(source, target))
    return bits


def _table_rows(hashes: np.ndarray, num_vertices: int, bits: np.ndarray, op_codes: np.ndarray) -> pd.DataFrame:
    adjacency = adjacency_from_bits(bits, num_vertices)
    return pd.DataFrame(
        {
            "hash": hashes.astype("U32"),
            "num_vertices": np.full(len(bits), num_vertices, dtype=np.uint8),
            "adjacency": bits.astype(np.uint32),
            "ops": _pack_op_codes(op_codes),
            "num_edges": np.bitwise_count(bits).astype(np.uint8),
            "output_in_degree": adjacency[:, 1:, -1].sum(axis=1).astype(np.uint8),
            "input_output_edge": adjacency[:, 0, -1].astype(bool),
            "trainable_parameters": _network_parameters_batch(adjacency, op_codes),
        }
    )


def build_space_table(progress: bool = False) -> pd.DataFrame:
    """Enumerate the whole space from scratch: all 423,624 cells in sorted-hash order."""
    from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

    vertex_counts = range(2, MAX_VERTICES + 1)
    parts = [enumerate_cells(v) for v in tqdm(vertex_counts, desc="vertices", disable=not progress)]
    table = pd.concat(parts, ignore_index=True).sort_values("hash", kind="stable", ignore_index=True)
    if len(table) != NUM_CELLS or table["hash"].duplicated().any():
        raise RuntimeError(f"enumeration found {len(table)} cells, expected {NUM_CELLS} distinct hashes")
    return table


# ---------------------------------------------------------------------------------------------
# The stored table, sub-spaces, samplers


@cache
def space_table() -> pd.DataFrame:
    """All 423,624 cells, row i = the i-th hash in sorted order (checksum-verified from data/)."""
    import pyarrow.parquet as pq

    from wsnas.datafiles import data_path

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

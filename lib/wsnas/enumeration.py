"""All 423,624 NAS-Bench-101 cells, enumerated as NB-101's `generate_graphs.py` does, vectorised.

`build_space_table()` builds from scratch the table that `wsnas.space.space_table()` reads from
`data/nb101_space.parquet` (`scripts/build_space_table.py` writes it): one row per unique cell in
sorted-hash order, each row the representative NB-101 itself stores (the first (adjacency bits,
op labelling) pair met in the generator's order). The columns are described in `wsnas.space`.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from wsnas.graph_hash import INPUT_LABEL, OUTPUT_LABEL, hash_graphs_ascii
from wsnas.space import (
    MAX_EDGES,
    MAX_VERTICES,
    NUM_CELLS,
    OPS,
    adjacency_from_bits,
    edge_bit,
    network_parameters_batch,
)


def full_dag_bits(num_vertices: int, limit: int | None = None) -> np.ndarray:
    """Ascending adjacency bitmasks < limit of V-vertex DAGs with ≤ 9 edges where every vertex is on an input→output path."""
    num_bits = num_vertices * (num_vertices - 1) // 2
    stop = 2**num_bits if limit is None else min(limit, 2**num_bits)
    bits = np.arange(stop, dtype=np.uint32)
    keep = np.bitwise_count(bits) <= MAX_EDGES
    # Upper triangular, so "every vertex but the output has an out-edge and every vertex but the
    # input has an in-edge" is equivalent to "every vertex is on an input→output path".
    for v in range(num_vertices):
        row = sum(1 << edge_bit(v, w) for w in range(v + 1, num_vertices))
        column = sum(1 << edge_bit(u, v) for u in range(v))
        if v < num_vertices - 1:
            keep &= (bits & row) != 0
        if v > 0:
            keep &= (bits & column) != 0
    return bits[keep]


def _pack_op_codes(op_codes: np.ndarray) -> np.ndarray:
    shifts = 2 * np.arange(op_codes.shape[1], dtype=np.uint16)
    return (op_codes.astype(np.uint16) << shifts).sum(axis=1, dtype=np.uint16)


def all_labellings(num_vertices: int) -> np.ndarray:
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
    bits = full_dag_bits(num_vertices, adjacency_limit)
    labellings = all_labellings(num_vertices)
    first = np.unique(first_isomorphic_graph(bits, num_vertices))
    matrix_index, labelling_index = np.divmod(first, len(labellings))
    adjacency = adjacency_from_bits(bits[matrix_index], num_vertices)
    op_codes = labellings[labelling_index]
    labels = np.concatenate(
        [np.full((len(first), 1), INPUT_LABEL), op_codes, np.full((len(first), 1), OUTPUT_LABEL)], axis=1
    )
    hashes = hash_graphs_ascii(adjacency, labels)
    if len(np.unique(hashes)) != len(hashes):
        raise RuntimeError("two non-isomorphic cells share an NB-101 hash: the enumeration cannot dedupe by isomorphism")
    return _table_rows(hashes, num_vertices, bits[matrix_index], op_codes)


def first_isomorphic_graph(bits: np.ndarray, num_vertices: int) -> np.ndarray:
    """For every labelled graph (index = matrix index × 3^(V-2) + labelling index), the smallest index isomorphic to it."""
    labellings = all_labellings(num_vertices)
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
            bits |= matrices[:, source, target].astype(np.uint32) << np.uint32(edge_bit(source, target))
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
            "trainable_parameters": network_parameters_batch(adjacency, op_codes),
        }
    )


def build_space_table(progress: bool = False) -> pd.DataFrame:
    """Enumerate the whole space from scratch: all 423,624 cells in sorted-hash order."""
    vertex_counts = range(2, MAX_VERTICES + 1)
    parts = [enumerate_cells(v) for v in tqdm(vertex_counts, desc="vertices", disable=not progress)]
    table = pd.concat(parts, ignore_index=True).sort_values("hash", kind="stable", ignore_index=True)
    if len(table) != NUM_CELLS or table["hash"].duplicated().any():
        raise RuntimeError(f"enumeration found {len(table)} cells, expected {NUM_CELLS} distinct hashes")
    return table

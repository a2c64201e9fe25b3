"""The NAS-Bench-101 module hash of labelled DAGs, batched (NB-101's `graph_util.hash_module`, bit for bit).

`hash_module` gives every vertex md5(repr((out_degree, in_degree, label))), then V times replaces
it by md5(sorted in-neighbour hashes + '|' + sorted out-neighbour hashes + '|' + own hash), and
hashes repr(sorted vertex hashes). Here each round's hashes are interned as their rank among the
round's distinct hashes (so sorting ranks sorts the hex strings), and md5 runs once per distinct
(in-neighbours, out-neighbours, own) key across the whole batch.

Labels: the input vertex is `INPUT_LABEL` (-1), the output `OUTPUT_LABEL` (-2), an operation
vertex the index of its op in `wsnas.space.OPS` (0, 1, 2). A cell is pruned before it is hashed
(`wsnas.space.Cell.hash`); the functions here hash the graphs they are given.
"""

from __future__ import annotations

import hashlib

import numpy as np

INPUT_LABEL, OUTPUT_LABEL = -1, -2  # NB-101 hash labels of the input and output vertices
LABEL_BASE = 8  # labels - OUTPUT_LABEL pack into 3 bits: labels lie in -2..5

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
    return hash_graphs_ascii(adjacency, labels).astype("U32")


def hash_graphs_ascii(adjacency: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`hash_graphs` as an N array of 32-byte ASCII strings (dtype S32)."""
    adjacency = np.asarray(adjacency).astype(bool)
    labels = np.asarray(labels, dtype=np.int64)
    count, num_vertices = labels.shape
    if adjacency.shape != (count, num_vertices, num_vertices):
        raise ValueError(
            f"hash_graphs takes N×V×V adjacency and N×V labels, got shapes {adjacency.shape} and {labels.shape}"
        )
    if labels.size and not (labels.min() >= OUTPUT_LABEL and labels.max() < OUTPUT_LABEL + LABEL_BASE):
        raise ValueError(f"labels must lie in {OUTPUT_LABEL}..{OUTPUT_LABEL + LABEL_BASE - 1}, got {labels.min()}..{labels.max()}")
    if count == 0:
        return np.array([], dtype="S32")
    in_degree = adjacency.sum(axis=1)
    out_degree = adjacency.sum(axis=2)
    # Degrees are < V and labels + 2 < LABEL_BASE, so (out, in, label) packs into one integer.
    packed = (out_degree * num_vertices + in_degree) * LABEL_BASE + (labels - OUTPUT_LABEL)
    initial_keys, initial_inverse = np.unique(packed.ravel(), return_inverse=True)
    out_in, label = np.divmod(initial_keys, LABEL_BASE)
    initial_digests = np.array(
        [
            list(hashlib.md5(str((int(out), int(into), int(own))).encode()).digest())
            for out, into, own in zip(*np.divmod(out_in, num_vertices), label + OUTPUT_LABEL)
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

"""Tests of wsnas.space: cells, the NB-101 hash, channels, parameters, the table, sub-spaces, samplers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nasbench_pytorch.model import graph_util
from nasbench_pytorch.model.model import compute_vertex_channels as reference_vertex_channels

from wsnas import safe_pickle
from wsnas.datafiles import data_path, manifest
from wsnas.enumeration import all_labellings, enumerate_cells, first_isomorphic_graph, full_dag_bits
from wsnas.graph_hash import hash_graphs
from wsnas.space import (
    OPS,
    SPACES,
    Cell,
    InvalidCellError,
    UnknownHashError,
    UnknownSpaceError,
    adjacency_from_bits,
    cell_at,
    compute_vertex_channels,
    index_of,
    op_codes_from_packed,
    sample_cells,
    space_mask,
    space_sizes,
    space_table,
    trainable_parameters,
)

CONV3, CONV1, POOL = OPS
# input -> conv3 -> output, plus input -> output
SMALL = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
# input -> each of 5 operations -> output: 10 edges
TEN_EDGES = np.zeros((7, 7), dtype=int)
TEN_EDGES[0, 1:6] = TEN_EDGES[1:6, 6] = 1


@pytest.fixture(scope="module")
def fixture_cells() -> dict:
    """The 30 real NB-101 cells of NASLib's test pickle: hash -> (fixed stats, computed stats)."""
    return safe_pickle.load(data_path("naslib_nb101_dummy.pkl"))


def fixture_cell(fixed: dict) -> Cell:
    return Cell(fixed["module_adjacency"], tuple(fixed["module_operations"]))


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "adjacency, ops, message",
    [
        (np.zeros((2, 3)), ("input", "output"), "square"),
        (np.zeros(3), ("input", CONV3, "output"), "square"),
        ([[0, 1], [0]], ("input", "output"), "square"),
        ([[0, 1, 0], [1, 0, 1], [0, 0, 0]], ("input", CONV3, "output"), "upper triangular"),
        ([[1, 1, 0], [0, 0, 1], [0, 0, 0]], ("input", CONV3, "output"), "upper triangular"),
        (np.triu(np.ones((8, 8)), 1), ("input", *[CONV3] * 6, "output"), "at most 7"),
        (TEN_EDGES, ("input", *[CONV3] * 5, "output"), "10 edges: NAS-Bench-101 cells have at most 9"),
        (SMALL, ("input", "conv5x5", "output"), "unknown op"),
        (SMALL, (CONV3, CONV3, "output"), "start with 'input'"),
        (SMALL, ("input", CONV3, CONV3), "end with 'output'"),
        (SMALL, ("input", "output"), "one op per vertex"),
        (SMALL, "input,conv,output", "sequence of op names"),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ("input", CONV3, "output"), "no path connects the input"),
        ([[0, 2, 0], [0, 0, 1], [0, 0, 0]], ("input", CONV3, "output"), "0 or 1"),
        ([[0, 0.5, 0], [0, 0, 1], [0, 0, 0]], ("input", CONV3, "output"), "0 or 1"),
        ([["a"]], ("input",), "0 or 1"),
        ([[0]], ("input",), "at least an input and an output"),
    ],
)
def test_invalid_cells_raise_with_a_message_naming_the_problem(adjacency, ops, message):
    with pytest.raises(InvalidCellError, match=message):
        Cell(adjacency, ops)


def test_cells_compare_and_hash_by_value():
    first = Cell(SMALL, ("input", CONV3, "output"))
    same = Cell(SMALL.astype(bool).tolist(), ["input", CONV3, "output"])
    other = Cell(SMALL, ("input", POOL, "output"))
    assert first == same and hash(first) == hash(same)
    assert first != other
    assert len({first, same, other}) == 2
    assert not first.adjacency.flags.writeable
    assert (first.num_vertices, first.num_edges) == (3, 3)


def test_dict_round_trip_and_missing_keys():
    cell = Cell(SMALL, ("input", CONV1, "output"))
    assert Cell.from_dict(cell.to_dict()) == cell
    assert cell.to_dict() == {"adjacency": SMALL.tolist(), "ops": ["input", CONV1, "output"]}
    with pytest.raises(InvalidCellError, match="lacks \\['ops'\\]"):
        Cell.from_dict({"adjacency": SMALL.tolist()})


# --- pruning and the hash ---------------------------------------------------------------------


def test_pruning_drops_vertices_off_every_input_output_path():
    # vertex 1 is not reachable from the input, vertex 3 does not reach the output.
    adjacency = np.zeros((5, 5), dtype=int)
    adjacency[1, 2] = adjacency[0, 2] = adjacency[2, 4] = adjacency[0, 3] = 1
    cell = Cell(adjacency, ("input", POOL, CONV3, CONV1, "output"))
    pruned = cell.pruned()
    assert pruned == Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ("input", CONV3, "output"))
    assert cell.hash == pruned.hash
    assert pruned.pruned() is pruned


def test_pruning_to_the_input_output_cell():
    adjacency = np.zeros((4, 4), dtype=int)
    adjacency[0, 3] = adjacency[1, 2] = 1
    cell = Cell(adjacency, ("input", CONV3, CONV3, "output"))
    assert cell.pruned() == Cell([[0, 1], [0, 0]], ("input", "output"))
    assert cell.spaces() == ["A0", "A0-res"]


def test_hash_matches_the_fixture_and_hash_module(fixture_cells):
    for expected, (fixed, _) in fixture_cells.items():
        cell = fixture_cell(fixed)
        assert cell.hash == expected
        assert graph_util.hash_module(cell.adjacency, list(cell.labels)) == expected


def test_batched_hash_matches_hash_module_on_labelled_graphs():
    rng = np.random.default_rng(0)
    for num_vertices in (2, 3, 4, 5, 6, 7):
        bits = full_dag_bits(num_vertices)
        chosen = rng.choice(len(bits), size=min(60, len(bits)), replace=True)
        adjacency = adjacency_from_bits(bits[chosen], num_vertices)
        labels = np.full((len(chosen), num_vertices), -2)
        labels[:, 0] = -1
        labels[:, 1:-1] = rng.integers(0, 3, size=(len(chosen), num_vertices - 2))
        expected = [graph_util.hash_module(a, list(map(int, row))) for a, row in zip(adjacency, labels)]
        assert hash_graphs(adjacency, labels).tolist() == expected


@st.composite
def relabelled_cells(draw):
    """A table cell and a copy with its interior vertices renumbered in another topological order."""
    cell = cell_at(draw(st.integers(0, len(space_table()) - 1)))
    matrix, size = cell.adjacency, cell.num_vertices
    order, placed = [0], {0}
    while len(order) < size - 1:
        ready = [v for v in range(1, size - 1) if v not in placed and all(u in placed for u in np.flatnonzero(matrix[:, v]))]
        order.append(draw(st.sampled_from(ready)))
        placed.add(order[-1])
    order.append(size - 1)
    relabelled = Cell(matrix[np.ix_(order, order)], tuple(cell.ops[v] for v in order))
    return cell, relabelled


@settings(max_examples=60, deadline=None)
@given(relabelled_cells())
def test_hash_is_invariant_under_relabelling_of_interior_vertices(pair):
    cell, relabelled = pair
    assert relabelled.hash == cell.hash
    assert graph_util.hash_module(relabelled.adjacency, list(relabelled.labels)) == cell.hash


# --- channels and parameters ------------------------------------------------------------------


def test_vertex_channels_match_nasbench_pytorch(fixture_cells):
    cells = [fixture_cell(fixed) for fixed, _ in fixture_cells.values()]
    cells += [cell_at(i) for i in np.random.default_rng(1).choice(len(space_table()), 100)]
    for cell in cells:
        for in_channels, out_channels in [(128, 128), (128, 256), (256, 512), (16, 7), (3, 5)]:
            expected = reference_vertex_channels(in_channels, out_channels, cell.adjacency)
            assert compute_vertex_channels(in_channels, out_channels, cell.adjacency) == expected


def test_vertex_channels_refuse_unpruned_cells():
    adjacency = np.array([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="prune"):
        compute_vertex_channels(128, 128, adjacency)


def test_trainable_parameters_match_the_fixture(fixture_cells):
    for fixed, _ in fixture_cells.values():
        assert trainable_parameters(fixture_cell(fixed)) == fixed["trainable_parameters"]


def test_trainable_parameters_of_the_smallest_cell():
    # stem conv+BN, 9 cells of one 1×1 projection+BN, classifier.
    stem = 27 * 128 + 256
    cells = 3 * (128 * 128 + 256) + (128 * 256 + 512) + 2 * (256 * 256 + 512) + (256 * 512 + 1024) + 2 * (512 * 512 + 1024)
    assert trainable_parameters(Cell([[0, 1], [0, 0]], ("input", "output"))) == stem + cells + 5130


# --- the table --------------------------------------------------------------------------------


def test_table_sizes_order_and_spaces():
    table = space_table()
    assert table.groupby("num_vertices").size().to_dict() == {2: 1, 3: 6, 4: 84, 5: 2441, 6: 62010, 7: 359082}
    assert table["hash"].is_monotonic_increasing and table["hash"].is_unique
    assert space_sizes() == {
        "A0": 423624,
        "A1": 120933,
        "A2": 201441,
        "A3": 90782,
        "A4": 10467,
        "A0-res": 81020,
        "A0-nores": 342604,
    }
    k_spaces = np.sum([space_mask(f"A{k}") for k in range(1, 5)], axis=0)
    assert k_spaces.sum() == len(table) - 1 and k_spaces.max() == 1
    assert (space_mask("A0-res") ^ space_mask("A0-nores")).all()


def test_table_rows_describe_their_cells():
    table = space_table()
    for index in np.random.default_rng(2).choice(len(table), 40, replace=False):
        cell, row = cell_at(index), table.iloc[index]
        assert cell.hash == row["hash"] and cell.pruned() is cell
        assert (cell.num_edges, cell.output_in_degree, cell.input_output_edge) == (
            row["num_edges"],
            row["output_in_degree"],
            row["input_output_edge"],
        )
        assert trainable_parameters(cell) == row["trainable_parameters"]
        assert [s for s in SPACES if space_mask(s)[index]] == cell.spaces()


def test_table_holds_the_fixture_cells_as_nb101_stores_them(fixture_cells):
    indices = index_of(list(fixture_cells))
    for index, (fixed, _) in zip(indices, fixture_cells.values()):
        assert cell_at(index) == fixture_cell(fixed)


def test_rebuilt_slice_equals_the_cached_table():
    table = space_table()
    limit = 20_000  # about the first fifth of the 6-vertex bitmasks, 18,588 cells
    rebuilt = pd.concat([enumerate_cells(v) for v in (2, 3, 4, 5)] + [enumerate_cells(6, adjacency_limit=limit)])
    rebuilt = rebuilt.sort_values("hash", ignore_index=True)
    expected = table[(table["num_vertices"] <= 5) | ((table["num_vertices"] == 6) & (table["adjacency"] < limit))]
    assert len(rebuilt) == 2532 + 18588
    pd.testing.assert_frame_equal(rebuilt, expected.reset_index(drop=True), check_dtype=True)


def test_isomorphism_dedupe_equals_hashing_every_labelled_graph():
    # What generate_graphs.py does: hash all labelled graphs, keep the first of each hash.
    num_vertices = 5
    bits = full_dag_bits(num_vertices)
    labelled = all_labellings(num_vertices)
    adjacency = np.repeat(adjacency_from_bits(bits, num_vertices), len(labelled), axis=0)
    labels = np.concatenate(
        [np.full((len(adjacency), 1), -1), np.tile(labelled, (len(bits), 1)), np.full((len(adjacency), 1), -2)],
        axis=1,
    )
    hashes = hash_graphs(adjacency, labels)
    _, first_by_hash, hash_class = np.unique(hashes, return_index=True, return_inverse=True)
    first_by_isomorphism = first_isomorphic_graph(bits, num_vertices)
    assert np.array_equal(first_by_hash[hash_class], first_by_isomorphism)


def test_packed_columns_round_trip():
    table = space_table()
    rows = table[table["num_vertices"] == 7].iloc[:50]
    codes = op_codes_from_packed(rows["ops"].to_numpy(), 7)
    assert codes.shape == (50, 5) and set(np.unique(codes)) <= {0, 1, 2}
    assert (adjacency_from_bits(rows["adjacency"].to_numpy(), 7).sum(axis=(1, 2)) == rows["num_edges"]).all()


# --- lookups, sub-spaces, samplers ------------------------------------------------------------


def test_index_of_round_trips_and_names_unknown_hashes():
    table = space_table()
    indices = np.array([[0, 17], [423623, 99999]])
    assert np.array_equal(index_of(table["hash"].to_numpy()[indices]), indices)
    assert int(index_of(table["hash"].iloc[5].upper())) == 5
    with pytest.raises(UnknownHashError, match="0123456789abcdef0123456789abcdef"):
        index_of(["0123456789abcdef0123456789abcdef", table["hash"].iloc[0]])
    with pytest.raises(UnknownHashError, match="32 hex"):
        index_of([table["hash"].iloc[0] + "0"])


def test_unknown_space_names_the_valid_ones():
    with pytest.raises(UnknownSpaceError, match="A0-nores"):
        space_mask("A5")
    with pytest.raises(UnknownSpaceError, match="A1"):
        sample_cells("all", 3, seed=0)


def test_samplers_are_reproducible_and_stay_in_the_space():
    for method in ("uniform", "pro_rata"):
        draws = sample_cells("A3", 1000, seed=4, method=method)
        assert np.array_equal(draws, sample_cells("A3", 1000, seed=4, method=method))
        assert not np.array_equal(draws, sample_cells("A3", 1000, seed=5, method=method))
        assert space_mask("A3")[draws].all() and draws.dtype.kind == "i"
    with pytest.raises(ValueError, match="uniform, pro_rata"):
        sample_cells("A3", 3, seed=0, method="softmax")


def test_uniform_draws_cover_the_space_evenly():
    draws = sample_cells("A0", 200_000, seed=0)
    residual = space_table()["input_output_edge"].to_numpy()
    assert residual[draws].mean() == pytest.approx(81020 / 423624, abs=0.005)


def test_pro_rata_draws_follow_the_parameter_count():
    parameters = space_table()["trainable_parameters"].to_numpy().astype(float)
    candidates = np.flatnonzero(space_mask("A4"))
    draws = sample_cells("A4", 200_000, seed=0, method="pro_rata")
    weights = parameters[candidates]
    size_biased_mean = (weights**2).sum() / weights.sum()
    assert parameters[draws].mean() == pytest.approx(size_biased_mean, rel=0.01)
    assert parameters[sample_cells("A4", 200_000, seed=0)].mean() == pytest.approx(weights.mean(), rel=0.01)
    counts = np.bincount(np.searchsorted(candidates, draws), minlength=len(candidates))
    assert np.corrcoef(counts, weights)[0, 1] > 0.5


@pytest.mark.slow
def test_parameters_equal_nb101_for_every_released_cell():
    """The table's parameter column against NB-101's for every cell with released metrics."""
    if "nb101_metrics.parquet" not in manifest():
        pytest.skip("data/nb101_metrics.parquet is not in data/MANIFEST yet (written by wsnas.nb101's build script)")
    metrics = pd.read_parquet(data_path("nb101_metrics.parquet"), columns=["hash", "trainable_parameters"])
    metrics = metrics.drop_duplicates("hash")
    table = space_table()
    assert np.array_equal(
        table["trainable_parameters"].to_numpy()[index_of(metrics["hash"].to_numpy())],
        metrics["trainable_parameters"].to_numpy(),
    )

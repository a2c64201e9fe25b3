"""NB-101 semantics: a spec is pruned first and the limits (≤ 7 vertices, ≤ 9 edges) apply to the pruned cell.

Tools of the field store unpruned specs (NASLib's flat encoding, NB-101's `original_matrix`);
here such specs are built from the space table by padding each cell with extraneous vertices
and edges, encoded as NASLib does, and loaded back.
"""

import json

import numpy as np
import pytest

from wsnas import nasbench_api, space
from wsnas.cli import main
from wsnas.space import OPS, Cell, InvalidCellError

CONV3, CONV1, POOL = OPS
NUM_SPECS = 500


def padded_with_extraneous_vertices(cell: Cell, rng: np.random.Generator, size: int = 7) -> tuple[np.ndarray, list[str]]:
    """`cell` as a size-vertex spec whose extra vertices are off every input→output path, with many extra edges.

    Each extra vertex is a dead end (edges in from anywhere reachable from the input, none to a
    vertex that reaches the output) or a dangling source (edges out to anywhere, none in from a
    vertex reachable from the input); dead ends never feed sources, so all stay extraneous.
    """
    slots = np.sort(rng.choice(np.arange(1, size - 1), cell.num_vertices - 2, replace=False))
    position = np.array([0, *slots, size - 1])
    matrix = np.zeros((size, size), dtype=np.int8)
    matrix[np.ix_(position, position)] = cell.adjacency
    ops = [space.INPUT, *rng.choice(OPS, size - 2).tolist(), space.OUTPUT]
    for old, new in enumerate(position):
        ops[new] = cell.ops[old]
    kind = {int(v): rng.choice(["dead end", "source"]) for v in set(range(1, size - 1)) - set(position.tolist())}
    for source in range(size):
        for target in range(source + 1, size):
            tail, head = kind.get(source, "kept"), kind.get(target, "kept")
            allowed = (head == "dead end" and tail in ("kept", "dead end", "source")) or (
                tail == "source" and head in ("kept", "source"))
            if allowed and rng.random() < 0.7:
                matrix[source, target] = 1
    return matrix, ops


@pytest.fixture(scope="module")
def naslib_specs() -> list[tuple[tuple[int, ...], int]]:
    """500 (NASLib encoding of a padded spec, table row of its cell) pairs, from cells of 3 to 6 vertices."""
    rng = np.random.default_rng(2020)
    table = space.space_table()
    candidates = np.flatnonzero(table["num_vertices"].between(3, 6).to_numpy())
    rows = rng.choice(candidates, NUM_SPECS, replace=False)
    specs = []
    for row in rows:
        matrix, ops = padded_with_extraneous_vertices(space.cell_at(int(row)), rng)
        encoding = tuple(matrix.ravel().tolist()) + tuple(nasbench_api.NASLIB_OPS.index(op) for op in ops)
        specs.append((encoding, int(row)))
    return specs


def test_naslib_encoded_specs_with_extraneous_vertices_load_and_hash_to_their_cell(naslib_specs) -> None:
    table = space.space_table()
    over_limit = 0
    for encoding, row in naslib_specs:
        assert len(encoding) == 49 + 7
        spec = nasbench_api.spec_from_naslib(encoding)
        over_limit += int(np.sum(spec.original_matrix)) > space.MAX_EDGES
        cell = Cell(spec.original_matrix, tuple(spec.original_ops))  # the unpruned spec loads
        assert cell.num_vertices == 7
        assert cell.hash == table["hash"].iloc[row]
        assert space.trainable_parameters(cell) == table["trainable_parameters"].iloc[row]
        assert cell.pruned() == space.cell_at(row) or cell.pruned().hash == table["hash"].iloc[row]
        assert nasbench_api.naslib_encoding(spec) == encoding
    # Most of these specs have more than 9 edges before pruning: the old rule rejected them.
    assert over_limit > NUM_SPECS // 2, over_limit


def test_wsnas_cell_accepts_an_unpruned_spec_with_more_than_nine_edges(naslib_specs, capsys) -> None:
    table = space.space_table()
    encoding, row = next((e, r) for e, r in naslib_specs if sum(e[:49]) > 9)
    spec = nasbench_api.spec_from_naslib(encoding)
    cell_json = json.dumps({"adjacency": spec.original_matrix.tolist(), "ops": spec.original_ops})
    assert main(["cell", "--json", cell_json]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["hash"] == table["hash"].iloc[row]
    assert printed["trainable_parameters"] == table["trainable_parameters"].iloc[row]
    assert len(printed["ops"]) == table["num_vertices"].iloc[row]  # the pruned cell is printed


def test_the_limits_apply_after_pruning() -> None:
    # input → 1 → output, plus dead ends 2..7 fed by the input and by each other: 9 vertices, 17 edges.
    matrix = np.zeros((9, 9), dtype=int)
    matrix[0, 1] = matrix[1, 8] = 1
    for target in range(2, 8):
        matrix[0, target] = 1
        matrix[target - 1, target] = 1
    matrix[0, 3] = matrix[1, 2] = 1
    assert (matrix.sum(), len(matrix)) == (14, 9)
    cell = Cell(matrix, ("input", CONV3, *[POOL] * 6, "output"))
    assert cell.pruned() == Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ("input", CONV3, "output"))


def ten_edges_and_a_dead_end() -> np.ndarray:
    """input → 4 interior vertices → output densely (10 edges), plus vertex 5, a dead end fed by the input."""
    matrix = np.zeros((7, 7), dtype=int)
    kept = [0, 1, 2, 3, 4, 6]
    for i, source in enumerate(kept):
        for target in kept[i + 1 :]:
            matrix[source, target] = 1
    matrix[0, 5] = 1
    keep_ten = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4), (3, 6), (4, 6), (0, 6)]
    mask = np.zeros_like(matrix)
    for source, target in keep_ten:
        mask[source, target] = 1
    mask[0, 5] = 1
    return matrix * mask


def test_a_spec_invalid_after_pruning_is_still_a_clear_error() -> None:
    matrix = ten_edges_and_a_dead_end()
    assert matrix.sum() == 11
    with pytest.raises(InvalidCellError, match="10 edges: NAS-Bench-101 cells have at most 9 .*after pruning"):
        Cell(matrix, ("input", CONV3, CONV3, CONV1, POOL, CONV3, "output"))
    eight = np.triu(np.ones((9, 9), dtype=int), 1)
    eight[:, 7] = eight[7, :] = 0  # vertex 7 is extraneous; 8 vertices remain on paths
    with pytest.raises(InvalidCellError, match="8 vertices: NAS-Bench-101 cells have at most 7"):
        Cell(eight, ("input", *[CONV3] * 7, "output"))
    disconnected = np.zeros((4, 4), dtype=int)
    disconnected[0, 1] = disconnected[2, 3] = 1
    with pytest.raises(InvalidCellError, match="no path connects the input"):
        Cell(disconnected, ("input", CONV3, CONV3, "output"))


def test_ops_are_checked_on_the_pruned_cell_as_in_nb101() -> None:
    matrix = np.zeros((4, 4), dtype=int)
    matrix[0, 1] = matrix[1, 3] = matrix[0, 2] = 1  # vertex 2 is a dead end
    assert Cell(matrix, ("input", CONV3, "conv5x5", "output")).pruned().ops == ("input", CONV3, "output")
    with pytest.raises(InvalidCellError, match="unknown op"):
        Cell(matrix, ("input", "conv5x5", CONV3, "output"))
    spec = nasbench_api.ModelSpec(matrix, ["input", CONV3, "conv5x5", "output"])
    assert spec.ops == ["input", CONV3, "output"] and spec.original_ops[2] == "conv5x5"

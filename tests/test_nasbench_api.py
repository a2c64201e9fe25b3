"""wsnas.nasbench_api answers NB-101's README and tutorial calls as written (import and path changed)."""

import copy
import random
from pathlib import Path

import numpy as np
import pytest

from wsnas import nasbench_api as api
from wsnas import safe_pickle, space
from wsnas.datafiles import data_path
from wsnas.nb101 import NB101
from wsnas.tfrecord import read_records, record_metrics

# The tutorial's constants, as written there.
INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
NUM_VERTICES = 7
MAX_EDGES = 9
EDGE_SPOTS = NUM_VERTICES * (NUM_VERTICES - 1) / 2
OP_SPOTS = NUM_VERTICES - 2
ALLOWED_OPS = [CONV3X3, CONV1X1, MAXPOOL3X3]
ALLOWED_EDGES = [0, 1]

README_MATRIX = [[0, 1, 1, 1, 0, 1, 0],    # input layer
                 [0, 0, 0, 0, 0, 0, 1],    # 1x1 conv
                 [0, 0, 0, 0, 0, 0, 1],    # 3x3 conv
                 [0, 0, 0, 0, 1, 0, 0],    # 5x5 conv (replaced by two 3x3's)
                 [0, 0, 0, 0, 0, 0, 1],    # 5x5 conv (replaced by two 3x3's)
                 [0, 0, 0, 0, 0, 0, 1],    # 3x3 max-pool
                 [0, 0, 0, 0, 0, 0, 0]]    # output layer
README_OPS = [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT]
RECORD_HASH = "00005c142e6f48ac74fdcf73e3439874"


@pytest.fixture(autouse=True)
def empty_cache(tmp_path: Path, monkeypatch) -> Path:
    """No imported full table: NASBench() answers from the embedded tables; file imports go here."""
    monkeypatch.setenv("WSNAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def naslib_cells() -> dict:
    return safe_pickle.load(data_path("naslib_nb101_dummy.pkl"))


def test_readme_example_as_written() -> None:
    nasbench = api.NASBench(seed=0)
    cell = api.ModelSpec(matrix=README_MATRIX, ops=README_OPS)
    data = nasbench.query(cell)
    assert list(data) == ["module_adjacency", "module_operations", "trainable_parameters", "training_time",
                          "train_accuracy", "validation_accuracy", "test_accuracy"]
    # NB-101's tutorial prints this stored module (the pruned, isomorphic representative) and these numbers.
    assert data["module_adjacency"].tolist() == [[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
                                                 [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
                                                 [0, 0, 0, 0, 0, 0, 0]]
    assert data["module_adjacency"].dtype == np.int8
    assert data["module_operations"] == ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3",
                                         "conv3x3-bn-relu", "conv3x3-bn-relu", "output"]
    assert data["trainable_parameters"] == 2694282
    _, computed = nasbench.get_metrics_from_spec(cell)
    repeat = random.Random(0).randint(0, 2)  # NB-101 draws with random.seed(seed); randint(0, 2)
    assert data["validation_accuracy"] == computed[108][repeat]["final_validation_accuracy"]
    tutorial_repeat = computed[108][0]  # the repeat the tutorial's printout shows
    assert (tutorial_repeat["final_training_time"], tutorial_repeat["final_train_accuracy"],
            tutorial_repeat["final_validation_accuracy"], tutorial_repeat["final_test_accuracy"]) == (
        1155.85302734375, 1.0, 0.9376001358032227, 0.9311898946762085)


def test_queries_are_seeded_and_draw_every_repeat() -> None:
    cell = api.ModelSpec(matrix=README_MATRIX, ops=README_OPS)
    first, second, other = api.NASBench(seed=7), api.NASBench(seed=7), api.NASBench(seed=8)
    draws = [first.query(cell)["validation_accuracy"] for _ in range(30)]
    assert draws == [second.query(cell)["validation_accuracy"] for _ in range(30)]
    assert draws != [other.query(cell)["validation_accuracy"] for _ in range(30)]
    _, computed = first.get_metrics_from_spec(cell)
    values = [repeat["final_validation_accuracy"] for repeat in computed[108]]
    generator = random.Random(7)
    assert draws == [values[generator.randint(0, 2)] for _ in range(30)]
    assert set(draws) == set(values)


def test_budget_counters() -> None:
    nasbench = api.NASBench(seed=1)
    cell = api.ModelSpec(matrix=README_MATRIX, ops=README_OPS)
    assert nasbench.get_budget_counters() == (0.0, 0)
    full = nasbench.query(cell)
    half = nasbench.query(cell, stop_halfway=True)
    _, computed = nasbench.get_metrics_from_spec(cell)  # analysis calls do not count
    assert nasbench.is_valid(cell)
    assert half["training_time"] in [repeat["halfway_training_time"] for repeat in computed[108]]
    assert half["validation_accuracy"] in [repeat["halfway_validation_accuracy"] for repeat in computed[108]]
    assert nasbench.get_budget_counters() == (full["training_time"] + half["training_time"], 108 + 54)
    nasbench.reset_budget_counters()
    assert nasbench.get_budget_counters() == (0.0, 0)
    with pytest.raises(api.OutOfDomainError, match="must be one of \\{108\\}.*nasbench_full"):
        nasbench.query(cell, epochs=36)
    assert nasbench.get_budget_counters() == (0.0, 0)


def test_tutorial_random_and_mutated_specs() -> None:
    """The tutorial's `random_spec` and `mutate_spec`, as written, with seeded generators."""
    nasbench = api.NASBench(seed=0)
    np.random.seed(0)
    random.seed(0)

    def random_spec():
        """Returns a random valid spec."""
        while True:
            matrix = np.random.choice(ALLOWED_EDGES, size=(NUM_VERTICES, NUM_VERTICES))
            matrix = np.triu(matrix, 1)
            ops = np.random.choice(ALLOWED_OPS, size=(NUM_VERTICES)).tolist()
            ops[0] = INPUT
            ops[-1] = OUTPUT
            spec = api.ModelSpec(matrix=matrix, ops=ops)
            if nasbench.is_valid(spec):
                return spec

    def mutate_spec(old_spec, mutation_rate=1.0):
        """Computes a valid mutated spec from the old_spec."""
        while True:
            new_matrix = copy.deepcopy(old_spec.original_matrix)
            new_ops = copy.deepcopy(old_spec.original_ops)
            edge_mutation_prob = mutation_rate / NUM_VERTICES
            for src in range(NUM_VERTICES - 1):
                for dst in range(src + 1, NUM_VERTICES):
                    if random.random() < edge_mutation_prob:
                        new_matrix[src, dst] = 1 - new_matrix[src, dst]
            op_mutation_prob = mutation_rate / OP_SPOTS
            for ind in range(1, NUM_VERTICES - 1):
                if random.random() < op_mutation_prob:
                    available = [o for o in nasbench.config['available_ops'] if o != new_ops[ind]]
                    new_ops[ind] = random.choice(available)
            new_spec = api.ModelSpec(new_matrix, new_ops)
            if nasbench.is_valid(new_spec):
                return new_spec

    table_hashes = set(nasbench.hash_iterator())
    specs = [random_spec() for _ in range(20)]
    specs += [mutate_spec(spec) for spec in specs]
    for spec in specs:
        assert spec.hash_spec(nasbench.config["available_ops"]) in table_hashes
        assert int(np.sum(spec.matrix)) <= MAX_EDGES and len(spec.ops) <= NUM_VERTICES
        cell = space.Cell(spec.original_matrix, tuple(spec.original_ops))  # wsnas reads the same spec
        assert cell.hash == spec.hash_spec(ALLOWED_OPS)
    assert any(np.sum(spec.original_matrix) > MAX_EDGES for spec in specs)  # unpruned specs over the limit, valid


def test_unknown_metrics_raise_with_the_import_command_and_are_never_made_up() -> None:
    nasbench = api.NASBench(seed=0)
    tables = NB101.load()
    known = set(tables.known_hashes())
    unknown_hash = next(h for h in nasbench.hash_iterator() if h not in known)
    fixed, computed = nasbench.get_metrics_from_hash(unknown_hash)
    row = space.index_of([unknown_hash])[0]
    assert fixed["trainable_parameters"] == space.space_table()["trainable_parameters"].iloc[row]
    assert computed[108][0]["final_test_accuracy"] == tables.query_hash(unknown_hash)["test_accuracy_run0"]
    with pytest.raises(api.MetricsUnavailableError, match="wsnas nb101 import"):
        computed[108][0]["final_validation_accuracy"]
    with pytest.raises(api.MetricsUnavailableError, match="wsnas nb101 import"):
        computed[108][1]["final_test_accuracy"]
    spec = api.ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
    with pytest.raises(api.MetricsUnavailableError, match="not in the embedded NB-101 tables"):
        nasbench.query(spec)


def test_hashes_and_parameters_match_the_30_naslib_cells(naslib_cells) -> None:
    nasbench = api.NASBench()
    known = set(NB101.load().known_hashes())
    matched = 0
    for module_hash, (fixed, computed) in naslib_cells.items():
        spec = api.ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
        assert spec.hash_spec(nasbench.config["available_ops"]) == module_hash
        ours_fixed, ours_computed = nasbench.get_metrics_from_spec(spec)
        assert ours_fixed["trainable_parameters"] == fixed["trainable_parameters"]
        assert ours_fixed["module_adjacency"].tolist() == np.asarray(fixed["module_adjacency"]).tolist()
        assert ours_fixed["module_operations"] == list(fixed["module_operations"])
        assert ours_computed[108][0]["final_test_accuracy"] == computed[108][0]["final_test_accuracy"]
        if module_hash in known:
            assert ours_computed[108] == computed[108]
            matched += 1
        else:
            with pytest.raises(api.MetricsUnavailableError):
                ours_computed[108][0]["final_validation_accuracy"]
    assert matched == 9  # the NASLib cells that are in the authors' released evaluations


def test_hash_iterator_is_the_whole_space_in_the_official_order() -> None:
    hashes = api.NASBench().hash_iterator()
    assert len(hashes) == space.NUM_CELLS
    assert list(hashes) == space.space_table()["hash"].tolist()
    assert RECORD_HASH in hashes
    with pytest.raises(KeyError, match="not the hash of a NAS-Bench-101 cell"):
        api.NASBench().get_metrics_from_hash("0" * 32)


def test_out_of_domain_specs() -> None:
    nasbench = api.NASBench()
    disconnected = api.ModelSpec([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
    assert not disconnected.valid_spec and disconnected.matrix is None and disconnected.ops is None
    assert not nasbench.is_valid(disconnected)
    with pytest.raises(api.OutOfDomainError, match="disconnected"):
        nasbench.query(disconnected)
    ten = np.zeros((7, 7), dtype=int)
    ten[0, 1:6] = ten[1:6, 6] = 1
    with pytest.raises(api.OutOfDomainError, match="too many edges, got 10"):
        nasbench.get_metrics_from_spec(api.ModelSpec(ten, [INPUT, *[CONV3X3] * 5, OUTPUT]))
    eight = np.eye(8, k=1, dtype=int)  # a chain of 8 vertices, 7 edges
    with pytest.raises(api.OutOfDomainError, match="too many vertices, got 8"):
        nasbench.query(api.ModelSpec(eight, [INPUT, *[CONV3X3] * 6, OUTPUT]))
    odd_op = api.ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5", OUTPUT])  # accepted here
    assert not nasbench.is_valid(odd_op)
    with pytest.raises(api.OutOfDomainError, match="unsupported op conv5x5"):
        nasbench.query(odd_op)
    with pytest.raises(ValueError, match="square"):
        api.ModelSpec([[0, 1]], [INPUT, OUTPUT])
    with pytest.raises(ValueError, match="upper triangular"):
        api.ModelSpec([[0, 1], [1, 0]], [INPUT, OUTPUT])
    with pytest.raises(ValueError, match="length of ops"):
        api.ModelSpec([[0, 1], [0, 0]], [INPUT, CONV3X3, OUTPUT])
    assert api.is_upper_triangular(np.array([[0, 1], [0, 0]])) and not api.is_upper_triangular(np.eye(2))
    assert nasbench.get_budget_counters() == (0.0, 0)


def test_the_official_file_is_read_once_and_cached(empty_cache: Path) -> None:
    path = data_path("nasbench_full_one_record.tfrecord")
    (record,) = list(read_records(path))
    nasbench = api.NASBench(str(path), seed=0)
    assert nasbench.valid_epochs == {4}  # this record is a 4-epoch one of nasbench_full.tfrecord
    assert list(nasbench.hash_iterator()) == [RECORD_HASH]
    fixed, computed = nasbench.get_metrics_from_hash(RECORD_HASH)
    assert computed == {4: [record_metrics(record)]}
    assert fixed["trainable_parameters"] == record.metrics.trainable_parameters
    row = space.index_of([RECORD_HASH])[0]
    assert fixed["trainable_parameters"] == space.space_table()["trainable_parameters"].iloc[row]
    spec = api.ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
    assert spec.hash_spec(nasbench.config["available_ops"]) == RECORD_HASH
    data = nasbench.query(spec, epochs=4)
    assert data["test_accuracy"] == record.metrics.evaluation_data[2].test_accuracy
    assert nasbench.get_budget_counters() == (record.metrics.evaluation_data[2].training_time, 4)
    with pytest.raises(api.OutOfDomainError, match="must be one of \\{4\\}"):
        nasbench.query(spec)  # 108 epochs: not in this file
    (cached,) = (empty_cache / "nasbench_api").glob("*.parquet")
    stamp = cached.stat().st_mtime_ns
    again_fixed, again_computed = api.NASBench(path).get_metrics_from_hash(RECORD_HASH)
    assert again_computed == computed and again_fixed["trainable_parameters"] == fixed["trainable_parameters"]
    assert cached.stat().st_mtime_ns == stamp and len(list(cached.parent.iterdir())) == 1


def test_naslib_encoding_round_trip_and_errors() -> None:
    spec = api.ModelSpec(README_MATRIX, README_OPS)
    encoding = api.naslib_encoding(spec)
    assert len(encoding) == 56 and encoding[-7:] == (0, 3, 4, 4, 4, 2, 1)
    again = api.spec_from_naslib(encoding)
    assert again.original_ops == README_OPS and again.original_matrix.tolist() == README_MATRIX
    with pytest.raises(ValueError, match="V·V \\+ V entries"):
        api.spec_from_naslib(encoding[:-1])
    with pytest.raises(ValueError, match="op codes are 0..4"):
        api.spec_from_naslib(encoding[:-1] + (7,))


def test_evaluate_says_what_to_use_instead() -> None:
    with pytest.raises(NotImplementedError, match="nasbench_pytorch"):
        api.NASBench().evaluate(api.ModelSpec(README_MATRIX, README_OPS), "/tmp/unused")

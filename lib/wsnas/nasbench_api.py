"""A TensorFlow-free drop-in for NAS-Bench-101's `nasbench.api`, on wsnas's tables or an official file.

Code written for NB-101 runs unchanged but for the import and the dataset path::

    from wsnas import nasbench_api as api
    nasbench = api.NASBench()                      # the embedded tables (or an imported full table)
    nasbench = api.NASBench("nasbench_only108.tfrecord")   # an official file, read once and cached

`ModelSpec`, `OutOfDomainError`, `is_upper_triangular` and the `NASBench` methods (`query`,
`is_valid`, `get_metrics_from_hash`, `get_metrics_from_spec`, `hash_iterator`,
`get_budget_counters`, `reset_budget_counters`, `valid_epochs`, `config`) keep NB-101's names,
arguments, return keys and behaviour: specs are pruned at construction, the limits apply to the
pruned spec, each query draws one of the repeats with a generator seeded by `seed` (the same
draws as NB-101's `random.seed(seed)`; the global `random` module is left alone), and queries
add their training time and epochs to the budget counters.

Without a dataset file, `NASBench()` answers from `wsnas.nb101`: the full table imported with
`wsnas nb101 import` when there is one, else the embedded tables, which hold every metric of
151,644 cells (those in the authors' released evaluations) and, for the other cells of the
423,624, only the run-0 final test accuracy. Asking for a metric the tables do not hold raises
`MetricsUnavailableError`, which says how to import the official file; no value is made up.
Those tables hold 108-epoch results only, so `valid_epochs` is {108}. With an official file,
every record is read (NB-101's own semantics: `valid_epochs` are the epoch budgets the file
holds, repeats in file order) and cached as parquet under the user cache directory.
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Iterable, KeysView
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wsnas import space
from wsnas.datafiles import atomic_path, user_cache_dir
from wsnas.graph_hash import hash_graphs
from wsnas.nb101 import EPOCHS, NB101, REPEATS
from wsnas.tfrecord import METRICS, read_records, record_metrics

INPUT, OUTPUT = space.INPUT, space.OUTPUT
CONV3X3, CONV1X1, MAXPOOL3X3 = space.OPS
# NASLib's op codes of a flattened spec (`naslib.search_spaces.nasbench101.conversions.all_ops`).
NASLIB_OPS: tuple[str, ...] = (INPUT, OUTPUT, MAXPOOL3X3, CONV1X1, CONV3X3)
IMPORT_HINT = (
    "download nasbench_only108.tfrecord (or nasbench_full.tfrecord for 4, 12 and 36 epochs) from "
    "https://github.com/google-research/nasbench and run `wsnas nb101 import nasbench_only108.tfrecord` "
    "(then NASBench() has every metric), or pass the file: NASBench('nasbench_only108.tfrecord')"
)
_FIXED_KEYS = ("module_adjacency", "module_operations", "trainable_parameters")
_QUERY_KEYS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")


class OutOfDomainError(Exception):
    """The requested graph (or number of epochs) is outside the NAS-Bench-101 space."""


class MetricsUnavailableError(LookupError):
    """A metric of a valid cell is not in the tables at hand (the message says how to import it)."""


def is_upper_triangular(matrix: np.ndarray) -> bool:
    """True if `matrix` is 0 on the diagonal and below."""
    return not np.tril(np.asarray(matrix)).any()


class ModelSpec:
    """A cell as NB-101's `ModelSpec`: V×V adjacency and V op labels, pruned at construction.

    Any op labels are accepted here; `NASBench.is_valid` checks them. `matrix`/`ops` are the
    pruned spec (None when the input does not reach the output: `valid_spec` is then False),
    `original_matrix`/`original_ops` copies of what was given.
    """

    def __init__(self, matrix: Any, ops: list[str], data_format: str = "channels_last"):
        if not isinstance(matrix, np.ndarray):
            matrix = np.array(matrix)
        shape = np.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"matrix must be square, got shape {shape}")
        if shape[0] != len(ops):
            raise ValueError(f"length of ops ({len(ops)}) must match matrix dimensions ({shape[0]})")
        if not is_upper_triangular(matrix):
            raise ValueError("matrix must be upper triangular (edge i→j at row i, column j, i < j)")
        self.original_matrix = copy.deepcopy(matrix)
        self.original_ops = copy.deepcopy(ops)
        self.matrix: np.ndarray | None = copy.deepcopy(matrix)
        self.ops: list[str] | None = list(copy.deepcopy(ops))
        self.valid_spec = True
        self.data_format = data_format
        self._prune()

    def _prune(self) -> None:
        """Drop the vertices that are not on an input→output path (NB-101's `_prune`)."""
        kept = _on_input_output_paths(np.asarray(self.original_matrix) != 0)
        if len(kept) < 2:  # the input does not reach the output
            self.matrix, self.ops, self.valid_spec = None, None, False
            return
        self.matrix = np.asarray(self.matrix)[np.ix_(kept, kept)]
        self.ops = [self.ops[v] for v in kept]

    def hash_spec(self, canonical_ops: list[str]) -> str:
        """NB-101's module hash of the pruned spec, op labels numbered by their index in `canonical_ops`."""
        if not self.valid_spec:
            raise ValueError("invalid spec (the input does not reach the output): it has no hash")
        labeling = [-1] + [list(canonical_ops).index(op) for op in self.ops[1:-1]] + [-2]
        return str(hash_graphs(np.asarray(self.matrix)[None], np.array([labeling]))[0])

    def __repr__(self) -> str:
        return f"ModelSpec(matrix={np.asarray(self.original_matrix).tolist()}, ops={list(self.original_ops)})"


def _on_input_output_paths(edges: np.ndarray) -> np.ndarray:
    """Indices of the vertices reachable from vertex 0 that also reach the last vertex (empty if none)."""
    num_vertices = len(edges)
    from_input = np.zeros(num_vertices, dtype=bool)
    to_output = np.zeros(num_vertices, dtype=bool)
    from_input[0] = to_output[-1] = True
    for v in range(1, num_vertices):
        from_input[v] = (from_input[:v] & edges[:v, v]).any()
    for v in range(num_vertices - 2, -1, -1):
        to_output[v] = (to_output[v + 1 :] & edges[v, v + 1 :]).any()
    return np.flatnonzero(from_input & to_output) if from_input[-1] else np.array([], dtype=int)


def spec_from_naslib(encoding: Iterable[int]) -> ModelSpec:
    """The spec of NASLib's flat encoding: V·V adjacency entries then V op codes (`NASLIB_OPS`)."""
    values = [int(value) for value in encoding]
    size = round((-1 + np.sqrt(1 + 4 * len(values))) / 2)
    if size * size + size != len(values):
        raise ValueError(f"a NASLib encoding has V·V + V entries (56 for 7 vertices), got {len(values)}")
    if any(not 0 <= code < len(NASLIB_OPS) for code in values[-size:]):
        raise ValueError(f"NASLib op codes are 0..{len(NASLIB_OPS) - 1} ({', '.join(NASLIB_OPS)}), got {values[-size:]}")
    matrix = np.array(values[: size * size], dtype=np.int8).reshape(size, size)
    return ModelSpec(matrix, [NASLIB_OPS[code] for code in values[-size:]])


def naslib_encoding(spec: ModelSpec) -> tuple[int, ...]:
    """NASLib's flat encoding of the spec as given (unpruned): V·V adjacency entries then V op codes."""
    matrix = np.asarray(spec.original_matrix).astype(int).ravel().tolist()
    return tuple(matrix + [NASLIB_OPS.index(op) for op in spec.original_ops])


class _PartialRepeat(dict):
    """One repeat's metrics where the tables hold only some: a missing key raises with the fix."""

    def __init__(self, values: dict[str, float], module_hash: str, repeat: int):
        super().__init__(values)
        self.module_hash, self.repeat = module_hash, repeat

    def __missing__(self, metric: str) -> float:
        known = ", ".join(sorted(self)) or "none"
        raise MetricsUnavailableError(
            f"{metric} of cell {self.module_hash} (repeat {self.repeat}) is not in the embedded NB-101 tables, "
            f"which hold every metric of 151,644 cells and only the run-0 final test accuracy of the others "
            f"(known here: {known}); to get it, {IMPORT_HINT}"
        )

    def __reduce__(self):  # deep copies keep the class and its message
        return (_PartialRepeat, (dict(self), self.module_hash, self.repeat))


class _Tables:
    """NB-101 records from `wsnas.nb101` (108 epochs; full metrics where the tables have them)."""

    def __init__(self) -> None:
        self.nb101 = NB101.load()
        self.source = self.nb101.source
        self.valid_epochs = {EPOCHS}
        self.epochs_hint = "the tables hold 108-epoch results; for 4, 12 and 36 epochs pass nasbench_full.tfrecord"
        table = space.space_table()
        self._row_of_hash = dict(zip(table["hash"].to_numpy(dtype=str), range(len(table))))
        self._parameters = table["trainable_parameters"].to_numpy()

    def hashes(self) -> KeysView[str]:
        return self._row_of_hash.keys()

    def records(self, module_hash: str) -> tuple[dict[str, Any], dict[int, list[dict[str, float]]]]:
        if module_hash not in self._row_of_hash:
            raise KeyError(_unknown_hash_message(module_hash))
        known = self.nb101.query_hash(module_hash)
        fixed = {
            "module_adjacency": np.array(known["adjacency"], dtype=np.int8),
            "module_operations": list(known["ops"]),
            "trainable_parameters": int(self._parameters[self._row_of_hash[module_hash]]),
        }
        if known["trainable_parameters"] is not None:
            repeats = [{metric: known[metric][r] for metric in METRICS} for r in range(REPEATS)]
        else:
            run0 = {} if known["test_accuracy_run0"] is None else {"final_test_accuracy": known["test_accuracy_run0"]}
            repeats = [_PartialRepeat(run0 if r == 0 else {}, module_hash, r) for r in range(REPEATS)]
        return fixed, {EPOCHS: repeats}


class _File:
    """Every record of an official NB-101 file (all epoch budgets, repeats in file order), via a parquet cache."""

    def __init__(self, path: Path):
        cache = _import_file(path)
        self.source = f"{path} (cached as {cache})"
        self._records = pd.read_parquet(cache)
        self.valid_epochs = {int(epochs) for epochs in self._records["epochs"].unique()}
        self.epochs_hint = f"{path.name} holds records of those epoch budgets only"
        self._rows_of_hash = {key: rows for key, rows in self._records.groupby("hash", sort=False).indices.items()}

    def hashes(self) -> KeysView[str]:
        return self._rows_of_hash.keys()

    def records(self, module_hash: str) -> tuple[dict[str, Any], dict[int, list[dict[str, float]]]]:
        if module_hash not in self._rows_of_hash:
            raise KeyError(f"{module_hash!r} is not in this dataset file: {_unknown_hash_message(module_hash)}")
        rows = self._records.iloc[self._rows_of_hash[module_hash]]
        first = rows.iloc[0]
        size = len(first["ops"].split(","))
        fixed = {
            "module_adjacency": (np.frombuffer(first["adjacency"].encode(), np.uint8) - ord("0")).astype(np.int8).reshape(size, size),
            "module_operations": first["ops"].split(","),
            "trainable_parameters": int(first["trainable_parameters"]),
        }
        computed: dict[int, list[dict[str, float]]] = {}
        for row in rows.itertuples(index=False):
            computed.setdefault(int(row.epochs), []).append({metric: float(getattr(row, metric)) for metric in METRICS})
        return fixed, computed


def _unknown_hash_message(module_hash: str) -> str:
    return (
        f"{module_hash!r} is not the hash of a NAS-Bench-101 cell: hashes are those of `hash_iterator()`, "
        "or of a pruned spec (`spec.hash_spec(nasbench.config['available_ops'])`)"
    )


def _import_file(path: Path) -> Path:
    """Read an official tfrecord once into a parquet table of all its records; later calls reuse it."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no NB-101 dataset file at {path}: {IMPORT_HINT}")
    stat = path.stat()
    key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = user_cache_dir() / "nasbench_api" / f"{path.stem}-{key}.parquet"
    if cache.exists():
        return cache
    records = _records_table(path)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as temporary:
        records.to_parquet(temporary, index=False)
    return cache


def _records_table(path: Path) -> pd.DataFrame:
    """One row per record of the file (file order), each hash checked against its own cell."""
    columns: dict[str, list] = {key: [] for key in ("hash", "epochs", "adjacency", "ops", "trainable_parameters", *METRICS)}
    for record in read_records(path):
        columns["hash"].append(record.hash)
        columns["epochs"].append(record.epochs)
        columns["adjacency"].append("".join(map(str, record.adjacency.ravel().tolist())))
        columns["ops"].append(",".join(record.ops))
        columns["trainable_parameters"].append(record.metrics.trainable_parameters)
        for metric, value in record_metrics(record).items():
            columns[metric].append(value)
    if not columns["hash"]:
        raise ValueError(f"{path} holds no record: is it an NB-101 .tfrecord file?")
    table = pd.DataFrame(columns)
    _check_record_hashes(table, path)
    return table


def _check_record_hashes(table: pd.DataFrame, path: Path) -> None:
    """Each record's hash is NB-101's hash of the cell stored with it."""
    first = table.drop_duplicates("hash")
    sizes = first["ops"].str.count(",").to_numpy() + 1
    label_of = {INPUT: -1, OUTPUT: -2} | {op: i for i, op in enumerate(space.OPS)}
    for size in np.unique(sizes):
        rows = first[sizes == size]
        bits = np.array([list(map(int, text)) for text in rows["adjacency"]], dtype=np.uint8)
        try:
            labels = np.array([[label_of[op] for op in ops.split(",")] for ops in rows["ops"]])
        except KeyError as error:
            raise ValueError(f"{path}: unknown op {error} in a record") from None
        computed = hash_graphs(bits.reshape(-1, size, size), labels)
        wrong = rows["hash"].to_numpy()[computed != rows["hash"].to_numpy()]
        if len(wrong):
            raise ValueError(f"{path}: {len(wrong)} records hash differently from their cell, e.g. {wrong[0]}")


class NASBench:
    """NB-101's `NASBench`: queries with budget counters, on wsnas's tables or on an official file."""

    def __init__(self, dataset_file: str | Path | None = None, seed: int | None = None):
        self.config = {
            "available_ops": list(space.OPS),
            "module_vertices": space.MAX_VERTICES,
            "max_edges": space.MAX_EDGES,
            "num_repeats": REPEATS,
        }
        self._random = random.Random(seed)
        self._data = _Tables() if dataset_file is None else _File(Path(dataset_file))
        self.source = self._data.source
        self.valid_epochs = set(self._data.valid_epochs)
        self.history: dict = {}
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def query(self, model_spec: ModelSpec, epochs: int = EPOCHS, stop_halfway: bool = False) -> dict[str, Any]:
        """One repeat, drawn at random, of the spec's metrics after `epochs` (or half of them); counts the budget."""
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(f"invalid number of epochs, must be one of {self.valid_epochs}: {self._data.epochs_hint}")
        fixed_stat, computed_stat = self.get_metrics_from_spec(model_spec)
        repeats = computed_stat.get(epochs)
        if not repeats:
            raise OutOfDomainError(f"this dataset has no {epochs}-epoch record of the cell")
        repeat = repeats[self._random.randint(0, len(repeats) - 1)]
        point = "halfway" if stop_halfway else "final"
        data = {key: fixed_stat[key] for key in _FIXED_KEYS}
        data.update({key: repeat[f"{point}_{key}"] for key in _QUERY_KEYS})
        self.training_time_spent += data["training_time"]
        self.total_epochs_spent += epochs // 2 if stop_halfway else epochs
        return data

    def is_valid(self, model_spec: ModelSpec) -> bool:
        """True if the (pruned) spec is in the space; does not count towards the budget."""
        try:
            self._check_spec(model_spec)
        except OutOfDomainError:
            return False
        return True

    def get_budget_counters(self) -> tuple[float, int]:
        """(training time spent, epochs spent) by the queries so far."""
        return self.training_time_spent, self.total_epochs_spent

    def reset_budget_counters(self) -> None:
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def evaluate(self, model_spec: ModelSpec, model_dir: str) -> dict[str, Any]:
        raise NotImplementedError(
            "NASBench.evaluate trains a cell with NB-101's TensorFlow pipeline, which this TF-free API does "
            "not include: build the network with nasbench_pytorch (or wsnas.supernet) and train it instead"
        )

    def hash_iterator(self) -> KeysView[str]:
        """All unique cell hashes of the dataset."""
        return self._data.hashes()

    def get_metrics_from_hash(self, module_hash: str) -> tuple[dict[str, Any], dict[int, list[dict[str, float]]]]:
        """(fixed stats, computed stats by epochs then repeat) of one hash; does not count towards the budget."""
        fixed_stat, computed_stat = self._data.records(module_hash)
        return copy.deepcopy(fixed_stat), copy.deepcopy(computed_stat)

    def get_metrics_from_spec(self, model_spec: ModelSpec) -> tuple[dict[str, Any], dict[int, list[dict[str, float]]]]:
        """`get_metrics_from_hash` of the spec, checked against the space first."""
        self._check_spec(model_spec)
        return self.get_metrics_from_hash(self._hash_spec(model_spec))

    def _check_spec(self, model_spec: ModelSpec) -> None:
        """NB-101's checks, on the pruned spec."""
        if not model_spec.valid_spec:
            raise OutOfDomainError("invalid spec, provided graph is disconnected.")
        num_vertices, num_edges = len(model_spec.ops), int(np.sum(model_spec.matrix))
        if num_vertices > self.config["module_vertices"]:
            raise OutOfDomainError(f"too many vertices, got {num_vertices} (max vertices = {self.config['module_vertices']})")
        if num_edges > self.config["max_edges"]:
            raise OutOfDomainError(f"too many edges, got {num_edges} (max edges = {self.config['max_edges']})")
        if model_spec.ops[0] != INPUT:
            raise OutOfDomainError("first operation should be 'input'")
        if model_spec.ops[-1] != OUTPUT:
            raise OutOfDomainError("last operation should be 'output'")
        for op in model_spec.ops[1:-1]:
            if op not in self.config["available_ops"]:
                raise OutOfDomainError(f"unsupported op {op} (available ops = {self.config['available_ops']})")

    def _hash_spec(self, model_spec: ModelSpec) -> str:
        return model_spec.hash_spec(self.config["available_ops"])

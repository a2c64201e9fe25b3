"""NAS-Bench-101 ground truth: the embedded tables, the TF-free import of the official file, queries.

Two tables back the queries, both parquet, one row per cell, sorted by hash:

- the metrics table (`data/nb101_metrics.parquet`, or the full table written by
  `import_tfrecord` into `user_cache_dir()`, which takes precedence): `hash`,
  `trainable_parameters` and, for each metric of NB-101's `computed_stats` at 108 epochs and each
  repeat r in 0, 1, 2, a column `<metric>_r<r>` (e.g. `final_validation_accuracy_r0`).
  The embedded table holds the 151,644 cells whose full record ships in the authors' released
  evaluations; the imported one all 423,624.
- the run-0 test table (`data/nb101_test_run0.parquet`): `hash`, `test_accuracy_run0` for all
  423,624 cells (the final test accuracy of one NB-101 training run).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from wsnas import space
from wsnas.datafiles import DataFileError, atomic_path, data_path, user_cache_dir
from wsnas.graph_hash import INPUT_LABEL, OUTPUT_LABEL, hash_graphs
from wsnas.tfrecord import METRICS, read_records, record_metrics

EPOCHS = 108  # NB-101's training budget; the paper trains its super-nets 4× as long (432)
REPEATS = 3  # trainings per cell and budget
TRAINING_IMAGES = 40_000  # NB-101's training split of CIFAR-10's training set
VALIDATION_IMAGES = 10_000  # and its validation split
METRICS_FILE = "nb101_metrics.parquet"
TEST_RUN0_FILE = "nb101_test_run0.parquet"
FULL_TABLE_FILE = "nb101_full_metrics.parquet"


def metric_column(metric: str, repeat: int) -> str:
    return f"{metric}_r{repeat}"


METRICS_SCHEMA = pa.schema(
    [("hash", pa.string()), ("trainable_parameters", pa.int64())]
    + [(metric_column(metric, repeat), pa.float64()) for metric in METRICS for repeat in range(REPEATS)]
)
TEST_RUN0_SCHEMA = pa.schema([("hash", pa.string()), ("test_accuracy_run0", pa.float64())])


class UnknownCellError(KeyError):
    """A hash is not a NAS-Bench-101 cell (or not in the table at hand)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write a parquet table atomically with fixed writer options, so that equal tables give equal bytes."""
    with atomic_path(path) as temporary:
        pq.write_table(
            table,
            temporary,
            compression="zstd",
            compression_level=3,
            use_dictionary=True,
            write_statistics=True,
            version="2.6",
            data_page_version="1.0",
            row_group_size=1 << 20,
        )


def metrics_table_from_repeats(
    hashes: np.ndarray, trainable_parameters: np.ndarray, values: dict[str, np.ndarray]
) -> pa.Table:
    """The metrics table from sorted unique `hashes`, their parameters and `values[metric]` (N×REPEATS)."""
    if len(hashes) > 1 and not (hashes[1:] > hashes[:-1]).all():
        raise ValueError("hashes must be sorted and unique")
    columns: dict[str, Any] = {"hash": pa.array(hashes.astype(str), pa.string()), "trainable_parameters": trainable_parameters}
    for metric in METRICS:
        for repeat in range(REPEATS):
            columns[metric_column(metric, repeat)] = values[metric][:, repeat]
    return pa.table(columns, schema=METRICS_SCHEMA)


def _read_checked(path: Path, schema: pa.Schema) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataFileError(
            f"{path} is not a readable parquet table ({error}): delete it and rerun `wsnas nb101 import PATH`, "
            "or regenerate it with `scripts/build_nb101_tables.py`"
        ) from error
    if not table.schema.equals(schema, check_metadata=False):
        raise DataFileError(
            f"{path} does not have the expected columns/types ({table.schema.names[:4]}…): "
            "regenerate it with `scripts/build_nb101_tables.py` or `wsnas nb101 import PATH`"
        )
    return table.to_pandas()


def _mean_column(metric: str) -> str:
    """`final_validation_accuracy` -> `mean_validation_accuracy`, `halfway_x` -> `mean_halfway_x`."""
    return "mean_" + metric.removeprefix("final_")


def _cell_dict(cell: space.Cell) -> dict[str, Any]:
    return {"adjacency": cell.adjacency.tolist(), "ops": list(cell.ops)}


class NB101:
    """Queries on the NAS-Bench-101 ground truth, by hash or by cell, one at a time or vectorised."""

    def __init__(self, metrics: pd.DataFrame, test_run0: pd.DataFrame, source: str):
        self.source = source
        self._metrics = metrics.set_index("hash")
        self._test_run0 = test_run0.set_index("hash")["test_accuracy_run0"]

    @classmethod
    def load(cls, path: Path | None = None) -> NB101:
        """The metrics table at `path`; by default the imported full table if there is one, else the embedded one."""
        if path is None:
            imported = user_cache_dir() / FULL_TABLE_FILE
            path, source = (imported, f"imported full table {imported}") if imported.exists() else (
                data_path(METRICS_FILE), f"embedded table data/{METRICS_FILE} (151,644 cells)"
            )
        else:
            path = Path(path)
            if not path.exists():
                raise DataFileError(f"no NB-101 metrics table at {path}: create one with `wsnas nb101 import PATH`")
            source = f"table {path}"
        return cls(_read_checked(path, METRICS_SCHEMA), _read_checked(data_path(TEST_RUN0_FILE), TEST_RUN0_SCHEMA), source)

    @staticmethod
    @cache
    def default() -> NB101:
        """`NB101.load()` (the imported full table if there is one, else the embedded one), loaded once per process."""
        return NB101.load()

    def known_hashes(self) -> np.ndarray:
        """Hashes of the cells with full metrics (sorted)."""
        return self._metrics.index.to_numpy(dtype=str)

    def query_hash(self, hash: str) -> dict[str, Any]:
        """Everything known about one cell, as a JSON-serialisable dict (lists hold one value per repeat)."""
        position = self._test_run0.index.get_indexer([hash])[0]
        if position < 0:
            raise UnknownCellError(
                f"{hash!r} is not the hash of a NAS-Bench-101 cell (none of the 423,624): hashes are 32 lowercase "
                "hex characters of the pruned cell; query by cell instead (`NB101.query(cell)`) to hash it for you"
            )
        cell = space.cell_at(space.index_of([hash])[0])
        result: dict[str, Any] = {"hash": hash, **_cell_dict(cell), "trainable_parameters": None}
        result.update({metric: [] for metric in METRICS})
        known = []
        if hash in self._metrics.index:
            row = self._metrics.loc[hash]
            result["trainable_parameters"] = int(row["trainable_parameters"])
            for metric in METRICS:
                result[metric] = [float(row[metric_column(metric, repeat)]) for repeat in range(REPEATS)]
            known = ["trainable_parameters", *METRICS]
        test_run0 = self._test_run0.iloc[position]
        result["test_accuracy_run0"] = None if np.isnan(test_run0) else float(test_run0)
        result["known"] = known + ([] if result["test_accuracy_run0"] is None else ["test_accuracy_run0"])
        return result

    def query(self, cell: space.Cell) -> dict[str, Any]:
        """`query_hash` of the cell's NB-101 hash (the cell is pruned first)."""
        return self.query_hash(cell.hash)

    def metrics(self, hashes: Iterable[str]) -> pd.DataFrame:
        """Per-hash summary over the repeats, indexed by hash (NaN where the table does not know the cell)."""
        hashes = pd.Index(list(hashes), dtype=object, name="hash")
        positions = self._test_run0.index.get_indexer(hashes)
        if (positions < 0).any():
            unknown = hashes[positions < 0]
            raise UnknownCellError(
                f"{len(unknown)} of {len(hashes)} hashes are not NAS-Bench-101 cells, e.g. {list(unknown[:3])}: "
                "pass hashes of pruned cells (`Cell.hash`)"
            )
        rows = self._metrics.reindex(hashes)
        result = pd.DataFrame(index=hashes)
        for metric in METRICS:
            result[_mean_column(metric)] = rows[[metric_column(metric, r) for r in range(REPEATS)]].mean(axis=1)
        result["n_repeats"] = rows[[metric_column("final_validation_accuracy", r) for r in range(REPEATS)]].notna().sum(axis=1)
        result["test_accuracy_run0"] = self._test_run0.to_numpy()[positions]
        result["trainable_parameters"] = rows["trainable_parameters"].astype("Int64")
        return result


    def repeats(self, hashes: Iterable[str], metrics: Iterable[str] = ("final_validation_accuracy",)) -> pd.DataFrame:
        """Per-repeat values `<metric>_r0..r2` of `metrics`, indexed by hash (NaN where unknown)."""
        columns = [metric_column(metric, r) for metric in metrics for r in range(REPEATS)]
        return self._metrics[columns].reindex(pd.Index(list(hashes), dtype=object, name="hash"))


def import_tfrecord(path: Path, out: Path | None = None) -> Path:
    """Read an official NB-101 tfrecord (`nasbench_only108` or `nasbench_full`) into a full metrics table."""
    path = Path(path)
    out = Path(out) if out is not None else user_cache_dir() / FULL_TABLE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: download nasbench_only108.tfrecord from the NAS-Bench-101 page")
    records = _read_final_epoch_records(path)
    hashes = np.array(list(records.row_of_hash), dtype=str)
    _check_hashes(hashes, records.cells, path)
    rows = np.asarray(records.rows)
    repeats_per_cell = np.bincount(rows, minlength=len(hashes))
    if (repeats_per_cell != REPEATS).any():
        bad = np.flatnonzero(repeats_per_cell != REPEATS)[0]
        raise ValueError(f"{path}: cell {hashes[bad]} has {repeats_per_cell[bad]} {EPOCHS}-epoch records, expected {REPEATS}")
    # A stable sort keeps the file order of a cell's records: repeat r is the r-th record met, as in nasbench/api.py.
    by_cell = np.argsort(rows, kind="stable")
    parameters = np.asarray(records.parameters, dtype=np.int64)[by_cell].reshape(-1, REPEATS)
    if (parameters != parameters[:, :1]).any():
        raise ValueError(f"{path}: the repeats of a cell disagree on trainable_parameters")
    order = np.argsort(hashes)
    values = {metric: np.asarray(records.values[metric])[by_cell].reshape(-1, REPEATS)[order] for metric in METRICS}
    write_parquet(metrics_table_from_repeats(hashes[order], parameters[order, 0], values), out)
    return out


@dataclass
class _FinalEpochRecords:
    """The 108-epoch records of a file, as flat columns (one entry per record, `rows` = cell number)."""

    row_of_hash: dict[str, int] = field(default_factory=dict)
    cells: list[tuple[np.ndarray, list[str]]] = field(default_factory=list)  # (adjacency, ops) per cell
    rows: array = field(default_factory=lambda: array("q"))
    parameters: array = field(default_factory=lambda: array("q"))
    values: dict[str, array] = field(default_factory=lambda: {metric: array("d") for metric in METRICS})


def _read_final_epoch_records(path: Path) -> _FinalEpochRecords:
    records = _FinalEpochRecords()
    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}") as progress:
        for record in read_records(path):
            progress.update(record.offset - progress.n)
            if record.epochs != EPOCHS:
                continue
            row = records.row_of_hash.setdefault(record.hash, len(records.row_of_hash))
            if row == len(records.cells):
                records.cells.append((record.adjacency, record.ops))
            records.rows.append(row)
            records.parameters.append(record.metrics.trainable_parameters)
            for metric, value in record_metrics(record).items():
                records.values[metric].append(value)
        progress.update(progress.total - progress.n)
    if not records.rows:
        raise ValueError(f"{path} holds no {EPOCHS}-epoch record: is it an NB-101 tfrecord?")
    return records


def _check_hashes(hashes: np.ndarray, cells: list[tuple[np.ndarray, list[str]]], path: Path) -> None:
    """Every hash is one of the 423,624 cells and is the hash of the (pruned) cell stored with it."""
    known = pd.Index(space.space_table()["hash"])
    unknown = hashes[known.get_indexer(hashes) < 0]
    if len(unknown):
        raise ValueError(f"{path}: {len(unknown)} hashes are not NB-101 cells, e.g. {list(unknown[:3])}")
    sizes = np.array([len(ops) for _, ops in cells])
    label_of = {space.INPUT: INPUT_LABEL, space.OUTPUT: OUTPUT_LABEL} | {op: i for i, op in enumerate(space.OPS)}
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        try:
            labels = np.array([[label_of[op] for op in cells[i][1]] for i in members])
        except KeyError as error:
            raise ValueError(f"{path}: unknown op {error} in a record") from None
        computed = hash_graphs(np.stack([cells[i][0] for i in members]), labels).astype(str)
        wrong = members[computed != hashes[members]]
        if len(wrong):
            raise ValueError(f"{path}: {len(wrong)} records hash differently from their cell, e.g. {hashes[wrong[0]]}")


@cache
def space_run0_accuracy(space_name: str) -> np.ndarray:
    """Test accuracy of NB-101's first training repeat of every cell of a space (NaN where none is known)."""
    every_cell = NB101.default().metrics(space.space_table()["hash"].to_numpy())["test_accuracy_run0"].to_numpy()
    return every_cell[space.space_mask(space_name)]


def run0_accuracy_summary(spaces: Iterable[str], failed_below: float = 0.5) -> pd.DataFrame:
    """Per space (rows): count, mean, std, min, median, 90th and 99th percentiles and max of the first repeat's test
    accuracy of every cell, and the share of cells below `failed_below` (those that failed to train)."""
    summary = pd.DataFrame({name: pd.Series(space_run0_accuracy(name)).describe(percentiles=[0.5, 0.9, 0.99])
                            for name in spaces}).T
    summary[f"share below {failed_below:.0%}"] = [float(np.mean(space_run0_accuracy(name) < failed_below))
                                                  for name in summary.index]
    return summary

"""NB-101 ground truth: the embedded tables, queries, and the tfrecord import, on real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wsnas import nb101, space
from wsnas.datafiles import DataFileError, data_path
from wsnas.nb101 import NB101, UnknownCellError
from wsnas.tfrecord import METRICS, TFRecordError, encode_record, read_records

EMBEDDED_CELLS = 151_644


@pytest.fixture(scope="module")
def bench() -> NB101:
    return NB101.load(data_path(nb101.METRICS_FILE))


@pytest.fixture(scope="module")
def metrics_frame() -> pd.DataFrame:
    return nb101._read_checked(data_path(nb101.METRICS_FILE), nb101.METRICS_SCHEMA)


def test_embedded_table_shape_and_order(metrics_frame):
    assert len(metrics_frame) == EMBEDDED_CELLS
    hashes = metrics_frame["hash"].to_numpy(dtype=str)
    assert (hashes[1:] > hashes[:-1]).all()
    assert (metrics_frame.drop(columns="hash").notna()).all().all()


def test_embedded_hashes_are_nb101_cells_with_nb101_parameter_counts(metrics_frame):
    positions = space.index_of(metrics_frame["hash"].to_numpy())
    ours = space.space_table()["trainable_parameters"].to_numpy()[positions]
    np.testing.assert_array_equal(ours, metrics_frame["trainable_parameters"].to_numpy())


def test_embedded_metrics_are_float32_values_in_range(metrics_frame):
    values = metrics_frame[[nb101.metric_column(m, r) for m in METRICS for r in range(3) if "accuracy" in m]].to_numpy()
    assert ((values > 0) & (values <= 1)).all()
    np.testing.assert_array_equal(values.astype(np.float32).astype(np.float64), values)


def test_run0_is_repeat_0_of_the_archive(bench, metrics_frame):
    """The run-0 test accuracy (ObfuNAS) equals the archive's repeat-0 final test accuracy, bit for bit, on
    every shared cell; repeats 1 and 2 agree only where two trainings happen to tie."""
    run0 = bench.metrics(metrics_frame["hash"])["test_accuracy_run0"].to_numpy()
    matches = [int((run0 == metrics_frame[f"final_test_accuracy_r{r}"].to_numpy()).sum()) for r in range(3)]
    assert matches == [EMBEDDED_CELLS, 1417, 1459]


def test_query_hash_of_a_known_cell(bench, metrics_frame):
    row = metrics_frame.iloc[1234]
    result = bench.query_hash(row["hash"])
    assert result["final_validation_accuracy"] == [row[f"final_validation_accuracy_r{r}"] for r in range(3)]
    assert result["trainable_parameters"] == row["trainable_parameters"]
    assert result["test_accuracy_run0"] == row["final_test_accuracy_r0"]
    assert set(result["known"]) == {"trainable_parameters", "test_accuracy_run0", *METRICS}
    cell = space.Cell(np.array(result["adjacency"]), tuple(result["ops"]))
    assert cell.hash == row["hash"]
    assert json.loads(json.dumps(result)) == result


def test_query_by_cell_prunes_first(bench):
    table = space.space_table()
    small = table[(table["num_vertices"] <= 6) & (table["num_edges"] <= 8) & table["hash"].isin(bench.known_hashes())]
    cell = space.cell_at(small.index[0])
    # Add a dangling vertex fed by the input but feeding nothing: pruning must remove it.
    size = cell.num_vertices + 1
    adjacency = np.zeros((size, size), dtype=int)
    adjacency[: size - 2, : size - 2] = cell.adjacency[:-1, :-1]
    adjacency[: size - 2, -1] = cell.adjacency[:-1, -1]
    adjacency[0, size - 2] = 1
    grown = space.Cell(adjacency, (*cell.ops[:-1], "maxpool3x3", "output"))
    assert grown.hash == cell.hash
    assert bench.query(grown) == bench.query_hash(small["hash"].iloc[0])
    assert bench.query(grown)["known"]


def test_query_hash_of_a_cell_outside_the_embedded_table(bench):
    all_hashes = space.space_table()["hash"]
    outside = all_hashes[~all_hashes.isin(bench.known_hashes())].to_numpy()
    assert len(outside) == space.NUM_CELLS - EMBEDDED_CELLS
    result = bench.query_hash(outside[0])
    assert result["final_validation_accuracy"] == [] and result["trainable_parameters"] is None
    assert result["known"] == ["test_accuracy_run0"]
    assert 0 < result["test_accuracy_run0"] <= 1


@pytest.mark.parametrize("bad", ["0" * 32, "not a hash", ""])
def test_unknown_hash(bench, bad):
    with pytest.raises(UnknownCellError, match="not the hash of a NAS-Bench-101 cell"):
        bench.query_hash(bad)
    with pytest.raises(UnknownCellError, match="not NAS-Bench-101 cells"):
        bench.metrics([bench.known_hashes()[0], bad])


def test_metrics_vectorised(bench, metrics_frame):
    known = metrics_frame["hash"].iloc[:3].tolist()
    first_hashes = space.space_table()["hash"].iloc[:50]
    outside = first_hashes[~first_hashes.isin(bench.known_hashes())].iloc[:1].tolist()
    frame = bench.metrics(known + outside)
    assert list(frame.index) == known + outside
    expected = metrics_frame.iloc[:3][[f"final_validation_accuracy_r{r}" for r in range(3)]].mean(axis=1).to_numpy()
    np.testing.assert_allclose(frame["mean_validation_accuracy"].iloc[:3], expected, rtol=0, atol=1e-15)
    assert frame["n_repeats"].tolist() == [3, 3, 3, 0]
    assert frame.loc[outside[0], ["mean_validation_accuracy", "mean_test_accuracy", "trainable_parameters"]].isna().all()
    assert frame["test_accuracy_run0"].notna().all()


def test_load_source_and_bad_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("WSNAS_CACHE", str(tmp_path / "cache"))
    assert NB101.load().source.startswith("embedded table")
    with pytest.raises(DataFileError, match="wsnas nb101 import"):
        NB101.load(tmp_path / "missing.parquet")
    wrong = tmp_path / "wrong.parquet"
    nb101.write_parquet(nb101.pa.table({"hash": ["a"]}), wrong)
    with pytest.raises(DataFileError, match="expected columns"):
        NB101.load(wrong)


def write_only108(path, frame: pd.DataFrame) -> None:
    """An official-layout file with one 108-epoch record per (cell, repeat), repeats interleaved across cells."""
    cells = [space.cell_at(i) for i in space.index_of(frame["hash"].to_numpy())]
    with open(path, "wb") as handle:
        for repeat in range(3):
            for (_, row), cell in zip(frame.iterrows(), cells):
                values = {metric: row[nb101.metric_column(metric, repeat)] for metric in METRICS}
                handle.write(encode_record(row["hash"], 108, cell.adjacency, list(cell.ops), values, int(row["trainable_parameters"])))
                handle.write(encode_record(row["hash"], 36, cell.adjacency, list(cell.ops), values, 0))


def test_import_round_trip(tmp_path, monkeypatch, metrics_frame):
    monkeypatch.setenv("WSNAS_CACHE", str(tmp_path / "cache"))
    sample = metrics_frame.sample(200, random_state=0)
    official = tmp_path / "nasbench_only108.tfrecord"
    write_only108(official, sample)
    out = nb101.import_tfrecord(official)
    assert out.parent == tmp_path / "cache"
    loaded = NB101.load()
    assert loaded.source.startswith("imported full table")
    expected = sample.sort_values("hash").reset_index(drop=True)
    pd.testing.assert_frame_equal(nb101._read_checked(out, nb101.METRICS_SCHEMA), expected)
    # Same rows -> same bytes as the embedded table's writer.
    again = nb101.import_tfrecord(official, tmp_path / "again.parquet")
    assert again.read_bytes() == out.read_bytes()


def test_import_rejects_missing_repeats_and_truncation(tmp_path, metrics_frame):
    official = tmp_path / "partial.tfrecord"
    write_only108(official, metrics_frame.iloc[:2])
    data = official.read_bytes()
    offsets = [record.offset for record in read_records(official)]  # 2 cells × 3 repeats × (108, 36 epochs)
    official.write_bytes(data[: offsets[10]])  # drops the last repeat of the second cell
    with pytest.raises(ValueError, match=f"cell {metrics_frame['hash'].iloc[1]} has 2 108-epoch records, expected 3"):
        nb101.import_tfrecord(official, tmp_path / "out.parquet")
    official.write_bytes(data[: offsets[10] + 100])
    with pytest.raises(TFRecordError, match=f"record at byte {offsets[10]}: truncated"):
        nb101.import_tfrecord(official, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_agrees_with_naslib_nb101_records(bench):
    """30 NB-101 records shipped by NASLib, independent of the authors' archive: same hash, same numbers."""
    from wsnas import safe_pickle

    records = safe_pickle.load(data_path("naslib_nb101_dummy.pkl"))
    in_table = 0
    for module_hash, (fixed, computed) in records.items():
        assert space.Cell(fixed["module_adjacency"], tuple(fixed["module_operations"])).hash == module_hash
        result = bench.query_hash(module_hash)
        assert result["test_accuracy_run0"] == computed[108][0]["final_test_accuracy"]
        if result["trainable_parameters"] is not None:
            in_table += 1
            assert result["trainable_parameters"] == fixed["trainable_parameters"]
            for metric in METRICS:
                assert result[metric] == [repeat[metric] for repeat in computed[108]]
    assert in_table > 0


def test_import_rejects_records_whose_hash_is_not_their_cell(tmp_path, metrics_frame):
    first, second = metrics_frame.iloc[0], metrics_frame.iloc[1]
    other_cell = space.cell_at(space.index_of([second["hash"]])[0])
    values = {metric: first[nb101.metric_column(metric, 0)] for metric in METRICS}
    official = tmp_path / "swapped.tfrecord"
    with open(official, "wb") as handle:
        for _ in range(3):
            handle.write(encode_record(first["hash"], 108, other_cell.adjacency, list(other_cell.ops), values, 1))
    with pytest.raises(ValueError, match=f"1 records hash differently from their cell, e.g. {first['hash']}"):
        nb101.import_tfrecord(official, tmp_path / "out.parquet")
    official.write_bytes(encode_record("f" * 32, 108, other_cell.adjacency, list(other_cell.ops), values, 1) * 3)
    with pytest.raises(ValueError, match="1 hashes are not NB-101 cells"):
        nb101.import_tfrecord(official, tmp_path / "out.parquet")


def test_real_tfrecord_cell_is_in_the_embedded_table(bench):
    """The real nasbench_full record (4 epochs) is of a cell whose 108-epoch record the archive holds."""
    (record,) = list(read_records(data_path("nasbench_full_one_record.tfrecord")))
    result = bench.query_hash(record.hash)
    assert result["trainable_parameters"] == record.metrics.trainable_parameters == 8555530
    assert space.Cell(np.array(result["adjacency"]), tuple(result["ops"])).hash == record.hash

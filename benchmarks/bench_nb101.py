"""Speed of `wsnas.nb101` and `wsnas.tfrecord`, each against a baseline measured in the same run.

- loading the embedded NB-101 tables (checksums included) vs `np.load` of the raw run-0 array;
- queries: `query_hash` one by one, `metrics` over all 423,624 hashes;
- the tfrecord reader on a synthetic file of copies of the real 417-byte record, vs reading its bytes;
- `import_tfrecord` on a synthetic 108-epoch file built from the embedded table's real values.

Usage: python benchmarks/bench_nb101.py [--copies 50000] [--import-cells 20000]
Prints a markdown section for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from wsnas import datafiles, nb101, space
from wsnas.tfrecord import METRICS, encode_record, read_records, record_metrics

OFFICIAL_ONLY108_RECORDS = 423_624 * 3


def seconds(function, repeats: int = 5) -> float:
    """Best wall-clock time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def fresh_load() -> nb101.NB101:
    datafiles._verified.cache_clear()  # include the sha256 checks, as in a new process
    return nb101.NB101.load(nb101.data_path(nb101.METRICS_FILE))


def bench_load(scratch: Path) -> list[tuple[str, float, str]]:
    table = fresh_load()
    raw = scratch / "test_run0.npy"
    np.save(raw, table.metrics(space.space_table()["hash"])["test_accuracy_run0"].to_numpy())
    first_hash = table.known_hashes()[0]

    def load_and_query():
        space.space_table.cache_clear()  # the first query also reads the space table (cell of the hash)
        fresh_load().query_hash(first_hash)

    load = seconds(fresh_load)
    first_query = seconds(load_and_query)
    baseline = seconds(lambda: np.load(raw))
    return [
        ("NB101.load() of the embedded tables (sha256 checks included)", load,
         f"{load / baseline:.0f}× np.load of the raw run-0 npy ({baseline * 1e3:.2f} ms)"),
        ("NB101.load() + first query_hash (reads the space table too)", first_query, f"{first_query / baseline:.0f}× np.load"),
    ]


def bench_queries() -> list[tuple[str, float, str]]:
    table = nb101.NB101.load(nb101.data_path(nb101.METRICS_FILE))
    table.query_hash(table.known_hashes()[0])  # loads the space table once
    hashes = np.random.default_rng(0).choice(table.known_hashes(), 1000, replace=False)
    one_by_one = seconds(lambda: [table.query_hash(h) for h in hashes], repeats=3) / len(hashes)
    all_hashes = space.space_table()["hash"].to_numpy()
    vectorised = seconds(lambda: table.metrics(all_hashes), repeats=3)
    return [
        ("query_hash, per call", one_by_one, ""),
        ("metrics() of all 423,624 hashes", vectorised, f"{vectorised / len(all_hashes) * 1e9:.0f} ns per hash, "
         f"{one_by_one / (vectorised / len(all_hashes)):.0f}× faster per hash than query_hash"),
    ]


def bench_reader(scratch: Path, copies: int) -> list[tuple[str, float, str]]:
    record = datafiles.data_path("nasbench_full_one_record.tfrecord").read_bytes()
    path = scratch / "copies.tfrecord"
    path.write_bytes(record * copies)
    megabytes = path.stat().st_size / 1e6

    def read_bytes():
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass

    def decode():
        for parsed in read_records(path):
            record_metrics(parsed)

    baseline = seconds(read_bytes, repeats=3)
    reader = seconds(decode, repeats=1)
    rate = copies / reader
    return [
        (f"read_records + record_metrics, {copies:,} records ({megabytes:.1f} MB)", reader,
         f"{rate:,.0f} records/s, {megabytes / reader:.1f} MB/s; {reader / baseline:.0f}× reading the bytes; "
         f"official only108 file ({OFFICIAL_ONLY108_RECORDS:,} records) ≈ {OFFICIAL_ONLY108_RECORDS / rate / 60:.1f} min"),
    ]


def bench_import(scratch: Path, cells: int) -> list[tuple[str, float, str]]:
    frame = nb101._read_checked(nb101.data_path(nb101.METRICS_FILE), nb101.METRICS_SCHEMA).iloc[:cells]
    positions = space.index_of(frame["hash"].to_numpy())
    path = scratch / "only108.tfrecord"
    with open(path, "wb") as handle:
        for (_, row), position in zip(frame.iterrows(), positions):
            cell = space.cell_at(position)
            for repeat in range(nb101.REPEATS):
                values = {metric: row[nb101.metric_column(metric, repeat)] for metric in METRICS}
                handle.write(encode_record(row["hash"], 108, cell.adjacency, list(cell.ops), values, int(row["trainable_parameters"])))
    start = time.perf_counter()
    out = nb101.import_tfrecord(path, scratch / "imported.parquet")
    elapsed = time.perf_counter() - start
    imported = nb101.NB101.load(out)
    assert imported.known_hashes().tolist() == frame["hash"].tolist(), "import lost cells"
    rate = 3 * cells / elapsed
    return [
        (f"import_tfrecord, {cells:,} cells × 3 repeats", elapsed,
         f"{rate:,.0f} records/s; official only108 file ≈ {OFFICIAL_ONLY108_RECORDS / rate / 60:.1f} min"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50_000)
    parser.add_argument("--import-cells", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        rows = bench_load(scratch) + bench_queries() + bench_reader(scratch, args.copies) + bench_import(scratch, args.import_cells)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}, shared 2-core CPU\n")
    print("| measurement | time | relative |")
    print("|---|---|---|")
    for name, elapsed, relative in rows:
        shown = f"{elapsed * 1e3:.1f} ms" if elapsed < 10 else f"{elapsed:.1f} s"
        shown = f"{elapsed * 1e6:.0f} µs" if elapsed < 1e-3 else shown
        print(f"| {name} | {shown} | {relative} |")


if __name__ == "__main__":
    main()

"""Enumerate the NAS-Bench-101 space from scratch and write data/nb101_space.parquet (same bytes every run).

Usage: python scripts/build_space_table.py [--output data/nb101_space.parquet]
Then update the file's sha256/bytes in data/MANIFEST (the script prints them).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wsnas.datafiles import atomic_path, data_dir, sha256_of
from wsnas.enumeration import build_space_table
from wsnas.space import TABLE_FILE

# Fixed writer options: no timestamps, no pandas metadata, one row group, so the bytes depend
# only on the table and the pyarrow version (which pyproject.toml pins).
WRITER_OPTIONS = dict(
    compression="zstd",
    compression_level=19,
    use_dictionary=["num_vertices", "num_edges", "output_in_degree"],
    row_group_size=1 << 20,
    write_statistics=False,
    data_page_version="1.0",
    version="2.6",
)


def write_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, **WRITER_OPTIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=data_dir() / TABLE_FILE)
    args = parser.parse_args()
    start = time.perf_counter()
    frame = build_space_table(progress=True)
    print(f"enumerated {len(frame):,} cells in {time.perf_counter() - start:.1f} s")
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    write_table(table, args.output)
    print(f"{args.output}\tsha256 {sha256_of(args.output)}\t{args.output.stat().st_size} bytes")


if __name__ == "__main__":
    main()

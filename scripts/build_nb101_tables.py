"""Build data/nb101_metrics.parquet and data/nb101_test_run0.parquet from the public sources, bit for bit.

- nb101_metrics.parquet: the NB-101 records (108 epochs, 3 repeats) of every distinct cell in the
  authors' released evaluations (`results_paper.tar.xz`, github.com/apourchot/to_share_or_not_to_share
  @ 538a5063): each `eval_results.pkl` entry carries the cell's NB-101 `fixed` and `computed` stats.
- nb101_test_run0.parquet: NB-101 run-0 final test accuracy of all 423,624 cells
  (`obfunas_nb101_test_run0.npy`, github.com/Tongzhou0101/ObfuNAS @ c8d9c715, `data/test.npy`,
  sorted-hash order), with the hashes of `wsnas.space.space_table()`; checked against the first table.

Usage: python scripts/build_nb101_tables.py [ARCHIVE] [TEST_RUN0_NPY] [--out-dir data]
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from wsnas import space
from wsnas.graph_hash import hash_graphs
from wsnas.nb101 import (
    METRICS,
    METRICS_FILE,
    REPEATS,
    TEST_RUN0_FILE,
    TEST_RUN0_SCHEMA,
    metrics_table_from_repeats,
    write_parquet,
)
from wsnas.safe_pickle import load as safe_load

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO_ROOT / ".." / "shared" / "reference" / "results_paper.tar.xz"
DEFAULT_TEST_RUN0 = REPO_ROOT / ".." / "shared" / "reference" / "obfunas_nb101_test_run0.npy"
EVAL_RESULTS = re.compile(r"results_paper/[^/]+/[^/]+/\d+/eval_results\.pkl$")
RUNS_EXPECTED, CELLS_PER_RUN = 210, 1000
# The authors encode a cell's interior ops as 0 maxpool, 1 conv1x1, 2 conv3x3.
AUTHORS_OPS = {0: "maxpool3x3", 1: "conv1x1-bn-relu", 2: "conv3x3-bn-relu"}


def read_released_records(archive: Path) -> tuple[list[space.Cell], list[space.Cell], np.ndarray, np.ndarray]:
    """Per distinct (sampled cell, NB-101 module): both cells, trainable_parameters, metrics (N×REPEATS×len(METRICS))."""
    if not archive.exists():
        raise FileNotFoundError(f"{archive} not found: pass the path of results_paper.tar.xz as ARCHIVE")
    records: dict[tuple, tuple] = {}
    runs = 0
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if not EVAL_RESULTS.search(member.name):
                continue
            runs += 1
            evaluations = safe_load(tar.extractfile(member))
            if len(evaluations) != CELLS_PER_RUN:
                raise ValueError(f"{member.name} holds {len(evaluations)} cells, expected {CELLS_PER_RUN}")
            for evaluation in evaluations:
                fixed, computed = evaluation["full_metrics"]
                adjacency, op_codes = evaluation["architecture"]
                key = (
                    np.asarray(adjacency, dtype=np.int8).tobytes(),
                    tuple(int(code) for code in op_codes),
                    np.asarray(fixed["module_adjacency"], dtype=np.int8).tobytes(),
                    tuple(fixed["module_operations"]),
                )
                value = (int(fixed["trainable_parameters"]), _repeats(computed, member.name))
                if records.setdefault(key, value) != value:
                    raise ValueError(f"{member.name}: a cell's NB-101 record differs from its record in another run")
    if runs != RUNS_EXPECTED:
        raise ValueError(f"{archive} holds {runs} eval_results.pkl, expected {RUNS_EXPECTED}: is it the paper's archive?")
    sampled = [_authors_cell(adjacency, ops) for adjacency, ops, _, _ in records]
    modules = [_module_cell(adjacency, ops) for _, _, adjacency, ops in records]
    parameters = np.array([value[0] for value in records.values()], dtype=np.int64)
    metrics = np.array([value[1] for value in records.values()], dtype=np.float64)
    return sampled, modules, parameters, metrics


def _repeats(computed: dict, where: str) -> tuple[tuple[float, ...], ...]:
    repeats = computed[108]
    if len(repeats) != REPEATS or any(set(repeat) != set(METRICS) for repeat in repeats):
        raise ValueError(f"{where}: a record has {len(repeats)} repeats / metrics other than {METRICS}")
    return tuple(tuple(float(repeat[metric]) for metric in METRICS) for repeat in repeats)


def _authors_cell(adjacency_bytes: bytes, op_codes: tuple[int, ...]) -> space.Cell:
    ops = ("input", *(AUTHORS_OPS[code] for code in op_codes), "output")
    adjacency = np.frombuffer(adjacency_bytes, dtype=np.int8).reshape(len(ops), len(ops))
    return space.Cell(adjacency, ops)


def _module_cell(adjacency_bytes: bytes, ops: tuple[str, ...]) -> space.Cell:
    return space.Cell(np.frombuffer(adjacency_bytes, dtype=np.int8).reshape(len(ops), len(ops)), ops)


def hash_cells(cells: list[space.Cell]) -> np.ndarray:
    """NB-101 hashes of the pruned cells, one vectorised `hash_graphs` call per vertex count."""
    pruned = [cell.pruned() for cell in cells]
    sizes = np.array([cell.num_vertices for cell in pruned])
    hashes = np.empty(len(cells), dtype="U32")
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        hashes[members] = hash_graphs(
            np.stack([pruned[i].adjacency for i in members]), np.array([pruned[i].labels for i in members])
        )
    return hashes


def build_metrics_table(archive: Path) -> pa.Table:
    sampled, modules, parameters, metrics = read_released_records(archive)
    not_pruned = sum(module.pruned().num_vertices != module.num_vertices for module in modules)
    if not_pruned:
        raise ValueError(f"{not_pruned} NB-101 module matrices in the archive are not pruned")
    hashes = hash_cells(modules)
    mismatched = int((hash_cells(sampled) != hashes).sum())
    if mismatched:
        raise ValueError(f"{mismatched} sampled cells hash differently from the NB-101 module stored with them")
    unique_hashes, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    if not (np.array_equal(parameters, parameters[first][inverse]) and np.array_equal(metrics, metrics[first][inverse])):
        raise ValueError("two records of the same cell (same hash) disagree on their NB-101 metrics")
    print(f"{len(hashes)} distinct (sampled cell, module) pairs -> {len(unique_hashes)} distinct NB-101 cells; "
          "module hash == sampled-cell hash for all; repeated cells have identical metrics")
    values = {metric: metrics[first][:, :, m] for m, metric in enumerate(METRICS)}
    return metrics_table_from_repeats(unique_hashes, parameters[first], values)


def build_test_run0_table(npy: Path) -> pa.Table:
    test_accuracy = np.load(npy, allow_pickle=False)
    if test_accuracy.shape != (space.NUM_CELLS,) or test_accuracy.dtype != np.float64:
        raise ValueError(f"{npy}: expected float64 ({space.NUM_CELLS},), got {test_accuracy.dtype} {test_accuracy.shape}")
    hashes = space.space_table()["hash"].to_numpy(dtype=str)
    return pa.table({"hash": hashes, "test_accuracy_run0": test_accuracy}, schema=TEST_RUN0_SCHEMA)


def compare_run0(metrics: pa.Table, test_run0: pa.Table) -> pd.DataFrame:
    """For each repeat r: on the shared cells, how many run-0 values equal final_test_accuracy_r<r>."""
    run0 = pd.Series(test_run0["test_accuracy_run0"].to_numpy(), index=test_run0["hash"].to_numpy())
    shared = run0.reindex(metrics["hash"].to_numpy()).to_numpy()
    if np.isnan(shared).any():
        raise ValueError(f"{np.isnan(shared).sum()} cells of the metrics table have no run-0 value")
    rows = []
    for repeat in range(REPEATS):
        final_test = metrics[f"final_test_accuracy_r{repeat}"].to_numpy()
        rows.append({
            "repeat": repeat,
            "cells": len(shared),
            "exactly_equal": int((shared == final_test).sum()),
            "equal_as_float32": int((shared.astype(np.float32) == final_test.astype(np.float32)).sum()),
            "max_abs_difference": float(np.abs(shared - final_test).max()),
        })
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("test_run0", nargs="?", type=Path, default=DEFAULT_TEST_RUN0)
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "data")
    args = parser.parse_args(argv)
    metrics = build_metrics_table(args.archive)
    test_run0 = build_test_run0_table(args.test_run0)
    comparison = compare_run0(metrics, test_run0)
    print("run-0 test accuracy vs the archive's final_test_accuracy, per repeat:")
    print(comparison.to_string(index=False))
    write_parquet(metrics, args.out_dir / METRICS_FILE)
    write_parquet(test_run0, args.out_dir / TEST_RUN0_FILE)
    print(f"wrote {args.out_dir / METRICS_FILE} ({metrics.num_rows} cells) and {args.out_dir / TEST_RUN0_FILE} ({test_run0.num_rows} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

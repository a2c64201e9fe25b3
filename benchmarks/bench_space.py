"""Speed of wsnas.space: from-scratch enumeration and table load, as ratios to baselines measured in the same run.

Baselines: NB-101's own per-cell `graph_util.hash_module` (what generate_graphs.py calls for every
labelled graph) and a pure-Python generate_graphs.py-style enumeration of the cells with V ≤ 5.
Wall and CPU (process) time are both reported: on a shared machine CPU time is the steadier one.

Usage: python benchmarks/bench_space.py [--sample 3000]   (prints a markdown block for RESULTS.md)
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time

import numpy as np
from nasbench_pytorch.model import graph_util

from wsnas import enumeration, space


def timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def python_enumeration(max_vertices: int) -> int:
    """generate_graphs.py in plain Python: every labelled full DAG hashed with hash_module, deduped."""
    buckets = set()
    for num_vertices in range(2, max_vertices + 1):
        for bits in range(2 ** (num_vertices * (num_vertices - 1) // 2)):
            matrix = np.fromfunction(graph_util.gen_is_edge_fn(bits), (num_vertices, num_vertices), dtype=np.int8)
            if not graph_util.is_full_dag(matrix) or graph_util.num_edges(matrix) > space.MAX_EDGES:
                continue
            for labelling in itertools.product(range(len(space.OPS)), repeat=num_vertices - 2):
                buckets.add(graph_util.hash_module(matrix, [-1, *labelling, -2]))
    return len(buckets)


def vectorised_enumeration(max_vertices: int) -> int:
    return sum(len(enumeration.enumerate_cells(v)) for v in range(2, max_vertices + 1))


def hash_module_per_cell(sample: int) -> tuple[float, float]:
    """(wall, CPU) seconds per cell of hash_module on `sample` random table cells (V distributed like the space)."""
    indices = np.random.default_rng(0).choice(space.NUM_CELLS, sample, replace=False)
    cells = [(cell.adjacency, list(cell.labels)) for cell in map(space.cell_at, indices)]
    _, wall, cpu = timed(lambda: [graph_util.hash_module(matrix, labels) for matrix, labels in cells])
    return wall / sample, cpu / sample


def labelled_graph_count() -> int:
    """Labelled graphs that generate_graphs.py hashes: full DAGs with ≤ 9 edges × op labellings."""
    return sum(len(enumeration.full_dag_bits(v)) * len(space.OPS) ** (v - 2) for v in range(2, space.MAX_VERTICES + 1))


def table_load() -> None:
    space.space_table.cache_clear()
    space.space_table()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=3000, help="cells hashed with hash_module for the baseline")
    args = parser.parse_args()

    small_python, python_wall, python_cpu = timed(python_enumeration, 5)
    small_ours, ours_wall, ours_cpu = timed(vectorised_enumeration, 5)
    assert small_python == small_ours == 2532
    table, build_wall, build_cpu = timed(enumeration.build_space_table)
    per_cell_wall, per_cell_cpu = hash_module_per_cell(args.sample)
    labelled = labelled_graph_count()
    loads = [timed(table_load)[1:] for _ in range(5)]
    load_wall, load_cpu = np.median([w for w, _ in loads]), np.median([c for _, c in loads])

    print(f"Machine: {platform.machine()}, numpy {np.__version__}; `python benchmarks/bench_space.py --sample {args.sample}`; "
          f"hash_module: {per_cell_cpu * 1e6:.0f} µs CPU per cell (mean of {args.sample:,} random table cells)\n")
    print("| measurement | wall s | CPU s | ratio (CPU) |")
    print("|---|---|---|---|")
    print(f"| pure-Python generate_graphs, V ≤ 5 (2,532 cells) | {python_wall:.2f} | {python_cpu:.2f} | 1 |")
    print(f"| `enumerate_cells`, V ≤ 5 | {ours_wall:.3f} | {ours_cpu:.3f} | {python_cpu / ours_cpu:.1f}× faster |")
    print(f"| `hash_module` once per table cell ({len(table):,}), extrapolated | {per_cell_wall * len(table):.0f} | "
          f"{per_cell_cpu * len(table):.0f} | 1 |")
    print(f"| `hash_module` on every labelled graph generate_graphs.py hashes ({labelled:,}), extrapolated | "
          f"{per_cell_wall * labelled:.0f} | {per_cell_cpu * labelled:.0f} | 1 |")
    print(f"| `build_space_table()` from scratch, all {len(table):,} cells | {build_wall:.1f} | {build_cpu:.1f} | "
          f"{per_cell_cpu * len(table) / build_cpu:.1f}× / {per_cell_cpu * labelled / build_cpu:.1f}× faster than the two rows above |")
    print(f"| `space_table()` load (parquet + sha256, median of 5) | {load_wall:.3f} | {load_cpu:.3f} | "
          f"{build_cpu / load_cpu:.0f}× faster than rebuilding |")


if __name__ == "__main__":
    main()

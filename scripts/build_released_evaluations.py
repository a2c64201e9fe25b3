"""Build data/released_evaluations.parquet from the authors' released evaluations archive.

The archive (`results_paper.tar.xz`, github.com/apourchot/to_share_or_not_to_share @ 538a5063,
`results_paper/`) holds one `eval_results.pkl` per (variant, space, seed): a list of 1,000
evaluated cells, each with the cell (`architecture`), the authors' proxy accuracy and the cell's
NB-101 record. We keep one tidy row per (run, position) with the NB-101 hash of the pruned cell;
NB-101 ground truth is joined later from `wsnas.nb101`.

Usage: python scripts/build_released_evaluations.py [ARCHIVE] [--out data/released_evaluations.parquet]
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
import pyarrow.parquet as pq

from wsnas.datafiles import atomic_path
from wsnas.graph_hash import hash_graphs
from wsnas.reference import VARIANT_COLUMNS
from wsnas.safe_pickle import load as safe_load
from wsnas.space import SPACES, Cell

VARIANTS = list(dict.fromkeys(column.split("/")[0] for column in VARIANT_COLUMNS))  # paper order, torch-free

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO_ROOT / ".." / "shared" / "reference" / "results_paper.tar.xz"
DEFAULT_OUTPUT = REPO_ROOT / "data" / "released_evaluations.parquet"

# Archive folder -> (variant, mode).
VARIANT_DIRS = {
    "baseline_no_ft": ("baseline", "no_ft"),
    "baseline_ft_bn": ("baseline", "bns_ft"),
    "single-k_ft_bn": ("single_k", "bns_ft"),
    "pro-rata_ft_bn": ("pro_rata", "bns_ft"),
    "avg-3_ft_bn": ("avg3", "bns_ft"),
    "s-k+p-r_ft_bn": ("single_k+pro_rata", "bns_ft"),
}
MODES = ["no_ft", "bns_ft"]
# `full_0` and `full_1` are the two halves of A0; which is which is decided from the cells below.
SPACE_DIRS = {"1": "A1", "2": "A2", "3": "A3", "4": "A4", "full": "A0", "full_0": None, "full_1": None}
# The authors encode interior ops as 0 maxpool, 1 conv1x1, 2 conv3x3 (checked against the NB-101
# `module_operations` stored next to each cell, see `check_against_archive_records`).
AUTHORS_OPS = {0: "maxpool3x3", 1: "conv1x1-bn-relu", 2: "conv3x3-bn-relu"}
MEMBER = re.compile(r"results_paper/(?P<variant_dir>[^/]+)/(?P<space_dir>[^/]+)/(?P<seed>\d+)/eval_results\.pkl$")
RUNS_EXPECTED = len(VARIANT_DIRS) * len(SPACE_DIRS) * 5
CELLS_PER_RUN = 1000


def read_archive(archive: Path) -> tuple[pd.DataFrame, list[Cell], list[Cell]]:
    """Rows (variant_dir, space_dir, seed, position, proxy_accuracy), the cells, and the archive's NB-101 cells."""
    if not archive.exists():
        raise FileNotFoundError(
            f"{archive} not found: pass the path of results_paper.tar.xz (see ../shared/PROVENANCE.md) as ARCHIVE"
        )
    rows, cells, record_cells = [], [], []
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            match = MEMBER.match(member.name)
            if not match:
                continue
            if match["variant_dir"] not in VARIANT_DIRS or match["space_dir"] not in SPACE_DIRS:
                raise ValueError(f"unexpected run folder {member.name} in {archive}: is this the paper's archive?")
            evaluations = safe_load(tar.extractfile(member))
            if len(evaluations) != CELLS_PER_RUN:
                raise ValueError(f"{member.name} holds {len(evaluations)} cells, expected {CELLS_PER_RUN}")
            for position, evaluation in enumerate(evaluations):
                cells.append(_authors_cell(evaluation["architecture"]))
                record_cells.append(_record_cell(evaluation["full_metrics"][0]))
                rows.append(
                    (match["variant_dir"], match["space_dir"], int(match["seed"]), position,
                     float(evaluation["proxy_metrics"]["final_validation_accuracy"]))
                )
    table = pd.DataFrame(rows, columns=["variant_dir", "space_dir", "seed", "position", "proxy_accuracy"])
    runs = table.groupby(["variant_dir", "space_dir", "seed"]).ngroups
    if runs != RUNS_EXPECTED:
        raise ValueError(f"{archive} holds {runs} runs, expected {RUNS_EXPECTED} (6 variants × 7 spaces × 5 seeds)")
    return table, cells, record_cells


def _authors_cell(architecture: tuple[np.ndarray, np.ndarray]) -> Cell:
    adjacency, op_codes = architecture
    return Cell(adjacency, ("input", *(AUTHORS_OPS[int(code)] for code in op_codes), "output"))


def _record_cell(module: dict) -> Cell:
    return Cell(module["module_adjacency"], tuple(module["module_operations"]))


def hash_cells(cells: list[Cell]) -> np.ndarray:
    """NB-101 hashes of the pruned cells: each distinct pruned cell hashed once, batched by vertex count."""
    pruned = [cell.pruned() for cell in cells]
    distinct = list(dict.fromkeys(pruned))  # Cell hashes and compares by (ops, adjacency)
    index_of = {cell: i for i, cell in enumerate(distinct)}
    sizes = np.array([cell.num_vertices for cell in distinct])
    distinct_hashes = np.empty(len(distinct), dtype="U32")
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        adjacency = np.stack([distinct[i].adjacency for i in members])
        labels = np.array([distinct[i].labels for i in members])
        distinct_hashes[members] = hash_graphs(adjacency, labels)
    return distinct_hashes[[index_of[cell] for cell in pruned]]


def check_against_archive_records(cells: list[Cell], record_cells: list[Cell]) -> None:
    """Each pruned cell is exactly the NB-101 module the archive stores next to it (so the op codes are right)."""
    differing = [i for i, (cell, record) in enumerate(zip(cells, record_cells)) if cell.pruned() != record]
    if differing:
        first = differing[0]
        raise ValueError(
            f"{len(differing)} cells differ from their NB-101 record, e.g. row {first}: "
            f"{cells[first].pruned()} vs {record_cells[first]}"
        )


def name_a0_halves(table: pd.DataFrame, cells: list[Cell]) -> dict[str, str]:
    """Map full_0/full_1 to A0-res/A0-nores by which one's cells all have the input→output edge."""
    names = {}
    for space_dir in ("full_0", "full_1"):
        members = np.flatnonzero(table["space_dir"].to_numpy() == space_dir)
        has_edge = {cells[i].pruned().input_output_edge for i in members}
        if len(has_edge) != 1:
            raise ValueError(f"{space_dir} mixes cells with and without the input→output edge: not an A0 half")
        names[space_dir] = "A0-res" if has_edge.pop() else "A0-nores"
    if sorted(names.values()) != ["A0-nores", "A0-res"]:
        raise ValueError(f"full_0 and full_1 are not the two halves of A0: {names}")
    return names


def check_cells_in_spaces(table: pd.DataFrame, cells: list[Cell]) -> None:
    """Every evaluated cell belongs to its run's sub-space."""
    outside = [i for i, (cell, space) in enumerate(zip(cells, table["space"])) if space not in cell.spaces()]
    if outside:
        first = outside[0]
        raise ValueError(f"{len(outside)} cells lie outside their run's space, e.g. row {first}: {cells[first]}")


def tidy(table: pd.DataFrame, hashes: np.ndarray, a0_halves: dict[str, str]) -> pd.DataFrame:
    """The published schema, in a fixed order: variant, mode, space, seed, position."""
    variant_mode = table["variant_dir"].map(VARIANT_DIRS)
    space_names = {**SPACE_DIRS, **a0_halves}
    frame = pd.DataFrame(
        {
            "variant": pd.Categorical(variant_mode.str[0], categories=VARIANTS, ordered=True),
            "mode": pd.Categorical(variant_mode.str[1], categories=MODES, ordered=True),
            "space": pd.Categorical(table["space_dir"].map(space_names), categories=list(SPACES), ordered=True),
            "seed": table["seed"].astype("int64"),
            "position": table["position"].astype("int64"),
            "hash": hashes,
            "proxy_accuracy": table["proxy_accuracy"].astype("float64"),
        }
    )
    frame = frame.sort_values(["variant", "mode", "space", "seed", "position"], kind="stable", ignore_index=True)
    for column in ("variant", "mode", "space"):
        frame[column] = frame[column].astype(str)
    return frame


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Plain Arrow columns (no pandas metadata), so that the same rows give the same bytes."""
    schema = pa.schema(
        [("variant", pa.string()), ("mode", pa.string()), ("space", pa.string()), ("seed", pa.int64()),
         ("position", pa.int64()), ("hash", pa.string()), ("proxy_accuracy", pa.float64())]
    )
    arrow = pa.Table.from_pydict({name: frame[name].to_numpy() for name in schema.names}, schema=schema)
    with atomic_path(path) as temporary:
        pq.write_table(arrow, temporary, compression="zstd", write_statistics=False)
        temporary.chmod(0o644)  # mkstemp creates 0600; the data file is for everyone to read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    table, cells, record_cells = read_archive(args.archive)
    check_against_archive_records(cells, record_cells)
    hashes = hash_cells(cells)
    a0_halves = name_a0_halves(table, cells)
    table["space"] = table["space_dir"].map({**SPACE_DIRS, **a0_halves})
    check_cells_in_spaces(table, cells)
    frame = tidy(table, hashes, a0_halves)
    write_parquet(frame, args.out)
    print(f"wrote {args.out}: {len(frame)} rows, {frame['hash'].nunique()} distinct cells; A0 halves {a0_halves}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Our zero-cost proxies beside NASLib's published per-cell scores of the same NB-101 cells (issue 20).

NAS-Bench-Suite-Zero's NB-101 scores as NASLib first published them (github.com/automl/NASLib, commit
22280f71, `naslib/data/zc_nasbench101.json`, Apache-2.0: 500 records of 292 distinct cells), embedded as
data/naslib_zc_nasbench101.json and read by `wsnas.baselines.read_naslib` (which maps NASLib's cell encoding to our
hashes). For a seeded sample of those cells (`wsnas.baselines.naslib_sample`) it scores every proxy here under a
setup (and fisher also summed per channel, this module's sum before issue 20), then prints per proxy
(`wsnas.baselines.naslib_comparison`): Spearman against NASLib's `val_accuracy` (ours and NASLib's, same cells), the
same against the mean NB-101 validation accuracy, and the per-cell Spearman of our score against NASLib's.

    python benchmarks/check_naslib_proxies.py --cells 60 --setup published --json

`--write-cells FILE` only writes the sample's cells (pruned) as `wsnas proxies --cells FILE` reads them: the
book's committed scores of these cells (data/proxies_naslib_*.parquet) come from that command.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch

from wsnas import baselines, proxies, space


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--naslib", help="another copy of NASLib's zc_nasbench101.json (default: the one in data/)")
    parser.add_argument("--cells", type=int, default=baselines.NASLIB_SAMPLE["cells"],
                        help="seeded sample of the file's cells")
    parser.add_argument("--seed", type=int, default=baselines.NASLIB_SAMPLE["seed"],
                        help="seed of the sample (the networks use seed 0)")
    parser.add_argument("--write-cells", metavar="FILE", help="only write the sample's cells for `wsnas proxies --cells`")
    parser.add_argument("--setup", default="published", help="one of wsnas.proxies.SETUPS")
    parser.add_argument("--json", action="store_true", help="last line of stdout: JSON of the results")
    return parser.parse_args()


def our_scores(cells: list[space.Cell], setup: proxies.Setup) -> pd.DataFrame:
    """Every proxy of each cell under `setup`, fisher also summed per channel, and the seconds."""
    batch = proxies.setup_batch(setup)
    legacy = proxies.Setup(**{**proxies.asdict(setup), "fisher_sum": "per_channel"})
    rows = []
    for cell in cells:
        start = time.perf_counter()
        scores = proxies.cell_proxies(cell, seed=0, batch=batch, setup=setup)
        seconds = time.perf_counter() - start
        scores["fisher_per_channel"] = proxies.cell_proxies(cell, ["fisher"], 0, batch, setup=legacy)["fisher"]
        rows.append({"hash": cell.hash, **scores, "seconds": seconds})
    return pd.DataFrame(rows)


def main() -> None:
    args = parse_args()
    naslib = baselines.read_naslib(args.naslib)
    sample = baselines.naslib_sample(naslib, args.cells, args.seed)
    if args.write_cells:
        with open(args.write_cells, "w") as handle:
            json.dump([cell.pruned().to_dict() for cell in sample["cell"]], handle)
        return
    torch.set_num_threads(1)
    setup = proxies.setup_of(args.setup)
    ours = our_scores(list(sample["cell"]), setup)
    table = baselines.naslib_comparison(ours, sample)
    print(f"{len(sample)} of NASLib's {len(naslib)} NB-101 cells (sample seed {args.seed}), setup {setup.name}, "
          f"1 thread, median {ours['seconds'].median():.1f} s per cell for all proxies")
    print(table.round(3).to_string())
    if args.json:
        print(json.dumps({"cells": len(sample), "setup": setup.name, "median_seconds": float(ours["seconds"].median()),
                          "table": table.round(4).to_dict(orient="index")}))


if __name__ == "__main__":
    main()

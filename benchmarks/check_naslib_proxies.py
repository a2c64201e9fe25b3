"""Our zero-cost proxies beside NASLib's published per-cell scores of the same NB-101 cells (issue 20).

NAS-Bench-Suite-Zero's NB-101 scores as NASLib first published them (github.com/automl/NASLib, commit
22280f71, `naslib/data/zc_nasbench101.json`, Apache-2.0: 500 records of 292 distinct cells, each with flops, params, snip, jacov,
grad_norm, fisher, grasp, l2_norm, synflow and `val_accuracy`, one NB-101 repeat's validation accuracy in %).
Not embedded in data/: give its path. For a seeded sample of those cells it scores every proxy here under a
setup (and fisher also summed per channel, this module's sum before issue 20), then prints per proxy:
Spearman against NASLib's `val_accuracy` (ours and NASLib's, same cells), the same against the mean NB-101
validation accuracy (on the cells whose NB-101 record data/ holds), and the per-cell Spearman of our score against NASLib's.

    git -C NASLib show 22280f71:naslib/data/zc_nasbench101.json > zc_nasbench101.json
    python benchmarks/check_naslib_proxies.py --naslib zc_nasbench101.json --cells 60 --setup published --json
"""

from __future__ import annotations

import argparse
import ast
import json
import time

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from wsnas import proxies, space
from wsnas.nb101 import NB101

NASLIB_OPS = {0: "input", 1: "output", 2: "maxpool3x3", 3: "conv1x1-bn-relu", 4: "conv3x3-bn-relu"}  # conversions.py
NASLIB_NAMES = {"jacob_cov": "jacov"}  # our name -> NASLib's, where they differ
COMPARED = ("synflow", "snip", "grad_norm", "fisher", "grasp", "jacob_cov", "l2_norm", "params", "flops")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--naslib", required=True, help="path of NASLib's zc_nasbench101.json")
    parser.add_argument("--cells", type=int, default=60, help="seeded sample of the file's cells")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (the networks use seed 0)")
    parser.add_argument("--setup", default="published", help="one of wsnas.proxies.SETUPS")
    parser.add_argument("--json", action="store_true", help="last line of stdout: JSON of the results")
    return parser.parse_args()


def naslib_cells(path: str) -> pd.DataFrame:
    """NASLib's scores, one row per distinct cell (its first record: the file scores some pruned cells several
    times, on other batches and initialisations), with our Cell and hash."""
    records = json.load(open(path))["nasbench101"]["cifar10"]
    rows = []
    for key, scores in records.items():
        code = ast.literal_eval(key)
        cell = space.Cell(np.array(code[:49]).reshape(7, 7), tuple(NASLIB_OPS[op] for op in code[49:]))
        rows.append({"cell": cell, "hash": cell.hash, **scores})
    return pd.DataFrame(rows).drop_duplicates("hash").reset_index(drop=True)


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


def comparison(ours: pd.DataFrame, naslib: pd.DataFrame) -> pd.DataFrame:
    """Per proxy: Spearman vs NASLib's target (ours, theirs), vs the NB-101 mean, and ours vs theirs per cell."""
    theirs = naslib.drop(columns="cell").set_index("hash").add_prefix("naslib_")
    merged = ours.join(theirs, on="hash")
    merged["mean_validation"] = NB101.default().metrics(merged["hash"])["mean_validation_accuracy"].to_numpy()
    target = merged["naslib_val_accuracy"]
    rows = []
    for name in [*COMPARED, "fisher_per_channel", "naswot", "zico", "zen"]:
        base = "fisher" if name == "fisher_per_channel" else name
        column = f"naslib_{NASLIB_NAMES.get(base, base)}"
        published = merged[column] if column in merged else None
        rows.append({"proxy": name, "ours_vs_naslib_target": spearmanr(merged[name], target)[0],
                     "naslib_vs_naslib_target": spearmanr(published, target)[0] if published is not None else np.nan,
                     "ours_vs_nb101_mean": spearmanr(merged[name], merged["mean_validation"], nan_policy="omit")[0],
                     "ours_vs_naslib_per_cell": spearmanr(merged[name], published)[0]
                     if published is not None else np.nan})
    return pd.DataFrame(rows).set_index("proxy")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    setup = proxies.setup_of(args.setup)
    naslib = naslib_cells(args.naslib)
    sample = naslib.sample(min(args.cells, len(naslib)), random_state=args.seed)
    ours = our_scores(list(sample["cell"]), setup)
    table = comparison(ours, sample)
    print(f"{len(sample)} of NASLib's {len(naslib)} NB-101 cells (sample seed {args.seed}), setup {setup.name}, "
          f"1 thread, median {ours['seconds'].median():.1f} s per cell for all proxies")
    print(table.round(3).to_string())
    if args.json:
        print(json.dumps({"cells": len(sample), "setup": setup.name, "median_seconds": float(ours["seconds"].median()),
                          "table": table.round(4).to_dict(orient="index")}))


if __name__ == "__main__":
    main()

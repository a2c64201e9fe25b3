"""Cost per cell of each training-free proxy, alone and with shared passes, on one CPU thread, under each setup.

    python benchmarks/bench_proxies.py                 # 4 uniform A0 cells, both setups, 1 thread
    python benchmarks/bench_proxies.py --cells 2 --setups paper,published --json

For the same cells (network built and initialised inside every timing, as `wsnas proxies` does), under
each setup of `wsnas.proxies.SETUPS` (paper: stem 16, batch 64; published: stem 128, batch 32): each proxy
computed alone; all of them with the shared forward/backward (fp32, contiguous, the default); and the shared
computation with channels-last memory, with bf16 autocast, and in fp64. Ratios within this one run are the
result (the machine is shared, so absolute seconds vary); with `--json` the last line of stdout is a JSON
object of the medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from wsnas import proxies
from wsnas.space import cells_at, sample_cells

SHARED = {"shared fp32 contiguous": {}, "shared fp32 channels_last": {"memory_format": "channels_last"},
          "shared bf16 contiguous": {"precision": "bf16"}, "shared fp64 contiguous": {"precision": "fp64"}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="A0")
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--setups", default=",".join(proxies.SETUPS), help="comma-separated setups (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the cell sample")
    parser.add_argument("--json", action="store_true", help="last line of stdout: JSON of the results")
    return parser.parse_args()


def seconds(cell, names, batch, setup, **settings) -> float:
    """Wall seconds of one `cell_proxies` call (after the batch is loaded)."""
    start = time.perf_counter()
    proxies.cell_proxies(cell, names, seed=0, batch=batch, setup=setup, **settings)
    return time.perf_counter() - start


def measure(cells, setup: proxies.Setup) -> dict:
    """Median seconds per cell of each proxy alone and of every shared setting, and their ratios."""
    batch = proxies.setup_batch(setup)
    seconds(cells[0], proxies.PROXIES, batch, setup)  # warm-up: first calls pay one-off allocations
    alone = {name: [] for name in proxies.PROXIES}
    shared = {key: [] for key in SHARED}
    for cell in cells:  # interleaved, so that load changes on the machine hit every setting alike
        for name in proxies.PROXIES:
            alone[name].append(seconds(cell, [name], batch, setup))
        for key, settings in SHARED.items():
            shared[key].append(seconds(cell, proxies.PROXIES, batch, setup, **settings))
    alone = {name: float(np.median(values)) for name, values in alone.items()}
    shared = {key: float(np.median(values)) for key, values in shared.items()}
    fp32 = shared["shared fp32 contiguous"]
    return {"batch_size": setup.batch_size, "stem": setup.stem_out_channels, "alone_s": alone, "shared_s": shared,
            "sum_alone_s": sum(alone.values()), "shared_over_sum_alone": fp32 / sum(alone.values()),
            "channels_last_over_contiguous": shared["shared fp32 channels_last"] / fp32,
            "bf16_over_fp32": shared["shared bf16 contiguous"] / fp32,
            "fp64_over_fp32": shared["shared fp64 contiguous"] / fp32}


def report(name: str, result: dict) -> None:
    fp32 = result["shared_s"]["shared fp32 contiguous"]
    print(f"setup {name} (stem {result['stem']}, batch {result['batch_size']}); median s per cell")
    for proxy, value in result["alone_s"].items():
        print(f"  {proxy:<28} {value:8.3f} s   {value / fp32:.2f} x shared")
    print(f"  {'sum of the proxies alone':<28} {result['sum_alone_s']:8.3f} s")
    for key, value in result["shared_s"].items():
        print(f"  {key:<28} {value:8.3f} s   {value / result['sum_alone_s']:.2f} x sum alone")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    cells = cells_at(sample_cells(args.space, args.cells, args.seed))
    setups = [proxies.setup_of(name) for name in args.setups.split(",")]
    results = {setup.name: measure(cells, setup) for setup in setups}
    print(f"{len(cells)} {args.space} cells, {args.threads} thread(s)")
    for name, result in results.items():
        report(name, result)
    if len(results) > 1:
        base = results[setups[0].name]["shared_s"]["shared fp32 contiguous"]
        for name, result in results.items():
            print(f"  {name}: all proxies (fp32) {result['shared_s']['shared fp32 contiguous'] / base:.2f} x {setups[0].name}")
    if args.json:
        print(json.dumps({"cells": len(cells), "space": args.space, "threads": args.threads, "setups": results}))


if __name__ == "__main__":
    main()

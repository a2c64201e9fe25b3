"""Cost per cell of each training-free proxy, alone and with shared passes, on one CPU thread.

    python benchmarks/bench_proxies.py                 # 4 uniform A0 cells, 1 thread
    python benchmarks/bench_proxies.py --cells 8 --json

For the same cells (network built and initialised inside every timing, as `wsnas proxies` does):
each proxy computed alone; all of them with the shared forward/backward (fp32, contiguous, the
default); and the shared computation with channels-last memory and with bf16 autocast, and in fp64. Ratios
within this one run are the result (the machine is shared, so absolute seconds vary); with
`--json` the last line of stdout is a JSON object of the medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from wsnas import proxies
from wsnas.space import cells_at, sample_cells


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="A0")
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the cell sample")
    parser.add_argument("--json", action="store_true", help="last line of stdout: JSON of the results")
    return parser.parse_args()


def seconds(cell, names, batch, **settings) -> float:
    """Wall seconds of one `cell_proxies` call (after the batch is loaded)."""
    start = time.perf_counter()
    proxies.cell_proxies(cell, names, seed=0, batch=batch, **settings)
    return time.perf_counter() - start


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    batch = proxies.proxy_batch()
    cells = cells_at(sample_cells(args.space, args.cells, args.seed))
    seconds(cells[0], proxies.PROXIES, batch)  # warm-up: first calls pay one-off allocations
    settings = {
        "alone": {name: [] for name in proxies.PROXIES},
        "shared fp32 contiguous": [], "shared fp32 channels_last": [], "shared bf16 contiguous": [],
        "shared fp64 contiguous": [],
    }
    for cell in cells:  # interleaved, so that load changes on the machine hit every setting alike
        for name in proxies.PROXIES:
            settings["alone"][name].append(seconds(cell, [name], batch))
        settings["shared fp32 contiguous"].append(seconds(cell, proxies.PROXIES, batch))
        settings["shared fp32 channels_last"].append(seconds(cell, proxies.PROXIES, batch, memory_format="channels_last"))
        settings["shared bf16 contiguous"].append(seconds(cell, proxies.PROXIES, batch, precision="bf16"))
        settings["shared fp64 contiguous"].append(seconds(cell, proxies.PROXIES, batch, precision="fp64"))
    alone = {name: float(np.median(values)) for name, values in settings["alone"].items()}
    shared = {key: float(np.median(values)) for key, values in settings.items() if key != "alone"}
    sum_alone = sum(alone.values())
    print(f"{len(cells)} {args.space} cells, {args.threads} thread(s), batch {proxies.BATCH_SIZE}; median s per cell")
    for name, value in alone.items():
        print(f"  {name:<28} {value:8.3f} s   {value / shared['shared fp32 contiguous']:.2f} × shared")
    print(f"  {'sum of the proxies alone':<28} {sum_alone:8.3f} s")
    for key, value in shared.items():
        print(f"  {key:<28} {value:8.3f} s   {value / sum_alone:.2f} × sum alone")
    result = {"cells": len(cells), "space": args.space, "threads": args.threads, "batch_size": proxies.BATCH_SIZE,
              "alone_s": alone, "shared_s": shared, "sum_alone_s": sum_alone,
              "shared_over_sum_alone": shared["shared fp32 contiguous"] / sum_alone,
              "channels_last_over_contiguous": shared["shared fp32 channels_last"] / shared["shared fp32 contiguous"],
              "bf16_over_fp32": shared["shared bf16 contiguous"] / shared["shared fp32 contiguous"],
              "fp64_over_fp32": shared["shared fp64 contiguous"] / shared["shared fp32 contiguous"]}
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()

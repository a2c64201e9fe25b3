"""The ranking check of the fast evaluation setting on a trained super-net (issue: the ranking must not change).

Evaluates the same cells, validation images and BN batches twice with one trained study super-net:
plain fp32 (contiguous, batch norm as its own pass, every validation batch through the whole network)
and the profile's fast setting (channels-last, batch norm folded, the stem's convolution computed once, in the
profiles' default eval_precision: bf16 autocast where the CPU has native bf16, the BNS-FT statistics pass included).
Passes when the Spearman between the two proxies is >= 0.99 and their Spearman against NB-101 differ by
<= 0.01, in both modes (`wsnas.metrics.ranking_check`).

    python benchmarks/check_fast_ranking.py --run A4_baseline_seed0_e9 --cells 200 --json
    python benchmarks/check_fast_ranking.py --run A4_baseline_seed0_e81 --epoch 9 --modes bns_ft
    python benchmarks/check_fast_ranking.py --run A4_baseline_seed0_e81 --cells 300 --precision bf16 --json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from wsnas import results, runs, study
from wsnas.checkpoints import load_trained_supernet
from wsnas.data import TrainingBatches, balanced_subset, load_training_data, validation_precision
from wsnas.evaluate import MODES, evaluation_cells, proxy_accuracy
from wsnas.metrics import ranking_check
from wsnas.nb101 import NB101
from wsnas.settings import run_settings


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="A4_baseline_seed0_e9", help="a study run with a finished checkpoint in results/")
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--epoch", type=int, default=None, help="a kept mid-run checkpoint of the run (default: its last)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="the fast setting's precision (bf16: autocast on the CPU; auto: the profiles' default "
                             "eval_precision, bf16 where the CPU has native bf16; the plain one stays fp32)")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.precision = validation_precision(args.precision, "cpu")
    torch.set_num_threads(args.threads)
    run = results.study_run(args.run)
    overrides = study.run_overrides(run)
    spec = run_settings(results.STUDY_PROFILE, space=results.STUDY_SPACE, variant=run.variant, seed=run.seed, **overrides)
    config, settings = spec.train, spec.evaluate
    run_dir = runs.run_directory("training", spec.params(), overrides=overrides, root=runs.resolve_root(None))
    split = load_training_data(config)
    valid = torch.from_numpy(balanced_subset(split.valid_labels.numpy(), settings["valid_subset"], settings["eval_seed"]))
    cells, _ = evaluation_cells(results.STUDY_SPACE, settings["num_eval_cells"], settings["eval_seed"], NB101.default())
    cells = cells[: args.cells]
    truth = NB101.default().metrics([cell.hash for cell in cells])["mean_validation_accuracy"].to_numpy()
    report = {"run": run.name, "epoch": args.epoch or run.epochs, "cells": len(cells), "valid_images": len(valid),
              "fast_precision": args.precision}
    for mode in args.modes:
        proxies, seconds = {}, {}
        for name, layout, fold, batch_size in (("plain", "contiguous", False, 250), ("fast", config.memory_format, True,
                                                                                     settings["eval_batch_size"])):
            supernet = load_trained_supernet(config, run_dir, args.epoch).to(memory_format=torch.channels_last if layout == "channels_last"
                                                                 else torch.contiguous_format)
            supernet.set_batch_norm_folding(fold)
            batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"], layout=layout)
            started = time.process_time()
            table = proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                                   train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                                   bn_statistics=settings["bn_statistics"], batch_size=batch_size, progress=False,
                                   layout=layout, precision=args.precision if name == "fast" else "fp32")
            seconds[name] = time.process_time() - started
            proxies[name] = table["proxy_accuracy"].to_numpy()
        report[mode] = entry = {**ranking_check(proxies["plain"], proxies["fast"], truth),
                                "cpu_seconds_plain": round(seconds["plain"], 1), "cpu_seconds_fast": round(seconds["fast"], 1)}
        print(f"{mode}: {entry}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()

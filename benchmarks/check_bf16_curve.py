"""bf16 training against the seed noise of fp32 (issue: training in bf16 must leave the learning curve within it).

Trains the demo super-net for a few hundred steps three or more times, all channels-last: fp32 and bf16
autocast with the same seed (so the same initial weights, cells and batches), and fp32 with other seeds.
Passes when, at every epoch, the bf16 run's training accuracy differs from the fp32 run of its seed by no
more than the largest difference between fp32 seeds at that epoch (the seed noise). Also reports the
median step time of each run (wall clock, so a ratio only where the runs shared the machine alike).

    python benchmarks/check_bf16_curve.py --epochs 4 --noise-seeds 1 2 --json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from wsnas.settings import config_for
from wsnas.train import train_supernet


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--space", default="A4")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the profile's training subset")
    parser.add_argument("--seed", type=int, default=0, help="the seed trained in both precisions")
    parser.add_argument("--noise-seeds", type=int, nargs="+", default=[1, 2], help="further fp32 seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def train_curve(profile: str, space: str, seed: int, precision: str, epochs: int, root: Path) -> dict:
    """Epoch training accuracies and the median step seconds of one short run."""
    config = config_for(profile, space=space, seed=seed, epochs=epochs, precision=precision,
                        memory_format="channels_last")
    result = train_supernet(config, root / f"{precision}_seed{seed}", resume=False, progress=False)
    return {"accuracy": result.epoch_logs["accuracy"].to_numpy(),
            "median_step_s": float(result.step_logs["seconds"].median()), "steps": len(result.step_logs)}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        fp32 = train_curve(args.profile, args.space, args.seed, "fp32", args.epochs, root)
        bf16 = train_curve(args.profile, args.space, args.seed, "bf16", args.epochs, root)
        others = [train_curve(args.profile, args.space, seed, "fp32", args.epochs, root) for seed in args.noise_seeds]
    precision_gap = np.abs(bf16["accuracy"] - fp32["accuracy"])
    seed_noise = np.max([np.abs(other["accuracy"] - fp32["accuracy"]) for other in others], axis=0)
    report = {"profile": args.profile, "space": args.space, "steps": fp32["steps"], "seed": args.seed,
              "noise_seeds": args.noise_seeds,
              "fp32_accuracy": fp32["accuracy"].round(4).tolist(), "bf16_accuracy": bf16["accuracy"].round(4).tolist(),
              "noise_seed_accuracy": [other["accuracy"].round(4).tolist() for other in others],
              "bf16_gap": precision_gap.round(4).tolist(), "seed_noise": seed_noise.round(4).tolist(),
              "step_ratio_bf16_to_fp32": round(bf16["median_step_s"] / fp32["median_step_s"], 3),
              "passes": bool((precision_gap <= seed_noise).all())}
    for epoch, (a, b, gap, noise) in enumerate(zip(fp32["accuracy"], bf16["accuracy"], precision_gap, seed_noise)):
        print(f"epoch {epoch}: fp32 {a:.4f}  bf16 {b:.4f}  |gap| {gap:.4f}  seed noise {noise:.4f}")
    print(f"median step: bf16 / fp32 = {report['step_ratio_bf16_to_fp32']}; passes: {report['passes']}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()

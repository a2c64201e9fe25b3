"""Does bf16 slow the start of the paper-scale run? Its first epochs in fp32, against its own bf16 log.

The paper-scale run (profile `paper`, 3 x 3 cells) trained near chance for its first epochs in bf16. This trains
the same configuration (same seed: same cells, batches and initial weights) in fp32 for `--epochs` epochs in a
temporary directory and prints, per block of steps, the mean loss and training accuracy of both, from the bf16
run's committed step log (data/study/<run>/state/train_steps.parquet).

    OMP_NUM_THREADS=1 python benchmarks/check_paper_start.py --epochs 2 --json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd
import torch

from wsnas import results, study
from wsnas.datafiles import data_path
from wsnas.settings import config_for
from wsnas.train import train_supernet

RUN = "A4_baseline_seed0_paper_e432"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train in fp32 (157 steps each)")
    parser.add_argument("--block", type=int, default=50, help="steps per row of the comparison")
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = results.study_run(RUN)
    overrides = study.run_overrides(run)
    fp32 = config_for(run.profile, space=results.STUDY_SPACE, variant=run.variant, seed=run.seed,
                      **{**overrides, "precision": "fp32"})
    with tempfile.TemporaryDirectory() as folder:
        result = train_supernet(fp32, Path(folder), stop_after_epochs=args.epochs, progress=False)
        fp32_steps = result.step_logs
    bf16_steps = pd.read_parquet(data_path(f"{study.STUDY_DIR}/{RUN}/state/train_steps.parquet"))
    steps = len(fp32_steps)
    if len(bf16_steps) < steps:
        raise SystemExit(f"the committed bf16 log has {len(bf16_steps)} steps, fewer than {steps}: commit more first")
    table = pd.concat({"fp32": fp32_steps, "bf16": bf16_steps.iloc[:steps]}, names=["precision"]).reset_index(0)
    table["block"] = table["step"] // args.block * args.block
    blocks = table.pivot_table(index="block", columns="precision", values=["loss", "accuracy"], aggfunc="mean")
    print(blocks.round(3).to_string())
    if args.json:
        print(json.dumps({"steps": steps, "fp32_accuracy": float(fp32_steps["accuracy"].iloc[-args.block:].mean()),
                          "bf16_accuracy": float(bf16_steps["accuracy"].iloc[steps - args.block:steps].mean()),
                          "fp32_loss": float(fp32_steps["loss"].iloc[-args.block:].mean()),
                          "bf16_loss": float(bf16_steps["loss"].iloc[steps - args.block:steps].mean())}))


if __name__ == "__main__":
    main()

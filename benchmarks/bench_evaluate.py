"""Evaluation per cell, NO-FT and BNS-FT together: the code of commit 947de03 against today's, side by side.

    python benchmarks/bench_evaluate.py --json                      # cpu-study scale: A4, 3 x 1 cells, 2,000 images
    python benchmarks/bench_evaluate.py --scale paper --cells 2     # paper scale: 3 x 3 cells, 10,000 images
    python benchmarks/bench_evaluate.py --precision fp32 bf16       # today in fp32 and in bf16, in the same rounds

Today's setting is the profiles' default evaluation precision (`--precision auto`: bf16 where the CPU has native bf16,
else fp32), the BNS-FT statistics pass included.

The baseline is `benchmarks/baseline_947de03/` (that commit's `evaluate.py` and `supernet.py`, verbatim). Each
setting runs in a fresh process, because today's evaluation changes a process-wide setting (glibc's allocation
thresholds, `wsnas.data.keep_freed_memory`); the processes alternate, `--rounds` times, each evaluating the same
`--cells` cells after one warm-up cell (16 by default: today's evaluation does some work once for all the cells it is
given, the stem and, in NO-FT, what the first cell position computes from the stem output alone, and real evaluations
are 300 cells or more, so a handful of cells would overstate the per-cell cost; `--cells 4` gives the earlier
default), with the same weights (an untrained super-net of seed 0: the time does not
depend on the weights), validation images and BN batches, in the scale's profile settings (channels-last,
BN folded, BNS-FT from the last of 4 training batches of 256). The time is the process's CPU time (user + system)
per cell, median over the rounds. The last line of `--json` is {"baseline_ms", "fast_ms", "ratio", "setting"}.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from wsnas.data import validation_precision

SCALES = {  # profile, overrides: the network and evaluation of each scale
    "cpu-study": ("cpu-study", {}),
    "paper": ("paper", {"data_source": "embedded", "allow_lossy": True}),
}
ROLES = ("baseline", "fast")


def measure(role: str, scale: str, cells: int, seed: int, precision: str = "fp32") -> float:
    """CPU milliseconds per cell of `role`'s evaluation (NO-FT + BNS-FT) in this process; the baseline is fp32."""
    import torch

    from wsnas.data import TrainingBatches, load_training_data, memory_format
    from wsnas.evaluate import validation_indices
    from wsnas.settings import config_for, evaluation_settings
    from wsnas.space import cells_at, sample_cells

    torch.set_num_threads(1)
    profile, overrides = SCALES[scale]
    config = config_for(profile, **overrides)
    settings = evaluation_settings(profile, **overrides)
    if role == "baseline":
        sys.path.insert(0, str(Path(__file__).parent))
        from baseline_947de03.evaluate import proxy_accuracy
        from baseline_947de03.supernet import SuperNet
    else:
        from wsnas.evaluate import proxy_accuracy
        from wsnas.supernet import SuperNet
    torch.manual_seed(0)
    supernet = SuperNet(config.space, stem_channels=config.stem_channels, num_stacks=config.num_stacks,
                        cells_per_stack=config.cells_per_stack).to(memory_format=memory_format(config.memory_format))
    split = load_training_data(config)
    valid = validation_indices(split, settings)
    chosen = cells_at(sample_cells(config.space, cells + 1, seed=seed))

    def evaluate(some_cells) -> None:
        for mode in ("no_ft", "bns_ft"):
            batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"], layout=config.memory_format)
            proxy_accuracy(supernet, some_cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                           train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                           bn_statistics=settings["bn_statistics"], batch_size=settings["eval_batch_size"],
                           progress=False, layout=config.memory_format,
                           precision="fp32" if role == "baseline" else precision)

    evaluate(chosen[:1])  # warm-up: first-call costs are not the evaluation's
    before = resource.getrusage(resource.RUSAGE_SELF)
    evaluate(chosen[1:])
    after = resource.getrusage(resource.RUSAGE_SELF)
    return 1000 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu-study")
    parser.add_argument("--cells", type=int, default=16, help="cells per round and setting (after one warm-up cell)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the two settings")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--precision", nargs="+", choices=["auto", "fp32", "bf16"], default=["auto"],
                        help="today's evaluation in these precisions, each its own setting in the same rounds "
                             "(bf16: autocast; auto: the profiles' default eval_precision, bf16 where the CPU has "
                             "native bf16, else fp32; the baseline stays fp32); the JSON line reports the first")
    parser.add_argument("--role", choices=ROLES, help=argparse.SUPPRESS)  # a child process: measure one setting
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.precision = [validation_precision(precision, "cpu") for precision in args.precision]
    if args.role:
        print(measure(args.role, args.scale, args.cells, args.seed, args.precision[0]))
        return
    settings = [("baseline", "fp32"), *(("fast", precision) for precision in args.precision)]
    times: dict[tuple[str, str], list[float]] = {setting: [] for setting in settings}
    for round_ in range(args.rounds):
        for role, precision in settings if round_ % 2 == 0 else reversed(settings):  # alternate which goes first
            done = subprocess.run([sys.executable, __file__, "--role", role, "--scale", args.scale, "--cells",
                                   str(args.cells), "--seed", str(round_), "--precision", precision],
                                  capture_output=True, text=True, check=True)
            times[role, precision].append(float(done.stdout.split()[-1]))
            print(f"round {round_}: {role} {precision} {times[role, precision][-1]:,.0f} ms per cell", flush=True)
    median = {setting: statistics.median(values) for setting, values in times.items()}
    baseline = median["baseline", "fp32"]
    for precision in args.precision:
        print(f"{args.scale}: 947de03 {baseline:,.0f} ms, today {precision} {median['fast', precision]:,.0f} ms per cell "
              f"(NO-FT + BNS-FT, CPU time), ratio {median['fast', precision] / baseline:.2f}")
    if args.json:
        fast = median["fast", args.precision[0]]
        print(json.dumps({"baseline_ms": round(baseline, 1), "fast_ms": round(fast, 1), "ratio": round(fast / baseline, 4),
                          "setting": f"{args.scale}, {args.cells} cells: channels-last {args.precision[0]}, BN folded, "
                                     "freed memory kept, max-pools as maxima of shifted views, NO-FT's first-cell "
                                     "results from the stem output shared, discarded BN batches not built",
                          **{f"{precision}_ratio": round(median['fast', precision] / baseline, 4)
                             for precision in args.precision[1:]}}))

if __name__ == "__main__":
    main()

"""GPU smoke benchmark of the `paper` profile, sized for about 5 minutes of one GPU.

1. about 300 training steps of the real loop (`wsnas.train.train_supernet`, the authors' protocol, stem 16,
   3 x 3 cells, batch 256), then a 20-cell BNS-FT evaluation on all 10,000 validation images;
2. prints images per second, peak GPU memory, and the projected hours of one 432-epoch run and of the
   paper's grid (175 super-nets: 7 spaces x 5 variants x 5 seeds; 210 evaluations of 1,000 cells);
3. repeats the training measurement with N runs packed on the one GPU (separate processes, N = 1, 4, 8)
   and prints the aggregate throughput.

    python benchmarks/gpu_smoke.py                     # CUDA; embedded JPEG CIFAR-10 unless --cifar-root holds the batches
    python benchmarks/gpu_smoke.py --device cpu --tiny # checks the script on a CPU (numbers mean nothing)

Every output line that comes from the embedded copy says "JPEG q75 CIFAR-10".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from wsnas import data
from wsnas.checkpoints import load_trained_supernet
from wsnas.evaluate import evaluation_cells, proxy_accuracy
from wsnas.nb101 import NB101
from wsnas.settings import config_for, evaluation_settings
from wsnas.train import train_supernet

PAPER_STEPS = 432 * 157
GRID_SUPERNETS = 7 * 5 * 5
GRID_EVALUATIONS = 7 * 6 * 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--space", default="A4")
    parser.add_argument("--memory-format", default="contiguous", choices=("contiguous", "channels_last"))
    parser.add_argument("--precision", default="fp32", choices=data.PRECISION_SETTINGS)
    parser.add_argument("--cifar-root", default="", help="folder holding cifar-10-batches-py/ (default: embedded copy)")
    parser.add_argument("--pack", nargs="*", type=int, default=[1, 4, 8], help="runs packed on the GPU (0 to skip)")
    parser.add_argument("--tiny", action="store_true", help="stem 8, one cell per stack, batch 32 (CPU check)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def overrides(args: argparse.Namespace, steps: int) -> dict:
    batch = 32 if args.tiny else 256
    values = dict(epochs=2, train_subset=max(batch, steps * batch // 2), batch_size=batch, divergence_patience=0,
                  memory_format=args.memory_format, precision=args.precision,
                  data_source="lossless" if args.cifar_root else "embedded", data_root=args.cifar_root)
    if args.tiny:
        values.update(stem_channels=8, cells_per_stack=1)
    return values


def train(args: argparse.Namespace, steps: int, work: Path) -> dict:
    """Train `steps` steps; images/s from the median step after warm-up, and peak GPU memory."""
    config = config_for("paper", space=args.space, device=args.device, **overrides(args, steps))
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = train_supernet(config, work, progress=False)
    logs = result.step_logs.iloc[20:] if len(result.step_logs) > 40 else result.step_logs
    return {"state": result.state, "steps": len(result.step_logs), "wall_s": time.perf_counter() - started,
            "ms_per_step": 1000 * float(logs["seconds"].median()),
            "images_per_second": config.batch_size / float(logs["seconds"].median()),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
            "config": config, "run_dir": str(work)}


def evaluate(args: argparse.Namespace, trained: dict) -> float:
    """Seconds per cell of BNS-FT on the paper's evaluation settings (all 10,000 validation images)."""
    config, settings = trained["config"], evaluation_settings("paper")
    supernet = load_trained_supernet(config, Path(trained["run_dir"]))
    split = data.load_cifar10(config.data_source, root=config.data_root or None, device=args.device)
    cells, _ = evaluation_cells(args.space, args.cells, 0, NB101.default())
    batches = data.TrainingBatches(split, settings["bn_batch_size"], seed=0, layout=config.memory_format)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    proxy_accuracy(supernet, cells, split.valid_images, split.valid_labels, mode="bns_ft", train_batches=batches,
                   num_bn_batches=settings["num_bn_batches"], bn_statistics=settings["bn_statistics"],
                   batch_size=settings["eval_batch_size"], progress=False, layout=config.memory_format,
                   precision=data.validation_precision(config.precision))
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / args.cells


def packed(args: argparse.Namespace, count: int) -> float:
    """Aggregate images/s of `count` training processes sharing the device (100 steps each)."""
    command = [sys.executable, __file__, "--worker", "--device", args.device, "--steps", "100", "--space", args.space,
               "--memory-format", args.memory_format, "--precision", args.precision, "--cifar-root", args.cifar_root]
    command += ["--tiny"] if args.tiny else []
    started = time.perf_counter()
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [json.loads(worker.communicate()[0].strip().splitlines()[-1]) for worker in workers]
    wall = time.perf_counter() - started
    return sum(output["images"] for output in outputs) / wall


def main() -> None:
    args = parse_args()
    label = "lossless CIFAR-10" if args.cifar_root else "JPEG q75 CIFAR-10 (embedded copy)"
    with tempfile.TemporaryDirectory() as work:
        if args.worker:  # one packed run: print the images it trained on
            trained = train(args, args.steps, Path(work) / "run")
            print(json.dumps({"images": trained["steps"] * trained["config"].batch_size}))
            return
        if args.device.startswith("cuda"):
            if not torch.cuda.is_available():
                sys.exit(f"error: torch {torch.__version__} sees no CUDA device (a CPU-only build?); --device cpu checks the script")
            print(f"card: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
        trained = train(args, args.steps, Path(work) / "run")
        config = trained["config"]
        print(f"data: {label}; {args.space}, stem {config.stem_channels}, {config.num_stacks} x {config.cells_per_stack} cells, "
              f"batch {config.batch_size}, {args.memory_format}, {args.precision}")
        print(f"train: {trained['state']}, {trained['steps']} steps, {trained['ms_per_step']:.1f} ms/step, "
              f"{trained['images_per_second']:,.0f} images/s, peak GPU memory {trained['peak_gib']:.2f} GiB [{label}]")
        seconds_per_cell = evaluate(args, trained)
        run_hours = PAPER_STEPS * trained["ms_per_step"] / 1000 / 3600
        evaluation_hours = 1000 * seconds_per_cell / 3600
        print(f"evaluate: BNS-FT {seconds_per_cell:.3f} s/cell on 10,000 validation images [{label}]")
        print(f"projected: one 432-epoch run {run_hours:.1f} h of training + {evaluation_hours:.2f} h per 1,000-cell evaluation; "
              f"the grid ({GRID_SUPERNETS} super-nets, {GRID_EVALUATIONS} evaluations) "
              f"{GRID_SUPERNETS * run_hours + GRID_EVALUATIONS * evaluation_hours:,.0f} GPU-hours one run at a time")
        for count in [n for n in args.pack if n > 0]:
            throughput = packed(args, count)
            print(f"packed: {count} run(s) on one device: {throughput:,.0f} images/s in all "
                  f"({throughput / trained['images_per_second']:.2f}x one run) [{label}]")


if __name__ == "__main__":
    main()

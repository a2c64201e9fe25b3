"""The super-net's training step with 1 or all torch threads, alone and beside one busy process.

Found while CI built the book beside a `nice 19` proxy job: the demo run trained at 60 images/s instead of
700. With as many torch threads as cores, every parallel region waits for the thread whose core is busy.
Each configuration runs in a fresh process: demo scale (stem 16, 3 stacks of 1 cell, batch 128),
channels-last, A4, wall time per step (the waiting is what is measured), median over the steps.

    python benchmarks/bench_threads.py --json                      # beside a pure-Python busy loop
    python benchmarks/bench_threads.py --competitor torch --json   # beside fp64 convolutions on one thread
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

COMPETITORS = {  # a busy process: pure Python, or torch fp64 convolutions on one thread (like the fp64 proxy job)
    "python": "while True: pass",
    "torch": ("import torch; torch.set_num_threads(1); x = torch.randn(64, 16, 32, 32, dtype=torch.float64); "
              "w = torch.randn(16, 16, 3, 3, dtype=torch.float64)\nwhile True: torch.nn.functional.conv2d(x, w, padding=1)"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per configuration (median taken)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--competitor", default="python", choices=sorted(COMPETITORS))
    parser.add_argument("--json", action="store_true", help="end with one JSON line of every configuration")
    parser.add_argument("--child", nargs=2, metavar=("PRECISION", "THREADS"), help=argparse.SUPPRESS)
    return parser.parse_args()


def child(precision: str, threads: int, steps: int) -> None:
    """Print the median wall milliseconds of a demo-scale training step (runs in its own process)."""
    import torch

    from wsnas.space import cells_at, sample_cells
    from wsnas.supernet import SuperNet

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = SuperNet("A4", stem_channels=16, cells_per_stack=1).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.RMSprop(net.parameters(), lr=0.01, alpha=0.9, eps=1.0, momentum=0.9)
    images = torch.randn(128, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (128,))
    cells = cells_at(sample_cells("A4", steps + 2, seed=0))
    times = []
    for index, cell in enumerate(cells):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = net(images, cell)
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        optimizer.step()
        if index >= 2:  # two warm-up steps
            times.append(time.perf_counter() - start)
    print(1e3 * statistics.median(times))


def measure(precision: str, threads: int, steps: int, busy: str | None) -> float:
    competitor = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", COMPETITORS[busy]]) if busy else None
    try:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run([sys.executable, __file__, "--steps", str(steps), "--child", precision, str(threads)],
                              capture_output=True, text=True, check=True, env=env)
        return float(done.stdout.strip().splitlines()[-1])
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()


def main() -> None:
    args = parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.steps)
        return
    cores = os.cpu_count() or 1
    rows = []
    print(f"cores={cores} steps={args.steps}; ms per step (wall), and × the same setting alone")
    for precision in args.precisions:
        for threads in sorted({1, cores}):
            alone = measure(precision, threads, args.steps, busy=None)
            beside = measure(precision, threads, args.steps, busy=args.competitor)
            rows.append({"precision": precision, "threads": threads, "alone_ms": round(alone, 1),
                         "beside_busy_ms": round(beside, 1), "slowdown": round(beside / alone, 2)})
            print(f"{precision} threads={threads}: alone {alone:7.1f} ms, beside a busy nice-19 {args.competitor} process "
                  f"{beside:7.1f} ms ({beside / alone:.2f}x)")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()

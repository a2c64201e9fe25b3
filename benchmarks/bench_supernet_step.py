"""The super-net's training step: memory format and precision side by side, or against the standalone network.

`--compare settings` (default): the same super-net, cells, batch and weights stepped in fp32
contiguous (the baseline, today's default), channels-last fp32, and bf16 autocast in either layout,
interleaved; ratios are setting / baseline. With `--json` the last line is one JSON object
{"baseline_ms", "fast_ms", "ratio", "setting"} for the fastest setting (`--fast` to name another, or
`--fast demo` for the demo profile's setting on this machine).

`--compare standalone`: one training step of the super-net for a cell vs one step of the standalone
nasbench_pytorch network.

Same cell, widths, weights, batch and device; forward + backward + optimizer step. The standalone
network (extracted with `wsnas.supernet.extract_network`) is the floor: the ratio says what the
weight sharing (slicing, the plan lookup) costs. Target: ratio ≤ 1.15 in every space.

    python benchmarks/bench_supernet_step.py --json                          # settings, demo scale, CPU
    python benchmarks/bench_supernet_step.py --compare standalone --batch-size 64
    python benchmarks/bench_supernet_step.py --device cuda   # GPU, wall time with synchronisation

On CPU the step is timed with the thread's CPU time (one torch thread), which other jobs on a
shared machine do not inflate; on CUDA with wall time after `torch.cuda.synchronize()`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from wsnas.data import training_precision
from wsnas.profiles import load_profile
from wsnas.space import SPACES, cells_at, sample_cells
from wsnas.supernet import SuperNet, extract_network


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", choices=("settings", "standalone"), default="settings")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128, help="default: the demo profile's 128")
    parser.add_argument("--cells-per-stack", type=int, default=1, help="default: the demo profile's 1")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for the fast setting")
    parser.add_argument("--fast", default=None, help="setting reported in the JSON line: a name, or demo (the demo profile's here); default: the fastest")
    parser.add_argument("--stem-channels", type=int, default=16)
    parser.add_argument("--cells-per-space", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per cell and network (median taken)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--single-kernel", action="store_true")
    parser.add_argument("--spaces", nargs="*", default=list(SPACES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return parser.parse_args()


class StepTimer:
    """Times callables with CPU thread time (CPU) or synchronised wall time (CUDA)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __call__(self, step) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            torch.cuda.synchronize()
            return time.perf_counter() - start
        start = time.thread_time()
        step()
        return time.thread_time() - start


def training_step(forward, optimizer, images, labels):
    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(forward(images), labels)
        loss.backward()
        optimizer.step()

    return step


def optimizer_for(model: torch.nn.Module) -> torch.optim.Optimizer:
    # The paper's optimiser settings (PyTorch's RMSprop; the TF-style one is wsnas.train's).
    return torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, eps=1.0, momentum=0.9, weight_decay=1e-4)


SETTINGS = {  # name: (memory format, bf16 autocast)
    "fp32 contiguous": (torch.contiguous_format, False),
    "fp32 channels_last": (torch.channels_last, False),
    "bf16 contiguous": (torch.contiguous_format, True),
    "bf16 channels_last": (torch.channels_last, True),
}
BASELINE = "fp32 contiguous"


def run_cell(supernet: SuperNet, images: torch.Tensor, cell, autocast: torch.autocast) -> torch.Tensor:
    with autocast:
        return supernet(images, cell).float()


def demo_setting(device: torch.device) -> str:
    """The SETTINGS name of the demo profile's training step on `device` (its `auto` precision resolved)."""
    demo = load_profile("demo")
    return f"{training_precision(demo['precision'], device)} {demo['memory_format']}"


def compare_settings(args: argparse.Namespace, device: torch.device, timer: StepTimer) -> None:
    """Median step time of each setting on the same super-nets, cells and batch, interleaved; ratios vs fp32 contiguous."""
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch_size, 3, 32, 32, generator=generator).to(device)
    labels = torch.randint(0, 10, (args.batch_size,), generator=generator).to(device)
    print(f"device={device} batch={args.batch_size} stem={args.stem_channels} cells/stack={args.cells_per_stack} "
          f"threads={args.threads} steps={args.steps} (median) cells/space={args.cells_per_space}")
    totals = dict.fromkeys(SETTINGS, 0.0)
    print(f"{'space':9s} " + " ".join(f"{name:>20s}" for name in SETTINGS))
    for space in args.spaces:
        cells = cells_at(sample_cells(space, args.cells_per_space, seed=args.seed))
        torch.manual_seed(args.seed)
        reference = SuperNet(space, single_kernel=args.single_kernel, stem_channels=args.stem_channels,
                             cells_per_stack=args.cells_per_stack).to(device).train()
        nets = {}
        for name, (layout, bf16) in SETTINGS.items():
            supernet = SuperNet(space, single_kernel=args.single_kernel, stem_channels=args.stem_channels,
                                cells_per_stack=args.cells_per_stack).to(device).train()
            supernet.load_state_dict(reference.state_dict())
            nets[name] = (supernet.to(memory_format=layout), optimizer_for(supernet), images.contiguous(memory_format=layout),
                          torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16))
        times = {name: [] for name in SETTINGS}
        for cell in cells:
            steps = {name: training_step(lambda x, net=net, autocast=autocast: run_cell(net, x, cell, autocast),
                                         optimizer, batch, labels)
                     for name, (net, optimizer, batch, autocast) in nets.items()}
            for _ in range(args.warmup):
                for step in steps.values():
                    step()
            for _ in range(args.steps):  # interleaved, so that drifts hit every setting alike
                for name, step in steps.items():
                    times[name].append(timer(step))
        medians = {name: 1e3 * statistics.median(values) for name, values in times.items()}
        for name in SETTINGS:
            totals[name] += medians[name]
        print(f"{space:9s} " + " ".join(f"{medians[name]:9.1f} ms ({medians[name] / medians[BASELINE]:4.2f}x)"
                                        for name in SETTINGS))
    ratios = {name: totals[name] / totals[BASELINE] for name in SETTINGS}
    print("all spaces: " + ", ".join(f"{name} {ratio:.3f}x" for name, ratio in ratios.items()))
    if args.json:
        fast = demo_setting(device) if args.fast == "demo" else args.fast or min(
            (name for name in SETTINGS if name != BASELINE), key=ratios.get)
        count = len(args.spaces)
        print(json.dumps({"baseline_ms": round(totals[BASELINE] / count, 2), "fast_ms": round(totals[fast] / count, 2),
                          "ratio": round(ratios[fast], 4), "setting": fast}))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.compare == "settings":
        compare_settings(args, device, StepTimer(device))
        return
    timer = StepTimer(device)
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch_size, 3, 32, 32, generator=generator).to(device)
    labels = torch.randint(0, 10, (args.batch_size,), generator=generator).to(device)
    print(f"device={device} batch={args.batch_size} stem={args.stem_channels} single_kernel={args.single_kernel} "
          f"threads={args.threads} steps={args.steps} (median) cells/space={args.cells_per_space}")
    print(f"{'space':9s} {'supernet ms':>12s} {'standalone ms':>14s} {'ratio':>6s}  per-cell ratios")
    for space in args.spaces:
        supernet = SuperNet(space, single_kernel=args.single_kernel, stem_channels=args.stem_channels).to(device)
        supernet_optimizer = optimizer_for(supernet)
        cells = cells_at(sample_cells(space, args.cells_per_space, seed=args.seed))
        super_total = standalone_total = 0.0
        ratios = []
        for cell in cells:
            network = extract_network(supernet, cell).to(device).train()
            supernet.train()
            super_step = training_step(lambda x, c=cell: supernet(x, c), supernet_optimizer, images, labels)
            standalone_step = training_step(network, optimizer_for(network), images, labels)
            for _ in range(args.warmup):
                super_step(), standalone_step()
            super_times, standalone_times = [], []
            for _ in range(args.steps):  # interleaved, so that drifts hit both alike
                super_times.append(timer(super_step))
                standalone_times.append(timer(standalone_step))
            super_ms, standalone_ms = 1e3 * statistics.median(super_times), 1e3 * statistics.median(standalone_times)
            super_total, standalone_total = super_total + super_ms, standalone_total + standalone_ms
            ratios.append(super_ms / standalone_ms)
        ratio = super_total / standalone_total
        print(f"{space:9s} {super_total / len(cells):12.1f} {standalone_total / len(cells):14.1f} {ratio:6.3f}  "
              + " ".join(f"{r:.3f}" for r in ratios))


if __name__ == "__main__":
    main()

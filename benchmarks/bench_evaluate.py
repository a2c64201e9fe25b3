"""BNS-FT proxy evaluation at demo scale: settings side by side, or cells per minute, peak memory and where the time goes.

    python benchmarks/bench_evaluate.py --json             # settings side by side (default), demo profile, CPU
    python benchmarks/bench_evaluate.py --breakdown        # where the time goes
    python benchmarks/bench_evaluate.py --profile paper --device cuda --random-data

Settings (`--compare settings`, the default): the same super-net weights, cells, validation images
and BN batches evaluated BNS-FT per cell with (a) today's baseline, fp32 contiguous, batch norm as a
separate pass, the profile's validation batch, with the profile's BN statistics and, as the issue found
it, with the mean over the BN batches (the authors' "last" needs only the last batch), and (b) the fast settings: channels-last, batch norm
folded into the convolutions once the statistics are fixed, inference mode, a larger validation
batch, optionally bf16 autocast. Cells are interleaved across settings so that load drifts hit all
alike; CPU time of the process. `--json` ends with {"baseline_ms", "fast_ms", "ratio", "setting",
"ratio_to_mean_bn_before"} per cell for the fastest setting.

Breakdown (`--breakdown`):
Three runs over the same cells: BNS-FT as `proxy_accuracy` does it (the measurement), the BN
re-estimation alone (`fine_tuned_statistics` with an empty body) and the validation pass alone
(NO-FT); the last two, as shares of the first, say where the time goes. The super-net is
untrained (timing does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch

from wsnas.data import epoch_batches, eval_batches, load_cifar10, memory_format
from wsnas.evaluate import fine_tuned_statistics, proxy_accuracy
from wsnas.profiles import load_profile
from wsnas.space import cells_at, sample_cells
from wsnas.supernet import SuperNet


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--space", default="A4")
    parser.add_argument("--cells", type=int, default=None, help="default: the profile's num_eval_cells")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-batch-size", type=int, default=1000, help="validation batch size")
    parser.add_argument("--random-data", action="store_true", help="random CIFAR-shaped tensors instead of CIFAR-10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--breakdown", action="store_true", help="time BNS-FT, BN re-estimation and NO-FT (one setting)")
    parser.add_argument("--fast-batch-size", type=int, default=500, help="validation batch of the fast settings")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def bns_ft_before(supernet, cell, valid_images, valid_labels, batches, settings, batch_size, device) -> float:
    """BNS-FT of one cell as wsnas.evaluate did it before this benchmark's speed-ups (commit 5273319): every
    validation batch normalised and run through the whole network, stem included, per cell, under no_grad."""
    supernet.eval()
    with fine_tuned_statistics(supernet, cell, batches, settings["num_bn_batches"], settings["bn_statistics"], device):
        correct = 0
        with torch.no_grad():
            for batch, labels in eval_batches(valid_images, valid_labels, batch_size):
                correct += int((supernet(batch.to(device), cell).argmax(1) == labels.to(device)).sum())
    return correct / len(valid_labels)


def compare_settings(args, settings, device) -> None:
    """BNS-FT seconds per cell of each setting on the same weights, cells and images, interleaved cell by cell."""
    cells = cells_at(sample_cells(args.space, args.cells or 12, seed=args.seed))
    valid_images, valid_labels, train_batches = evaluation_data(args, settings, device)
    torch.manual_seed(args.seed)
    reference = SuperNet(args.space, stem_channels=settings["stem_channels"], num_stacks=settings["num_stacks"],
                         cells_per_stack=settings["cells_per_stack"]).to(device)
    variants = {  # name: (memory format, fold BN, validation batch, precision); a str: the loop before, with these BN statistics
        "baseline: before (per-cell stem, BN pass, fp32)": settings["bn_statistics"],
        "before, BN statistics = mean of the batches (the evaluation as issue 11 found it)": "mean",
        "fp32 contiguous, BN pass": ("contiguous", False, settings["eval_batch_size"], "fp32"),
        "fp32 channels_last, BN pass": ("channels_last", False, settings["eval_batch_size"], "fp32"),
        "fp32 contiguous, BN folded": ("contiguous", True, settings["eval_batch_size"], "fp32"),
        f"fp32 channels_last, BN folded, batch {args.fast_batch_size}": ("channels_last", True, args.fast_batch_size, "fp32"),
        f"bf16 channels_last, BN folded, batch {args.fast_batch_size}": ("channels_last", True, args.fast_batch_size, "bf16"),
    }
    before = ("contiguous", False, settings["eval_batch_size"], "fp32")
    resolved = {name: before if isinstance(value, str) else value for name, value in variants.items()}
    nets = {}
    for name, (layout, fold, _, _) in resolved.items():
        net = SuperNet(args.space, stem_channels=settings["stem_channels"], num_stacks=settings["num_stacks"],
                       cells_per_stack=settings["cells_per_stack"]).to(device)
        net.load_state_dict(reference.state_dict())
        net.set_batch_norm_folding(fold)
        nets[name] = net.to(memory_format=memory_format(layout))
    seconds = {name: [] for name in variants}
    accuracies = {name: [] for name in variants}
    for index, cell in enumerate(cells):
        for name, (layout, _, batch_size, precision) in resolved.items():
            batches = [(x.contiguous(memory_format=memory_format(layout)), y) for x, y in train_batches]
            started = time.process_time()
            if isinstance(variants[name], str):
                accuracy = bns_ft_before(nets[name], cell, valid_images, valid_labels, batches,
                                         {**settings, "bn_statistics": variants[name]}, batch_size, device)
            else:
                accuracy = float(proxy_accuracy(
                    nets[name], [cell], valid_images, valid_labels, mode="bns_ft", train_batches=batches,
                    num_bn_batches=settings["num_bn_batches"], bn_statistics=settings["bn_statistics"], batch_size=batch_size,
                    device=device, progress=False, layout=layout, precision=precision)["proxy_accuracy"].iloc[0])
            if index > 0:  # the first cell warms up every setting
                seconds[name].append(time.process_time() - started)
            accuracies[name].append(accuracy)
    baseline = next(iter(variants))
    base_ms = 1e3 * statistics.median(seconds[baseline])
    print(f"profile={args.profile} space={args.space} cells={len(cells) - 1} (+1 warm-up) valid images={len(valid_labels)} "
          f"threads={args.threads} BN batches={len(train_batches)}x{len(train_batches[0][1])}; BNS-FT CPU ms per cell (median)")
    ratios = {}
    for name in variants:
        ms = 1e3 * statistics.median(seconds[name])
        ratios[name] = ms / base_ms
        agree = sum(a == b for a, b in zip(accuracies[name], accuracies[baseline]))
        print(f"  {name:48s} {ms:8.0f} ms  {ratios[name]:5.2f}x   same accuracy as baseline on {agree}/{len(cells)} cells")
    if args.json:
        fast = min((name for name in variants if not isinstance(variants[name], str)), key=ratios.get)
        print(json.dumps({"baseline_ms": round(base_ms, 1), "fast_ms": round(base_ms * ratios[fast], 1),
                          "ratio": round(ratios[fast], 4), "setting": fast,
                          "ratio_to_mean_bn_before": round(ratios[fast] / ratios[list(variants)[1]], 4)}))


def evaluation_data(args, settings, device):
    """(valid uint8 images, valid labels, a list of BN mini-batches), CIFAR-10 or random, sized as the profile says."""
    evaluate = data = settings  # load_profile returns one flat dict
    valid_count = evaluate["valid_subset"] or 10_000
    batch_size, num_batches = evaluate["bn_batch_size"], evaluate["num_bn_batches"]
    generator = torch.Generator().manual_seed(args.seed)
    if args.random_data:
        valid_images = torch.randint(0, 256, (valid_count, 3, 32, 32), dtype=torch.uint8, generator=generator)
        valid_labels = torch.randint(0, 10, (valid_count,), generator=generator)
        train = [(torch.randn(batch_size, 3, 32, 32, generator=generator), torch.randint(0, 10, (batch_size,)))
                 for _ in range(num_batches)]
        return valid_images.to(device), valid_labels.to(device), [(x.to(device), y.to(device)) for x, y in train]
    split = load_cifar10(source=data["data_source"], root=data["data_root"] or None, device=device,
                         allow_lossy=data["allow_lossy"])
    batches = epoch_batches(split, batch_size, generator)
    train = [next(batches) for _ in range(num_batches)]
    return split.valid_images[:valid_count], split.valid_labels[:valid_count], train


def timed(function, device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds); on a shared CPU machine the CPU time is the steadier one."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    settings = load_profile(args.profile)
    if not args.breakdown:
        compare_settings(args, settings, device)
        return
    net_settings = evaluate = settings  # load_profile returns one flat dict
    cells = cells_at(sample_cells(args.space, args.cells or evaluate["num_eval_cells"], seed=args.seed))
    valid_images, valid_labels, train_batches = evaluation_data(args, settings, device)
    supernet = SuperNet(args.space, stem_channels=net_settings["stem_channels"], num_stacks=net_settings["num_stacks"],
                        cells_per_stack=net_settings["cells_per_stack"]).to(device)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    common = dict(batch_size=args.eval_batch_size, device=device, progress=False)
    proxy_accuracy(supernet, cells[:2], valid_images, valid_labels, train_batches=train_batches, **common)  # warm-up
    bns_ft = timed(lambda: proxy_accuracy(supernet, cells, valid_images, valid_labels, mode="bns_ft",
                                          train_batches=train_batches, num_bn_batches=evaluate["num_bn_batches"],
                                          bn_statistics=evaluate["bn_statistics"], **common), device)

    def reestimate_only():
        for cell in cells:
            with fine_tuned_statistics(supernet, cell, train_batches, evaluate["num_bn_batches"], device=device):
                pass

    reestimation = timed(reestimate_only, device)
    validation = timed(lambda: proxy_accuracy(supernet, cells, valid_images, valid_labels, mode="no_ft", **common),
                       device)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"profile={args.profile} space={args.space} device={device} threads={args.threads} cells={len(cells)} "
          f"stem={net_settings['stem_channels']} cells/stack={net_settings['cells_per_stack']} "
          f"valid images={len(valid_labels)} BN batches={len(train_batches)}×{len(train_batches[0][1])} "
          f"data={'random' if args.random_data else 'CIFAR-10'} eval batch={args.eval_batch_size}")
    for name, (wall, cpu) in [("BNS-FT", bns_ft), ("  BN re-estimation alone", reestimation),
                              ("  validation pass alone (NO-FT)", validation)]:
        print(f"{name}: wall {wall:.1f} s ({60 * len(cells) / wall:.0f} cells/min), CPU {cpu:.1f} s "
              f"({60 * len(cells) / cpu:.0f} cells per CPU-minute, {100 * cpu / bns_ft[1]:.0f}% of BNS-FT's CPU)")
    print(f"peak RSS: {rss_peak:.0f} MiB (before evaluation {rss_before:.0f} MiB)")
    if device.type == "cuda":
        print(f"peak CUDA memory allocated: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()

"""BNS-FT proxy evaluation at demo scale: cells per minute, peak memory, and where the time goes.

    python benchmarks/bench_evaluate.py                    # demo profile settings, CPU, embedded CIFAR-10
    python benchmarks/bench_evaluate.py --profile paper --device cuda --random-data

Three runs over the same cells: BNS-FT as `proxy_accuracy` does it (the measurement), the BN
re-estimation alone (`fine_tuned_statistics` with an empty body) and the validation pass alone
(NO-FT); the last two, as shares of the first, say where the time goes. The super-net is
untrained (timing does not depend on the weights).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from wsnas.data import epoch_batches, load_cifar10
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
    return parser.parse_args()


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

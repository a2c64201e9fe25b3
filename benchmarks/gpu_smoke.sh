#!/usr/bin/env bash
# GPU smoke benchmark of the paper profile: a few hundred training steps of the real loop
# (wsnas.train.train_supernet, stem 16, 3x3 cells, batch 256, TF RMSProp) and the BNS-FT + NO-FT
# evaluation of a few cells on the full 10,000-image validation split. Prints the card, images/s,
# ms/step, seconds per evaluated cell and peak GPU memory. Installs nothing; run from the repository
# root with the project's environment active:
#
#   bash benchmarks/gpu_smoke.sh [CIFAR_ROOT]        # CIFAR_ROOT holds cifar-10-batches-py/
#
# Environment: STEPS (default 300), CELLS (5), SPACE (A4), VARIANT (baseline), MIXED (0 or 1: bf16
# autocast), DEVICE (cuda; "cpu" only to check the script itself, with tiny settings).
# Without lossless CIFAR-10 under CIFAR_ROOT the embedded JPEG copy is used: same speed, other pixels.
set -euo pipefail

STEPS="${STEPS:-300}"
CELLS="${CELLS:-5}"
SPACE="${SPACE:-A4}"
VARIANT="${VARIANT:-baseline}"
MIXED="${MIXED:-0}"
DEVICE="${DEVICE:-cuda}"
CIFAR_ROOT="${1:-${HOME}/.cache/wsnas/cifar10}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wsnas_gpu_smoke.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [[ "$DEVICE" == cuda* ]]; then
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "error: nvidia-smi not found; this benchmark needs an NVIDIA GPU (DEVICE=cpu checks the script only)" >&2
    exit 1
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi

python - "$STEPS" "$CELLS" "$SPACE" "$VARIANT" "$MIXED" "$DEVICE" "$CIFAR_ROOT" "$WORK" <<'PY'
import sys
import time
from pathlib import Path

import torch

from wsnas import data
from wsnas.evaluate import evaluation_cells, proxy_accuracy
from wsnas.nb101 import NB101
from wsnas.evaluate import evaluation_settings
from wsnas.train import config_for, load_trained_supernet, train_supernet

steps, cells, space, variant, mixed, device, cifar_root, work = sys.argv[1:]
steps, cells, mixed = int(steps), int(cells), mixed == "1"
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit(f"error: torch {torch.__version__} sees no CUDA device (a CPU-only build?)")
    print(f"card: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    torch.backends.cudnn.benchmark = True
lossless = data._lossless_folder(cifar_root) is not None
print(f"data: {'lossless CIFAR-10 under ' + cifar_root if lossless else 'embedded JPEG copy (no lossless CIFAR-10 under ' + cifar_root + ')'}")

# Two epochs of a training subset sized to give `steps` steps: the real loop, checkpoints included.
batch_size = 256 if device.startswith("cuda") else 32
subset = max(batch_size, steps * batch_size // 2)
overrides = dict(epochs=2, train_subset=subset, batch_size=batch_size, data_root=cifar_root,
                 data_source="auto", allow_lossy=True, mixed_precision=mixed, divergence_patience=0)
if not device.startswith("cuda"):
    overrides.update(stem_channels=8, cells_per_stack=1)
config = config_for("paper", space=space, variant=variant, device=device, **overrides)
print(f"training: {space} {variant}, stem {config.stem_channels}, {config.num_stacks}x{config.cells_per_stack} cells, "
      f"batch {batch_size}, {2 * -(-subset // batch_size)} steps, mixed precision {mixed}")
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
started = time.perf_counter()
result = train_supernet(config, Path(work) / "run", progress=False)
wall = time.perf_counter() - started
logs = result.step_logs.iloc[20:] if len(result.step_logs) > 40 else result.step_logs  # skip warm-up
ms_per_step = 1000 * logs["seconds"].median()
print(f"train: {result.state}, {len(result.step_logs)} steps, {wall:.1f} s wall (incl. data loading and checkpoints)")
print(f"train: median {ms_per_step:.1f} ms/step, {batch_size / ms_per_step * 1000:,.0f} images/s "
      f"(x {config.avg_k} cell(s) per step)")
if device.startswith("cuda"):
    print(f"train: peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    torch.cuda.reset_peak_memory_stats()

settings = evaluation_settings("paper")
supernet = load_trained_supernet(config, Path(work) / "run")
split = data.load_cifar10("auto", root=cifar_root, device=device)
sample, _ = evaluation_cells(space, cells, seed=0, nb101=NB101.load())
for mode in ("no_ft", "bns_ft"):
    batches = data.TrainingBatches(split, settings["bn_batch_size"], seed=0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    table = proxy_accuracy(supernet, sample, split.valid_images, split.valid_labels, mode=mode, train_batches=batches,
                           num_bn_batches=settings["num_bn_batches"], progress=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / cells
    print(f"evaluate {mode}: {seconds:.2f} s/cell on {len(split.valid_labels):,} validation images "
          f"(1,000 cells: {seconds * 1000 / 60:.1f} min); mean proxy accuracy {table['proxy_accuracy'].mean():.3f}")
if device.startswith("cuda"):
    print(f"evaluate: peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    paper_hours = 432 * 157 * ms_per_step / 1000 / 3600
    print(f"extrapolated: one paper super-net (432 epochs x 157 steps) ~ {paper_hours:.1f} h of training on this card")
PY

#!/usr/bin/env bash
# GPU smoke benchmark of the paper profile, one script that fits in 5 minutes of GPU time (see
# benchmarks/gpu_smoke.py): ~300 training steps, a 20-cell BNS-FT evaluation, projected hours for one
# 432-epoch run and for the paper's grid, then N = 1, 4, 8 runs packed on the one GPU.
# Offline: uses the embedded JPEG copy unless CIFAR_ROOT holds cifar-10-batches-py/.
#
#   bash benchmarks/gpu_smoke.sh [CIFAR_ROOT]
#   DEVICE=cpu EXTRA=--tiny bash benchmarks/gpu_smoke.sh   # checks the script on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${DEVICE:-cuda}" == cuda* ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    || { echo "error: nvidia-smi failed; this benchmark needs an NVIDIA GPU (DEVICE=cpu EXTRA=--tiny checks the script)" >&2; exit 1; }
fi
exec python benchmarks/gpu_smoke.py --device "${DEVICE:-cuda}" --cifar-root "${1:-}" \
  --memory-format "${MEMORY_FORMAT:-contiguous}" --precision "${PRECISION:-fp32}" ${EXTRA:-}

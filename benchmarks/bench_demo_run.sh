#!/usr/bin/env bash
# The demo super-net run (what the ranking chapter trains and evaluates) at an earlier commit and at this
# checkout, side by side on two cores (one thread each, fresh decoded-image caches and results), so that
# the ratio is measured in one run on a machine whose absolute speed varies between runs.
#
#   bash benchmarks/bench_demo_run.sh [BASELINE_COMMIT] [ROUNDS]
#
# BASELINE_COMMIT defaults to 7caf993, the last commit before the memory-format/precision work (issue 11).
# Prints, per round, the wall seconds of each and the ratio this/baseline; each round swaps which starts first.
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=${1:-7caf993}
rounds=${2:-1}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/baseline" "$baseline" >/dev/null 2>&1 \
  || { echo "error: cannot check out $baseline (is it a commit of this repository?)" >&2; exit 1; }

one_run() {  # one_run NAME LIBDIR: the demo A4 baseline run, seconds of wall time into $work/NAME.seconds
  local name=$1 lib=$2 start
  start=$(date +%s.%N)
  OMP_NUM_THREADS=1 PYTHONPATH="$lib" WSNAS_CACHE="$work/$name.cache" \
    python -m wsnas.cli train --profile demo --space A4 --seed 0 --results "$work/$name.results" \
    > "$work/$name.log" 2>&1 || { echo "error: the $name run failed, see its log:" >&2; tail "$work/$name.log" >&2; exit 1; }
  python -c "import sys; print(float(sys.argv[1]) - float(sys.argv[2]))" "$(date +%s.%N)" "$start" > "$work/$name.seconds"
}

for round in $(seq "$rounds"); do
  rm -rf "$work"/*.cache "$work"/*.results
  if (( round % 2 )); then
    one_run baseline "$work/baseline/lib" & first=$!; one_run this "$PWD/lib" & second=$!
  else
    one_run this "$PWD/lib" & first=$!; one_run baseline "$work/baseline/lib" & second=$!
  fi
  wait "$first" && wait "$second"
  b=$(cat "$work/baseline.seconds"); t=$(cat "$work/this.seconds")
  python -c "import sys; r, c, b, t = sys.argv[1:]; print(f'round {r}: baseline ({c}) {float(b):.0f} s, '
    f'this checkout {float(t):.0f} s, ratio {float(t) / float(b):.2f}')" "$round" "$baseline" "$b" "$t"
done

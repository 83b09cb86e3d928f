#!/usr/bin/env bash
# Before/after for optimisation steps: run several recforge builds (binaries built from the
# commits being compared) on the same `bench ranking` workload, interleaved round by round so
# machine load hits every build alike, and print each build's median train / inference
# examples/s and batch-1 latency over the rounds, with the load average seen.
#
#   bench/compare_builds.sh ROUNDS BIN... [-- extra `bench ranking` flags]
#   e.g. bench/compare_builds.sh 5 /tmp/rf-bins/s0-baseline target/release/recforge -- --model mlp
set -euo pipefail
rounds=$1; shift
bins=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do bins+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
  for i in "${!bins[@]}"; do
    "${bins[$i]}" --log warn bench ranking --recforge-only --rounds 1 --json "$@" > "$out/$i-$r.json"
  done
done
python3 - "$out" "${bins[@]}" <<'PY'
import json, statistics, sys, glob, os
out, bins = sys.argv[1], sys.argv[2:]
print(f"{'build':<40} {'train ex/s':>11} {'infer ex/s':>11} {'b1 ms':>7}  load 1m")
for i, b in enumerate(bins):
    rs = [json.load(open(f))["rounds"][0] for f in sorted(glob.glob(os.path.join(out, f"{i}-*.json")))]
    med = lambda k: statistics.median(r["recforge"][k] for r in rs)
    loads = [r["load_avg_1m"] for r in rs]
    print(f"{b:<40} {med('train_examples_per_sec'):>11.0f} {med('inference_examples_per_sec'):>11.0f} "
          f"{med('latency_batch1_ms'):>7.3f}  {min(loads):.2f}-{max(loads):.2f}")
PY

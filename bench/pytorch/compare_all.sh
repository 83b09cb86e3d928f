#!/usr/bin/env bash
# Every zoo model side by side with PyTorch in one sitting (docs/results/ranking.md): the
# reference shape, 3 alternating rounds each, back to back. Needs bench/pytorch/.venv (see
# requirements.txt) and a release build. Run it on a quiet machine; it prints the CPU and load.
# Usage: bench/pytorch/compare_all.sh [MODEL ...]   (default: hiformer mlp dcn_v2 autoint lr; BIN=…)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-target/release/recforge}
date -u; lscpu | grep 'Model name'; uptime; git log --oneline -1 2>/dev/null || true
for model in "${@:-hiformer mlp dcn_v2 autoint lr}"; do
  for m in $model; do
    echo "== $m"
    "$bin" bench ranking --model "$m" --shape reference --steps 10 --rounds 3 --threads 2 -q | tail -12
    uptime
  done
done

#!/usr/bin/env bash
# RecBole 1.2.1's SASRec and BPR on exactly recforge's leave-one-out split (full-corpus
# ranking): recforge writes the split as a RecBole atomic file, RecBole trains and tests on it,
# one JSON per model under $OUT. Not run by CI (needs bench/recbole/setup.sh and a release build).
#
# Usage: bench/recbole/compare.sh [SCHEMA]     (default configs/data/ml1m_seq.toml)
#        EPOCHS=50 THREADS=2 OUT=runs/recbole BIN=target/release/recforge
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-target/release/recforge}
schema=${1:-configs/data/ml1m_seq.toml}
name=$(basename "$schema" .toml)
out=${OUT:-runs/recbole}
python=bench/recbole/.venv/bin/python
[ -x "$python" ] || { echo "no RecBole venv: run bench/recbole/setup.sh first" >&2; exit 1; }
lscpu | grep 'Model name'; uptime
"$bin" data export-split "$schema" --format recbole --out "$out"
for model in SASRec BPR; do
  echo "== RecBole $model on $name"
  "$python" bench/recbole/run_recbole.py --data-path "$out" --dataset "$name" --model "$model" \
    --epochs "${EPOCHS:-50}" --threads "${THREADS:-2}" --out "$out/$model" | tee "$out/$model.json"
done

#!/usr/bin/env bash
# recforge's logistic regression against scikit-learn's, fitted to its optimum, on the same
# split of UCI Adult (issue: "LR trained to its optimum"). Fetches the data if missing, writes
# the split with `recforge data export-split`, trains configs/adult_lr.toml, then runs
# bench/python/lr_reference.py in its own venv (numpy, scikit-learn) and prints one table.
# Usage: bench/lr-parity.sh [path/to/recforge]   (default: target/release/recforge)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/recforge}"
[ -x "$bin" ] || { echo "no recforge binary at $bin: cargo build --release -p recforge, or pass its path" >&2; exit 1; }
out=runs/lr-parity
mkdir -p "$out"
data="${RECFORGE_DATA:-$PWD/data}"
RECFORGE_DATA="$data" "$bin" --quiet data fetch --only adult
RECFORGE_DATA="$data" "$bin" --quiet data export-split configs/data/adult.toml --out "$out/split.csv"
RECFORGE_DATA="$data" "$bin" --quiet train configs/adult_lr.toml --out "$out/recforge-lr" "${@:2}"
venv=bench/python/.venv-lr
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check numpy scikit-learn
fi
"$venv/bin/python" bench/python/lr_reference.py --data "$data/tabular/adult/adult.data" \
  --schema configs/data/adult.toml --split "$out/split.csv" \
  --recforge "$out/recforge-lr/metrics.json" --out "$out/parity.json"

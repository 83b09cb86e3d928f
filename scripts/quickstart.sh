#!/usr/bin/env bash
# README's first command: installs what the default build needs and is missing (cmake, clang and
# libclang-dev for the vendored llama.cpp) with apt-get, then runs `recforge quickstart` from a
# release build (fetches MovieLens-1M if missing, prepares it, trains LR + MLP, evaluates,
# writes runs/quickstart/). Extra arguments go to `recforge quickstart`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh cmake clang libclang-dev
exec cargo run --release -p recforge -- quickstart "$@"

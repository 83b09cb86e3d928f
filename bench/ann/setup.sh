#!/usr/bin/env bash
# Creates bench/ann/.venv, the Python peers of `recforge bench retrieval` (bench/ann/peers.py):
# hnswlib (HNSW, inner-product space) and FAISS (flat inner-product search, the exact baseline).
# Idempotent: rerunning only installs what is missing.
#
#   bench/ann/setup.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install --quiet --no-cache-dir -r "$here/requirements.txt"
"$here/.venv/bin/python" -c 'import hnswlib, faiss, numpy; print("hnswlib", getattr(hnswlib, "__version__", "?"), "faiss", faiss.__version__, "numpy", numpy.__version__)'

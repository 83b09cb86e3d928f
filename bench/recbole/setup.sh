#!/usr/bin/env bash
# Creates bench/recbole/.venv with RecBole 1.2.1 and the pins it needs (requirements.txt).
# Not used by CI. Usage: bench/recbole/setup.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")"
python=${1:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements.txt
.venv/bin/pip install -q --no-deps recbole==1.2.1 "setuptools<70"
.venv/bin/python -c "import recbole, torch, numpy; print('recbole', recbole.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)"

#!/usr/bin/env bash
# Creates bench/llm/.venv, the Python peers of `recforge bench llm --peers` (bench/llm/peers.py):
# sentence-transformers (on torch) and llama-cpp-python (built from source for this CPU).
#
#   bench/llm/setup.sh                 # both peers
#   SKIP_LLAMA_CPP=1 bench/llm/setup.sh   # sentence-transformers only
#
# torch from the default index is a multi-GB wheel; when bench/pytorch/.venv (the PyTorch
# side-by-side of the ranking bench) already has it, this venv reuses that torch through a .pth
# file instead of downloading it again (set TORCH_VENV to point elsewhere, or to "" to install).
# Idempotent: rerunning only installs what is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
torch_venv="${TORCH_VENV-$here/../pytorch/.venv}"
python3 -m venv "$venv"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ -n "$torch_venv" ] && [ -x "$torch_venv/bin/python" ] && "$torch_venv/bin/python" -c 'import torch' 2>/dev/null; then
  torch_site="$("$torch_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$torch_site" > "$site/recforge-torch.pth"
  echo "reusing torch from $torch_site"
fi
"$venv/bin/pip" install --quiet sentence-transformers
if [ "${SKIP_LLAMA_CPP:-0}" != 1 ]; then
  # Native code for this CPU, but no AMX: with GGML_NATIVE=ON ggml also compiles its AMX kernels
  # where the CPU reports AMX, and on the project's Xeon VM those made the first decode segfault.
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'}" \
    "$venv/bin/pip" install --quiet llama-cpp-python
fi
"$venv/bin/python" - <<'PY'
import importlib
for name in ("torch", "sentence_transformers", "llama_cpp"):
    try:
        m = importlib.import_module(name)
        print(f"{name} {getattr(m, '__version__', '?')}")
    except ImportError as e:
        print(f"{name}: not installed ({e})")
PY

#!/usr/bin/env bash
# The test suite, exactly as CI runs it:
#   1. installs what is missing of redis-server, cmake, clang and libclang-dev with apt-get (cargo
#      builds llama.cpp); makes sure a Redis server answers on loopback (starts a private one and
#      stops it at exit), and a 3-master Redis Cluster (REDIS_CLUSTER_URL, ports
#      REDIS_CLUSTER_PORTS, default 30001-30003);
#   2. installs numpy and safetensors for the numpy parity test if python3 lacks them, and
#      fetches the real datasets and models the `fetched_*` tests read (DATA.md; skipped when
#      already there and verified by checksum);
#   3. `cargo test --workspace --profile dev --no-fail-fast` (one build of the whole workspace;
#      the remaining `#[ignore]`d tests are the long ones run by hand). The `dev` profile (which
#      the default `test` profile only inherits) is named so that `maturin develop` in step 5
#      reuses every compiled dependency: cargo hashes the profile's name into each artifact;
#   4. the `#[ignore]`d `fetched_*` tests on the same build (no second compile);
#   5. builds the Python package into a private virtualenv (maturin, same profile) and runs
#      its pytest suite python/tests (OBP parity included);
#   6. closes with one "N passed, N failed, N skipped" line, also when tests fail.
# Extra arguments go to both cargo test runs and to maturin (e.g. `--release`).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
status=0

REDIS_PORT="${REDIS_PORT:-6379}"
# Debian packages the build and tests need: Redis, and cmake + clang for the vendored llama.cpp
# (crate llama-cpp-sys-2, feature `llama-cpp`).
bash "$(dirname "$0")/ensure-packages.sh" redis-server cmake clang libclang-dev || exit 1
started_redis=0
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save "" --appendonly no >/dev/null
  started_redis=1
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# A 3-master Redis Cluster on loopback (REDIS_CLUSTER_PORTS, default 30001-30003; no replicas,
# no persistence), for the tests that run the Redis users on a cluster as well
# (REDIS_CLUSTER_URL; they fail without it). An already running cluster on those ports is reused.
REDIS_CLUSTER_PORTS="${REDIS_CLUSTER_PORTS:-30001 30002 30003}"
cluster_dir=""
start_redis_cluster() {
  local port first="" nodes=() up=1
  for port in $REDIS_CLUSTER_PORTS; do
    first="${first:-$port}"
    nodes+=("127.0.0.1:$port")
    redis-cli -p "$port" ping >/dev/null 2>&1 || up=0
  done
  if [ "$up" = 1 ] && redis-cli -p "$first" cluster info 2>/dev/null | grep -q "cluster_state:ok"; then
    echo "== reusing the Redis Cluster on ${nodes[*]}"
  else
    cluster_dir="$(mktemp -d)"
    for port in $REDIS_CLUSTER_PORTS; do
      redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
        --cluster-config-file "$cluster_dir/nodes-$port.conf" --dir "$cluster_dir" \
        --save "" --appendonly no --daemonize yes --logfile "$cluster_dir/redis-$port.log" >/dev/null
    done
    for port in $REDIS_CLUSTER_PORTS; do
      for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$cluster_dir/create.log" 2>&1 \
      || { echo "redis-cli --cluster create failed:"; cat "$cluster_dir/create.log"; }
    for _ in $(seq 100); do
      redis-cli -p "$first" cluster info 2>/dev/null | grep -q "cluster_state:ok" && break
      sleep 0.1
    done
  fi
  redis-cli -p "$first" cluster info 2>/dev/null | grep -q "cluster_state:ok" \
    || echo "the Redis Cluster on ${nodes[*]} is not ok: the cluster tests will fail"
  REDIS_CLUSTER_URL="redis+cluster://$(IFS=,; echo "${nodes[*]}")"
  export REDIS_CLUSTER_URL
}
stop_redis_cluster() {
  [ -n "$cluster_dir" ] || return 0
  local port
  for port in $REDIS_CLUSTER_PORTS; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1; done
  rm -rf "$cluster_dir"
}
start_redis_cluster

# The numpy parity test (crates/recforge/tests/predict_cli.rs) runs bench/python/score_reference.py,
# which needs numpy and safetensors; without them it fails (never skips).
if ! python3 -c "import numpy, safetensors" >/dev/null 2>&1; then
  python3 -m pip install --quiet --no-cache-dir numpy safetensors \
    || echo "installing numpy and safetensors failed: the numpy parity test will fail"
fi

log="$(mktemp)"
cleanup() {
  [ "$started_redis" = 1 ] && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
  stop_redis_cluster
  rm -f "$log"
}
trap cleanup EXIT
export CARGO_TERM_COLOR=never

df -h . | tail -1 | awk '{print "disk: " $4 " free of " $2}'
echo "== fetching the test datasets and models (scripts/fetch-data.sh)"
data="${RECFORGE_DATA:-$PWD/data}"
fetched=1
RECFORGE_DATA="$data" bash scripts/fetch-data.sh --only ml-1m,ml-100k,obd,smollm2,minilm \
  || { echo "fetching the test data failed: the fetched_* tests will fail"; fetched=0; }
ready=$(date +%s)

# `--profile dev` unless the caller picked a profile (e.g. `--release`).
profile=(--profile dev)
for arg in "$@"; do case "$arg" in --release|--profile|--profile=*) profile=() ;; esac; done
echo "== cargo test --workspace ${profile[*]} --no-fail-fast $*"
cargo test --workspace "${profile[@]}" --no-fail-fast "$@" -- --skip fetched_ 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
tested=$(date +%s)

# Same cargo arguments as above, so nothing is rebuilt; the filter picks the tests that read the
# fetched files (a missing file fails them, so a failed fetch cannot pass silently).
echo "== the fetched_* tests on the real datasets and models"
RECFORGE_DATA="$data" cargo test --workspace "${profile[@]}" --no-fail-fast "$@" -- --ignored fetched_ 2>&1 \
  | grep -v "^test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; [0-9]* filtered out" | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
[ "$fetched" = 1 ] || status=1
rust_done=$(date +%s)

# The Python package (crates/recforge-py): built into a private virtualenv with maturin on the
# same cargo profile as the tests above (only pyo3 and the extension itself compile anew), then
# the pytest suite python/tests. Its counts join the closing line as one "test result" line.
echo "== the Python package: maturin develop + pytest python/tests"
df -h . | tail -1 | awk '{print "disk: " $4 " free of " $2}'
venv="${RECFORGE_PY_VENV:-$PWD/target/py-venv}"
py_ok=1
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || py_ok=0
fi
if [ "$py_ok" = 1 ]; then
  # OBP 0.4.1 declares torch (about 5 GB with its CUDA wheels, 9 GB with pip's cache) for its
  # tensor API only; the numpy estimators the parity test calls never touch it, so OBP goes in
  # without dependencies, beside the ones its modules import (python/tests/test_ope.py gives it
  # a stand-in torch module when none is installed). A full disk failed CI once on this.
  "$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
    "maturin>=1.8,<2" pytest numpy pyarrow pandas scikit-learn scipy matplotlib seaborn pyyaml tqdm mypy_extensions \
    && "$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
      --no-deps "obp==0.4.1" || py_ok=0
fi
[ "$py_ok" = 1 ] || echo "creating the Python test environment in $venv failed"
junit="$(mktemp --suffix .xml)"
if [ "$py_ok" = 1 ]; then
  # `maturin develop` needs VIRTUAL_ENV to know where to install.
  wheel_started=$(date +%s)
  VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --quiet -m crates/recforge-py/Cargo.toml "$@" 2>&1 | tail -5
  [ "${PIPESTATUS[0]}" -eq 0 ] || py_ok=0
  echo "python extension build: $(( $(date +%s) - wheel_started ))s"
fi
if [ "$py_ok" = 1 ]; then
  RECFORGE_DATA="$data" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests --junitxml "$junit" 2>&1 | tail -25
fi
# pytest's counts as a cargo-style line (a suite that did not run counts as one failure).
py_line=$("$venv/bin/python" - "$junit" "$py_ok" <<'PY' 2>/dev/null
import sys, xml.etree.ElementTree as ET
total = failed = skipped = 0
try:
    if sys.argv[2] == "1":
        for s in ET.parse(sys.argv[1]).getroot().iter("testsuite"):
            total += int(s.get("tests", 0)); skipped += int(s.get("skipped", 0))
            failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
except Exception:
    total = 0
if total == 0:
    total = failed = 1
state = "ok" if failed == 0 else "FAILED"
print(f"test result: {state}. {total - failed - skipped} passed; {failed} failed; {skipped} ignored; 0 measured; 0 filtered out (python/tests)")
PY
)
[ -n "$py_line" ] || py_line="test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out (python/tests)"
echo "$py_line" | tee -a "$log"
case "$py_line" in *FAILED*) status=1 ;; esac
rm -f "$junit"
finished=$(date +%s)

echo "test times: fetch $((ready - started))s, build + tests $((tested - ready))s, fetched_* tests $((rust_done - tested))s, python $((finished - rust_done))s"
# cargo prints one "test result" line per test binary; sum them into one closing line.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "%d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
exit "$status"

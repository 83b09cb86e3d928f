#!/usr/bin/env bash
# The bandit service under load, measured with wrk (Debian package `wrk`) and the Lua scripts
# in bench/wrk/: recommend alone, then recommend → feedback with real request ids (file store,
# group commit), per-endpoint req/s and p50/p99 from the server's own /metrics histograms;
# then two replicas sharing Redis under `recforge loadgen --check-store` (a correctness check:
# the merged state must equal the sequential replay; loadgen is not a throughput tool).
#
# Needs a release build (`cargo build --release`), wrk, python3, curl and, for the Redis part,
# redis-server on REDIS_URL (default redis://127.0.0.1:6379; SKIP_REDIS=1 skips it).
# Speed figures are only meaningful from a release build on a quiet machine.
# LOG=info shows each snapshot with its time under the state lock; SNAPSHOT_EVERY=N (feedback
# records; the config says 100000) makes snapshots land inside the measured windows.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/recforge}
export RECFORGE_TOKEN=${RECFORGE_TOKEN:-load-test-token}
export CLUSTERS=32   # configs/bandit/serve.toml
duration=${DURATION:-10}
threads=${THREADS:-1}
connections=${CONNECTIONS:-16}
redis=${REDIS_URL:-redis://127.0.0.1:6379}
state=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$state"; }
trap cleanup EXIT
wait_up() { for _ in $(seq 100); do curl -sf "$1/healthz" >/dev/null && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
measure() {  # URL SCRIPT: wrk for $duration s, then per-route numbers from /metrics
  curl -sf "$1/metrics" > "$state/before"
  wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$2" "$1"
  curl -sf "$1/metrics" > "$state/after"
  python3 bench/wrk/latency.py "$state/before" "$state/after" "$duration"
}

echo "== one replica, file store: recommend only (wrk -t$threads -c$connections -d${duration}s)"
$bin --log "${LOG:-warn}" serve --bandit configs/bandit/serve.toml --listen 127.0.0.1:18080 --store "file://$state/file" \
  ${SNAPSHOT_EVERY:+--set "snapshot_every=$SNAPSHOT_EVERY"} & pids+=($!)
wait_up http://127.0.0.1:18080
measure http://127.0.0.1:18080 bench/wrk/recommend.lua
echo "== one replica, file store: recommend → feedback (group commit)"
measure http://127.0.0.1:18080 bench/wrk/recommend_feedback.lua
curl -sf http://127.0.0.1:18080/metrics | grep -E '^recforge_(bandit_live_requests|store_wal_bytes|shed_total|bandit_updates_total) '

[[ ${SKIP_REDIS:-0} == 1 ]] && exit 0
prefix="recforge-load-$(date +%s):"
echo "== two replicas, Redis (prefix $prefix): correctness under recforge loadgen"
for port in 18081 18082; do
  $bin --log warn serve --bandit configs/bandit/serve.toml --listen 127.0.0.1:$port --store "$redis?prefix=$prefix" & pids+=($!)
done
wait_up http://127.0.0.1:18081; wait_up http://127.0.0.1:18082
$bin loadgen --url http://127.0.0.1:18081,http://127.0.0.1:18082 --requests "${REQUESTS:-4000}" --concurrency 8 --check-store "$redis?prefix=$prefix"

#!/usr/bin/env bash
# The load numbers of README's bandit section: one replica on the file store, then two
# replicas sharing Redis, each under `recforge loadgen` on loopback.
# Needs a release build and redis-server on 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/recforge
export RECFORGE_TOKEN=${RECFORGE_TOKEN:-load-test-token}
requests=${REQUESTS:-4000}
concurrency=${CONCURRENCY:-8}
state=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$state"; }
trap cleanup EXIT
wait_up() { for _ in $(seq 100); do curl -sf "$1/healthz" >/dev/null && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

echo "== one replica, file store (WAL fsync per feedback)"
$bin --log warn serve --bandit configs/bandit/serve.toml --listen 127.0.0.1:18080 --store "file://$state/file" & pids+=($!)
wait_up http://127.0.0.1:18080
$bin loadgen --url http://127.0.0.1:18080 --requests "$requests" --concurrency "$concurrency"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

prefix="recforge-load-$(date +%s):"
echo "== two replicas, Redis (prefix $prefix)"
for port in 18081 18082; do
  $bin --log warn serve --bandit configs/bandit/serve.toml --listen 127.0.0.1:$port --store "redis://127.0.0.1:6379?prefix=$prefix" & pids+=($!)
done
wait_up http://127.0.0.1:18081; wait_up http://127.0.0.1:18082
$bin loadgen --url http://127.0.0.1:18081,http://127.0.0.1:18082 --requests "$requests" --concurrency "$concurrency" --check-store "redis://127.0.0.1:6379?prefix=$prefix"
echo "== one replica, Redis"
prefix1="recforge-load-1-$(date +%s):"
$bin --log warn serve --bandit configs/bandit/serve.toml --listen 127.0.0.1:18083 --store "redis://127.0.0.1:6379?prefix=$prefix1" & pids+=($!)
wait_up http://127.0.0.1:18083
$bin loadgen --url http://127.0.0.1:18083 --requests "$requests" --concurrency "$concurrency" --check-store "redis://127.0.0.1:6379?prefix=$prefix1"

#!/usr/bin/env bash
# Bounded state under endless unauthenticated traffic (issue: "memory and disk stay flat"):
# one release server on a file store, `wrk` sending recommend-only requests at full speed for
# SECONDS (default 600), and every STEP seconds (default 30) the server's RSS, the state
# folder's size, the live request records and the WAL bytes from /metrics, as CSV on stdout
# (also written to OUT, default runs/bandit-bounded.csv). Every recommend appends a request
# record; the expiry timer, `max_live_requests` and WAL compaction by size/age must keep both
# numbers flat. The config is configs/bandit/serve.toml with a short request TTL so that expiry
# happens within the run (REQUEST_TTL_S, default 60).
#
#   scripts/bandit-bounded.sh 600            # needs target/release/recforge and wrk
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
step=${STEP:-30}
bin=${BIN:-target/release/recforge}
out=${OUT:-runs/bandit-bounded.csv}
export RECFORGE_TOKEN=${RECFORGE_TOKEN:-bounded-test-token}
export CLUSTERS=32
state=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$state"; }
trap cleanup EXIT
port=18090
$bin --log warn serve --bandit configs/bandit/serve.toml --listen 127.0.0.1:$port --store "file://$state/file" \
  --set "request_ttl_s=${REQUEST_TTL_S:-60}" & pids+=($!)
server=${pids[0]}
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
wrk -t1 -c16 -d"${seconds}s" -s bench/wrk/recommend.lua http://127.0.0.1:$port > "$state/wrk.txt" & pids+=($!)
wrk_pid=${pids[1]}
mkdir -p "$(dirname "$out")"
metric() { curl -sf http://127.0.0.1:$port/metrics | awk -v name="$1" '$1 == name { print $2 }'; }
echo "seconds,rss_mib,state_kib,live_requests,wal_bytes,recommends_total" | tee "$out"
started=$(date +%s)
while kill -0 "$wrk_pid" 2>/dev/null; do
  now=$(( $(date +%s) - started ))
  rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$server/status")
  disk=$(du -sk "$state/file" | cut -f1)
  echo "$now,$rss,$disk,$(metric recforge_bandit_live_requests),$(metric recforge_store_wal_bytes),$(curl -sf http://127.0.0.1:$port/metrics | awk '$1 ~ /^recforge_http_requests_total/ && $0 ~ /recommend/ { s += $2 } END { print s + 0 }')" | tee -a "$out"
  sleep "$step"
done
echo "== wrk"
cat "$state/wrk.txt"

#!/usr/bin/env bash
# Label pipeline benchmark: labels/s (per labeler thread) and end-to-end lag (event appended →
# label durable and readable, p50/p99) of `recforge labeler` on a replayed stream, file and
# Redis backends, 1 and 2 labelers. Prints a markdown table (README "Distillation: label
# pipeline").
#
#   scripts/bench-labeler.sh TEACHER_RUN_DIR [DATASET] [EVENTS] [RATE]
#
# Throughput: EVENTS events are replayed first, then the labelers drain the backlog
# (labels/s = events / time from first event to last commit, summed over labelers).
# Lag: the labelers run while `events replay --rate RATE` appends, so lag is measured under a
# steady stream below capacity. Needs a release build (cargo build --workspace --release) and,
# for the Redis rows, redis-server on REDIS_URL (default redis://127.0.0.1:6379).
set -euo pipefail
cd "$(dirname "$0")/.."
TEACHER=${1:?usage: scripts/bench-labeler.sh TEACHER_RUN_DIR [DATASET] [EVENTS] [RATE]}
DATASET=${2:-ml1m}
EVENTS=${3:-100000}
RATE=${4:-2000}
BIN=${RECFORGE_BIN:-target/release/recforge}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
OUT=runs/bench-labeler
rm -rf "$OUT"; mkdir -p "$OUT"
TAG="bench-$$"

json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# run_case NAME EVENTS_URL LABELS_URL PROCESSES WORKERS
run_case() {
  local name=$1 events=$2 labels=$3 procs=$4 workers=$5
  local dir="$OUT/$name"; mkdir -p "$dir"
  # Throughput: backlog first, then drain.
  "$BIN" --log warn events replay "$DATASET" --to "$events" --limit "$EVENTS" > "$dir/replay.txt"
  local pids=()
  for p in $(seq "$procs"); do
    "$BIN" --log warn labeler --events "$events" --labels "$labels" --teacher "$TEACHER" --workers "$workers" \
      --consumer "c$p" --batch-size 512 --idle-exit 2 --out "$dir/drain-$p.json" > "$dir/drain-$p.txt" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  # Lag: labelers running while the stream arrives at RATE events/s (a fresh stream/log).
  local events2=${events/-tp/-lag} labels2=${labels/-tp/-lag}
  pids=()
  for p in $(seq "$procs"); do
    "$BIN" --log warn labeler --events "$events2" --labels "$labels2" --teacher "$TEACHER" --workers "$workers" \
      --consumer "c$p" --batch-size 512 --idle-exit 8 --out "$dir/lag-$p.json" > "$dir/lag-$p.txt" &
    pids+=($!)
  done
  sleep 1
  "$BIN" --log warn events replay "$DATASET" --to "$events2" --limit "$((EVENTS / 4))" --rate "$RATE" > "$dir/replay-lag.txt"
  for pid in "${pids[@]}"; do wait "$pid"; done
  python3 - "$dir" "$procs" "$workers" "$name" <<'PY'
import glob, json, sys
d, procs, workers, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
drain = [json.load(open(f)) for f in sorted(glob.glob(f"{d}/drain-*.json"))]
lag = [json.load(open(f)) for f in sorted(glob.glob(f"{d}/lag-*.json"))]
total = sum(s["labels_per_sec"] for s in drain)
events = sum(s["events"] for s in drain)
threads = procs * workers
p50 = max(s["lag_ms_p50"] for s in lag); p99 = max(s["lag_ms_p99"] for s in lag)
print(f"| {name} | {procs} × {workers} | {events} | {total:,.0f} | {total/threads:,.0f} | {p50:.0f} | {p99:.0f} |")
PY
}

echo "| backend (events → labels) | labelers × workers | events labelled | labels/s | labels/s per thread | lag p50 ms | lag p99 ms |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
run_case "file → redb, 1 labeler" "file://$PWD/$OUT/log1-tp" "file://$PWD/$OUT/labels1-tp.redb" 1 1
run_case "file → redb, 1 process × 2 workers" "file://$PWD/$OUT/log2-tp" "file://$PWD/$OUT/labels2-tp.redb" 1 2
if redis-cli -u "$REDIS" ping > /dev/null 2>&1; then
  run_case "redis → redis, 1 labeler" "$REDIS/$TAG-1-tp" "$REDIS/$TAG-l1-tp" 1 1
  run_case "redis → redis, 2 labelers" "$REDIS/$TAG-2-tp" "$REDIS/$TAG-l2-tp" 2 1
  # Remove this run's keys (never FLUSHALL: the server is shared).
  redis-cli -u "$REDIS" --scan --pattern "recforge:*$TAG*" | xargs -r redis-cli -u "$REDIS" del > /dev/null
else
  echo "(Redis rows skipped: no redis-server answers at $REDIS)" >&2
fi
echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared with other jobs; dataset $DATASET, $EVENTS events drained, $((EVENTS / 4)) at $RATE events/s for lag; teacher $TEACHER"

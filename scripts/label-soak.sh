#!/usr/bin/env bash
# Soak test of the teacher-label pipeline: events are replayed continuously into a file log and
# a Redis stream while labelers are SIGKILLed at random every few seconds and restarted (file:
# one labeler process, the group's limit; Redis: two sharing a group); at the end
# `recforge labels stats --events` must find exactly one label per event (missing = 0,
# strays = 0) on both backends. Loopback only; bounded in time (SECONDS) and kills.
# Usage: scripts/label-soak.sh SECONDS [RATE events/s, default 500]
# Env: RECFORGE_BIN (default target/release/recforge, else target/debug/recforge), REDIS_URL
# (default: a private redis-server on port 6392, stopped at exit), KILL_EVERY (s, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:?usage: scripts/label-soak.sh SECONDS [RATE]}"
rate="${2:-500}"
kill_every="${KILL_EVERY:-3}"
bin="${RECFORGE_BIN:-}"
if [ -z "$bin" ]; then
  target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  bin="$target/release/recforge"; [ -x "$bin" ] || bin="$target/debug/recforge"
fi
work=$(mktemp -d)
export RECFORGE_DATA="$work/data"
started_redis=0
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ "$started_redis" = 1 ] && redis-cli -p 6392 shutdown nosave >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${REDIS_URL:-}" ]; then
  redis-server --bind 127.0.0.1 --port 6392 --daemonize yes --save "" --appendonly no >/dev/null
  started_redis=1
  for _ in $(seq 50); do redis-cli -p 6392 ping >/dev/null 2>&1 && break; sleep 0.1; done
  REDIS_URL=redis://127.0.0.1:6392
fi
tag="soak-$$-$(date +%s)"
events_file="file://$work/log"
labels_file="file://$work/labels.redb"
events_redis="${REDIS_URL%/}/$tag-ev?claim_idle_ms=1000"
labels_redis="${REDIS_URL%/}/$tag-lb"

rows=$((secs * rate))
echo "== $rows events at $rate/s for ${secs}s, a kill every ${kill_every}s ($bin)"
(cd "$work" && "$bin" --quiet data synth --rows "$rows" --seed 5 --out synth >/dev/null)
cat > "$work/teacher.toml" <<TOML
[data]
schema = "synth/schema.toml"

[model]
kind = "mlp"
embedding_dim = 8
hidden = [16]

[train]
epochs = 1
batch_size = 256
lr = 0.003
patience = 0
eval_batch_size = 256
TOML
(cd "$work" && "$bin" --quiet train teacher.toml --out teacher >/dev/null)

last=0
labeler() { # URL_EVENTS URL_LABELS CONSUMER [IDLE]: starts one in the background, its pid in $last
  (cd "$work" && exec "$bin" --quiet --log error labeler --events "$1" --labels "$2" --teacher teacher \
    --consumer "$3" --batch-size 64 ${4:+--idle-exit "$4"} >/dev/null 2>>"$work/labelers.err") &
  last=$!
  pids+=("$last")
}

(cd "$work" && "$bin" --quiet events replay --data synth/schema.toml --to "$events_file" --rate "$rate" --batch-size 50 >/dev/null) &
replay_file=$!
(cd "$work" && "$bin" --quiet events replay --data synth/schema.toml --to "$events_redis" --rate "$rate" --batch-size 50 >/dev/null) &
replay_redis=$!
pids+=("$replay_file" "$replay_redis")
labeler "$events_file" "$labels_file" f; file_pid=$last
labeler "$events_redis" "$labels_redis" a; redis_a=$last
labeler "$events_redis" "$labels_redis" b; redis_b=$last
kills=0
max_kills=$((secs / kill_every + 1))
end=$(( $(date +%s) + secs ))
while [ "$(date +%s)" -lt "$end" ] && [ "$kills" -lt "$max_kills" ]; do
  sleep "$kill_every"
  case $((RANDOM % 3)) in
    0) kill -9 "$file_pid" 2>/dev/null || true; wait "$file_pid" 2>/dev/null || true; labeler "$events_file" "$labels_file" f; file_pid=$last ;;
    1) kill -9 "$redis_a" 2>/dev/null || true; wait "$redis_a" 2>/dev/null || true; labeler "$events_redis" "$labels_redis" a; redis_a=$last ;;
    2) kill -9 "$redis_b" 2>/dev/null || true; wait "$redis_b" 2>/dev/null || true; labeler "$events_redis" "$labels_redis" b; redis_b=$last ;;
  esac
  kills=$((kills + 1))
done
wait "$replay_file" "$replay_redis"
# Drain: replace the labelers by ones that stop after 3 s without events.
for p in "$file_pid" "$redis_a" "$redis_b"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
labeler "$events_file" "$labels_file" f 3; file_pid=$last
labeler "$events_redis" "$labels_redis" a 3; redis_a=$last
labeler "$events_redis" "$labels_redis" b 3; redis_b=$last
drained=0
for p in "$file_pid" "$redis_a" "$redis_b"; do wait "$p" || drained=1; done
[ "$drained" = 0 ] || echo "a draining labeler failed: see below"

status=0
for backend in file redis; do
  if [ "$backend" = file ]; then ev="$events_file"; lb="$labels_file"; else ev="$events_redis"; lb="$labels_redis"; fi
  "$bin" --quiet labels stats --labels "$lb" --events "$ev" --version 1 --json > "$work/$backend.json"
  python3 - "$backend" "$work/$backend.json" "$kills" <<'PY' || status=1
import json, sys
backend, path, kills = sys.argv[1], sys.argv[2], sys.argv[3]
s = json.load(open(path))
v, e = s["versions"][0], s["events"]
print(f"{backend}: {e['records']} events, {kills} kills (both backends), labels {v['labels']}, "
      f"missing {v['missing']}, strays {v['strays']}, ids in several events {e['duplicated_ids']}")
sys.exit(0 if v["missing"] == 0 and v["strays"] == 0 and v["labels"] == e["distinct_ids"] else 1)
PY
done
[ -s "$work/labelers.err" ] && { echo "labeler stderr (tail):"; tail -5 "$work/labelers.err"; }
redis-cli -u "${REDIS_URL%/}" --scan --pattern "recforge:*$tag*" | xargs -r redis-cli -u "${REDIS_URL%/}" del >/dev/null 2>&1 || true
[ "$status" = 0 ] && echo "soak passed: every event has exactly one label" || echo "soak FAILED"
exit "$status"

#!/usr/bin/env bash
# The test suite, as CI runs it: makes sure a Redis server answers on loopback (installing
# redis-server with apt-get if it is missing, starting a private one and stopping it at exit),
# then `cargo test --workspace --no-fail-fast`, and closes with one
# "N passed, N failed, N skipped" line, also when tests fail. Extra arguments go to cargo test.
set -uo pipefail
cd "$(dirname "$0")/.."

REDIS_PORT="${REDIS_PORT:-6379}"
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null \
      || { echo "installing redis-server failed; install Redis 7 and rerun" >&2; exit 1; }
  else
    echo "redis-server is missing and apt-get is not available: install Redis 7 and rerun" >&2
    exit 1
  fi
fi
started_redis=0
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save "" --appendonly no >/dev/null
  started_redis=1
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

log="$(mktemp)"
cleanup() {
  [ "$started_redis" = 1 ] && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
  rm -f "$log"
}
trap cleanup EXIT

export CARGO_TERM_COLOR=never
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# cargo prints one "test result" line per test binary; sum them into one closing line.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "%d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
exit "$status"

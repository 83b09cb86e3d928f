#!/usr/bin/env bash
# Installs with apt-get (through sudo when not root) whichever of the given Debian packages is
# missing; a package counts as present when a command of its name runs or dpkg has it.
# Used by scripts/test.sh (Redis, and cmake + clang for the vendored llama.cpp) and
# scripts/quickstart.sh (cmake + clang).
#
#   scripts/ensure-packages.sh redis-server cmake clang libclang-dev
set -uo pipefail
missing=""
for package in "$@"; do
  command -v "$package" >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" && continue
  missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null \
    || { echo "installing$missing failed; install them and rerun" >&2; exit 1; }
else
  echo "missing:$missing, and apt-get is not available: install them and rerun" >&2
  exit 1
fi

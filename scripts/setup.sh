#!/usr/bin/env bash
# Makes this machine ready to build, test and demo weaver (npm run setup; also
# the first step of npm test and npm run demo). Meant for a fresh Debian 12
# machine with Node.js 20 and npm, run as root; every step is skipped when its
# inputs have not changed, so a second run takes a few seconds.
#
#   1. Debian packages (clang, libbpf-dev, bpftrace, …) when missing
#   2. tracefs at /sys/kernel/tracing (a warning if it cannot be mounted)
#   3. npm ci, the native libbpf binding, the TypeScript build
#   4. Go toolchains (scripts/toolchains.sh) and fixtures (scripts/build-fixtures.sh)
#
#   scripts/setup.sh --check   only tell which steps would run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_DIR="$ROOT/.cache/setup"
mkdir -p "$LOG_DIR"
CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

# Two npm test runs at once would rebuild the same files at the same time.
exec 9>"$LOG_DIR/lock"
if ! flock -n 9; then
  echo "setup: waiting for another setup run to finish" >&2
  flock 9
fi

# clang/llvm compile the generated BPF programs against libbpf's and the
# kernel's UAPI headers (libbpf-dev, linux-libc-dev); libelf/zlib/pkg-config/
# make/g++/python3 build the native binding with node-gyp; bpftrace is the
# benchmarks' baseline; jq is used by the documentation tests; curl drives
# the demo's HTTP server; binutils gives readelf/objdump for debugging;
# bpftool joins the compile units of a large trace (bpftool gen object, src/bpf/compile.ts)
# and lets the fault tests check that no BPF program or link is left;
# zsh checks that the zsh completion script parses.
PACKAGES=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev linux-libc-dev libc6-dev pkg-config make g++ python3
  bpftrace bpftool jq curl binutils iproute2 procps zsh
)

step_started=$SECONDS
log() { echo "setup: $*" >&2; }
fail() { echo "setup: error: $*" >&2; exit 1; }
would() { log "would $*"; }

# Runs a command with its output in .cache/setup/<name>.log; on failure shows
# the end of that log and stops with one sentence.
run_logged() {
  local name="$1" sentence="$2"; shift 2
  if ! "$@" >"$LOG_DIR/$name.log" 2>&1; then
    tail -n 25 "$LOG_DIR/$name.log" >&2
    fail "$sentence (full log: .cache/setup/$name.log)"
  fi
}

hash_files() { LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -c1-32; }

# --- 1. Debian packages --------------------------------------------------------
missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || echo "$p"
  done
}

mapfile -t MISSING < <(missing_packages)
if (( ${#MISSING[@]} > 0 )); then
  if (( CHECK_ONLY )); then
    would "apt-get update and install: ${MISSING[*]}"
  else
    (( EUID == 0 )) || fail "Debian packages ${MISSING[*]} are missing and only root can install them: run npm run setup as root"
    log "installing Debian packages: ${MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive
    run_logged apt-update "apt-get update failed, so the missing Debian packages cannot be installed" \
      apt-get -o DPkg::Lock::Timeout=300 -q update
    run_logged apt-install "apt-get could not install ${MISSING[*]}" \
      apt-get -o DPkg::Lock::Timeout=300 -q -y --no-install-recommends install "${MISSING[@]}"
    mapfile -t STILL_MISSING < <(missing_packages)
    (( ${#STILL_MISSING[@]} == 0 )) || fail "Debian packages ${STILL_MISSING[*]} are still missing after apt-get install"
  fi
fi

# --- 2. tracefs ----------------------------------------------------------------
# The kernel's uprobe interface lives in tracefs; bpftrace and libbpf's
# fallback paths expect it at /sys/kernel/tracing.
if [[ ! -e /sys/kernel/tracing/uprobe_events ]]; then
  if (( CHECK_ONLY )); then
    would "mount tracefs at /sys/kernel/tracing"
  elif ! mount -t tracefs nodev /sys/kernel/tracing >/dev/null 2>&1; then
    log "warning: could not mount tracefs at /sys/kernel/tracing; tracing may fail on this machine"
  fi
fi

# --- 3. npm packages, native binding, TypeScript -------------------------------
LOCK_HASH="$(sha256sum package-lock.json | cut -c1-32)"
LOCK_STAMP="node_modules/.weaver-lock-hash"
if [[ "$(cat "$LOCK_STAMP" 2>/dev/null || true)" != "$LOCK_HASH" ]]; then
  if [[ ! -f "$LOCK_STAMP" && -d node_modules ]] && npm ls --depth=0 >/dev/null 2>&1; then
    # Installed by hand and complete: no need to wipe and reinstall it.
    (( CHECK_ONLY )) || echo "$LOCK_HASH" >"$LOCK_STAMP"
  elif (( CHECK_ONLY )); then
    would "run npm ci --ignore-scripts"
  else
    log "installing npm packages (npm ci)"
    run_logged npm-ci "npm ci could not install the npm packages" npm ci --ignore-scripts --no-audit --no-fund
    echo "$LOCK_HASH" >"$LOCK_STAMP"
  fi
fi

# The addon is rebuilt when its sources, its build file or Node.js change.
NATIVE_HASH="$({ find native/src native/binding.gyp native/package.json -type f; } | hash_files)-$(node -p process.versions.modules)"
NATIVE_STAMP="native/build/.weaver-sources-hash"
if [[ ! -f native/build/Release/bpf_loader.node || "$(cat "$NATIVE_STAMP" 2>/dev/null || true)" != "$NATIVE_HASH" ]]; then
  if (( CHECK_ONLY )); then
    would "build the native binding (npm run build:native)"
  else
    log "building the native libbpf binding"
    run_logged build-native "the native binding (native/) did not build" npm run build:native
    echo "$NATIVE_HASH" >"$NATIVE_STAMP"
  fi
fi

TS_HASH="$({ find src -type f -name '*.ts'; echo tsconfig.json; echo package-lock.json; } | hash_files)"
TS_STAMP="dist/.weaver-sources-hash"
if [[ "$(cat "$TS_STAMP" 2>/dev/null || true)" != "$TS_HASH" ]]; then
  if (( CHECK_ONLY )); then
    would "compile TypeScript (tsc -p tsconfig.json)"
  else
    log "compiling TypeScript"
    run_logged tsc "TypeScript did not compile" npx tsc -p tsconfig.json
    echo "$TS_HASH" >"$TS_STAMP"
  fi
fi

# --- 4. Go toolchains and fixtures ---------------------------------------------
if (( CHECK_ONLY )); then
  log "toolchains.sh and build-fixtures.sh run every time (they skip what is up to date)"
  exit 0
fi
bash scripts/toolchains.sh || fail "the Go toolchains could not be fetched"
bash scripts/build-fixtures.sh || fail "the Go fixtures did not build"
log "ready in $((SECONDS - step_started))s"

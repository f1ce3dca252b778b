#!/usr/bin/env bash
# Fetches the Go toolchains the fixtures are built with, from Debian's archive,
# into .cache/go/<version>/ and writes .cache/go/toolchains.json.
#
# The machine's apt configuration is never touched: apt runs with a private
# sources list, package lists, package cache and download directory under
# .cache/apt/, and only `apt-get download` is used (nothing is installed).
# The .debs are unpacked with `dpkg -x` and deleted afterwards.
#
# Toolchains:
#   1.15  bullseye            last stack-ABI (ABI0) release in Debian
#   1.19  bookworm            Debian 12's default
#   1.22  bookworm-backports  a register-ABI release between 1.20 and 1.24 (old hash maps)
#   1.24  trixie              the first Swiss-table map release, still DWARF 4
#   1.N   sid                 the newest golang-1.N-go in the lists, so it follows sid
#
# Idempotent: a toolchain already unpacked is skipped; the package lists are
# only refreshed when missing, older than a week, or WEAVER_REFRESH_TOOLCHAINS=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_DIR="$ROOT/.cache/apt"
GO_DIR="$ROOT/.cache/go"
FIXED_TOOLCHAINS=(1.15 1.19 1.22 1.24)

log() { echo "toolchains: $*" >&2; }
fail() { echo "toolchains: error: $*" >&2; exit 1; }

mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial" "$APT_DIR/cache" "$APT_DIR/debs" "$GO_DIR"

cat >"$APT_DIR/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
EOF

# Dir::Cache keeps apt's binary package cache (pkgcache.bin) private too, so the
# system's cache is never rebuilt from our lists. Sandbox::User=root: apt would
# otherwise warn that _apt cannot write into our root-owned directories.
APT_OPTS=(
  -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$APT_DIR/lists"
  -o "Dir::Cache=$APT_DIR/cache"
  -o "Dir::Cache::Archives=$APT_DIR/archives"
  -o "APT::Sandbox::User=root"
  -q
)

lists_present() { compgen -G "$APT_DIR/lists/*_sid_main_binary-amd64_Packages*" >/dev/null; }

refresh_lists() {
  log "updating the private package lists (bookworm, bookworm-backports, bullseye, trixie, sid)"
  if ! apt-get "${APT_OPTS[@]}" update >"$APT_DIR/update.log" 2>&1; then
    if lists_present; then
      log "warning: apt-get update failed (see .cache/apt/update.log); using the lists from an earlier run"
      return 0
    fi
    fail "could not download Debian's package lists (see .cache/apt/update.log)"
  fi
  date +%s >"$APT_DIR/lists.stamp"
}

lists_stale() {
  [[ "${WEAVER_REFRESH_TOOLCHAINS:-0}" == 1 ]] && return 0
  lists_present || return 0
  [[ -f "$APT_DIR/lists.stamp" ]] || return 0
  local age=$(( $(date +%s) - $(cat "$APT_DIR/lists.stamp") ))
  (( age > 7 * 24 * 3600 ))
}

# The newest golang-1.N-go any of our suites offers; sid always has the newest.
newest_toolchain() {
  apt-cache "${APT_OPTS[@]}" pkgnames golang-1. 2>/dev/null \
    | sed -n 's/^golang-\(1\.[0-9]*\)-go$/\1/p' | sort -V | tail -n 1
}

goroot_of() { echo "$GO_DIR/$1/usr/lib/go-$1"; }

installed() { [[ -x "$(goroot_of "$1")/bin/go" && -f "$GO_DIR/$1/.complete" ]]; }

fetch_toolchain() {
  local v="$1" tmp
  log "downloading golang-$v-go and golang-$v-src"
  rm -f "$APT_DIR/debs"/*.deb
  if ! (cd "$APT_DIR/debs" && apt-get "${APT_OPTS[@]}" download "golang-$v-go" "golang-$v-src" >"$APT_DIR/download-$v.log" 2>&1); then
    fail "could not download golang-$v-go/golang-$v-src from Debian's archive (see .cache/apt/download-$v.log)"
  fi
  # Unpack next to the final place and rename, so an interrupted run never
  # leaves a half-unpacked toolchain that looks complete.
  tmp="$GO_DIR/.unpack-$v"
  rm -rf "$tmp" "$GO_DIR/$v"
  mkdir -p "$tmp"
  for deb in "$APT_DIR/debs"/golang-"$v"-go_*.deb "$APT_DIR/debs"/golang-"$v"-src_*.deb; do
    [[ -f "$deb" ]] || fail "apt-get download of golang-$v did not produce $(basename "$deb")"
    dpkg -x "$deb" "$tmp"
  done
  touch "$tmp/.complete"
  mv "$tmp" "$GO_DIR/$v"
  rm -f "$APT_DIR/debs"/*.deb
  installed "$v" || fail "golang-$v unpacked but $(goroot_of "$v")/bin/go is missing"
}

go_version_of() {
  # VERSION's first line is the release (go1.19.8); `go version` is the fallback.
  local goroot="$1" v
  v="$(head -n 1 "$goroot/VERSION" 2>/dev/null || true)"
  [[ "$v" == go1.* ]] || v="$(GOROOT="$goroot" "$goroot/bin/go" version | awk '{print $3}')"
  echo "$v"
}

# Reading the lists takes apt a few seconds, so the answer is remembered until
# the lists change.
NEWEST_FILE="$APT_DIR/newest-toolchain"
if lists_stale; then refresh_lists; rm -f "$NEWEST_FILE"; fi
NEWEST="$(cat "$NEWEST_FILE" 2>/dev/null || true)"
if [[ -z "$NEWEST" ]]; then
  NEWEST="$(newest_toolchain)"
  [[ -n "$NEWEST" ]] || { refresh_lists; NEWEST="$(newest_toolchain)"; }
  [[ -n "$NEWEST" ]] || fail "no golang-1.N-go package found in the package lists"
  echo "$NEWEST" >"$NEWEST_FILE"
fi
TOOLCHAINS=("${FIXED_TOOLCHAINS[@]}")
[[ " ${TOOLCHAINS[*]} " == *" $NEWEST "* ]] || TOOLCHAINS+=("$NEWEST")

for v in "${TOOLCHAINS[@]}"; do
  if installed "$v"; then continue; fi
  fetch_toolchain "$v"
done

# toolchains.json: written with node (always present: the project runs on it),
# which escapes paths properly.
entries=()
for v in "${TOOLCHAINS[@]}"; do
  goroot="$(goroot_of "$v")"
  entries+=("$v" "$(go_version_of "$goroot")" "$goroot")
done
node -e '
  const a = process.argv.slice(1);
  const toolchains = [];
  for (let i = 0; i < a.length; i += 3) toolchains.push({ toolchain: a[i], goVersion: a[i + 1], goroot: a[i + 2] });
  process.stdout.write(JSON.stringify({ toolchains }, null, 2) + "\n");
' "${entries[@]}" >"$GO_DIR/toolchains.json.tmp"
mv "$GO_DIR/toolchains.json.tmp" "$GO_DIR/toolchains.json"
log "ready: $(for ((i = 1; i < ${#entries[@]}; i += 3)); do printf '%s ' "${entries[i]}"; done)"

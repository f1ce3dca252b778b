#!/usr/bin/env bash
# Builds every Go fixture with every toolchain from .cache/go/toolchains.json
# (written by scripts/toolchains.sh), in three variants:
#
#   fixtures/build/go<toolchain>/<fixture>            normal
#   fixtures/build/go<toolchain>/<fixture>-stripped   -ldflags="-s -w": no .symtab, no DWARF
#   fixtures/build/go<toolchain>/<fixture>-pie        -buildmode=pie
#
# plus, for the unstripped ones, <binary>.nm.txt (`go tool nm -size -sort
# address`), and for each fixture <fixture>.funcs.txt: fixtures/<fixture>/funcs.txt
# with exactly the functions this toolchain's binaries have, under the names
# this toolchain gives them. fixtures/build/manifest.json lists every build.
#
# Builds are static (CGO_ENABLED=0), offline (GOPROXY=off) and use only the
# given toolchain (GOTOOLCHAIN=local); caches live under .cache/. A toolchain
# whose stamp matches the fixture sources and this script is skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIXTURES_DIR="$ROOT/fixtures"
OUT="$FIXTURES_DIR/build"
TOOLCHAINS_JSON="$ROOT/.cache/go/toolchains.json"
FIXTURES=(types goroutines httpserver composites returns soak hostile)

log() { echo "build-fixtures: $*" >&2; }
fail() { echo "build-fixtures: error: $*" >&2; exit 1; }

[[ -f "$TOOLCHAINS_JSON" ]] || fail "$TOOLCHAINS_JSON is missing: run scripts/toolchains.sh (npm run setup) first"

# One line per toolchain: "<toolchain> <goVersion> <goroot>".
mapfile -t TOOLCHAIN_LINES < <(node -e '
  const { toolchains } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const t of toolchains) console.log(`${t.toolchain} ${t.goVersion} ${t.goroot}`);
' "$TOOLCHAINS_JSON")
(( ${#TOOLCHAIN_LINES[@]} > 0 )) || fail "$TOOLCHAINS_JSON lists no toolchain"

# Everything a build depends on besides the toolchain: the module's sources
# and this script. (Other directories under fixtures/, such as nested modules
# of other tools, and the build output are not part of it.)
SOURCES_HASH="$(
  cd "$FIXTURES_DIR" &&
  { find go.mod internal cart "${FIXTURES[@]}" -type f | LC_ALL=C sort | xargs sha256sum; sha256sum "$ROOT/scripts/build-fixtures.sh"; } |
  sha256sum | cut -c1-16
)"

export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on GOWORK=off CGO_ENABLED=0
export GOCACHE="$ROOT/.cache/gocache" GOPATH="$ROOT/.cache/gopath" GOENV=off
mkdir -p "$OUT" "$GOCACHE" "$GOPATH"

minor_of() { local v="${1#1.}"; echo "${v%%.*}"; }

# The functions file for one toolchain: lines marked "requires go1.18" are
# dropped before 1.18; Go 1.18-1.20 name shape functions go.shape.T_0.
write_funcs() {
  local src="$1" dst="$2" minor="$3"
  if (( minor < 18 )); then
    awk '/^[[:space:]]*#/ || !/requires go1\.18/' "$src" >"$dst"
  elif (( minor <= 20 )); then
    sed -E '/^[[:space:]]*#/!s/\[go\.shape\.([A-Za-z0-9_]+)\]/[go.shape.\1_0]/g' "$src" >"$dst"
  else
    cp "$src" "$dst"
  fi
}

build_toolchain() {
  local tc="$1" goroot="$2" dir="$OUT/go$1" minor go f start
  minor="$(minor_of "$tc")"
  go="$goroot/bin/go"
  [[ -x "$go" ]] || fail "no go binary at $go: run scripts/toolchains.sh"
  start=$SECONDS
  mkdir -p "$dir"
  for f in "${FIXTURES[@]}"; do
    (
      cd "$FIXTURES_DIR"
      export GOROOT="$goroot"
      "$go" build -o "$dir/$f" "./$f"
      "$go" build -ldflags="-s -w" -o "$dir/$f-stripped" "./$f"
      "$go" build -buildmode=pie -o "$dir/$f-pie" "./$f"
      "$go" tool nm -size -sort address "$dir/$f" >"$dir/$f.nm.txt"
      "$go" tool nm -size -sort address "$dir/$f-pie" >"$dir/$f-pie.nm.txt"
    ) >"$dir/build.log" 2>&1 || { cat "$dir/build.log" >&2; fail "go$tc could not build fixtures/$f (log above)"; }
    write_funcs "$FIXTURES_DIR/$f/funcs.txt" "$dir/$f.funcs.txt" "$minor"
  done
  log "go$tc: built ${FIXTURES[*]} (normal, stripped, pie) in $((SECONDS - start))s"
}

declare -A KEEP=()
for line in "${TOOLCHAIN_LINES[@]}"; do
  read -r tc goversion goroot <<<"$line"
  KEEP["go$tc"]=1
  stamp="$OUT/go$tc/.stamp"
  want="$SOURCES_HASH $goversion $goroot"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then continue; fi
  rm -f "$stamp"
  build_toolchain "$tc" "$goroot"
  echo "$want" >"$stamp"
done

# Builds of toolchains no longer listed (sid moved on) would only mislead.
for d in "$OUT"/go*/; do
  d="$(basename "$d")"
  [[ -n "${KEEP[$d]:-}" ]] || { log "removing $d (toolchain no longer listed)"; rm -rf "${OUT:?}/$d"; }
done

node -e '
  const fs = require("fs");
  const [toolchainsJson, out, ...fixtures] = process.argv.slice(1);
  const { toolchains } = JSON.parse(fs.readFileSync(toolchainsJson, "utf8"));
  const builds = [];
  for (const t of toolchains) {
    // amd64 switched from the stack ABI (ABI0) to the register ABI in Go 1.17.
    const abi = Number(t.toolchain.split(".")[1]) < 17 ? "stack" : "register";
    for (const fixture of fixtures) {
      for (const variant of ["normal", "stripped", "pie"]) {
        const suffix = variant === "normal" ? "" : `-${variant}`;
        const path = `${out}/go${t.toolchain}/${fixture}${suffix}`;
        const funcs = `${out}/go${t.toolchain}/${fixture}.funcs.txt`;
        builds.push({
          toolchain: t.toolchain, goVersion: t.goVersion, goroot: t.goroot, abi, fixture, variant, path,
          funcs: fs.existsSync(funcs) ? funcs : null,
          nm: variant === "stripped" ? null : `${path}.nm.txt`,
        });
      }
    }
  }
  fs.writeFileSync(`${out}/manifest.json.tmp`, JSON.stringify({ builds }, null, 2) + "\n");
  fs.renameSync(`${out}/manifest.json.tmp`, `${out}/manifest.json`);
' "$TOOLCHAINS_JSON" "$OUT" "${FIXTURES[@]}"

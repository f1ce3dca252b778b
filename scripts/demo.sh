#!/usr/bin/env bash
# npm run demo: trace the bundled HTTP server's handler while it serves a few
# requests, show each call's arguments, and end by itself. `npm run demo`
# runs scripts/setup.sh first, so the toolchains and fixtures are built.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headings in bold on a terminal; plain text when stderr is a file or a pipe (CI logs).
if [[ -t 2 && -z ${NO_COLOR:-} ]]; then
  say() { printf '\033[1m%s\033[0m\n' "$*" >&2; }
else
  say() { printf '%s\n' "$*" >&2; }
fi
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }

manifest=fixtures/build/manifest.json
[[ -f $manifest ]] || fail "the fixtures are not built: run npm run setup"
# The newest toolchain's normal build of the HTTP server, and its functions file.
read -r server funcs goversion < <(node -e '
  const m = require("./" + process.argv[1]).builds.filter((b) => b.fixture === "httpserver" && b.variant === "normal");
  m.sort((a, b) => Number(a.toolchain.split(".")[1]) - Number(b.toolchain.split(".")[1]));
  const b = m[m.length - 1];
  console.log(b.path, b.funcs, b.goVersion);' "$manifest")
[[ -x $server ]] || fail "no HTTP server fixture at $server: run npm run setup"
if [[ $(id -u) -ne 0 ]]; then
  fail "tracing needs root to load BPF programs: run it as root (sudo npm run demo)"
fi

work=$(mktemp -d)
tracer_pid=""
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  [[ -n $tracer_pid ]] && kill -INT "$tracer_pid" 2>/dev/null && wait "$tracer_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say "== The functions file ($funcs):"
grep -v '^#' "$funcs" | sed '/^$/d' >&2
say "== Starting weaver on $server ($goversion)"
node bin/weaver.js "$server" --functions-file "$funcs" --format text --timestamps relative \
  >"$work/trace.txt" 2>"$work/weaver.err" &
tracer_pid=$!
for _ in $(seq 1 200); do
  grep -q '^Tracing' "$work/weaver.err" && break
  kill -0 "$tracer_pid" 2>/dev/null || { cat "$work/weaver.err" >&2; fail "weaver stopped before tracing"; }
  sleep 0.1
done
grep -q '^Tracing' "$work/weaver.err" || fail "weaver did not start tracing within 20 s"
grep '^Tracing' "$work/weaver.err" >&2

"$server" -addr 127.0.0.1:0 -exit-after 4 >"$work/server.out" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^LISTENING //p' "$work/server.out")
  [[ -n $addr ]] && break
  sleep 0.05
done
[[ -n $addr ]] || fail "the HTTP server did not start"
say "== Sending four requests to http://$addr"
for path in "/" "/items/42?q=blue+shoes" "/teapot" "/missing?q=%1b%5b31mred"; do
  code=$(curl -s -o /dev/null -A "weaver-demo/1.0" -w '%{http_code}' "http://$addr$path")
  printf '  GET %-22s -> %s\n' "$path" "$code" >&2
done
wait "$server_pid" 2>/dev/null || true
server_pid=""
sleep 0.5
kill -INT "$tracer_pid"
wait "$tracer_pid" || true
tracer_pid=""

say "== What weaver saw (main.handleRequest's arguments, one line per call):"
cat "$work/trace.txt"
# The summary, and the line naming functions whose probe costs two traps a call, if any.
grep -E '^weaver: ([0-9]+ events? |.* two traps a call)' "$work/weaver.err" >&2 || true
lines=$(grep -c 'main.handleRequest' "$work/trace.txt" || true)
[[ $lines -eq 4 ]] || fail "expected 4 traced calls, saw $lines"
say "== Done: try it on your own program with: sudo npx weaver ./your-binary -f funcs.txt"

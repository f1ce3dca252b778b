#!/usr/bin/env bash
# Runs every weaver benchmark in one go and writes bench/results/*.json
# plus bench/results/summary.md (the tables bench/README.md quotes).
# Needs root (uprobes), clang, bpftrace and Go 1.19 (GO=… to use another).
# Go builds and outputs go to bench/results/ (ignored by git).
#
#   bash bench/run.sh            everything (about 10 minutes on 2 cores)
#   bash bench/run.sh decode     only the named parts: overhead program rate startup package decode emulation otlp
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID -eq 0 ]] || { echo "bench/run.sh needs root (uprobes); run it with sudo" >&2; exit 1; }
command -v bpftrace >/dev/null || { echo "bench/run.sh needs bpftrace for the comparison" >&2; exit 1; }

npx tsc -p tsconfig.json
mkdir -p bench/results
PARTS=("${@:-overhead program rate startup package decode emulation otlp}")
OUT=bench/results/summary.md
{
  echo "# weaver benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/^Mem:/ {print $2}') GiB, Linux $(uname -r)"
  echo "- node $(node --version), $(clang --version | head -1), $(bpftrace --version), $(node --input-type=module -e "import { GO } from './bench/lib.mjs'; console.log(GO)" | xargs -I{} {} version | cut -d' ' -f3)"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT"
for part in ${PARTS[*]}; do
  echo "== $part" | tee -a "$OUT"
  case $part in
    overhead) node bench/overhead.mjs 200000 3 ;;
    program) node bench/program-cost.mjs 1000000 5 ;;
    rate) node bench/rate.mjs 4 ;;
    startup) node bench/startup.mjs 3 ;;
    package) node bench/package-mode.mjs 3 ;;
    decode) node bench/decode.mjs 3 ;;
    emulation) node bench/emulation.mjs 100000 3 ;;
    otlp) node bench/otlp.mjs 100000 5 ;;
    *) echo "unknown part $part (overhead, program, rate, startup, package, decode, emulation, otlp)" >&2; exit 2 ;;
  esac | tee -a "$OUT"
  echo "- load average after $part: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
done
echo "results in bench/results/ (summary: $OUT)"

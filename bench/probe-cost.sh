#!/usr/bin/env bash
# Per-call cost of a uprobe at a Go function's entry vs at the `jbe` of its
# stack check, and a check that the flags saved at the `jbe` tell the pass
# that runs the body from the pass that calls morestack and restarts.
#
# Uses plain tracefs uprobe events (no BPF program), so both placements pay
# the same event cost and the difference is the kernel's handling of the
# probed instruction: the entry `cmp` is single-stepped out of line (a
# second trap), the `jbe` is emulated.
#
# Needs root and tracefs. Usage: bench/probe-cost.sh [go binary] [calls]
# (default: the project's Go 1.19 from npm run setup, 300000 calls). Events are created under
# a group of their own and removed on exit.
set -euo pipefail

GO="${1:-$(node -e 'const t=require("./.cache/go/toolchains.json").toolchains.find((t)=>t.toolchain==="1.19"); if(!t){console.error("run npm run setup");process.exit(1)} console.log(t.goroot+"/bin/go")')}"
CALLS="${2:-300000}"
ROUNDS=3
TRACEFS=/sys/kernel/tracing
GROUP="weaver_probecost_$$"

fail() { echo "probe-cost: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || fail "needs root to create uprobe events"
[[ -w $TRACEFS/uprobe_events ]] || fail "$TRACEFS/uprobe_events is not writable (tracefs not mounted?)"
[[ -x $GO ]] || fail "no Go toolchain at $GO"

WORK="$(mktemp -d)"
cleanup() {
  for ev in work_entry work_jbe deep_jbe; do
    [[ -e $TRACEFS/events/$GROUP/$ev/enable ]] && echo 0 >"$TRACEFS/events/$GROUP/$ev/enable"
    echo "-:$GROUP/$ev" >>"$TRACEFS/uprobe_events" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var sink int

//go:noinline
func inner(x int) int { return x*3 + 1 }

// work calls other functions, so it has a stack check.
//go:noinline
func work(x int) int { return inner(x) + inner(x+1) }

// deep recurses far enough that the goroutine stack grows several times:
// some calls fail the check, call morestack and restart from the entry.
//go:noinline
func deep(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%64])
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	if len(os.Args) > 2 {
		sink += deep(n)
		return
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		sink += work(i)
	}
	fmt.Printf("%.1f\n", float64(time.Since(start).Nanoseconds())/float64(n))
}
EOF
printf 'module probecost\n\ngo 1.15\n' >"$WORK/go.mod"
(cd "$WORK" && GOFLAGS=-mod=mod GOCACHE="$WORK/cache" HOME="$WORK" GOTOOLCHAIN=local "$GO" build -o prog .) || fail "go build failed"
BIN="$WORK/prog"

# File offset of a virtual address: through the executable PT_LOAD.
read -r SEG_OFF SEG_VADDR < <(readelf -lW "$BIN" | awk '$1 == "LOAD" && ($7 ~ /E/ || $8 ~ /E/) { print $2, $3; exit }')
file_offset() { printf '0x%x' $(( $1 - SEG_VADDR + SEG_OFF )); }

# Entry and the stack-check JBE, from Go's own disassembler.
probe_addrs() {
  "$GO" tool objdump -s "^main\\.$1\$" "$BIN" | awk '
    /^TEXT/ { next }
    !entry { entry = $2 }
    $4 == "JBE" && !jbe { jbe = $2 }
    END { print entry, jbe }'
}
read -r WORK_ENTRY WORK_JBE < <(probe_addrs work)
read -r _ DEEP_JBE < <(probe_addrs deep)
[[ -n $WORK_JBE && -n $DEEP_JBE ]] || fail "no JBE found in the prologue of main.work/main.deep"

echo "p:$GROUP/work_entry $BIN:$(file_offset "$WORK_ENTRY")" >>"$TRACEFS/uprobe_events"
echo "p:$GROUP/work_jbe $BIN:$(file_offset "$WORK_JBE")" >>"$TRACEFS/uprobe_events"
echo "p:$GROUP/deep_jbe $BIN:$(file_offset "$DEEP_JBE") flags=%flags:x64" >>"$TRACEFS/uprobe_events"

echo "toolchain: $("$GO" version)"
echo "main.work entry $WORK_ENTRY, jbe $WORK_JBE (+$(( WORK_JBE - WORK_ENTRY ))); $CALLS calls per run, ns per call:"
for round in $(seq "$ROUNDS"); do
  line="  round $round: no probe $("$BIN" "$CALLS")"
  for ev in work_entry work_jbe; do
    echo 1 >"$TRACEFS/events/$GROUP/$ev/enable"
    line+="  $ev $("$BIN" "$CALLS")"
    echo 0 >"$TRACEFS/events/$GROUP/$ev/enable"
  done
  echo "$line"
done

# deep(N) makes N+1 calls; at its jbe, CF|ZF (0x41) clear means the body runs.
DEPTH=20000
echo >"$TRACEFS/trace"
echo 1 >"$TRACEFS/events/$GROUP/deep_jbe/enable"
"$BIN" "$DEPTH" deep
echo 0 >"$TRACEFS/events/$GROUP/deep_jbe/enable"
grep " $GROUP/deep_jbe\|deep_jbe:" "$TRACEFS/trace" | grep -o 'flags=0x[0-9a-f]*' | while read -r f; do
  if (( ${f#flags=} & 0x41 )); then echo failed; else echo passed; fi
done | sort | uniq -c | awk -v calls=$((DEPTH + 1)) '
  { n[$2] = $1 }
  END {
    printf "main.deep(%d): %d calls; jbe hits with CF|ZF clear (body runs): %d; with CF|ZF set (morestack, restart): %d\n", calls - 1, calls, n["passed"], n["failed"]
    if (n["passed"] != calls) { print "MISMATCH: passed hits != calls"; exit 1 }
  }'
echo >"$TRACEFS/trace"

#!/usr/bin/env bash
# Long run of the binary mutation fuzzer (test/unit/fuzz-binaries.test.ts):
# many mutants of each base build, a seed of your choice, and a memory cap
# so that an out-of-memory in a reader fails the run instead of swapping.
#
#   scripts/fuzz-binaries.sh [cases-per-build] [seed]
#   scripts/fuzz-binaries.sh 5000            # a random seed, printed first
#
# A failure lists each bad case with its mutations (kind, value, file offset
# and region), so it can be replayed by writing those bytes into the base.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CASES="${1:-2000}"
SEED="${2:-$(( (RANDOM << 15) | RANDOM ))}"
echo "fuzz-binaries: $CASES mutants per base build, seed $SEED" >&2
FUZZ_CASES="$CASES" FUZZ_SEED="$SEED" FUZZ_CLI_CASES="${FUZZ_CLI_CASES:-10}" FUZZ_VERBOSE=1 \
  NODE_OPTIONS="--max-old-space-size=${FUZZ_HEAP_MB:-1536}" \
  npx vitest run --testTimeout=0 test/unit/fuzz-binaries.test.ts

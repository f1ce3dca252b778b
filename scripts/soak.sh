#!/usr/bin/env bash
# Long soak (test/e2e/soak.test.ts): the soak fixture, built by every
# toolchain, runs many rounds with every hot function traced (and once with
# --returns); each traced run must print exactly what the untraced run
# prints, exit 0, and account for every call. Needs root.
#
#   scripts/soak.sh [iterations-per-goroutine] [rounds]     default 400 5
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SOAK_ITERATIONS="${1:-400}" SOAK_ROUNDS="${2:-5}" npx vitest run --testTimeout=0 test/e2e/soak.test.ts

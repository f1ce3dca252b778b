#!/usr/bin/env node
// V8's young generation grows to 3 x 16 MB while a start-up allocates fast,
// and those pages stay resident while clang runs beside weaver. Kept at its
// first size, a start on 1266 functions peaks ~55 MB lower for the same CPU
// (bench/README.md 3d). Set before anything is allocated, hence the
// dynamic import.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--semi-space-growth-factor=1');
await import('../dist/cli/main.js');

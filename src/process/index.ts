// process: the traced program's life. Choosing the target (a binary, a pid,
// a program to launch), launching it held until probes are attached,
// signals and how a trace stops, and watching the binary on disk.
//
// The stage's public face: other stages import from here (or from a
// sub-folder's index.ts), never from the stage's modules themselves.

export { watchBinary } from './binarywatch.js';
export { describeExit, exitStatusOf, forwardSignals, spawnHeld, terminate, type LaunchedProgram, type ProgramExit } from './launch.js';
export { SignalWatch, after, outputPatience, settle, whenAllExit, type StopSource } from './stop.js';
export { chooseTarget } from './target.js';

// output: what the user sees. Filters, text and JSON formats, the printer
// and the writer (full disks, closed pipes), the status line, the summary,
// -c statistics, --stack names and OTLP export. Start-up time counts: what
// only some runs need is loaded by those runs (the load* functions).
//
// The stage's public face: other stages import from here (or from a
// sub-folder's index.ts), never from the stage's modules themselves.

export { EventPrinter, openOutputFile } from './printer.js';
export { StatusLine } from './status.js';
export { formatSummary, formatTwoTraps, pairingCounts, summaryRecord, type SummaryFacts } from './summary.js';
export { EXIT_OUTPUT_ERROR, OutputWriter, describeWriteError, isSharedStream, stdoutTarget, type OutputFailure } from './writer.js';

// --otlp's flags are checked on every run; its exporter (and the OpenTelemetry
// packages behind it, ~100 ms to import) only on runs that export.
export { otlpEndpointProblem, resolveOtlpConfig, type OtlpConfig } from './otlp/config.js';
export type { OtlpExport } from './otlp/index.js';

// Loaded only by the runs that need them: start-up time counts (bench/startup.mjs).
export const loadOtlpExport = () => import('./otlp/index.js');
export const loadReturnFormat = () => import('./returnformat.js');
export const loadStackNames = () => import('./stack.js');
export const loadCallStats = () => import('./callstats.js');

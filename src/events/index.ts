// events: records back into calls. Decoding ring and perf buffer records
// into Go values, putting them back in time order, pairing entries with
// returns, and the session that runs the loaded object's poll loop.
//
// The stage's public face: other stages import from here (or from a
// sub-folder's index.ts), never from the stage's modules themselves.

export { type NotReturnedReason, type PairedEvent, type PairingStats } from './pairing.js';
export { TraceSession, resolveAttachMode, resolveTransport, type SessionOptions } from './session.js';

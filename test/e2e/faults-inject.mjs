// Preloaded into weaver by the fault tests (NODE_OPTIONS=--import=…).
//
// WEAVER_FAULT=throw | reject: once weaver has printed its Tracing line, a
// timer throws, or a promise is rejected with no handler, as a bug in
// weaver's own code would, while probes are attached and events flow.
//
// WEAVER_FAULT=signal-at-attach: right after the native binding's
// WEAVER_FAULT_ATTACH-th attach call returns (single links), or right after
// load (the one multi link), weaver sends itself WEAVER_FAULT_SIGNAL: the
// exact moments a kill from outside can only hit by luck.

import { createRequire } from 'node:module';

const kind = process.env.WEAVER_FAULT;

if (kind === 'throw' || kind === 'reject') {
  const write = process.stderr.write.bind(process.stderr);
  let armed = false;
  process.stderr.write = (chunk, ...rest) => {
    if (!armed && /^Tracing /m.test(String(chunk))) {
      armed = true;
      setTimeout(() => {
        if (kind === 'reject') Promise.reject(new Error('injected rejection'));
        else throw new Error('injected fault');
      }, Number(process.env.WEAVER_FAULT_DELAY_MS ?? 300));
    }
    return write(chunk, ...rest);
  };
}

if (kind === 'signal-at-attach') {
  const Module = createRequire(import.meta.url)('node:module');
  const at = Number(process.env.WEAVER_FAULT_ATTACH ?? 1);
  const signal = process.env.WEAVER_FAULT_SIGNAL ?? 'SIGKILL';
  let attached = 0;
  const originalLoad = Module._load;
  Module._load = function load(request, ...rest) {
    const exports = originalLoad.call(this, request, ...rest);
    if (request !== 'bpf-loader-node') return exports;
    // The binding's properties are read-only: hand weaver a copy with two calls wrapped.
    const wrapped = { ...exports };
    wrapped.attachUprobe = (...args) => {
      const link = exports.attachUprobe(...args);
      if (++attached === at) process.kill(process.pid, signal);
      return link;
    };
    wrapped.load = (...args) => {
      const result = exports.load(...args);
      if (at === 0) process.kill(process.pid, signal);
      return result;
    };
    return wrapped;
  };
}

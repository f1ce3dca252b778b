// Preloaded into weaver by the fault tests (NODE_OPTIONS=--import=…): once
// weaver has printed its Tracing line, a timer throws (WEAVER_FAULT=throw) or
// a promise is rejected with no handler (WEAVER_FAULT=reject), as a bug in
// weaver's own code would, while probes are attached and events flow.

const kind = process.env.WEAVER_FAULT;
const write = process.stderr.write.bind(process.stderr);
let armed = false;
process.stderr.write = (chunk, ...rest) => {
  if (kind && !armed && /^Tracing /m.test(String(chunk))) {
    armed = true;
    setTimeout(() => {
      if (kind === 'reject') Promise.reject(new Error('injected rejection'));
      else throw new Error('injected fault');
    }, Number(process.env.WEAVER_FAULT_DELAY_MS ?? 300));
  }
  return write(chunk, ...rest);
};

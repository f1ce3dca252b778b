// Loading BPF programs and attaching uprobes needs root, or CAP_BPF with
// CAP_PERFMON (kernels 5.8+), or CAP_SYS_ADMIN. Checking up front gives one
// clear sentence instead of an EPERM from deep inside libbpf.

import { readFileSync } from 'node:fs';
import { EnvironmentError } from '../core/index.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Effective capabilities of this process, from /proc/self/status; null if unknown. */
export function effectiveCapabilities(status = '/proc/self/status'): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(status, 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

export function hasBpfPrivileges(caps: bigint | null): boolean {
  if (caps === null) return true; // Unknown: let the kernel decide.
  const has = (c: bigint) => (caps >> c) & 1n;
  return has(CAP_SYS_ADMIN) === 1n || (has(CAP_BPF) === 1n && has(CAP_PERFMON) === 1n);
}

export function checkPrivileges(): void {
  if (!hasBpfPrivileges(effectiveCapabilities())) {
    throw new EnvironmentError('loading BPF programs and attaching uprobes needs root (or CAP_BPF and CAP_PERFMON)', {
      hint: 'run it with sudo',
    });
  }
}

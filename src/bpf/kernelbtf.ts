// Loading an object with CO-RE relocations makes libbpf read the kernel's
// BTF (/sys/kernel/btf/vmlinux, ~5 MB) and search it for every relocated
// type: 0.1–0.15 s of every start, cached object or not. weaver's programs
// name a handful of kernel types (task_struct's pid, tgid, comm, thread
// fsbase; the helper ids), so after a start that loaded an object, a BTF
// holding only those (`bpftool gen min_core_btf`, a few KB) is kept beside
// the cached object, and later starts relocate against it instead
// (libbpf's btf_custom_path). It is only valid for the kernel it was cut
// from, so its name carries this boot's id; a load that fails with it is
// retried without it, and the file removed.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readBootId } from './features.js';

export const KERNEL_BTF_PATH = '/sys/kernel/btf/vmlinux';

/** The kept kernel BTF's file for a cached object, for this boot; null without a boot id. */
export function keptBtfPathFor(objectPath: string, bootId: string | null = readBootId()): string | null {
  if (!bootId || !objectPath.endsWith('.o')) return null;
  return `${objectPath.slice(0, -2)}.kernel-${bootId.replace(/[^0-9a-f]/gi, '').slice(0, 16)}.btf`;
}

/** The kept kernel BTF for `objectPath`, when there is one for this boot. */
export function keptKernelBtf(objectPath: string | null, bootId: string | null = readBootId()): string | null {
  const path = objectPath ? keptBtfPathFor(objectPath, bootId) : null;
  return path && existsSync(path) ? path : null;
}

/**
 * Cuts the kernel BTF down to what `objectPath` relocates against, in the
 * background (bpftool, ~0.1 s), for the next start; BTF kept for other
 * boots or for objects no longer cached is removed. The cut runs in its
 * own session, written under a temporary name and renamed when whole, so
 * weaver ending first (a short trace, Ctrl-C) neither stops it nor leaves
 * half a file. Failures only cost the next start the full BTF.
 */
export function keepKernelBtf(objectPath: string | null, options: { bootId?: string | null; bpftool?: string; kernelBtf?: string } = {}): void {
  const bootId = options.bootId === undefined ? readBootId() : options.bootId;
  const target = objectPath ? keptBtfPathFor(objectPath, bootId) : null;
  if (!objectPath || !target || existsSync(target)) return;
  try {
    removeStale(dirname(objectPath), basename(target));
  } catch {
    // A read-only cache still serves the objects it holds; nothing is cut into it.
    return;
  }
  const tmp = `${target}.${process.pid}.tmp`;
  const script = '"$0" gen min_core_btf "$1" "$2" "$3" >/dev/null 2>&1 && mv -f "$2" "$4" || rm -f "$2"';
  try {
    const child = spawn('/bin/sh', ['-c', script, options.bpftool ?? 'bpftool', options.kernelBtf ?? KERNEL_BTF_PATH, tmp, objectPath, target], {
      stdio: 'ignore',
      detached: true,
    });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No shell: the next start reads the kernel's BTF.
  }
}

/** Removes kept BTF of other boots, and of objects the compile cache no longer holds. */
function removeStale(dir: string, keep: string): void {
  const suffix = keep.slice(keep.indexOf('.kernel-'));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const at = name.indexOf('.kernel-');
    if (at < 0) continue;
    if (name.endsWith('.tmp')) {
      // A cut that was killed half way; one still running is seconds old.
      if (olderThan(join(dir, name), 60_000)) rmSync(join(dir, name), { force: true });
      continue;
    }
    if (!name.endsWith('.btf')) continue;
    if (name.slice(at) !== suffix || !existsSync(join(dir, `${name.slice(0, at)}.o`))) rmSync(join(dir, name), { force: true });
  }
}

function olderThan(path: string, ms: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > ms;
  } catch {
    return false;
  }
}

/** Forgets a kept BTF that did not serve (the load is retried without it). */
export function forgetKernelBtf(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Read-only: the next start tries it, fails, and loads with the kernel's own again.
  }
}

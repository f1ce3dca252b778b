// The Go version of every fixture build against `go version <binary>`, the
// fallbacks when .go.buildinfo is damaged or section headers are gone, and
// the calling convention each version implies.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { abiForVersion, parseGoVersion, readGoVersion } from '../../src/binary/elf/buildinfo.js';
import { ElfFile } from '../../src/binary/elf/file.js';
import { fixtureBuilds, goVersionOf, readelfSections } from './elf-support.js';

const builds = fixtureBuilds({ fixture: 'types' });
const label = (b: (typeof builds)[number]) => `go${b.toolchain} ${b.variant}`;

/** A copy of the build whose .go.buildinfo magic is overwritten. */
function withoutBuildInfo(path: string): Buffer {
  const buf = Buffer.from(readFileSync(path));
  const sec = readelfSections(path).find((s) => s.name === '.go.buildinfo')!;
  buf.fill(0, sec.offset, sec.offset + 14);
  return buf;
}

/** A copy of the build with its section header table forgotten. */
function withoutSectionHeaders(path: string): Buffer {
  const buf = Buffer.from(readFileSync(path));
  buf.fill(0, 40, 48); // e_shoff
  buf.fill(0, 60, 64); // e_shnum, e_shstrndx
  return buf;
}

describe('readGoVersion', () => {
  it.each(builds.map((b) => [label(b), b] as const))('%s: same as go version', (_, b) => {
    expect(readGoVersion(ElfFile.read(b.path))).toBe(goVersionOf(b));
  });

  it.each(builds.filter((b) => b.variant === 'normal').map((b) => [label(b), b] as const))(
    '%s: from runtime.buildVersion when .go.buildinfo is unreadable',
    (_, b) => {
      expect(readGoVersion(ElfFile.parse(withoutBuildInfo(b.path), b.path))).toBe(goVersionOf(b));
    },
  );

  it.each(builds.filter((b) => b.variant === 'stripped').map((b) => [label(b), b] as const))(
    '%s: null when stripped and .go.buildinfo is unreadable',
    (_, b) => {
      expect(readGoVersion(ElfFile.parse(withoutBuildInfo(b.path), b.path))).toBeNull();
    },
  );

  it.each(builds.filter((b) => b.variant !== 'normal').map((b) => [label(b), b] as const))(
    '%s: found in the data segment without section headers',
    (_, b) => {
      expect(readGoVersion(ElfFile.parse(withoutSectionHeaders(b.path), b.path))).toBe(goVersionOf(b));
    },
  );

  it('null for a program that is not Go', () => {
    expect(readGoVersion(ElfFile.read('/bin/ls'))).toBeNull();
  });
});

describe('abiForVersion', () => {
  it.each([
    ['go1.15.15', 'stack'],
    ['go1.9', 'stack'],
    ['go1.16.2', 'stack'],
    ['go1.17', 'register'],
    ['go1.17rc1', 'register'],
    ['go1.19.8', 'register'],
    ['go1.27.3', 'register'],
    ['devel go1.23-4b2c4f1 Tue Jan 2 10:00:00 2024 +0000', 'register'],
    ['go2.0', 'register'],
    // Unknown: assume a current toolchain.
    ['devel +abcdef', 'register'],
    [null, 'register'],
  ] as const)('%s → %s', (version, abi) => {
    expect(abiForVersion(version)).toBe(abi);
  });

  it.each(builds.map((b) => [label(b), b] as const))('%s: agrees with the manifest', (_, b) => {
    expect(abiForVersion(readGoVersion(ElfFile.read(b.path)))).toBe(b.abi);
  });

  it('parseGoVersion reads major and minor numerically', () => {
    expect(parseGoVersion('go1.9.7')).toEqual({ major: 1, minor: 9 });
    expect(parseGoVersion('go1.22rc2')).toEqual({ major: 1, minor: 22 });
    expect(parseGoVersion('weird')).toBeNull();
  });
});

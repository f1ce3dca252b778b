// The parts of src/bpf/loader.ts that need no kernel: walking a ring-buffer
// batch and summarising a verifier log.

import { describe, expect, it } from 'vitest';
import { BpfError } from '../../src/core/errors.js';
import { forEachRecord, verifierLog, verifierVerdict } from '../../src/bpf/loader.js';

/** Builds a batch the way native/src/ringbuf.c lays it out: [u32 len][u32 0][bytes][pad to 8]. */
function batchOf(records: Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const header = Buffer.alloc(8);
    header.writeUInt32LE(r.length, 0);
    parts.push(header, Buffer.from(r), Buffer.alloc((8 - (r.length % 8)) % 8));
  }
  return Buffer.concat(parts);
}

function walk(batch: Buffer): [number, number, number[]][] {
  const out: [number, number, number[]][] = [];
  forEachRecord(batch, (offset, length) => out.push([offset, length, [...batch.subarray(offset, offset + length)]]));
  return out;
}

describe('forEachRecord', () => {
  it.each([
    { lengths: [], expected: [] },
    { lengths: [0], expected: [[8, 0]] },
    { lengths: [1, 7], expected: [[8, 1], [24, 7]] },
    { lengths: [8, 9, 32], expected: [[8, 8], [24, 9], [48, 32]] },
  ])('visits records of lengths $lengths at their offsets', ({ lengths, expected }) => {
    const records = lengths.map((n, i) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j) & 0xff));
    const seen = walk(batchOf(records));
    expect(seen.map(([o, l]) => [o, l])).toEqual(expected);
    expect(seen.map(([, , bytes]) => bytes)).toEqual(records.map((r) => [...r]));
  });

  it.each([
    { name: 'a header cut short', batch: Buffer.concat([batchOf([new Uint8Array(4)]), Buffer.alloc(4)]), message: 'a ring-buffer batch ends inside a record header at byte 16' },
    { name: 'a length past the end', batch: Buffer.from([64, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]), message: 'a ring-buffer record at byte 0 claims 64 bytes past the batch end' },
  ])('rejects $name with a BpfError', ({ batch, message }) => {
    expect(() => walk(batch)).toThrow(new BpfError(message, 'ring_buffer__poll', 22));
  });
});

describe('verifier log summary', () => {
  const log = [
    "libbpf: prog 'p': BPF program load failed: Permission denied",
    "libbpf: prog 'p': -- BEGIN PROG LOAD LOG --",
    '0: R1=ctx() R10=fp0',
    '7: (79) r0 = *(u64 *)(r0 +0)',
    "R0 invalid mem access 'map_value_or_null'",
    'processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
    '-- END PROG LOAD LOG --',
    "libbpf: prog 'p': failed to load: -13",
    '',
  ].join('\n');

  it('extracts the block between the load-log markers', () => {
    expect(verifierLog(log)).toBe(
      "0: R1=ctx() R10=fp0\n7: (79) r0 = *(u64 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\nprocessed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n",
    );
  });

  it('keeps the last statements and drops the instruction-count summary', () => {
    expect(verifierVerdict(log)).toEqual(['7: (79) r0 = *(u64 *)(r0 +0)', "R0 invalid mem access 'map_value_or_null'"]);
    expect(verifierVerdict(log, 1)).toEqual(["R0 invalid mem access 'map_value_or_null'"]);
  });

  it('finds nothing in a log without a program load log', () => {
    expect(verifierVerdict("libbpf: elf: 'junk' is not a proper ELF object\n")).toEqual([]);
  });
});

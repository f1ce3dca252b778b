/*
 * JSON lines output (`--format json`): one JSON object per traced call.
 *
 *   {"ts":1700000000123456789,"function":"main.f","pid":1,"tid":2,"ppid":0,
 *    "comm":"server","goid":17,"args":[ARG,…],"returns":[ARG,…],"duration_ns":1234}
 *
 * ts           integer, nanoseconds since the Unix epoch (exact, may exceed 2^53).
 * function     full Go symbol name, e.g. "main.(*Cart).Add".
 * pid/tid/ppid process, thread and parent process IDs.
 * comm         the kernel's process name (up to 15 bytes).
 * goid         goroutine ID; 0 when unknown.
 * args         array of ARG in declaration order (receiver first), or null when
 *              the values are not known (e.g. package mode on a stripped binary).
 * returns      array of ARG, only when the event carries results.
 * duration_ns  integer, only when the event carries a duration.
 *
 * ARG is {"name": "x", "type": "int", "value": CORE, ...EXTRAS}: `name` and
 * `type` as declared in Go, CORE and EXTRAS per kind below. Integers are
 * always JSON numbers with every digit, even beyond 2^53 (parse with a
 * lossless parser if you need them exact).
 *
 * A value nested inside another (struct field, array/slice element, map
 * key/value, pointer or interface target) is its bare CORE when it has no
 * EXTRAS, and otherwise the object {"value": CORE, ...EXTRAS}: the same keys
 * an ARG has, minus name and type. So nested slices are always
 * {"value": [...], "len": n, "cap": c}.
 *
 * kind       CORE                                        EXTRAS
 * bool       true / false
 * int        number
 * float      shortest number that reads back to the same float32/float64
 *            (float32 0.1 is 0.1); -0 is -0; NaN and infinities are the
 *            strings "NaN", "+Inf", "-Inf"
 * complex    {"real": FLOAT, "imag": FLOAT}
 * string     JSON string of the captured bytes           "len": Go length and "truncated": true,
 *                                                        only when the capture is shorter than the
 *                                                        string; "bytes_hex": "…" (hex of every
 *                                                        captured byte) when they are not valid
 *                                                        UTF-8, CORE then has U+FFFD for each bad
 *                                                        sequence. A truncated capture that ends
 *                                                        inside a multi-byte character drops that
 *                                                        partial character.
 * pointer    nil: null; not followed: "0xc000012345";       "cycle": true when it points back at a
 *            followed: {"address": "0x…", "value": NESTED}  value it was reached through (not followed)
 * array      [NESTED, …]                                 "len" and "truncated": true when fewer than
 *                                                        len elements were captured (--max-elements)
 * bytes      []byte and [N]byte: a JSON string of the      slices: "len", "cap" (always);
 *            captured bytes when they are printable        "truncated": true (and for arrays
 *            (UTF-8, no control characters but \t \n \r),  "len") when fewer than len bytes
 *            else the hex of every captured byte; a nil    were captured; "encoding": "hex"
 *            slice is null                                 when CORE is hex
 * slice      [NESTED, …] (null for a nil slice)          "len", "cap" (always), "truncated": true
 *                                                        when fewer than len elements were captured
 * struct     {"Field": NESTED, …} in declaration order; a repeated blank field `_` is
 *            written `_#2`, `_#3`, … so that keys stay unique
 * map        [[KEY, VALUE], …] when entries were read;   "len" when known, "truncated": true when
 *            otherwise the map's address "0x…"; nil: null fewer than len entries were read, with
 *                                                        "truncated_by": why (model.ts MapCut)
 * interface  nil: null; otherwise {"type": "main.T" (null when unknown),
 *            ["type_address": "0x…" when the name is unknown,]
 *            "value": NESTED when decoded, else "data": "0x…" (the data word)}
 * chan       address "0x…"; nil: null                    "len", "cap" when known
 * func       address "0x…" of the closure; nil: null
 * opaque     address "0x…" or null                       "opaque": the Go type name (not decoded)
 * unavailable null                                       "error": one sentence saying why
 *
 * Output is always valid JSON whatever bytes the traced strings hold.
 */

import type { CallEvent, DecodedArg, Value } from '../../core/index.js';
import { jsonFloat } from './floats.js';
import { asBuffer, completeLength, isPrintableBytes, jsonStringFromBytes } from './strings.js';

/** The bytes of a `bytes` value to show: a cut capture loses a split UTF-8 character at its end. */
function capturedBytes(v: Extract<Value, { kind: 'bytes' }>): Uint8Array {
  if (!v.truncated) return v.bytes;
  const end = completeLength(v.bytes);
  return end < v.bytes.length && isPrintableBytes(v.bytes.subarray(0, end)) ? v.bytes.subarray(0, end) : v.bytes;
}

function hexAddress(a: bigint): string {
  return `"0x${a.toString(16)}"`;
}

// Function names, comm, argument names and types repeat on every event:
// quoting each once saves most of a JSON line's cost.
const quotedNames = new Map<string, string>();

function jsonString(s: string): string {
  let q = quotedNames.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quotedNames.size >= 4096) quotedNames.clear();
    quotedNames.set(s, q);
  }
  return q;
}

/** The keys an ARG carries beside `value`, each as `,"key":…`; '' when none. */
function extrasOf(v: Value, hex?: string): string {
  switch (v.kind) {
    case 'string': {
      let e = v.truncated ? `,"len":${v.len},"truncated":true` : '';
      if (hex !== undefined) e += `,"bytes_hex":"${hex}"`;
      return e;
    }
    case 'slice':
      return `,"len":${v.len},"cap":${v.cap}${v.truncated ? ',"truncated":true' : ''}`;
    case 'array':
      return v.len !== undefined ? `,"len":${v.len},"truncated":true` : '';
    case 'bytes': {
      let e = v.cap !== undefined ? `,"len":${v.len},"cap":${v.cap}` : v.truncated ? `,"len":${v.len}` : '';
      if (v.truncated) e += ',"truncated":true';
      if (!isPrintableBytes(capturedBytes(v))) e += ',"encoding":"hex"';
      return e;
    }
    case 'map':
      return (
        (v.len !== undefined ? `,"len":${v.len}` : '') +
        (v.truncated ? ',"truncated":true' : '') +
        (v.truncated && v.truncatedBy !== undefined ? `,"truncated_by":"${v.truncatedBy}"` : '')
      );
    case 'pointer':
      return v.cycle ? ',"cycle":true' : '';
    case 'chan':
      return (v.len !== undefined ? `,"len":${v.len}` : '') + (v.cap !== undefined ? `,"cap":${v.cap}` : '');
    case 'func':
      return v.address !== 0n && v.func !== undefined ? `,"func":${jsonString(v.func)}` : '';
    case 'opaque':
      return `,"opaque":${jsonString(v.typeName)}`;
    case 'unavailable':
      return `,"error":${jsonString(v.reason)}`;
    default:
      return '';
  }
}

/** CORE of any value except strings (handled by callers, which also need the hex). */
function coreOf(v: Value): string {
  switch (v.kind) {
    case 'bool':
      return v.value ? 'true' : 'false';
    case 'int':
      return v.value.toString();
    case 'float':
      return jsonFloat(v.value, v.bits);
    case 'complex': {
      const bits = v.bits === 64 ? 32 : 64;
      return `{"real":${jsonFloat(v.real, bits)},"imag":${jsonFloat(v.imag, bits)}}`;
    }
    case 'string':
      return jsonStringFromBytes(v.bytes, v.truncated).quoted;
    case 'pointer':
      if (v.address === 0n) return 'null';
      if (v.target === undefined) return hexAddress(v.address);
      return `{"address":${hexAddress(v.address)},"value":${jsonValue(v.target)}}`;
    case 'array':
      return elemsJson(v.elems);
    case 'bytes': {
      if (v.address === 0n && v.len === 0n) return 'null';
      const b = capturedBytes(v);
      return isPrintableBytes(b) ? JSON.stringify(asBuffer(b).toString('utf8')) : `"${asBuffer(b).toString('hex')}"`;
    }
    case 'slice':
      return v.address === 0n && v.len === 0n ? 'null' : elemsJson(v.elems);
    case 'struct':
      return structJson(v.fields);
    case 'map':
      if (v.entries !== undefined) {
        let out = '[';
        for (let i = 0; i < v.entries.length; i++) {
          const [k, val] = v.entries[i]!;
          out += `${i ? ',' : ''}[${jsonValue(k)},${jsonValue(val)}]`;
        }
        return out + ']';
      }
      return v.address === 0n ? 'null' : hexAddress(v.address);
    case 'interface': {
      if (v.typeAddress === 0n) return 'null';
      let out = `{"type":${v.typeName !== undefined ? jsonString(v.typeName) : 'null'}`;
      if (v.typeName === undefined) out += `,"type_address":${hexAddress(v.typeAddress)}`;
      out += v.value !== undefined ? `,"value":${jsonValue(v.value)}` : `,"data":${hexAddress(v.dataAddress)}`;
      return out + '}';
    }
    case 'chan':
    case 'func':
      return v.address === 0n ? 'null' : hexAddress(v.address);
    case 'opaque':
      return v.address === undefined || v.address === 0n ? 'null' : hexAddress(v.address);
    case 'unavailable':
      return 'null';
  }
}

function elemsJson(elems: Value[]): string {
  let out = '[';
  for (let i = 0; i < elems.length; i++) out += (i ? ',' : '') + jsonValue(elems[i]!);
  return out + ']';
}

function structJson(fields: { name: string; value: Value }[]): string {
  let out = '{';
  let blanks = 0;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    let key = f.name;
    if (key === '_' && ++blanks > 1) key = `_#${blanks}`;
    out += `${i ? ',' : ''}${jsonString(key)}:${jsonValue(f.value)}`;
  }
  return out + '}';
}

/** A value as it appears nested inside another (see the table above). */
export function jsonValue(v: Value): string {
  if (v.kind === 'string') {
    const s = jsonStringFromBytes(v.bytes, v.truncated);
    if (!v.truncated && s.hex === undefined) return s.quoted;
    return `{"value":${s.quoted}${extrasOf(v, s.hex)}}`;
  }
  const extras = extrasOf(v);
  const core = coreOf(v);
  return extras === '' ? core : `{"value":${core}${extras}}`;
}

/** One ARG object: name, type, value and the value's extras. */
export function jsonArg(arg: DecodedArg): string {
  const v = arg.value;
  const head = `{"name":${jsonString(arg.name)},"type":${jsonString(arg.type)},"value":`;
  if (v.kind === 'string') {
    const s = jsonStringFromBytes(v.bytes, v.truncated);
    return `${head}${s.quoted}${extrasOf(v, s.hex)}}`;
  }
  return `${head}${coreOf(v)}${extrasOf(v)}}`;
}

function argsJson(args: DecodedArg[]): string {
  let out = '[';
  for (let i = 0; i < args.length; i++) out += (i ? ',' : '') + jsonArg(args[i]!);
  return out + ']';
}

/** One JSON line (without the newline) for a call event. */
export function jsonEvent(ev: CallEvent): string {
  let out =
    `{"ts":${ev.ts},"function":${jsonString(ev.function)},"pid":${ev.pid},"tid":${ev.tid},` +
    `"ppid":${ev.ppid},"comm":${jsonString(ev.comm)},"goid":${ev.goid},` +
    `"args":${ev.args === null ? 'null' : argsJson(ev.args)}`;
  if (ev.returns !== undefined) out += `,"returns":${argsJson(ev.returns)}`;
  if (ev.durationNs !== undefined) out += `,"duration_ns":${ev.durationNs}`;
  return out + '}';
}

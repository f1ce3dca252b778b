// From a call to what the OpenTelemetry exporters take: with --returns a
// span (ReadableSpan), without it a log record (ReadableLogRecord). Plain
// objects built here; the exporters encode them.
//
// Attributes of each call:
//   code.function.name   the Go function (also the span name / log body)
//   args.NAME            each argument, returns.NAME each result: the value
//                        as the JSON output writes it (src/output/format/json.ts,
//                        the nested form); a JSON boolean, number or plain
//                        string becomes that attribute type, anything else
//                        (null, objects, arrays) the JSON text as a string;
//                        integers beyond 2^53 are decimal strings
//   go.goroutine.id      the goroutine (0: unknown)
//   process.pid, process.parent_pid, thread.id, thread.name (the kernel's comm)
//   weaver.returned      false when no return was seen, with
//   weaver.not_returned  why (as "why" in the JSON output); such a span
//                        ends where it began
//   weaver.via_deferreturn  true when the return went through runtime.deferreturn
// A span's status is ERROR when the last result is an `error` that is not
// nil; its message is the first string inside the error's value (the
// message of errors.New and fmt.Errorf errors), else its type.
//
// Ids: calls nested on one goroutine (PairedEvent.callId/parentCallId/
// rootCallId) share a trace id; the span id is the call number XOR a
// random per-run key, the trace id a random per-run half and the span id
// of the outermost call.

import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type AttributeValue, type HrTime, type SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
import { jsonFloat } from '../format/floats.js';
import { jsonValue } from '../format/json.js';
import { asBuffer } from '../format/strings.js';
import type { CallEvent, DecodedArg, Value } from '../../core/index.js';
import type { PairedEvent } from '../../events/index.js';

/** A span or log record with the bytes it holds, roughly, for the queue's bound. */
export interface Mapped<T> {
  item: T;
  bytes: number;
}

/** Per-attribute and per-item overhead in the byte estimate: object headers, keys' slots. */
const ATTRIBUTE_OVERHEAD = 48;
const ITEM_OVERHEAD = 400;

function hrTime(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

/** An attribute value for one decoded value, by the rules above. */
export function attributeValue(v: Value): AttributeValue {
  switch (v.kind) {
    case 'bool':
      return v.value;
    case 'int':
      return v.value >= BigInt(Number.MIN_SAFE_INTEGER) && v.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v.value) : v.value.toString();
    case 'float': {
      const text = jsonFloat(v.value, v.bits);
      return text.startsWith('"') ? (JSON.parse(text) as string) : Number(text);
    }
    case 'string':
      // Whole and valid UTF-8: the JSON output writes just the string.
      return !v.truncated && isUtf8(v.bytes) ? asBuffer(v.bytes).toString('utf8') : jsonAttribute(v);
    default:
      return jsonAttribute(v);
  }
}

/** The JSON output's text of a value; a plain JSON string becomes the string itself. */
function jsonAttribute(v: Value): AttributeValue {
  const text = jsonValue(v);
  return text.startsWith('"') ? (JSON.parse(text) as string) : text;
}

function addArgs(attrs: Attributes, prefix: string, args: DecodedArg[]): number {
  let bytes = 0;
  for (const a of args) {
    const value = attributeValue(a.value);
    attrs[prefix + a.name] = value;
    bytes += ATTRIBUTE_OVERHEAD + prefix.length + a.name.length + (typeof value === 'string' ? value.length : 8);
  }
  return bytes;
}

/** The attributes of a call and their estimated size. */
export function callAttributes(ev: CallEvent): { attributes: Attributes; bytes: number } {
  const p = ev as PairedEvent;
  const attributes: Attributes = { 'code.function.name': ev.function };
  let bytes = ITEM_OVERHEAD + ev.function.length * 2 + ev.comm.length;
  if (ev.args) bytes += addArgs(attributes, 'args.', ev.args);
  if (ev.returns) bytes += addArgs(attributes, 'returns.', ev.returns);
  attributes['go.goroutine.id'] = Number(ev.goid);
  attributes['process.pid'] = ev.pid;
  attributes['process.parent_pid'] = ev.ppid;
  attributes['thread.id'] = ev.tid;
  attributes['thread.name'] = ev.comm;
  if (p.returned === false) {
    attributes['weaver.returned'] = false;
    attributes['weaver.not_returned'] = p.notReturnedReason ?? 'exit';
  }
  if (p.viaDeferreturn) attributes['weaver.via_deferreturn'] = true;
  return { attributes, bytes };
}

/** The first string inside a value, depth first (an error's message); undefined when none. */
function firstString(v: Value | undefined, depth = 0): string | undefined {
  if (!v || depth > 8) return undefined;
  switch (v.kind) {
    case 'string':
      return attributeValue(v) as string;
    case 'pointer':
      return firstString(v.target, depth + 1);
    case 'interface':
      return firstString(v.value, depth + 1);
    case 'struct':
      for (const f of v.fields) {
        const s = firstString(f.value, depth + 1);
        if (s !== undefined) return s;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** ERROR when the last result is a non-nil `error`, with its message. */
export function callStatus(ev: CallEvent): { code: SpanStatusCode; message?: string } {
  const last = ev.returns?.[ev.returns.length - 1];
  if (!last || last.type !== 'error') return { code: SpanStatusCode.UNSET };
  const v = last.value;
  if (v.kind !== 'interface' || v.typeAddress === 0n) return { code: SpanStatusCode.UNSET };
  return { code: SpanStatusCode.ERROR, message: firstString(v) ?? v.typeName ?? 'error' };
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** Span and trace ids of calls, unique in this run and, by their random keys, across runs. */
export class SpanIds {
  private readonly keyHi: number;
  private readonly keyLo: number;
  private readonly traceHalf: string;
  /** For calls without a number from pairing (no entry seen): numbers pairing never reaches. */
  private nextOwn = 2 ** 52;

  constructor(random: Buffer = randomBytes(16)) {
    this.keyHi = random.readUInt32BE(0);
    this.keyLo = random.readUInt32BE(4);
    this.traceHalf = random.subarray(8, 16).toString('hex');
  }

  spanId(callId: number): string {
    const hi = (this.keyHi ^ Math.floor(callId / 2 ** 32)) >>> 0;
    const lo = (this.keyLo ^ callId % 2 ** 32) >>> 0;
    // The all-zero id is invalid; one call in 2^64 takes its neighbour's complement.
    return hi === 0 && lo === 0 ? 'ffffffffffffffff' : hex8(hi) + hex8(lo);
  }

  traceId(rootCallId: number): string {
    return this.traceHalf + this.spanId(rootCallId);
  }

  /** The ids of a call: its own, its parent's span, its trace. */
  of(ev: CallEvent): { spanId: string; parentSpanId?: string; traceId: string } {
    const p = ev as PairedEvent;
    const callId = p.callId ?? this.nextOwn++;
    return {
      spanId: this.spanId(callId),
      parentSpanId: p.parentCallId === undefined ? undefined : this.spanId(p.parentCallId),
      traceId: this.traceId(p.rootCallId ?? callId),
    };
  }
}

function context(traceId: string, spanId: string): SpanContext {
  return { traceId, spanId, traceFlags: TraceFlags.SAMPLED };
}

/** A span for a call seen with --returns. */
export function callToSpan(ev: CallEvent, ids: SpanIds, resource: Resource, scope: InstrumentationScope): Mapped<ReadableSpan> {
  const { attributes, bytes } = callAttributes(ev);
  const { spanId, parentSpanId, traceId } = ids.of(ev);
  const durationNs = ev.durationNs ?? 0n;
  const own = context(traceId, spanId);
  const span: ReadableSpan = {
    name: ev.function,
    kind: SpanKind.INTERNAL,
    spanContext: () => own,
    parentSpanContext: parentSpanId ? context(traceId, parentSpanId) : undefined,
    startTime: hrTime(ev.ts),
    endTime: hrTime(ev.ts + durationNs),
    duration: hrTime(durationNs),
    status: callStatus(ev),
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  return { item: span, bytes };
}

/** A log record for a call seen without --returns: the body is the function, the attributes as a span's. */
export function callToLogRecord(ev: CallEvent, resource: Resource, scope: InstrumentationScope, observedNs: bigint): Mapped<ReadableLogRecord> {
  const { attributes, bytes } = callAttributes(ev);
  const record: ReadableLogRecord = {
    hrTime: hrTime(ev.ts),
    hrTimeObserved: hrTime(observedNs),
    body: ev.function,
    eventName: 'weaver.call',
    resource,
    instrumentationScope: scope,
    attributes,
    droppedAttributesCount: 0,
  };
  return { item: record, bytes };
}

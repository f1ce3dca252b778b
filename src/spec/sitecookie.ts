// A probe's BPF cookie: what a program shared by many functions (one per
// record shape, src/bpf/codegen.ts) must know of the probe that fired. The
// kernel hands the cookie of each uprobe_multi offset to the program
// (bpf_get_attach_cookie), so one program serves every function whose
// records are laid out alike, and nothing here costs a map lookup per call.
// The layout is described once, below; the C macros are generated from it.
//
//   bits  0..11  call       which shape the dispatcher runs (its switch case)
//   bits 12..31  func       the function id the record carries
//   bits 32..43  failFlags  entry probes on a stack check's jump: EFLAGS bits
//                           of which any set means the check failed
//   bits 44..63  linkPage   the probe's link-time address >> 12, from which a
//                           PIE's load bias is worked out (ip >> 12 − linkPage)
//   bits 32..63  frame      deferreturn probes instead: the caller's frame size

interface Field {
  shift: number;
  bits: number;
}

export const COOKIE_FIELDS = {
  call: { shift: 0, bits: 12 },
  func: { shift: 12, bits: 20 },
  failFlags: { shift: 32, bits: 12 },
  linkPage: { shift: 44, bits: 20 },
  frame: { shift: 32, bits: 32 },
} as const satisfies Record<string, Field>;

export type CookieField = keyof typeof COOKIE_FIELDS;

/** The largest value a field holds. */
export function cookieFieldMax(field: CookieField): number {
  return 2 ** COOKIE_FIELDS[field].bits - 1;
}

/** What one probe site tells its shared program. */
export interface SiteFields {
  call: number;
  func: number;
  failFlags?: number;
  /** Link-time address of the probed instruction; only PIE binaries need it (types bias). */
  linkAddress?: number;
  /** deferreturn probes: the frame size (exclusive with failFlags and linkAddress). */
  frame?: number;
}

/** Thrown when a value does not fit its field (plain Error: callers say what to do). */
export class CookieRangeError extends Error {}

function put(field: CookieField, value: number): bigint {
  const { shift } = COOKIE_FIELDS[field];
  if (!Number.isSafeInteger(value) || value < 0 || value > cookieFieldMax(field)) {
    throw new CookieRangeError(`${field} ${value} does not fit in a probe cookie (at most ${cookieFieldMax(field)})`);
  }
  return BigInt(value) << BigInt(shift);
}

export function siteCookie(site: SiteFields): bigint {
  let cookie = put('call', site.call) | put('func', site.func);
  if (site.frame !== undefined) return cookie | put('frame', site.frame);
  if (site.failFlags) cookie |= put('failFlags', site.failFlags);
  if (site.linkAddress !== undefined) cookie |= put('linkPage', Math.floor(site.linkAddress / 4096));
  return cookie;
}

/** The inverse of siteCookie (tests, -v). */
export function readCookie(cookie: bigint, field: CookieField): number {
  const { shift, bits } = COOKIE_FIELDS[field];
  return Number((cookie >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
}

/** WEAVER_COOKIE_<FIELD>(c) for every field, for the generated C. */
export function cookieCDefinitions(): string {
  const lines = ['/* A probe\'s cookie (src/spec/sitecookie.ts): which shape runs, for which function, and the probe\'s own facts. */'];
  for (const [name, { shift, bits }] of Object.entries(COOKIE_FIELDS)) {
    const macro = name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
    const mask = bits === 32 ? '0xffffffffULL' : `0x${(2 ** bits - 1).toString(16)}ULL`;
    lines.push(`#define WEAVER_COOKIE_${macro}(c) ((u32)(((c) >> ${shift}) & ${mask}))`);
  }
  return lines.join('\n');
}

/** The C call-index expression of the dispatcher's switch. */
export const COOKIE_CALL_C = 'WEAVER_COOKIE_CALL(cookie)';

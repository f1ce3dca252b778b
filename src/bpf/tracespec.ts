// What to load: from a binary and the user's selection to plans, generated
// C and attach points. Deterministic and free of privileges, so --emit c
// and the unit tests run it without root; src/events/session.ts turns a spec into
// loaded, attached programs.

import { chooseEntryProbe, ElfFile, goBinaryInfo, goBuildId, goidOffsetFor, lazyFunctionNames, lazyRuntimeTypes, ProbeCache, type ProbeKind } from '../binary/index.js';
import { argumentLocations } from '../spec/abi/index.js';
import { buildShapes, generateUnits, programName } from './codegen.js';
import { argumentFrames, checkSignatures, CookieRangeError, dwarfMatchesFrame, functionPackage, mapLayoutForVersion, parseFunctionsFile, placeDictionaries, planFunction, PlanTooLargeError, selectPackages, siteCookie, stackTailSize, type FunctionPlan, type PlanOptions, type SiteFields } from '../spec/index.js';
import { dwarfDescribesInlined, dwarfTypeByName, readDwarfFunctions } from '../binary/dwarf/index.js';
import { closestFunctions, InputError, Notes, readTextUpTo, SymbolNotFoundError, WeaverError, type FunctionSpec, type FunctionSymbol, type GoBinaryInfo, type GoType } from '../core/index.js';
import { ALL_FEATURES, type KernelFeatures } from './features.js';
import { returnSide, type ReturnSide } from './returnspec.js';

export interface TraceRequest {
  binaryPath: string;
  /** The binary already read (with its separate debug info, src/binary/debuginfo/); read from binaryPath when absent. */
  elf?: ElfFile;
  /** Functions-file mode when set; package mode otherwise. */
  functionsFile?: string;
  packages: string[];
  plan: PlanOptions;
  /** auto: one trap a call where the kernel allows (src/binary/x86/prologue.ts); entry: the first instruction. */
  probePlacement?: 'auto' | 'entry';
  /** How records reach user space (default ring); the session must use the same. */
  transport?: 'ring' | 'perf';
  /** Ring transport: per-CPU record batches (default: where the kernel can run the flush on a chosen CPU, features.run_on_cpu). */
  ringBatches?: boolean;
  /**
   * What the kernel the programs will load on can do (src/bpf/features.ts),
   * as plain data so that the spec is a function of the request; default
   * ALL_FEATURES. Transport and attach mode are chosen by the caller
   * (session.ts resolveTransport, resolveAttachMode) and given above.
   */
  features?: KernelFeatures;
  /** Bytes at which a per-CPU batch is sent (default RING_BATCH_BYTES; see ringBatchBytesFor). */
  ringBatchBytes?: number;
  /** --returns: also probe every RET (and runtime.deferreturn call) for results and durations. */
  returns?: boolean;
  /**
   * multi: one dispatcher program attached at every probe through a single
   * uprobe_multi link (Linux 6.6+), which the kernel adds and removes as a
   * batch; single: one perf-event link per probe (older kernels).
   */
  attach?: 'multi' | 'single';
  /** Functions-file mode: trace signatures that contradict the binary anyway, with a warning (--force). */
  force?: boolean;
  /** --stack=N: record up to this many return addresses of the call stack at each call. */
  stackFrames?: number;
  /** Per-binary cache of probe placement, goid offset, runtime types and RET sites (src/binary/probecache.ts); null: none. Default: the user's cache. */
  binaryCacheDir?: string | null;
}

/**
 * Multi mode: dispatcher programs, each attached at its probes through one
 * uprobe_multi link, calling the probe's shape by the call index in its
 * cookie. A BPF program must stay under the kernel's limits: 256
 * subprograms (its shapes, the readers they reach, and bpf/weaver.h's own
 * functions, `fixedSubprograms` at most) and 1M instructions verified, for
 * which the length of the shapes' C text is a rough measure.
 * `fixedSubprograms` is exact, not a margin: the dispatcher itself, weaver.h's
 * five WEAVER_LOOKUP_SITE functions, its five noinline shared functions, its
 * three bpf_loop callbacks and the pairing's two lookup sites (codegen.ts).
 * A margin costs a second dispatcher early: 277 functions of httpserver
 * (132 shapes, 105 readers) took two dispatchers at 24, one at 16
 * (bench/README.md 3d).
 */
export const DISPATCH_LIMITS = { subprograms: 256, fixedSubprograms: 16, textBytes: 400_000 };

export interface Dispatcher {
  program: string;
  /** The shapes it calls; a probe's cookie holds the index of its shape here. */
  calls: string[];
  /** Its probes, as its uprobe_multi link takes them: file offsets and their cookies. */
  offsets: number[];
  cookies: bigint[];
}

export function dispatcherName(index: number): string {
  return `weaver_dispatch${index}`;
}

/**
 * Shares the probes' shapes out between dispatchers, in order, and gives
 * each probe its cookie; `weight` is a shape's size (its C text).
 */
export function groupDispatchers(
  probes: ProbeSite[],
  shapeOf: (program: string) => string,
  weight: (shape: string) => number,
  readersOf: (shape: string) => Set<string> = () => new Set(),
): Dispatcher[] {
  const shapes = [...new Set(probes.map((p) => shapeOf(p.program)))];
  const groups: Dispatcher[] = [];
  let bytes = 0;
  let readers = new Set<string>();
  const room = DISPATCH_LIMITS.subprograms - DISPATCH_LIMITS.fixedSubprograms;
  for (const shape of shapes) {
    const w = weight(shape);
    const its = readersOf(shape);
    const last = groups[groups.length - 1];
    const joined = new Set([...readers, ...its]);
    if (!last || last.calls.length + 1 + joined.size > room || bytes + w > DISPATCH_LIMITS.textBytes) {
      groups.push({ program: dispatcherName(groups.length), calls: [shape], offsets: [], cookies: [] });
      bytes = w;
      readers = new Set(its);
    } else {
      last.calls.push(shape);
      bytes += w;
      readers = joined;
    }
  }
  const where = new Map<string, { group: Dispatcher; call: number }>();
  for (const group of groups) group.calls.forEach((shape, call) => where.set(shape, { group, call }));
  for (const p of probes) {
    const { group, call } = where.get(shapeOf(p.program))!;
    group.offsets.push(p.attachOffset);
    group.cookies.push(siteCookie({ ...p.site, call }));
  }
  return groups;
}

/** One probe: where it sits, which program runs there (single mode), and what its cookie tells the program's shape. */
export interface ProbeSite {
  program: string;
  attachOffset: number;
  site: Omit<SiteFields, 'call'>;
}

export interface TraceTarget {
  plan: FunctionPlan;
  symbol: FunctionSymbol;
  program: string;
  /** File offset the uprobe is attached at. */
  attachOffset: number;
  /** Where the probe sits in the function, and why (shown with -v); `traps`: what a call costs there, when known. */
  probe: { offset: number; kind: ProbeKind; reason: string; traps?: 1 | 2; stackCheckFailFlags?: number };
  /** With --returns: the return record plan and the extra attach points, each with its program. */
  returns?: ReturnSide;
}

export interface TraceSpec {
  binary: GoBinaryInfo;
  /** The Go build ID (.note.go.buildid), null when the binary has none; a resource attribute of OTLP export. */
  buildId?: string | null;
  targets: TraceTarget[];
  /** The generated C: every compile unit (cUnits), one after the other. */
  cSource: string;
  /** The compile units, which src/bpf/compile.ts compiles one by one and joins. */
  cUnits: string[];
  /** True when no argument values are captured (package mode without DWARF). */
  namesOnly: boolean;
  /** Things the user should know, printed once on stderr. */
  notes: Notes;
  /** True with --returns: records are paired (src/events/pairing.ts). */
  returns: boolean;
  /**
   * Every probe, return probes first (a call that begins once its entry
   * probe is in place must find its return probes there).
   */
  probes: ProbeSite[];
  /** Multi mode: the dispatchers and the programs each calls; null in single mode. */
  dispatch: Dispatcher[] | null;
  /** The ring transport's records go out in per-CPU batches (the reader must flush and order them). */
  ringBatches: boolean;
}

export function buildTraceSpec(req: TraceRequest): TraceSpec {
  const elf = req.elf ?? ElfFile.read(req.binaryPath);
  const cache = ProbeCache.open(elf, { dir: req.binaryCacheDir });
  const info = cache.binaryInfo(req.binaryPath, () => goBinaryInfo(elf));
  const notes = new Notes();
  const specs = req.functionsFile ? specsFromFile(req.functionsFile, info, elf, { force: req.force, notes }) : specsFromPackages(req.packages, info, elf, notes);
  const namesOnly = specs.every((s) => s.params === null);

  const features = req.features ?? ALL_FEATURES;
  const runtimeTypes = lazyRuntimeTypes(elf, info.hasDwarf, cache);
  const functionNames = lazyFunctionNames(info.functions);
  const mapLayout = mapLayoutForVersion(info.goVersion, features.bpf_loop);
  const targets: TraceTarget[] = specs.map((s, id) => {
    const symbol = info.functions.get(s.spec.name)!;
    let plan: FunctionPlan;
    try {
      const locations = s.params === null ? null : argumentLocations(s.params, info.abi, { hiddenDictionary: s.spec.hiddenDictionary });
      plan = planFunction(id, s.spec, info.abi, locations, { ...req.plan, runtimeTypes, functionNames, mapLayout });
    } catch (err) {
      if (err instanceof PlanTooLargeError) throw new WeaverError(err.message, { hint: 'raise --max-event-size or lower --string-size and --max-elements' });
      throw err;
    }
    const program = programName(plan);
    const probe = probePoint(elf, symbol, info, req.probePlacement ?? 'auto', cache);
    const stacked = (p: FunctionPlan) => withStackTail(p, req.stackFrames, symbol.address + probe.offset);
    if (!req.returns) return { plan: stacked(plan), symbol, program, attachOffset: symbol.fileOffset + probe.offset, probe };
    const side = returnSide({ id, spec: s.spec, namesOnly: s.params === null, entryPlan: plan, symbol, info, elf, plan: { ...req.plan, mapLayout, functionNames }, notes, cache });
    return { plan: stacked(side.entryPlan), symbol, program, attachOffset: symbol.fileOffset + probe.offset, probe, returns: side.returns };
  });

  // Link-time addresses give a PIE's load bias; a non-PIE needs none.
  const linkAddress = (address: number) => (info.pie ? { linkAddress: address } : {});
  const probes: ProbeSite[] = [];
  for (const t of targets) {
    for (const r of t.returns?.probes ?? []) {
      const site = r.kind === 'deferreturn' ? { func: t.plan.id, frame: r.frameSize } : { func: t.plan.id, ...linkAddress(t.symbol.address + r.offset) };
      probes.push({ program: r.program, attachOffset: r.attachOffset, site });
    }
  }
  for (const t of targets) {
    const site = { func: t.plan.id, failFlags: t.probe.stackCheckFailFlags ?? 0, ...linkAddress(t.symbol.address + t.probe.offset) };
    probes.push({ program: t.program, attachOffset: t.attachOffset, site });
  }

  const ringBatches = req.transport !== 'perf' && (req.ringBatches ?? features.run_on_cpu);
  const units = targets.map((t) => ({
    plan: t.plan,
    stackCheckFailFlags: t.probe.stackCheckFailFlags,
    pairDepthOffset: t.returns?.depthOffset,
    probeAddress: t.symbol.address + t.probe.offset,
  }));
  const returnUnits = req.returns ? targets.map((t) => t.returns!.unit) : undefined;
  const shapes = buildShapes(units, { transport: req.transport, ringBatches, ...(returnUnits ? { returns: returnUnits } : {}) });
  const shapeText = new Map(shapes.shapes.map((s) => [s.name, s.text]));
  let dispatch: Dispatcher[] | null = null;
  if ((req.attach ?? 'multi') === 'multi') {
    try {
      dispatch = groupDispatchers(
        probes,
        (program) => shapes.shapeOf.get(program)!,
        (shape) => shapeText.get(shape)?.length ?? 0,
        (shape) => shapes.readers.reachedFrom(shapeText.get(shape) ?? ''),
      );
    } catch (err) {
      if (err instanceof CookieRangeError) throw new WeaverError(`cannot give every probe its cookie: ${err.message}`, { hint: 'trace fewer functions at once' });
      throw err;
    }
  }

  const cUnits = generateUnits(
    units,
    {
      pie: info.pie,
      ...(returnUnits ? { returns: returnUnits } : {}),
      abi: info.abi,
      goidOffset: cache.goidOffset(() => goidOffsetFor(info, elf)),
      // No binary path or version here: builds that need the same programs
      // share one compiled object in the cache.
      transport: req.transport,
      ringBatches,
      taskBtf: features.task_btf,
      ...(req.ringBatchBytes !== undefined ? { ringBatchBytes: req.ringBatchBytes } : {}),
      ...(dispatch ? { dispatch: dispatch.map(({ program, calls }) => ({ program, calls })) } : {}),
    },
    shapes,
  );
  // --emit c shows every unit, each compilable on its own.
  const cSource = cUnits.join('\n');
  cache.save();
  return { binary: info, buildId: goBuildId(elf), targets, cSource, cUnits, namesOnly, notes, returns: Boolean(req.returns), probes, dispatch, ringBatches };
}

/** --stack: the entry record with a call stack tail of `frames` return addresses at its end (src/spec/record.ts STACK_TAIL). */
export function withStackTail(plan: FunctionPlan, frames: number | undefined, probeAddress: number): FunctionPlan {
  if (!frames) return plan;
  return { ...plan, recordSize: plan.recordSize + stackTailSize(frames), stack: { offset: plan.recordSize, frames, probeAddress } };
}

/** Far more than any real functions file; /dev/zero or a wrong path must not fill memory. */
const MAX_FUNCTIONS_FILE_BYTES = 16 << 20;

interface SelectedSpec {
  spec: FunctionSpec;
  /** null: trace by name only. */
  params: FunctionSpec['params'] | null;
}

function specsFromFile(file: string, info: GoBinaryInfo, elf: ElfFile, check: { force?: boolean; notes: { push(text: string): void } }): SelectedSpec[] {
  let text: string | null;
  try {
    text = readTextUpTo(file, MAX_FUNCTIONS_FILE_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    throw new InputError(`functions file ${file} ${why}`, { cause: err });
  }
  if (text === null) {
    throw new InputError(`functions file ${file} is larger than ${MAX_FUNCTIONS_FILE_BYTES >> 20} MiB, too large to be a list of functions`, {
      hint: 'check the path given with -f',
    });
  }
  // Without DWARF the parser says a named type needs debug info; with it,
  // named types (main.Account) resolve through the binary's own description.
  const specs = parseFunctionsFile(text, file, info.hasDwarf ? { resolveType: dwarfTypeResolver(elf) } : { namedKind: runtimeKindOf(elf) });
  if (specs.length === 0) throw new InputError(`functions file ${file} lists no functions`);
  placeDictionaries(specs, info.goVersion);
  const names = [...info.functions.keys()];
  for (const spec of specs) {
    if (!info.functions.has(spec.name)) {
      const where = spec.origin ? `${spec.origin.file}:${spec.origin.line}: ` : '';
      if (info.hasDwarf && dwarfDescribesInlined(elf, spec.name)) {
        throw new InputError(`function ${spec.name} is inlined into every call: it has no code of its own to put a probe on`, {
          hint: `${where}build with -gcflags=all=-l, or mark it //go:noinline, to keep it a function`,
        });
      }
      throw new SymbolNotFoundError(spec.name, closestFunctions(spec.name, names, 3), {
        hint: `${where}check the name with: weaver list ${info.path}`,
      });
    }
  }
  checkSignatures(specs, info, elf, check);
  return specs.map((spec) => ({ spec, params: spec.params }));
}

/**
 * The kind of a named type by the runtime's type descriptors, which name
 * types by their package's last element (`http.Handler` for net/http).
 */
function runtimeKindOf(elf: ElfFile) {
  return (name: string): GoType['kind'] | undefined => {
    const short = name.replace(/^.*\//, '');
    try {
      return lazyRuntimeTypes(elf, false)()?.list().find((t) => t.name === short)?.type.kind;
    } catch {
      return undefined;
    }
  };
}

/** Named types in a functions file resolve through DWARF, which is read only if one is used. */
function dwarfTypeResolver(elf: ElfFile) {
  return (name: string): GoType | undefined => {
    try {
      return dwarfTypeByName(elf, name) ?? undefined;
    } catch {
      // A corrupt DWARF section: the parser then reports the type as unknown.
      return undefined;
    }
  };
}

function specsFromPackages(patterns: string[], info: GoBinaryInfo, elf: ElfFile, notes: Notes): SelectedSpec[] {
  const byPackage = new Map<string, FunctionSymbol[]>();
  for (const f of info.functions.values()) {
    const pkg = functionPackage(f.name);
    if (pkg === null) continue;
    const list = byPackage.get(pkg);
    if (list) list.push(f);
    else byPackage.set(pkg, [f]);
  }
  const packages = selectPackages(patterns, byPackage.keys(), info.path);
  const symbols = packages.flatMap((p) => byPackage.get(p)!);
  let dwarf: ReturnType<typeof readDwarfFunctions> | null = null;
  if (info.hasDwarf) {
    try {
      dwarf = readDwarfFunctions(elf, { packages });
    } catch (err) {
      notes.push(`${(err as Error).message}; tracing by name only`);
    }
  } else {
    notes.push(`${info.path} has no DWARF debug information: tracing calls by name only (argument values need DWARF or a functions file given with -f)`);
  }
  // Go 1.15–1.19 leave parameters without a name out of DWARF: where its
  // signature does not fill the argument frame, the values would be read
  // from the wrong places, so such a function is traced by name only.
  const frames = dwarf ? argumentFrames(elf, info) : new Map<number, number>();
  const incomplete: string[] = [];
  const selected = symbols
    .sort((a, b) => a.address - b.address)
    .map((sym) => {
      const d = dwarf?.get(sym.name);
      if (d && dwarfMatchesFrame(d.spec, frames.get(sym.address), info.abi)) return { spec: d.spec, params: d.spec.params };
      if (d) incomplete.push(sym.name);
      return { spec: { name: sym.name, params: [], results: null }, params: null };
    });
  if (incomplete.length) {
    notes.push(
      `${incomplete.length} function${incomplete.length === 1 ? '' : 's'} traced by name only: the debug info leaves a parameter out (${incomplete.slice(0, 3).join(', ')}${incomplete.length > 3 ? ', …' : ''}); write their signatures in a functions file to see values`,
    );
  }
  return selected;
}

function probePoint(elf: ElfFile, symbol: FunctionSymbol, info: GoBinaryInfo, placement: 'auto' | 'entry', cache: ProbeCache): TraceTarget['probe'] {
  if (placement === 'entry') return { offset: 0, kind: 'entry', reason: 'asked for with --probe-placement entry' };
  if (symbol.size <= 0) return { offset: 0, kind: 'entry', reason: 'the function\'s size is unknown' };
  return cache.entryProbe(symbol, () => decodeEntryProbe(elf, symbol, info));
}

function decodeEntryProbe(elf: ElfFile, symbol: FunctionSymbol, info: GoBinaryInfo): TraceTarget['probe'] {
  try {
    const p = chooseEntryProbe(elf.readVirtual(symbol.address, symbol.size), symbol.address, info.abi);
    return {
      offset: p.offset,
      kind: p.kind,
      reason: p.reason,
      traps: p.traps,
      ...(p.stackGuardCheck ? { stackCheckFailFlags: p.stackGuardCheck.failFlagsMask } : {}),
    };
  } catch (err) {
    return { offset: 0, kind: 'entry', reason: `its code could not be decoded (${(err as Error).message})` };
  }
}

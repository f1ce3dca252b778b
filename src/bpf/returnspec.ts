// The --returns part of building a TraceSpec: for one traced function, its
// return record plan, its return probes (from its decoded code) and the
// entry record's depth slot. Notes say what cannot be seen, per function
// (src/core/notes.ts groups them), so the user knows why a call shows no return.

import type { ReturnUnit } from './codegen.js';
import { findReturnProbes, lazyRuntimeTypes, type ElfFile, type ProbeCache } from '../binary/index.js';
import { NotSupportedError, WeaverError, type FunctionSpec, type FunctionSymbol, type GoBinaryInfo, type Notes } from '../core/index.js';
import { planReturn, PlanTooLargeError, returnProbesFor, withDepthSlot, type FunctionPlan, type PlanOptions, type ReturnPlan, type ReturnProbe } from '../spec/index.js';

export interface ReturnSide {
  plan: ReturnPlan;
  /** Attach points: every RET and every runtime.deferreturn call, each with its program. */
  probes: ReturnProbe[];
  /** Where the entry record carries the stack depth. */
  depthOffset: number;
  /**
   * The function can leave without a RET: it has none, or it also jumps to
   * another function (runtime.memequal's JMP to memeqbody). A frame of it
   * that goes without a return record may have left that way, so pairing
   * must not take it for a panic.
   */
  leavesByJump: boolean;
  unit: ReturnUnit;
}

export interface ReturnSideInput {
  id: number;
  spec: FunctionSpec;
  /** Names-only tracing: results are not read either. */
  namesOnly: boolean;
  entryPlan: FunctionPlan;
  symbol: FunctionSymbol;
  info: GoBinaryInfo;
  elf: ElfFile;
  /** The entry side's options: results are planned alike (mapLayout absent: map lengths only). */
  plan: PlanOptions;
  notes: Notes;
  /** Keeps the RET sites (and the runtime-type table) between runs. */
  cache?: ProbeCache;
}

export function returnSide(input: ReturnSideInput): { entryPlan: FunctionPlan; returns: ReturnSide } {
  const { id, spec, symbol, info, notes } = input;
  const { plan: entryPlan, depthOffset } = withDepthSlot(input.entryPlan);
  // Results are planned like arguments: interfaces resolve through the
  // same runtime-type table (read once per binary), maps by the same layout.
  const options: PlanOptions = {
    ...input.plan,
    runtimeTypes: input.plan.runtimeTypes ?? lazyRuntimeTypes(input.elf, info.hasDwarf, input.cache),
  };
  const plan = returnPlanOrUnknown(id, input.namesOnly ? { ...spec, params: [], results: null } : spec, info, options, notes);
  const { probes, leavesByJump } = probesOf(id, symbol, info, input.elf, notes, input.cache);
  const unit: ReturnUnit = {
    plan,
    deferreturnFrameSizes: probes.filter((p) => p.kind === 'deferreturn').map((p) => p.frameSize),
    retAddresses: probes.filter((p) => p.kind === 'ret').map((p) => symbol.address + p.offset),
  };
  return { entryPlan, returns: { plan, probes, depthOffset, leavesByJump, unit } };
}

function returnPlanOrUnknown(id: number, spec: FunctionSpec, info: GoBinaryInfo, options: PlanOptions, notes: Notes): ReturnPlan {
  try {
    return planReturn(id, spec, info.abi, options, { hiddenDictionary: spec.hiddenDictionary });
  } catch (err) {
    if (err instanceof PlanTooLargeError) {
      throw new WeaverError(err.message.replace('the arguments of', 'the results of'), {
        hint: 'raise --max-event-size or lower --string-size and --max-elements',
      });
    }
    if (!(err instanceof NotSupportedError)) throw err;
    // An opaque result type: the call is still timed, its results not shown.
    notes.addFunction('results-hidden', spec.name, `${spec.name}: results not shown (${err.message})`);
    return planReturn(id, { ...spec, results: null }, info.abi, options);
  }
}

function probesOf(
  id: number, symbol: FunctionSymbol, info: GoBinaryInfo, elf: ElfFile, notes: Notes, cache?: ProbeCache,
): { probes: ReturnProbe[]; leavesByJump: boolean } {
  const none = { probes: [], leavesByJump: true };
  if (symbol.size <= 0) {
    notes.addFunction('size-unknown', symbol.name, `${symbol.name}: its size is unknown, so its RET instructions cannot be found; its calls show no return`);
    return none;
  }
  let found;
  try {
    const deferreturn = info.functions.get('runtime.deferreturn')?.address ?? null;
    const decode = () => findReturnProbes(elf.readVirtual(symbol.address, symbol.size), symbol.address, deferreturn);
    // Decoding loads iced-x86 (~30 ms) and walks the code: kept per binary.
    found = cache ? cache.returnSites(symbol, decode) : decode();
  } catch (err) {
    notes.addFunction('undecodable', symbol.name, `${symbol.name}: its code could not be decoded (${(err as Error).message}); its calls show no return`);
    return none;
  }
  const hasRet = found.sites.some((s) => s.kind === 'ret');
  if (!hasRet) {
    notes.addFunction('no-ret', symbol.name, `${symbol.name} has no RET instruction (it never returns, or ends in a tail call); its calls show no return`);
  } else if (found.tailJumps.length > 0) {
    notes.addFunction(
      'tail-jump',
      symbol.name,
      `${symbol.name} also leaves through a jump to another function at ` +
        `${found.tailJumps.map((o) => `+0x${o.toString(16)}`).join(', ')}; calls that return that way show as left without a traced return`,
    );
  }
  return { probes: returnProbesFor(id, symbol, found.sites), leavesByJump: !hasRet || found.tailJumps.length > 0 };
}

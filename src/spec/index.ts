// spec: what to read at each function, as plain data. Functions files and Go
// type expressions, package selection, signatures checked against the
// binary, argument and result locations (ABI), record plans and the record
// layout the BPF side writes, the probe cookie. In: binary facts and the
// user's request; out: plans. Deterministic, needs no privileges.
//
// The stage's public face: other stages import from here (or from a
// sub-folder's index.ts), never from the stage's modules themselves.

export { parseFunctionLine, parseFunctionsFile, placeDictionaries } from './funcfile.js';
export { countPackages, functionPackage, selectPackages } from './packages.js';
export { MAP_WALK_STATUS, MAP_WALK_STEPS, PlanTooLargeError, SLOT_HEADER, mapLayoutForVersion, planFunction, type ArgPlan, type FunctionPlan, type PlanOptions, type Slot, type ValuePlan } from './plan.js';
export { HEADER_FIELDS, HEADER_FLAG, HEADER_SIZE, RECORD_KIND, STACK_DEFAULT_FRAMES, STACK_MAX_FRAMES, headerCDeclaration, readHeader, readStackTail, stackTailCDeclaration, stackTailSize, type RecordHeader } from './record.js';
export { G_STACK_HI_OFFSET, PAIR_FLAG, PAIR_STAT, PAIR_STAT_COUNT, deferreturnProgramName, planReturn, returnProbesFor, returnProgramName, withDepthSlot, type ReturnPlan, type ReturnProbe } from './returns.js';
export { argumentFrames, checkSignature, checkSignatures, dwarfMatchesFrame } from './signaturecheck.js';
export { signatureLine, writable } from './signatureline.js';
export { COOKIE_CALL_C, CookieRangeError, cookieCDefinitions, siteCookie, type SiteFields } from './sitecookie.js';

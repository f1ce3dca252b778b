// What the running kernel can do, told by its release (uname -r): each
// feature weaver depends on by the first release that has it.

/** Whether `kernelRelease` ("6.18.44-…") is `[major, minor]` or later; an unparsable release counts as new. */
export function releaseAtLeast(kernelRelease: string, [wantMajor, wantMinor]: readonly [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return true;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

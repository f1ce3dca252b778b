// `weaver --types`: the argument types a functions file may name.

import { formatSupportedTypes } from '../supported.js';

export function printSupportedTypes(out: NodeJS.WritableStream): void {
  out.write(formatSupportedTypes());
}

// Go symbol names: which package a function belongs to. Package paths
// contain dots and slashes (`github.com/acme/shop/cart.(*Cart).Add`), and
// generic instantiations carry type names in brackets that may contain
// both (`main.F[go.shape.struct { net/http.x }]`), so neither the first dot
// nor the last one will do.

/** The package path of a function symbol, or null when the name has no package. */
export function packageOf(symbol: string): string | null {
  const bracket = symbol.indexOf('[');
  const plain = bracket >= 0 ? symbol.slice(0, bracket) : symbol;
  const lastSlash = plain.lastIndexOf('/');
  const dot = plain.indexOf('.', lastSlash + 1);
  if (dot <= 0) return null;
  return plain.slice(0, dot);
}

/** True when `symbol` belongs to one of `packages` (exact package paths). */
export function inPackages(symbol: string, packages: ReadonlySet<string>): boolean {
  const pkg = packageOf(symbol);
  return pkg !== null && packages.has(pkg);
}

/** A name without its type arguments: main.Max[int64] → main.Max, main.(*Box[go.shape.int64]).Put → main.(*Box).Put. */
export function withoutTypeArguments(name: string): string {
  let out = '';
  let depth = 0;
  for (const c of name) {
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (depth === 0) out += c;
  }
  return out;
}

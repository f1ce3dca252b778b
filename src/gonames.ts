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

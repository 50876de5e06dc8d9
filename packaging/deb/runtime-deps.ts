/**
 * The npm packages the built agent needs at run time, found in the repository's node_modules (no
 * download): what dist/agent and dist/shared import, and what those need, as Node resolves them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Optional dependencies left out of the package, and why: the package holds no native code. */
export const LEFT_OUT: Readonly<Record<string, string>> = {
  'cpu-features': 'a native addon; ssh2 picks ciphers without it',
  nan: 'headers for building native addons, not used at run time',
};

export interface RuntimePackage {
  name: string;
  version: string;
  /** The package's folder relative to the repository root, e.g. node_modules/pino. */
  dir: string;
}

interface Manifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const readManifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`; undefined for relative and node: imports. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:'))
    return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return jsFiles(full);
    return e.name.endsWith('.js') ? [full] : [];
  });
}

/** The packages the JavaScript under `dirs` imports (static and dynamic imports). */
export function importedPackages(dirs: readonly string[]): string[] {
  const found = new Set<string>();
  // tsc's output: `import … from 'x';` (or `} from 'x';` closing a long one), `import 'x';`,
  // `export … from 'x';`, and `import('x')`. Anchored, so text in strings does not count.
  const patterns = [
    /^(?:import|export)\b.*\bfrom\s*['"]([^'"]+)['"];?$/gm,
    /^}\s*from\s*['"]([^'"]+)['"];?$/gm,
    /^import\s*['"]([^'"]+)['"];?$/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const file of dirs.flatMap(jsFiles)) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of patterns) {
      for (const m of text.matchAll(pattern)) {
        const name = packageOf(m[1]!);
        if (name !== undefined) found.add(name);
      }
    }
  }
  return [...found].sort();
}

/** Where Node finds `name` from a module in `fromDir` (under `root`), as a folder; undefined if nowhere. */
function resolvePackage(root: string, fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const candidate = path.join(dir, 'node_modules', name);
      if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    }
    if (dir === root || path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Every package `roots` need, with the folders Node would load them from. A required dependency
 * that is not installed is an error; optional ones that are missing, or listed in LEFT_OUT, are
 * skipped (and reported in `leftOut`).
 */
export function runtimeClosure(
  root: string,
  roots: readonly string[],
): { packages: RuntimePackage[]; leftOut: string[] } {
  const packages = new Map<string, RuntimePackage>();
  const leftOut = new Set<string>();
  const queue: { name: string; from: string; optional: boolean; wantedBy: string }[] = roots.map((name) => ({
    name,
    from: root,
    optional: false,
    wantedBy: 'dist/agent',
  }));
  while (queue.length > 0) {
    const { name, from, optional, wantedBy } = queue.shift()!;
    if (LEFT_OUT[name] !== undefined && optional) {
      leftOut.add(`${name}: ${LEFT_OUT[name]}`);
      continue;
    }
    const dir = resolvePackage(root, from, name);
    if (dir === undefined) {
      if (optional) continue;
      throw new Error(`${wantedBy} needs ${name}, which is not installed in node_modules: run npm ci`);
    }
    const rel = path.relative(root, dir);
    if (packages.has(rel)) continue;
    const manifest = readManifest(dir);
    if (existsSync(path.join(dir, 'binding.gyp'))) {
      throw new Error(
        `${name} (needed by ${wantedBy}) is a native addon: the package is architecture-independent`,
      );
    }
    packages.set(rel, { name, version: manifest.version ?? '0.0.0', dir: rel });
    const optionalPeers = manifest.peerDependenciesMeta ?? {};
    const deps: [string, boolean][] = [
      ...Object.keys(manifest.dependencies ?? {}).map((d): [string, boolean] => [d, false]),
      ...Object.keys(manifest.optionalDependencies ?? {}).map((d): [string, boolean] => [d, true]),
      ...Object.keys(manifest.peerDependencies ?? {}).map((d): [string, boolean] => [
        d,
        optionalPeers[d]?.optional === true,
      ]),
    ];
    for (const [dep, isOptional] of deps)
      queue.push({ name: dep, from: dir, optional: isOptional, wantedBy: name });
  }
  return {
    packages: [...packages.values()].sort((a, b) => a.dir.localeCompare(b.dir)),
    leftOut: [...leftOut].sort(),
  };
}

/**
 * Whether a file of a runtime package goes into the Debian package: no nested node_modules (those
 * packages come on their own), no type declarations or source maps, no compiled native code.
 */
export function shipsFile(relPath: string): boolean {
  const parts = relPath.split(path.sep);
  if (parts.includes('node_modules')) return false;
  if (/\.(d\.ts|d\.mts|d\.cts|map|node)$/.test(relPath)) return false;
  // node-gyp output (ssh2's optional crypto binding): it falls back to Node's own crypto.
  return !/(^|\/)build\/(Release|Debug)(\/|$)/.test(parts.join('/'));
}

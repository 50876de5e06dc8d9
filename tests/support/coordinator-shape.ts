import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

/**
 * The coordinator's shape (coordinator/README.md), read from its sources: every relative import of
 * every `.ts` file (type imports included) and whether the file holds SQL. Checked by
 * tests/unit/coordinator-shape.test.ts.
 */
export interface Module {
  /** Path relative to the root, `/`-separated (`api/sites.ts`). */
  path: string;
  /** Files of the root this one imports (relative paths as above). */
  imports: string[];
  sql: boolean;
}

/** Folders not read: browser code with a tsconfig of its own (it cannot import the server). */
const SKIPPED = new Set(['client', 'node_modules']);

/** A query call, or a string that starts with a SQL statement. */
const SQL = /\.query\s*[<(]|[`'"]\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|WITH|SAVEPOINT)\s/;
/** `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')` of a relative path. */
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s+'(\.[^']+)'|\bimport\s*\(?\s*'(\.[^']+)'/g;

export function readModules(root: string): Module[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) walk(join(dir, entry.name));
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        files.push(join(dir, entry.name));
      }
    }
  };
  walk(root);
  const rel = (file: string) => relative(root, file).split(sep).join('/');
  return files.map((file) => {
    const text = readFileSync(file, 'utf8');
    const imports: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const target = normalize(join(dirname(file), m[1] ?? m[2]!)).replace(/\.js$/, '.ts');
      const path = rel(target);
      if (!path.startsWith('..')) imports.push(path);
    }
    return { path: rel(file), imports, sql: SQL.test(text) };
  });
}

/** The folder a file belongs to (`api/sites.ts` → `api`); null for a file at the root. */
export const folderOf = (path: string): string | null => (path.includes('/') ? path.split('/')[0]! : null);

/** Every import cycle between files (strongly connected components of two or more, or a self-import). */
export function fileCycles(modules: Module[]): string[][] {
  return cycles(new Map(modules.map((m) => [m.path, new Set(m.imports)])));
}

/**
 * Every import cycle between folders (files at the root, the composition and the context every
 * folder receives, are not a folder).
 */
export function folderCycles(modules: Module[]): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const m of modules) {
    const from = folderOf(m.path);
    if (from === null) continue;
    const to = edges.get(from) ?? new Set<string>();
    edges.set(from, to);
    for (const i of m.imports) {
      const folder = folderOf(i);
      if (folder !== null && folder !== from) to.add(folder);
    }
  }
  return cycles(edges);
}

/** Imports of `api/` from files outside it, except `allowed` (the root file that registers the routes). */
export function importsOfApi(modules: Module[], allowed: string[]): string[] {
  return modules.flatMap((m) =>
    folderOf(m.path) === 'api' || allowed.includes(m.path)
      ? []
      : m.imports.filter((i) => folderOf(i) === 'api').map((i) => `${m.path} → ${i}`),
  );
}

/** Files holding SQL that `mayHoldSql` does not allow. */
export function sqlOutsideStores(modules: Module[], mayHoldSql: (path: string) => boolean): string[] {
  return modules.filter((m) => m.sql && !mayHoldSql(m.path)).map((m) => m.path);
}

/** Tarjan's strongly connected components; those that are cycles, each sorted, sorted. */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (;;) {
      const w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || edges.get(v)!.has(v)) found.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fileCycles,
  folderCycles,
  importsOfApi,
  readModules,
  sqlOutsideStores,
  type Module,
} from '../support/coordinator-shape.js';

/**
 * The coordinator's shape (coordinator/README.md): SQL only in the store and core modules, nothing
 * outside api/ imports api/ (only app.ts, which registers the routes), no import cycle between files
 * or between folders.
 */
const COORDINATOR = join(dirname(fileURLToPath(import.meta.url)), '../../coordinator');

/** Where SQL belongs: store/, the credential core, sync runs, and each feature folder's store.ts. */
const mayHoldSql = (path: string): boolean =>
  /^(store|credentials|runs)\//.test(path) || path.endsWith('/store.ts') || NOT_MOVED_YET.has(path);

/**
 * Files that still hold SQL of their own, to be moved into a store module (one file per change).
 * The list only shrinks: a file listed here without SQL fails the test until it is taken off.
 */
const NOT_MOVED_YET = new Set<string>([]);

/** The root file that registers the API routes. */
const API_REGISTRAR = ['app.ts'];

describe('coordinator shape', () => {
  const modules = readModules(COORDINATOR);

  it('reads the sources (a walker that finds nothing checks nothing)', () => {
    expect(modules.length).toBeGreaterThan(50);
    expect(modules.find((m) => m.path === 'app.ts')?.imports).toContain('api/sites.ts');
    expect(modules.find((m) => m.path === 'credentials/store.ts')?.sql).toBe(true);
  });

  it('SQL only in store modules', () => {
    expect(sqlOutsideStores(modules, mayHoldSql)).toEqual([]);
    const stale = [...NOT_MOVED_YET].filter((path) => !modules.some((m) => m.path === path && m.sql));
    expect(stale, 'moved: take these off NOT_MOVED_YET').toEqual([]);
  });

  it('api/ is imported by no other folder', () => {
    expect(importsOfApi(modules, API_REGISTRAR)).toEqual([]);
  });

  it('no import cycles between files or between folders', () => {
    expect(fileCycles(modules)).toEqual([]);
    expect(folderCycles(modules)).toEqual([]);
  });
});

describe('coordinator shape check on a fixture that breaks every rule', () => {
  const root = mkdtempSync(join(tmpdir(), 'coordinator-shape-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('app.ts', "import { registerX } from './api/x.js';\n");
  write(
    'api/x.ts',
    "import type { Row } from '../groups/store.js';\nexport const list = (q) => q.query('SELECT * FROM x');\n",
  );
  write('api/views.ts', 'export interface View { id: string }\n');
  write(
    'groups/store.ts',
    "import type { View } from '../api/views.js';\nexport interface Row { id: string }\n",
  );
  write(
    'groups/change.ts',
    "import {\n  dispatch,\n} from '../scheduler/dispatch.js';\nconst sql = `UPDATE groups SET a = 1`;\n",
  );
  write('scheduler/dispatch.ts', "export * from './tick.js';\n");
  write('scheduler/tick.ts', "import '../groups/change.js';\nimport { a } from './dispatch.js';\n");
  write('store/rows.ts', "export const one = (q) => q.query<{ id: string }>('SELECT 1');\n");
  write('scheduler/client/page.ts', "import '../../api/x.js';\n");
  let modules: Module[] = [];
  it('reads the fixture', () => {
    modules = readModules(root);
    expect(modules.map((m) => m.path).sort()).toEqual([
      'api/views.ts',
      'api/x.ts',
      'app.ts',
      'groups/change.ts',
      'groups/store.ts',
      'scheduler/dispatch.ts',
      'scheduler/tick.ts',
      'store/rows.ts',
    ]);
  });

  it('finds SQL outside the store modules (a query call, a statement in a string)', () => {
    expect(sqlOutsideStores(modules, (p) => p.startsWith('store/')).sort()).toEqual([
      'api/x.ts',
      'groups/change.ts',
    ]);
  });

  it('finds imports of api/ from another folder, not from the registrar', () => {
    expect(importsOfApi(modules, ['app.ts'])).toEqual(['groups/store.ts → api/views.ts']);
  });

  it('finds the cycles: files (multi-line imports, re-exports, bare imports) and folders', () => {
    expect(fileCycles(modules)).toEqual([['groups/change.ts', 'scheduler/dispatch.ts', 'scheduler/tick.ts']]);
    expect(folderCycles(modules)).toEqual([['api', 'groups', 'scheduler']]);
  });
});

import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { connectPglite } from '../../coordinator/store/db.js';
import { migrate } from '../../coordinator/store/migrations.js';

export interface PgliteDatabase {
  /** The coordinator's DATA_DIR (the database itself is in `<dataDir>/postgres`, as the coordinator puts it). */
  dataDir: string;
  /** Removes the folder. Safe to call twice; the coordinator must be closed first. */
  drop(): Promise<void>;
}

/**
 * A DATA_DIR with an embedded database (PGlite) migrated to the latest schema, for one coordinator:
 * a copy of a template the run builds once (a fresh PGlite takes ~7 s to initialise, a copy ~1 s to
 * open). Folders live under the run's `pgliteRoot` (tests/support/global-setup.ts), removed when the
 * run ends.
 */
export async function createPgliteDatabase(label: string): Promise<PgliteDatabase> {
  const root = inject('pgliteRoot');
  const template = await pgliteTemplate(root);
  const slug = label.replace(/[^a-zA-Z0-9]+/g, '-').slice(0, 40);
  const dataDir = join(root, `${slug}-${randomBytes(5).toString('hex')}`);
  cpSync(template, dataDir, { recursive: true });
  return { dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

/**
 * The run's template DATA_DIR under `root`, built the first time it is asked for (by the global setup
 * of the `pglite` project, or by the first test file that needs it): initialised and migrated in a
 * folder of its own, then moved into place (test files run in parallel: the first one to finish wins).
 */
export async function pgliteTemplate(root: string): Promise<string> {
  const template = join(root, 'template');
  if (existsSync(template)) return template;
  const building = join(root, `building-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(building, { recursive: true });
  const db = await connectPglite(join(building, 'postgres'));
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  try {
    renameSync(building, template);
  } catch (err) {
    if (!existsSync(template)) throw err;
    rmSync(building, { recursive: true, force: true }); // another file built it meanwhile
  }
  return template;
}

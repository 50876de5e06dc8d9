import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
// In scope for the augmentation below (TypeScript cannot find 'vitest' to augment otherwise).
import type {} from 'vitest';
import { pgliteTemplate } from './pglite.js';
import { startRedis } from './redis.js';
import { stopSharedSambaDc } from './samba-dc-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's one Redis; test files isolate by key prefix (see uniquePrefix). */
    redisUrl: string;
    /**
     * The database of in-process coordinators (tests/support/coordinator.ts): the `pglite` project of
     * vitest.config.ts runs the API test files again on the embedded database; unset = PostgreSQL.
     */
    database?: 'postgres' | 'pglite';
    /** Where embedded databases of this run live (tests/support/pglite.ts); removed at the end. */
    pgliteRoot: string;
    /** The folder of the run's shared Samba AD DC (samba-dc.ts), started by the first file that needs it. */
    sambaDcDir: string;
  }
}

/**
 * Starts the Redis every test file of the run shares, and stops it when the run ends; names the
 * folder of the run's Samba DC, which files start on first use, and stops that DC at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedis();
  project.provide('redisUrl', redis.url);
  const pgliteRoot = mkdtempSync(join(tmpdir(), 'pws-pglite-'));
  project.provide('pgliteRoot', pgliteRoot);
  // Every file of the `pglite` project needs it: build it once before they start.
  if (project.config.provide.database === 'pglite') await pgliteTemplate(pgliteRoot);
  const sambaDcDir = join(tmpdir(), `pws-samba-dc-${process.pid}`);
  project.provide('sambaDcDir', sambaDcDir);
  return async () => {
    await stopSharedSambaDc(sambaDcDir);
    await redis.stop();
    rmSync(pgliteRoot, { recursive: true, force: true });
  };
}

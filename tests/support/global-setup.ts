import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
// In scope for the augmentation below (TypeScript cannot find 'vitest' to augment otherwise).
import type {} from 'vitest';
import { pgliteTemplate } from './pglite.js';
import { startRedis } from './redis.js';

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
  }
}

/** Starts the Redis every test file of the run shares, and stops it when the run ends. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedis();
  project.provide('redisUrl', redis.url);
  const pgliteRoot = mkdtempSync(join(tmpdir(), 'pws-pglite-'));
  project.provide('pgliteRoot', pgliteRoot);
  // Every file of the `pglite` project needs it: build it once before they start.
  if (project.config.provide.database === 'pglite') await pgliteTemplate(pgliteRoot);
  return async () => {
    await redis.stop();
    rmSync(pgliteRoot, { recursive: true, force: true });
  };
}

import type { TestProject } from 'vitest/node';
// In scope for the augmentation below (TypeScript cannot find 'vitest' to augment otherwise).
import type {} from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from './redis.js';
import { stopSharedSambaDc } from './samba-dc-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's one Redis; test files isolate by key prefix (see uniquePrefix). */
    redisUrl: string;
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
  const sambaDcDir = join(tmpdir(), `pws-samba-dc-${process.pid}`);
  project.provide('sambaDcDir', sambaDcDir);
  return async () => {
    await stopSharedSambaDc(sambaDcDir);
    await redis.stop();
  };
}

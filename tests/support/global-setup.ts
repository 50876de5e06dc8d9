import type { TestProject } from 'vitest/node';
// In scope for the augmentation below (TypeScript cannot find 'vitest' to augment otherwise).
import type {} from 'vitest';
import { startRedis } from './redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's one Redis; test files isolate by key prefix (see uniquePrefix). */
    redisUrl: string;
  }
}

/** Starts the Redis every test file of the run shares, and stops it when the run ends. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedis();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}

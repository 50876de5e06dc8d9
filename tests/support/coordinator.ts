import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadCoordinatorConfig } from '../../coordinator/config.js';
import type { Ctx } from '../../coordinator/context.js';
import { startCoordinator, type Coordinator } from '../../coordinator/server.js';
import { api, type ApiClient } from './http.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { uniquePrefix } from './redis.js';

/** The bootstrap admin token every test coordinator gets. */
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/** 32 random bytes in base64, as `openssl rand -base64 32` prints. */
export const newMasterKey = (): string => randomBytes(32).toString('base64');

export interface InProcessCoordinator {
  coordinator: Coordinator;
  ctx: Ctx;
  /** e.g. http://127.0.0.1:41234 (the gateway lives under /agent/v1). */
  url: string;
  /** The operator API (/api/v1) with the admin token. */
  admin: ApiClient;
  database: TestDatabase;
  /** QUEUE_PREFIX: this coordinator's keys in Redis. */
  prefix: string;
  /** Closes the coordinator, removes its Redis keys and drops its database. */
  close(): Promise<void>;
}

/** Deletes every key under `prefix:` (the run's Redis is shared; leave it as found). */
async function removeKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // best effort: a private Redis may be gone already
  } finally {
    redis.disconnect();
  }
}

/** The coordinator's pino output, kept line by line (`startInProcessCoordinator(…, {logs})`). */
export class LogCapture {
  readonly lines: string[] = [];

  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line !== '') this.lines.push(line);
  }

  /** Every line, parsed. */
  entries(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/**
 * Starts a coordinator inside the test process (coordinator/server.ts) on a free port, with a
 * fresh PostgreSQL database and a QUEUE_PREFIX of its own on `redisUrl`. The scheduler is off unless
 * `env.RUN_SCHEDULER` says otherwise, so tests call tick() / reconcileQueues() themselves. Counts
 * (summary, overview, metrics) are fresh unless `env.COUNTS_MAX_AGE_MS` says otherwise.
 */
export async function startInProcessCoordinator(
  label: string,
  redisUrl: string,
  env: Record<string, string> = {},
  options: { logs?: LogCapture } = {},
): Promise<InProcessCoordinator> {
  const database = await createTestDatabase(label);
  const prefix = uniquePrefix(label);
  let coordinator: Coordinator;
  try {
    const config = loadCoordinatorConfig({
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      HOST: '127.0.0.1',
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      LOG_LEVEL: 'error',
      RUN_SCHEDULER: 'false',
      // Tests read counts right after changing them; the shared snapshot has a test of its own.
      COUNTS_MAX_AGE_MS: '0',
      ...env,
    });
    coordinator = await startCoordinator(config, options.logs ? { logDestination: options.logs } : {});
  } catch (error) {
    await database.drop();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    coordinator,
    ctx: coordinator.ctx,
    url: coordinator.url,
    admin: api(`${coordinator.url}/api/v1`, ADMIN_TOKEN),
    database,
    prefix,
    close: () =>
      (closed ??= (async () => {
        await coordinator.close();
        await removeKeys(redisUrl, prefix);
        await database.drop();
      })()),
  };
}

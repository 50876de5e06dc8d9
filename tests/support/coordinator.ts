import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { loadCoordinatorConfig } from '../../coordinator/config.js';
import type { Ctx } from '../../coordinator/context.js';
import { startCoordinator, type Coordinator } from '../../coordinator/server.js';
import { api, type ApiClient } from './http.js';
import { createPgliteDatabase, type PgliteDatabase } from './pglite.js';
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
  database: CoordinatorDatabase;
  /** QUEUE_PREFIX: this coordinator's keys in Redis. */
  prefix: string;
  /** Closes the coordinator, removes its Redis keys and drops its database. */
  close(): Promise<void>;
}

export type DatabaseKind = 'postgres' | 'pglite';

/** A PostgreSQL database on the test server, or an embedded one (PGlite) in a DATA_DIR. */
export type CoordinatorDatabase =
  ({ kind: 'postgres' } & TestDatabase) | ({ kind: 'pglite' } & PgliteDatabase);

/**
 * The database in-process coordinators use in this test file: the vitest project's (`pglite` runs
 * the API test files again on the embedded database, see vitest.config.ts), PostgreSQL by default.
 */
export const testDatabaseKind = (): DatabaseKind => inject('database') ?? 'postgres';

/** The URL of a coordinator's PostgreSQL database, for a test that needs a server (a second process, a raw client). */
export function postgresUrl(c: InProcessCoordinator): string {
  if (c.database.kind !== 'postgres')
    throw new Error('this test needs PostgreSQL, not the embedded database');
  return c.database.url;
}

async function createDatabase(kind: DatabaseKind, label: string): Promise<CoordinatorDatabase> {
  return kind === 'pglite'
    ? { kind, ...(await createPgliteDatabase(label)) }
    : { kind, ...(await createTestDatabase(label)) };
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
 * fresh database (PostgreSQL, or PGlite in the `pglite` project: `testDatabaseKind()`) and a QUEUE_PREFIX of its own on `redisUrl`. The scheduler is off unless
 * `env.RUN_SCHEDULER` says otherwise, so tests call tick() / reconcileQueues() themselves. Counts
 * (summary, overview, metrics) are fresh unless `env.COUNTS_MAX_AGE_MS` says otherwise.
 */
export async function startInProcessCoordinator(
  label: string,
  redisUrl: string,
  env: Record<string, string> = {},
  options: { logs?: LogCapture; kind?: DatabaseKind } = {},
): Promise<InProcessCoordinator> {
  const database = await createDatabase(options.kind ?? testDatabaseKind(), label);
  const prefix = uniquePrefix(label);
  let coordinator: Coordinator;
  try {
    const config = loadCoordinatorConfig({
      ...(database.kind === 'postgres' ? { DATABASE_URL: database.url } : { DATA_DIR: database.dataDir }),
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

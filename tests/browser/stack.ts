/**
 * A real `sync-coordinator` process (dist/) on a fresh PostgreSQL database and the run's Redis,
 * with one real `sync-agent`, for the browser and CLI tests.
 */
import { inject } from 'vitest';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { createEnrollmentToken, createSite, expectStatus } from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  startAgent,
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';

export interface Stack {
  coordinator: CoordinatorProcess;
  admin: ApiClient;
  database: TestDatabase;
  siteId: string;
  agent: ManagedProcess;
  agentId: string;
  close(): Promise<void>;
}

/** `coordinatorEnv`: more coordinator settings (e.g. a short ALERT_AGENT_OFFLINE_MS). */
export async function startStack(label: string, coordinatorEnv: Record<string, string> = {}): Promise<Stack> {
  const database = await createTestDatabase(label);
  const coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: uniquePrefix(label),
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      HEARTBEAT_EVERY_MS: '1000',
      LOG_LEVEL: 'info',
      ...coordinatorEnv,
    },
    { label: `${label}-coordinator` },
  );
  const admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
  const { id: siteId } = await createSite(admin, `${label}-site`);
  const agent = await startAgent(
    {
      COORDINATOR_URL: coordinator.url,
      ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
      AGENT_NAME: `${label}-agent`,
      AGENT_CONCURRENCY: '8',
      AGENT_SHUTDOWN_GRACE_MS: '2000',
      LOG_LEVEL: 'info',
    },
    { label: `${label}-agent` },
  );
  const agents = await expectStatus<{ items: { id: string }[] }>(admin.get(`/agents?siteId=${siteId}`), 200);
  return {
    coordinator,
    admin,
    database,
    siteId,
    agent,
    agentId: agents.items[0]!.id,
    async close() {
      await stopAll();
      await database.drop();
    },
  };
}

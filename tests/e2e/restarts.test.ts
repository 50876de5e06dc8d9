/**
 * Processes stopping and starting, with the real `sync-coordinator` and `sync-agent` (dist/) on
 * PostgreSQL and Redis: a coordinator's SIGTERM while an agent long-polls, an agent's outbox while
 * the coordinator is away, an agent's graceful SIGTERM handing its jobs back, and a configuration
 * error of the real process.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createCredential,
  createCredentials,
  createEnrollmentToken,
  createSite,
  createTarget,
  getCredential,
  waitForValue,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { REPO_ROOT } from '../support/paths.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  startAgent,
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
  type Env,
  type ManagedProcess,
} from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { sleep, waitFor } from '../support/wait.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

let database: TestDatabase;
let coordinatorEnv: Env;
let coordinator: CoordinatorProcess;
let admin: ApiClient;
let siteId: string;

/** Starts (or restarts: same database, Redis prefix, master key and port) the coordinator. */
async function startTheCoordinator(port?: number): Promise<CoordinatorProcess> {
  coordinator = await startCoordinator(
    { ...coordinatorEnv, ...(port === undefined ? {} : { PORT: String(port) }) },
    { label: 'e2e-restarts-coordinator' },
  );
  admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
  return coordinator;
}

/** SIGTERM; resolves with the exit code and how long the exit took. */
async function sigterm(proc: ManagedProcess): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  proc.kill('SIGTERM');
  const code = await proc.exited;
  return { code, ms: Date.now() - started };
}

async function agentOf(env: Env, label: string): Promise<ManagedProcess> {
  return startAgent(
    {
      COORDINATOR_URL: coordinator.url,
      ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
      AGENT_NAME: label,
      LOG_LEVEL: 'info',
      ...env,
    },
    { label: `e2e-restarts-${label}` },
  );
}

const statusOf = async (id: string) => (await getCredential(admin, id)).status;

beforeAll(async () => {
  database = await createTestDatabase('e2e-restarts');
  coordinatorEnv = {
    DATABASE_URL: database.url,
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: uniquePrefix('e2e-restarts'),
    COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
    COORDINATOR_MASTER_KEY: newMasterKey(),
    HEARTBEAT_EVERY_MS: '1000',
    // Long locks and a slow stalled-job check: a job that comes back quickly came back because its
    // agent handed it back, not because its lock ran out.
    JOB_LOCK_MS: '60000',
    STALLED_CHECK_MS: '30000',
    LOG_LEVEL: 'info',
  };
  await startTheCoordinator();
  siteId = (await createSite(admin, 'e2e-restarts-site')).id;
}, 90_000);

afterAll(async () => {
  await stopAll();
  await database?.drop();
});

describe('coordinator shutdown', () => {
  it('SIGTERM with an agent long-polling exits 0 within about 2 s; the agent then works with the restarted coordinator', async () => {
    const agent = await agentOf({ AGENT_CLAIM_WAIT_MS: '30000' }, 'long-poller');
    // The agent's claim is waiting now (nothing is queued); give it a moment to be well into its wait.
    await sleep(1_500);
    const port = coordinator.port;
    const { code, ms } = await sigterm(coordinator);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(2_500);
    expect(coordinator.logs().some((l) => l.includes('coordinator stopping'))).toBe(true);

    await startTheCoordinator(port);
    const targetId = await createTarget(admin, siteId);
    const cred = await createCredential(admin, targetId);
    await waitFor(async () => (await statusOf(cred.id)) === 'in_sync', {
      timeoutMs: 20_000,
      message: 'the credential to reach in_sync through the reconnected agent',
    });
    expect(agent.logs().some((l) => l.includes('claiming works again'))).toBe(true);
    const { code: agentCode } = await sigterm(agent);
    expect(agentCode).toBe(0);
  });
});

describe('agent outbox against the real coordinator', () => {
  it('a result finished while the coordinator is away stays in outbox.jsonl and is delivered when it is back', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'e2e-outbox-agent-'));
    const agent = await agentOf({ AGENT_STATE_DIR: stateDir }, 'outbox');
    const outbox = join(stateDir, 'outbox.jsonl');
    // One job that runs 4 s: the coordinator goes away while it runs.
    const targetId = await createTarget(admin, siteId, { latencyMs: 4_000 });
    const cred = await createCredential(admin, targetId);
    await waitFor(async () => (await statusOf(cred.id)) === 'being_synced', {
      timeoutMs: 10_000,
      message: 'the job to run on the agent',
    });
    const port = coordinator.port;
    expect((await sigterm(coordinator)).code).toBe(0);

    const lines = await waitForValue(
      () => {
        if (!existsSync(outbox)) return false;
        const text = readFileSync(outbox, 'utf8').trim();
        return text === '' ? false : text.split('\n');
      },
      { timeoutMs: 15_000, message: 'the result in outbox.jsonl' },
    );
    expect(lines).toHaveLength(1);
    const item = JSON.parse(lines[0]!) as { jobId: string; result: { outcome: string } };
    expect(item.jobId).toContain(cred.id);
    expect(item.result.outcome).toBe('ok');
    expect(agent.logs().some((l) => l.includes('report not delivered; kept in the outbox'))).toBe(true);

    await startTheCoordinator(port);
    await waitFor(async () => (await statusOf(cred.id)) === 'in_sync', {
      timeoutMs: 20_000,
      message: 'the outbox result to be delivered',
    });
    await waitFor(() => readFileSync(outbox, 'utf8').trim() === '', {
      timeoutMs: 5_000,
      message: 'the outbox to be emptied',
    });
    expect(agent.logs().some((l) => l.includes('outbox delivered'))).toBe(true);
    expect((await sigterm(agent)).code).toBe(0);
  });
});

describe('agent graceful shutdown', () => {
  it("SIGTERM hands the agent's unfinished jobs back: another agent finishes them at once, not after the lock runs out", async () => {
    const first = await agentOf({ AGENT_SHUTDOWN_GRACE_MS: '300', AGENT_CONCURRENCY: '10' }, 'graceful-a');
    const targetId = await createTarget(admin, siteId, { latencyMs: 3_000 });
    const creds = await createCredentials(admin, targetId, 3);
    for (const cred of creds) {
      await waitFor(async () => (await statusOf(cred.id)) === 'being_synced', {
        timeoutMs: 10_000,
        message: 'the jobs to run on the first agent',
      });
    }
    const stopped = Date.now();
    expect((await sigterm(first)).code).toBe(0);
    const released = first.logs().find((l) => l.includes('unfinished jobs released'));
    expect(released && (JSON.parse(released) as { released: number }).released).toBe(3);

    await agentOf({}, 'graceful-b');
    for (const cred of creds) {
      await waitFor(async () => (await statusOf(cred.id)) === 'in_sync', {
        timeoutMs: 20_000,
        message: 'the second agent to finish the handed-back jobs',
      });
    }
    // Locks last 60 s (and the stalled check runs every 30 s): this is the hand-back, not expiry.
    expect(Date.now() - stopped).toBeLessThan(20_000);
  });
});

describe('coordinator configuration errors', () => {
  it('the real process exits 1 with a message naming the variable', async () => {
    const run = (env: Record<string, string | undefined>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'coordinator', 'main.js')], {
          env: { PATH: process.env.PATH, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('error', reject);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stderr });
        });
      });
    const base = { COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN, COORDINATOR_MASTER_KEY: newMasterKey() };
    for (const [variable, env] of [
      ['PORT', { ...base, PORT: 'eighty' }],
      ['REDIS_URL', { ...base, REDIS_URL: 'http://not-redis' }],
      ['COORDINATOR_MASTER_KEY', { ...base, COORDINATOR_MASTER_KEY: 'not-a-key' }],
      ['COORDINATOR_ADMIN_TOKEN', { COORDINATOR_MASTER_KEY: base.COORDINATOR_MASTER_KEY }],
    ] as const) {
      const { code, stderr } = await run(env);
      expect(code, variable).toBe(1);
      expect(stderr, variable).toContain(variable);
      expect(stderr).toContain('invalid configuration');
      if ('COORDINATOR_MASTER_KEY' in env) expect(stderr).not.toContain(env.COORDINATOR_MASTER_KEY);
    }
  });
});

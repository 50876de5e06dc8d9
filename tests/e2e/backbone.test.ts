/**
 * The backbone end to end: the real `sync-coordinator` process (dist/) on PostgreSQL and Redis, and
 * two real `sync-agent` processes enrolled through the API.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createCredential,
  createCredentials,
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
  getCredential,
  getSyncRun,
  listCredentials,
  waitForValue,
  type ErrorBody,
} from '../support/fixtures.js';
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
import { sleep, waitFor } from '../support/wait.js';

interface AgentHandle {
  name: string;
  id: string;
  proc: ManagedProcess;
}

interface AgentListItem {
  id: string;
  siteId: string;
  name: string;
  version: string;
  enabled: boolean;
  online: boolean;
  inFlight: number;
  lastHeartbeatAt: string | null;
}

let database: TestDatabase;
let sql: pg.Pool;
let coordinator: CoordinatorProcess;
let admin: ApiClient;
let siteId: string;
const agents: AgentHandle[] = [];
/** The credential that reached in_sync in the first test. */
let synced: CredentialView;
let failing: string;

beforeAll(async () => {
  database = await createTestDatabase('e2e-backbone');
  sql = new pg.Pool({ connectionString: database.url, max: 2 });
  coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: uniquePrefix('e2e-backbone'),
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      // Short locks so a killed agent's jobs come back within seconds; agents hear of disable and
      // enable within a second.
      JOB_LOCK_MS: '5000',
      STALLED_CHECK_MS: '1000',
      HEARTBEAT_EVERY_MS: '1000',
      LOG_LEVEL: 'info',
    },
    { label: 'e2e-backbone-coordinator' },
  );
  admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
  siteId = (await createSite(admin, 'e2e-site')).id;
  for (const name of ['agent-a', 'agent-b']) {
    const proc = await startAgent(
      {
        COORDINATOR_URL: coordinator.url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
        AGENT_NAME: name,
        AGENT_CONCURRENCY: '8',
        AGENT_PER_HOST_LIMIT: '8',
        AGENT_SHUTDOWN_GRACE_MS: '2000',
        LOG_LEVEL: 'info',
      },
      { label: `e2e-backbone-${name}` },
    );
    agents.push({ name, id: '', proc });
  }
}, 90_000);

afterAll(async () => {
  await stopAll();
  await sql?.end();
  await database?.drop();
});

async function listAgents(): Promise<AgentListItem[]> {
  const body = await expectStatus<{ items: AgentListItem[] }>(
    admin.get(`/agents?siteId=${siteId}`),
    200,
    'GET /agents',
  );
  return body.items;
}

/** What an agent logs when the coordinator tells it it is disabled. */
const PAUSED = 'agent disabled by the coordinator: claiming paused';

const logCount = (agent: AgentHandle, msg: string): number =>
  agent.proc.logs().filter((line) => line.includes(`"msg":"${msg}"`)).length;

/** Waits until every agent has logged `msg` more often than it had in `before`. */
async function waitForEachAgentToLog(msg: string, before: number[]): Promise<void> {
  await waitFor(() => agents.every((a, i) => logCount(a, msg) > before[i]!), {
    timeoutMs: 15_000,
    message: `both agents to log '${msg}'`,
  });
}

const credentialWhere = (
  id: string,
  check: (c: CredentialView) => boolean,
  message: string,
  timeoutMs = 20_000,
) =>
  waitForValue(
    async () => {
      const c = await getCredential(admin, id);
      return check(c) ? c : false;
    },
    { timeoutMs, intervalMs: 100, message },
  );

async function handouts(
  agentId: string,
  afterAuditId = 0,
): Promise<{ id: number; credentialIds: string[] }[]> {
  const { rows } = await sql.query<{ id: string; object_id: string }>(
    `SELECT id, object_id FROM audit_events WHERE action = 'secret.handout' AND actor_id = $1 AND id > $2 ORDER BY id`,
    [agentId, afterAuditId],
  );
  // One event per credential handed out.
  return rows.map((r) => ({ id: Number(r.id), credentialIds: [r.object_id] }));
}

describe('backbone, end to end', () => {
  it('enrolls both agents through the API, and a credential reaches in_sync', async () => {
    const listed = await waitForValue(
      async () => {
        const items = await listAgents();
        return items.length === 2 && items.every((a) => a.online && a.lastHeartbeatAt !== null)
          ? items
          : false;
      },
      { message: 'both agents listed online' },
    );
    expect(listed.map((a) => a.name).sort()).toEqual(['agent-a', 'agent-b']);
    for (const a of listed) expect(a).toMatchObject({ siteId, enabled: true, online: true });
    for (const agent of agents) agent.id = listed.find((a) => a.name === agent.name)!.id;

    const targetId = await createTarget(admin, siteId, { latencyMs: 20 }, 'healthy');
    const cred = await createCredential(admin, targetId);
    synced = await credentialWhere(cred.id, (c) => c.status === 'in_sync', 'the credential to reach in_sync');
    expect(synced.lastVerifiedAt).not.toBeNull();
    expect(synced.statusReason).toBeNull();
    expect(synced.job.state).toBe('idle');
    expect(JSON.stringify(synced)).not.toContain(cred.password);
    const summary = await expectStatus<{ byStatus: Record<string, number> }>(
      admin.get('/summary'),
      200,
      'summary',
    );
    expect(summary.byStatus.in_sync).toBe(1);
    // The secret went to exactly one of the two agents, audited.
    const given = [...(await handouts(agents[0]!.id)), ...(await handouts(agents[1]!.id))];
    expect(given.flatMap((h) => h.credentialIds)).toEqual([cred.id]);
  });

  it('an enrollment token enrolls one agent only', async () => {
    const token = await createEnrollmentToken(admin, siteId);
    const enroll = (name: string) =>
      api(coordinator.url).post(GATEWAY_PATHS.enroll, {
        enrollmentToken: token,
        name,
        host: 'h',
        version: '1',
        adapters: ['simulated'],
        concurrency: 1,
      });
    const first = await enroll('one-shot');
    expect(first.status).toBe(201);
    const again = await enroll('second-try');
    expect(again.status).toBe(401);
    expect((again.body as ErrorBody).error.code).toBe('ENROLLMENT_INVALID');
    // Keep the site at its two real agents.
    const id = (first.body as { agentId: string }).agentId;
    await expectStatus(admin.post(`/agents/${id}/revoke`), 200, 'revoke');
    expect((await listAgents()).map((a) => a.name).sort()).toEqual(['agent-a', 'agent-b']);
  });

  it('a target that refuses every password gives out_of_sync with reason mismatch', async () => {
    const targetId = await createTarget(admin, siteId, { failRate: 1 }, 'refuses-all');
    failing = (await createCredential(admin, targetId)).id;
    const view = await credentialWhere(failing, (c) => c.status === 'out_of_sync', 'out_of_sync');
    expect(view.statusReason).toBe('mismatch');
    expect(view.lastVerifiedAt).toBeNull();
    // Never retried with the same password: it waits for an operator.
    expect(view.verifyPaused).toBe(true);
    expect(view.nextVerifyAt).toBeNull();
  });

  it('disabling both agents gives agent_disabled; re-enabling and Sync now bring in_sync back', async () => {
    const paused = agents.map((a) => logCount(a, PAUSED));
    for (const a of agents)
      await expectStatus(admin.post(`/agents/${a.id}/disable`), 200, `disable ${a.name}`);
    expect((await getCredential(admin, synced.id)).status).toBe('agent_disabled');
    expect((await getCredential(admin, failing)).status).toBe('agent_disabled');
    await waitForEachAgentToLog(PAUSED, paused);

    // Sync now while no agent may work: the job waits, nobody runs it.
    expect((await admin.post(`/credentials/${synced.id}/verify`)).status).toBe(202);
    await sleep(1_500);
    const waiting = await getCredential(admin, synced.id);
    expect(waiting).toMatchObject({ status: 'agent_disabled', job: { state: 'queued', kind: 'verify' } });
    expect(waiting.lastVerifiedAt).toBe(synced.lastVerifiedAt);

    const resumed = agents.map((a) => logCount(a, 'claiming resumed'));
    for (const a of agents) await expectStatus(admin.post(`/agents/${a.id}/enable`), 200, `enable ${a.name}`);
    expect((await listAgents()).every((a) => a.enabled)).toBe(true);
    const back = await credentialWhere(
      synced.id,
      (c) => c.status === 'in_sync' && c.lastVerifiedAt !== synced.lastVerifiedAt,
      'in_sync with a new verification',
    );
    expect(Date.parse(back.lastVerifiedAt!)).toBeGreaterThan(Date.parse(synced.lastVerifiedAt!));
    await waitForEachAgentToLog('claiming resumed', resumed);
    expect((await getCredential(admin, failing)).status).toBe('out_of_sync');

    // Sync now after an operator looked at the failing one: verified again (and refused again).
    expect((await admin.post(`/credentials/${failing}/verify`)).status).toBe(202);
    const refused = await credentialWhere(
      failing,
      (c) => c.status === 'out_of_sync' && c.consecutiveFailures === 1 && c.job.state === 'idle',
      'the failing credential verified again',
    );
    expect(refused.statusReason).toBe('mismatch');
  });

  it('kill -9 of an agent holding jobs loses none of them', async () => {
    const targetId = await createTarget(admin, siteId, { latencyMs: 3_000, host: 'slow-host' }, 'slow');
    const [victim, survivor] = agents as [AgentHandle, AgentHandle];
    const { rows: mark } = await sql.query<{ id: string | null }>('SELECT max(id) AS id FROM audit_events');
    const startAudit = Number(mark[0]!.id ?? 0);

    // The work is queued while both agents are disabled, so the run starts before any of it runs.
    const paused = agents.map((a) => logCount(a, PAUSED));
    for (const a of agents)
      await expectStatus(admin.post(`/agents/${a.id}/disable`), 200, `disable ${a.name}`);
    await waitForEachAgentToLog(PAUSED, paused);
    const creds = await createCredentials(admin, targetId, 40, 20);
    const ids = new Set(creds.map((x) => x.id));
    const run = await expectStatus<{ id: string; counts: { impacted: number } }>(
      admin.post('/sync-runs', { kind: 'verify', scope: { targetId } }),
      201,
      'POST /sync-runs',
    );
    expect(run.counts.impacted).toBe(40);
    expect(await handouts(victim.id, startAudit)).toEqual([]);
    for (const a of agents) await expectStatus(admin.post(`/agents/${a.id}/enable`), 200, `enable ${a.name}`);

    // As soon as the victim holds some of them (each takes 3 s), it dies without a word.
    const held = await waitForValue(
      async () => {
        const got = (await handouts(victim.id, startAudit))
          .flatMap((h) => h.credentialIds)
          .filter((id) => ids.has(id));
        return got.length > 0 ? got : false;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: `${victim.name} to claim some of the slow jobs` },
    );
    victim.proc.kill('SIGKILL');
    await victim.proc.exited;
    const { rows: killMark } = await sql.query<{ id: string }>('SELECT max(id) AS id FROM audit_events');
    const killedAt = Number(killMark[0]!.id);
    const heldAtKill = new Set([
      ...held,
      ...(await handouts(victim.id, startAudit)).flatMap((h) => h.credentialIds).filter((id) => ids.has(id)),
    ]);
    // Jobs still running half a second after their claim show as being synced (being-synced.ts).
    const beingSynced = await waitForValue(async () => {
      const list = (await listCredentials(admin, { targetId })).filter((c) => c.status === 'being_synced');
      return list.length >= heldAtKill.size && list;
    });
    expect(beingSynced.length).toBeGreaterThanOrEqual(heldAtKill.size);

    const finished = await waitForValue(
      async () => {
        const r = await getSyncRun(admin, run.id);
        return r.finishedAt !== null ? r : false;
      },
      { timeoutMs: 60_000, intervalMs: 250, message: 'the sync run to finish' },
    );
    expect(finished.counts).toEqual({ impacted: 40, success: 40, unsynced: 0, partial: 0, failed: 0 });
    expect(finished.outcome).toBe('success');

    const all = await listCredentials(admin, { targetId });
    expect(all).toHaveLength(40);
    for (const c of all)
      expect({ id: c.id, status: c.status, job: c.job.state }).toEqual({
        id: c.id,
        status: 'in_sync',
        job: 'idle',
      });

    // What the victim held came back to the queue and was done by the survivor.
    const redone = new Set(
      (await handouts(survivor.id, killedAt)).flatMap((h) => h.credentialIds).filter((id) => ids.has(id)),
    );
    for (const id of heldAtKill)
      expect(redone.has(id), `credential ${id} held by the killed agent`).toBe(true);
  }, 90_000);

  it('malformed API bodies get 400 naming the field and change nothing', async () => {
    const targetsBefore = await expectStatus<{ items: unknown[] }>(admin.get('/targets'), 200, 'targets');
    const credsBefore = (await listCredentials(admin)).length;
    const bad = await admin.post('/targets', {
      siteId,
      name: 'bad',
      kind: 'simulated',
      connection: { failRate: 7 },
    });
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.issues?.map((i) => i.field)).toContain('body.connection.failRate');
    const noKind = await admin.post('/targets', { siteId, name: 'bad', kind: 'mainframe' });
    expect((noKind.body as ErrorBody).error.issues?.map((i) => i.field)).toContain('body.kind');
    const noTarget = await admin.post('/credentials', { targetId: 'nope', username: 'u', password: 'p' });
    expect(noTarget.status).toBe(400);
    expect((noTarget.body as ErrorBody).error.issues?.map((i) => i.field)).toContain('body.targetId');
    const targetsAfter = await expectStatus<{ items: unknown[] }>(admin.get('/targets'), 200, 'targets');
    expect(targetsAfter.items).toHaveLength(targetsBefore.items.length);
    expect((await listCredentials(admin)).length).toBe(credsBefore);
  });
});

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
} from '../support/fixtures.js';

/**
 * What the coordinator does with the host keys agents report for SSH (workstation) targets: trust on
 * first use (pinned compare-and-set, audited `target.pin_observed`, handed to later jobs), and a
 * changed key (a failure with detail code `host_key_changed`: stored on the credential, shown as
 * `lastErrorCode`, audited `target.host_key_mismatch`, the pin left alone). The agent side against a
 * real sshd is in workstation-adapter.test.ts and e2e/workstation.test.ts.
 */
let c: InProcessCoordinator;
let siteId: string;
let agent: FakeAgent;

const KEY_1 = `SHA256:${'1'.repeat(43)}`;
const KEY_2 = `SHA256:${'2'.repeat(43)}`;
const KEY_3 = `SHA256:${'3'.repeat(43)}`;

beforeAll(async () => {
  c = await startInProcessCoordinator('target-pins', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
});
afterAll(() => c?.close());

let n = 0;
async function workstationTarget(connection: Record<string, unknown> = {}): Promise<string> {
  const body = await expectStatus<{ id: string }>(
    c.admin.post('/targets', {
      siteId,
      name: `ws-${++n}-${Date.now()}`,
      kind: 'workstation',
      connection: { host: '192.0.2.10', port: 22, ...connection },
    }),
    201,
    'POST /targets',
  );
  return body.id;
}

const targetConnection = async (id: string) =>
  (
    await expectStatus<{ connection: { hostKeySha256?: string } }>(
      c.admin.get(`/targets/${id}`),
      200,
      'GET /targets/{id}',
    )
  ).connection;

interface AuditItem {
  actorType: string;
  actorId: string;
  action: string;
  objectId: string | null;
  details: Record<string, unknown>;
}

const auditOf = async (targetId: string, action: string) =>
  (
    await expectStatus<{ items: AuditItem[] }>(
      c.admin.get(`/audit?objectType=target&objectId=${targetId}&action=${action}`),
      200,
      'GET /audit',
    )
  ).items;

async function claimFor(ids: string[]): Promise<ClaimedJob[]> {
  const jobs: ClaimedJob[] = [];
  while (jobs.length < ids.length) {
    const got = await agent.claim(ids.length - jobs.length, 1_000);
    if (got.length === 0) break;
    jobs.push(...got);
  }
  expect(jobs.map((j) => j.credentialId).sort()).toEqual([...ids].sort());
  return jobs;
}

describe('host key pins recorded by the coordinator', () => {
  it('pins the first key seen, audited; a later job gets the pin; another key reported later does not replace it', async () => {
    const targetId = await workstationTarget();
    const a = await createCredential(c.admin, targetId, { username: 'alice' });
    const [job] = await claimFor([a.id]);
    expect(job!.target.connection.hostKeySha256).toBeUndefined();
    await agent.report([held(job!)], { outcome: 'ok', observed: { hostKeySha256: KEY_1 } });

    expect((await targetConnection(targetId)).hostKeySha256).toBe(KEY_1);
    const pins = await auditOf(targetId, 'target.pin_observed');
    expect(pins).toHaveLength(1);
    expect(pins[0]).toMatchObject({
      actorType: 'agent',
      actorId: agent.agentId,
      details: { observed: { hostKeySha256: KEY_1 } },
    });

    // The next job of the target carries the pin: the agent checks the key against it.
    await expectStatus(c.admin.post(`/credentials/${a.id}/verify`), 202, 'Sync now');
    const [again] = await claimFor([a.id]);
    expect(again!.target.connection.hostKeySha256).toBe(KEY_1);
    // Observed facts of a pinned target change nothing (compare-and-set: only while none is pinned).
    await agent.report([held(again!)], { outcome: 'ok', observed: { hostKeySha256: KEY_2 } });
    expect((await targetConnection(targetId)).hostKeySha256).toBe(KEY_1);
    expect(await auditOf(targetId, 'target.pin_observed')).toHaveLength(1);
  });

  it('two agents reporting two different first keys at once: one pin, one audit event', async () => {
    const targetId = await workstationTarget();
    const other = await FakeAgent.enroll(c.url, c.admin, siteId);
    const a = await createCredential(c.admin, targetId, { username: 'a' });
    const [ja] = await claimFor([a.id]);
    const b = await createCredential(c.admin, targetId, { username: 'b' });
    const jb = await other.claim(1, 1_000);
    expect(jb.map((j) => j.credentialId)).toEqual([b.id]);
    await Promise.all([
      agent.report([held(ja!)], { outcome: 'ok', observed: { hostKeySha256: KEY_1 } }),
      other.report([held(jb[0]!)], { outcome: 'ok', observed: { hostKeySha256: KEY_2 } }),
    ]);
    const pinned = (await targetConnection(targetId)).hostKeySha256;
    expect([KEY_1, KEY_2]).toContain(pinned);
    const pins = await auditOf(targetId, 'target.pin_observed');
    expect(pins).toHaveLength(1);
    expect(pins[0]!.details).toEqual({ observed: { hostKeySha256: pinned } });
  });
});

describe('a changed host key', () => {
  it('is stored on the credential as lastErrorCode host_key_changed, audited with both keys, and the pin stays', async () => {
    const targetId = await workstationTarget({ hostKeySha256: KEY_1 });
    const cred = await createCredential(c.admin, targetId, { username: 'carol' });
    const [job] = await claimFor([cred.id]);
    const message = `host key changed: expected ${KEY_1}, got ${KEY_3}`;
    await agent.report([held(job!)], {
      outcome: 'failed',
      reason: 'error',
      message,
      detailCode: 'host_key_changed',
      observed: { hostKeySha256: KEY_3 },
    });

    const view = await getCredential(c.admin, cred.id);
    expect(view).toMatchObject({
      status: 'out_of_sync',
      statusReason: 'error',
      lastMessage: message,
      lastErrorCode: 'host_key_changed',
    });
    expect((await targetConnection(targetId)).hostKeySha256).toBe(KEY_1);
    const events = await auditOf(targetId, 'target.host_key_mismatch');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actorType: 'agent',
      actorId: agent.agentId,
      objectId: targetId,
      details: { credentialId: cred.id, pinned: KEY_1, presented: KEY_3, jobId: job!.jobId },
    });
    expect(await auditOf(targetId, 'target.pin_observed')).toEqual([]);

    // A later failure of another kind carries no detail code: the old one does not linger.
    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202, 'Sync now');
    const [next] = await claimFor([cred.id]);
    await agent.report([held(next!)], { outcome: 'failed', reason: 'unreachable', message: 'timeout' });
    expect(await getCredential(c.admin, cred.id)).toMatchObject({
      statusReason: 'unreachable',
      lastErrorCode: null,
    });
  });

  it('an ok result clears the detail code', async () => {
    const targetId = await workstationTarget({ hostKeySha256: KEY_1 });
    const cred = await createCredential(c.admin, targetId, { username: 'dave' });
    const [job] = await claimFor([cred.id]);
    await agent.report([held(job!)], {
      outcome: 'failed',
      reason: 'error',
      message: 'host key changed',
      detailCode: 'host_key_changed',
    });
    expect((await getCredential(c.admin, cred.id)).lastErrorCode).toBe('host_key_changed');
    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202, 'Sync now');
    const [ok] = await claimFor([cred.id]);
    await agent.report([held(ok!)]);
    expect(await getCredential(c.admin, cred.id)).toMatchObject({ status: 'in_sync', lastErrorCode: null });
  });

  it('the report contract refuses an unknown detail code (the item refused, nothing applied)', async () => {
    const targetId = await workstationTarget();
    const cred = await createCredential(c.admin, targetId, { username: 'erin' });
    const [job] = await claimFor([cred.id]);
    const res = await agent.gateway.post('/agent/v1/report', {
      results: [
        {
          ...held(job!),
          result: { outcome: 'failed', reason: 'error', detailCode: 'made_up' },
          durationMs: 1,
        },
      ],
    });
    // Items are judged one by one (docs/api.md): this one is refused, the job stays the agent's.
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: [], rejected: [{ jobId: job!.jobId, code: 'VALIDATION_FAILED' }] });
    expect((await getCredential(c.admin, cred.id)).status).not.toBe('out_of_sync');
    expect((await agent.report([held(job!)])).accepted).toEqual([job!.jobId]);
  });
});

/**
 * A compromised agent's batches: every refused item is audited (`report.refused`, `extend.refused`,
 * `release.refused`), whatever else is in the batch — another site's real job (with its holder's
 * stolen lock token, or the agent's own), malformed job ids (a NUL, a lone surrogate, not a job id,
 * not a string), an item missing its result — and the agent's own good items are still taken. Real
 * enrolled agents, real jobs on two sites' queues.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GATEWAY_PATHS, type ClaimedJob } from '../../shared/contracts/gateway.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  held,
  waitForValue,
} from '../support/fixtures.js';

let c: InProcessCoordinator;
/** The compromised agent, of site A, and the honest one of site B. */
let a: FakeAgent;
let b: FakeAgent;
let aJobs: ClaimedJob[];
let bJob: ClaimedJob;

beforeAll(async () => {
  c = await startInProcessCoordinator('batch-refusals', inject('redisUrl'));
  const siteA = (await createSite(c.admin)).id;
  const siteB = (await createSite(c.admin)).id;
  const targetA = await createTarget(c.admin, siteA);
  for (let i = 0; i < 3; i++) await createCredential(c.admin, targetA);
  await createCredential(c.admin, await createTarget(c.admin, siteB));
  a = await FakeAgent.enroll(c.url, c.admin, siteA);
  b = await FakeAgent.enroll(c.url, c.admin, siteB);
  aJobs = await a.claim(10);
  expect(aJobs).toHaveLength(3);
  [bJob] = (await b.claim(10)) as [ClaimedJob];
  expect(bJob).toBeDefined();
  // A claimed job shows as running a moment after its claim.
  await waitForValue(async () => (await jobState(bJob.credentialId)) === 'active');
});

async function jobState(credentialId: string): Promise<string> {
  const { rows } = await c.ctx.db.query<{ job_state: string }>(
    'SELECT job_state FROM credentials WHERE id = $1',
    [credentialId],
  );
  return rows[0]!.job_state;
}
afterAll(() => c?.close());

/** The audit events of an action by agent A, oldest first. */
async function refusals(action: string) {
  const { rows } = await c.ctx.db.query<{ actor_id: string; details: Record<string, unknown> }>(
    `SELECT actor_id, details FROM audit_events WHERE action = $1 ORDER BY at, id`,
    [action],
  );
  return rows;
}

/** Another site's real job, as a compromised agent could name it, and malformed items. */
const hostileItems = () => [
  held(bJob), // B's job with B's own lock token (stolen)
  { jobId: bJob.jobId, token: `${a.agentId}.forged` }, // B's job, A's token
  { jobId: 'v-\u0000', token: `${a.agentId}.x` },
  { jobId: 'c-\ud800', token: `${a.agentId}.x` },
  { jobId: 'garbage', token: `${a.agentId}.x` },
  { jobId: 42, token: `${a.agentId}.x` },
  { jobId: aJobs[2]!.jobId, token: `${a.agentId}.x\u0000` },
];

async function bStillHoldsItsJob(): Promise<void> {
  expect(await b.extend([held(bJob)])).toEqual({ extended: [bJob.jobId], lost: [] });
  expect(await jobState(bJob.credentialId)).toBe('active');
}

describe("a compromised agent's mixed batches", () => {
  it('extend: its own job is extended; every other item is refused and audited', async () => {
    const res = await expectStatus<{ extended: string[]; lost: string[] }>(
      a.gateway.post(GATEWAY_PATHS.extend, { jobs: [held(aJobs[0]!), ...hostileItems()] }),
      200,
      'extend',
    );
    expect(res.extended).toEqual([aJobs[0]!.jobId]);
    expect(res.lost).toHaveLength(hostileItems().length);
    const [event] = await refusals('extend.refused');
    expect(event!.actor_id).toBe(a.agentId);
    const refused = (event!.details as { refused: { jobId: string; reason: string; issues?: unknown[] }[] })
      .refused;
    expect(refused).toHaveLength(hostileItems().length);
    // B's job by both tokens; the malformed ones with the field that was wrong.
    expect(
      refused
        .filter((r) => r.jobId === bJob.jobId)
        .map((r) => r.reason)
        .sort(),
    ).toEqual(['foreign_token', 'not_held']);
    expect(refused.find((r) => r.jobId === 'garbage')?.reason).toBe('bad_job_id');
    expect(JSON.stringify(refused)).toContain('"field":"body.jobs.3.jobId"'); // v-NUL
    expect(JSON.stringify(refused)).toContain('"field":"body.jobs.4.jobId"'); // c-surrogate
    expect(JSON.stringify(refused)).toContain('"field":"body.jobs.6.jobId"'); // 42
    expect(JSON.stringify(refused)).toContain('"field":"body.jobs.7.token"'); // NUL in the token
    expect(refused.map((r) => r.jobId)).toContain('v-\ufffd'); // stored, made storable
    await bStillHoldsItsJob();
  });

  it('report: its own result is taken; every other item is refused and audited', async () => {
    const item = (h: { jobId: unknown; token: string }) => ({
      ...h,
      result: { outcome: 'ok' },
      durationMs: 1,
    });
    const res = await expectStatus<{ accepted: string[]; rejected: { jobId: string; code: string }[] }>(
      a.gateway.post(GATEWAY_PATHS.report, {
        results: [
          item(held(aJobs[0]!)),
          ...hostileItems().map(item),
          { jobId: aJobs[1]!.jobId, token: aJobs[1]!.token, durationMs: 1 }, // no result
        ],
      }),
      200,
      'report',
    );
    expect(res.accepted).toEqual([aJobs[0]!.jobId]);
    expect(res.rejected).toHaveLength(hostileItems().length + 1);
    expect(res.rejected.filter((r) => r.jobId === bJob.jobId)).toEqual([
      { jobId: bJob.jobId, code: 'JOB_NOT_HELD' },
      { jobId: bJob.jobId, code: 'JOB_NOT_HELD' },
    ]);
    const [event] = await refusals('report.refused');
    expect(event!.actor_id).toBe(a.agentId);
    const rejected = (event!.details as { rejected: { jobId: string; code: string }[] }).rejected;
    expect(rejected).toHaveLength(hostileItems().length + 1);
    expect(rejected.filter((r) => r.jobId === bJob.jobId)).toHaveLength(2);
    for (const field of ['body.results.3.jobId', 'body.results.4.jobId', 'body.results.8.result'])
      expect(JSON.stringify(rejected)).toContain(`"field":"${field}"`);
    // A's own job is done; the job whose item had no result is still A's (not taken, not lost).
    await waitForValue(async () => {
      const { rows } = await c.ctx.db.query<{ status: string }>(
        'SELECT status FROM credentials WHERE id = $1',
        [aJobs[0]!.credentialId],
      );
      return rows[0]!.status === 'in_sync';
    });
    expect(await a.extend([held(aJobs[1]!)])).toEqual({ extended: [aJobs[1]!.jobId], lost: [] });
    await bStillHoldsItsJob();
  });

  it('release: its own job goes back; every other item is refused and audited', async () => {
    const res = await expectStatus<{ released: string[]; lost: string[] }>(
      a.gateway.post(GATEWAY_PATHS.release, { jobs: [held(aJobs[1]!), ...hostileItems()] }),
      200,
      'release',
    );
    expect(res.released).toEqual([aJobs[1]!.jobId]);
    expect(res.lost).toHaveLength(hostileItems().length);
    const [event] = await refusals('release.refused');
    expect((event!.details as { refused: unknown[] }).refused).toHaveLength(hostileItems().length);
    await bStillHoldsItsJob();
    // B, the holder, finishes its job normally.
    expect((await b.report([held(bJob)])).accepted).toEqual([bJob.jobId]);
  });
});

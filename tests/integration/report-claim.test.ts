/**
 * A report that asks for the agent's next jobs (`claim: {max}`, docs/api.md "Agent gateway"): the
 * jobs come with the report's answer, taken by the results' own completions (BullMQ's fetchNext)
 * and topped up, locked with the agent's tokens, audited as any hand-out; their results are taken
 * later like claimed ones. Real Redis and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GATEWAY_PATHS, type ClaimedJob, type ReportResponse } from '../../shared/contracts/gateway.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  held,
  waitForValue,
  type CreatedCredential,
  type ErrorBody,
} from '../support/fixtures.js';

let c: InProcessCoordinator;
let siteId: string;
let targetId: string;
let agent: FakeAgent;

beforeAll(async () => {
  c = await startInProcessCoordinator('report-claim', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId, { host: 'db-rc.example' });
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
});
afterAll(() => c?.close());

type Answer = ReportResponse & { jobs?: ClaimedJob[] };

/** Reports `jobs` as verified, asking for up to `max` next jobs (none asked when undefined). */
const reportRaw = (jobs: { jobId: string; token: string }[], max?: number, who = agent) =>
  who.gateway.post(GATEWAY_PATHS.report, {
    results: jobs.map((j) => ({ ...j, result: { outcome: 'ok' }, durationMs: 1 })),
    ...(max === undefined ? {} : { claim: { max } }),
  });
const report = (jobs: { jobId: string; token: string }[], max?: number) =>
  expectStatus<Answer>(reportRaw(jobs, max), 200, 'report');

const waiting = () => c.ctx.queues.get(siteId).queue.getJobCountByTypes('wait', 'prioritized');
const lockOf = (jobId: string) =>
  c.ctx.queues.connection.get(`${c.ctx.queues.get(siteId).queue.toKey(jobId)}:lock`);

/** Creates `n` credentials and waits until their first verifications wait in the site's queue. */
async function queued(n: number): Promise<CreatedCredential[]> {
  const before = await waiting();
  const creds: CreatedCredential[] = [];
  for (let i = 0; i < n; i++) creds.push(await createCredential(c.admin, targetId));
  await waitForValue(async () => (await waiting()) >= before + n);
  return creds;
}

async function handoutsOf(jobIds: string[]) {
  const { rows } = await c.ctx.db.query<{ actor_id: string; object_id: string; details: { jobId: string } }>(
    `SELECT actor_id, object_id, details FROM audit_events
      WHERE action = 'secret.handout' AND details->>'jobId' = ANY($1::text[])`,
    [jobIds],
  );
  return rows;
}

describe('report with the next claim', () => {
  it('the heartbeat says a report may claim', async () => {
    const beat = await agent.heartbeatRaw();
    expect(beat.status).toBe(200);
    expect(beat.body).toMatchObject({ reportMayClaim: true });
  });

  it('hands out up to max jobs with the answer, locked with the agent tokens, audited, reported later', async () => {
    const creds = await queued(6);
    const byId = new Map(creds.map((x) => [x.id, x]));
    const first = await agent.claim(1);
    expect(first).toHaveLength(1);

    // One result, three jobs wanted: one taken by the result's completion, two topped up.
    const a = await report(first.map(held), 3);
    expect(a.accepted).toEqual([first[0]!.jobId]);
    expect(a.rejected).toEqual([]);
    expect(a.jobs).toHaveLength(3);
    expect(await waiting()).toBe(2);
    for (const job of a.jobs!) {
      const cred = byId.get(job.credentialId)!;
      expect(job).toMatchObject({ kind: 'verify', username: cred.username, password: cred.password });
      expect(job.token.startsWith(`${agent.agentId}.`)).toBe(true);
      expect(await lockOf(job.jobId)).toBe(job.token);
    }
    // The job that followed the result in the same script call holds the result's token.
    expect(a.jobs!.some((j) => j.token === first[0]!.token)).toBe(true);
    const audit = await handoutsOf(a.jobs!.map((j) => j.jobId));
    expect(audit).toHaveLength(3);
    for (const r of audit) expect(r.actor_id).toBe(agent.agentId);

    // The locks extend, and their results are taken; the two left come with it, no more.
    expect((await agent.extend(a.jobs!.map(held))).extended).toHaveLength(3);
    const b = await report(a.jobs!.map(held), 10);
    expect(b.accepted.sort()).toEqual(a.jobs!.map((j) => j.jobId).sort());
    expect(b.jobs).toHaveLength(2);
    expect(await waiting()).toBe(0);

    const last = await report(b.jobs!.map(held), 5);
    expect(last.accepted).toHaveLength(2);
    expect(last.jobs).toEqual([]);
    const ids = creds.map((x) => x.id);
    await waitForValue(async () => {
      const { rows } = await c.ctx.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM credentials WHERE id = ANY($1::uuid[]) AND job_state = 'idle'
            AND last_verified_at IS NOT NULL`,
        [ids],
      );
      return Number(rows[0]!.n) === ids.length;
    });
  });

  it('hands out a change with a report as a claim does: counted in its transaction; its result sets the password', async () => {
    const [cred] = await queued(1);
    const [v] = await agent.claim(1);
    expect((await report([held(v!)])).accepted).toHaveLength(1);
    const [other] = await queued(1);
    const [w] = await agent.claim(1);
    expect(w!.credentialId).toBe(other!.id);
    await expectStatus(c.admin.post(`/credentials/${cred!.id}/change`, {}), 202);
    await waitForValue(async () => (await waiting()) === 1);

    const a = await report([held(w!)], 1);
    expect(a.jobs).toHaveLength(1);
    const change = a.jobs![0]!;
    expect(change).toMatchObject({
      kind: 'change',
      credentialId: cred!.id,
      token: w!.token,
      pendingMayBeSet: false,
    });
    expect(change.pendingPassword).toEqual(expect.any(String));
    const { rows } = await c.ctx.db.query<{ pending_handouts: number; job_state: string }>(
      'SELECT pending_handouts, job_state FROM credentials WHERE id = $1',
      [cred!.id],
    );
    expect(rows[0]).toMatchObject({ pending_handouts: 1, job_state: 'active' });

    expect((await report([held(change)])).accepted).toEqual([change.jobId]);
    const stored = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${cred!.id}/password`),
      200,
    );
    expect(stored.password).toBe(change.pendingPassword);
  });

  it('a report without claim answers as before (no jobs), and a refused result still gets the top-up', async () => {
    await queued(2);
    const [job] = await agent.claim(1);
    const plain = await report([held(job!)]);
    expect(plain).not.toHaveProperty('jobs');
    expect(await waiting()).toBe(1);

    // Not held (already reported): refused, takes nothing in its own call; the top-up hands one out.
    const again = await report([held(job!)], 2);
    expect(again.rejected).toEqual([{ jobId: job!.jobId, code: 'JOB_NOT_HELD' }]);
    expect(again.jobs).toHaveLength(1);
    expect(await waiting()).toBe(0);
    expect((await report(again.jobs!.map(held))).accepted).toHaveLength(1);
  });

  it('a report whose results cannot be applied gives out no job: those handed out meanwhile go back', async () => {
    const creds = await queued(3);
    const [job] = await agent.claim(1);
    const before = await waiting();
    // PostgreSQL refuses this credential's result (as a failing disk or a constraint would).
    await c.ctx.db.query(
      `CREATE FUNCTION refuse_result() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'result refused by the test'; END $$;
       CREATE TRIGGER refuse_result BEFORE UPDATE OF last_result_at ON credentials
         FOR EACH ROW WHEN (OLD.id = '${job!.credentialId}') EXECUTE FUNCTION refuse_result()`,
    );
    try {
      const res = await reportRaw([held(job!)], 2);
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(res.body).not.toHaveProperty('jobs');
      // The two taken for the answer (one by the result's completion, one topped up) are back.
      await waitForValue(async () => (await waiting()) === before);
      const again = await agent.claim(2);
      expect(again).toHaveLength(2);
      expect(creds.map((x) => x.id)).toEqual(expect.arrayContaining(again.map((j) => j.credentialId)));
      expect((await report(again.map(held))).accepted).toHaveLength(2);
    } finally {
      await c.ctx.db.query('DROP TRIGGER refuse_result ON credentials; DROP FUNCTION refuse_result()');
    }
  });

  it('refuses a claim max out of range (400) without taking the results', async () => {
    await queued(1);
    const [job] = await agent.claim(1);
    for (const max of [0, 501]) {
      const res = await reportRaw([held(job!)], max);
      expect(res.status).toBe(400);
    }
    expect((await report([held(job!)])).accepted).toEqual([job!.jobId]);
  });

  it('a disabled agent gets 403 and no job; the queue keeps them', async () => {
    const other = await FakeAgent.enroll(c.url, c.admin, siteId);
    await queued(2);
    const [job] = await other.claim(1);
    await expectStatus(c.admin.post(`/agents/${other.agentId}/disable`), 200, 'disable agent');
    const res = await reportRaw([held(job!)], 5, other);
    expect(res.status).toBe(403);
    expect((res.body as ErrorBody).error.code).toBe('AGENT_DISABLED');
    expect(await waiting()).toBe(1);
    await expectStatus(c.admin.post(`/agents/${other.agentId}/enable`), 200, 'enable agent');
    const done = await expectStatus<Answer>(reportRaw([held(job!)], 5, other), 200, 'report');
    expect(done.accepted).toEqual([job!.jobId]);
    expect(done.jobs).toHaveLength(1);
    // Another agent's job: refused, and the report takes nothing for it.
    const foreign = await report(done.jobs!.map(held), 1);
    expect(foreign.rejected).toEqual([{ jobId: done.jobs![0]!.jobId, code: 'JOB_NOT_HELD' }]);
    expect(foreign.jobs).toEqual([]);
    const mine = await expectStatus<Answer>(reportRaw(done.jobs!.map(held), undefined, other), 200, 'report');
    expect(mine.accepted).toHaveLength(1);
  });
});

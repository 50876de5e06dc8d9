import { api } from '../support/http.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAdapterRegistry } from '../../agent/adapters/index.js';
import { webAdapter } from '../../agent/adapters/web/index.js';
import { JobRunner } from '../../agent/runner.js';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { createLogger } from '../../shared/logger.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  type ErrorBody,
} from '../support/fixtures.js';
import { loginSiteConnection, startLoginSite, type LoginSite } from '../support/login-site.js';

/**
 * Login trials (docs/api.md "Login trials"): an unsaved web login workflow tried with a
 * credential's stored password by an agent of the target's site (here a fake agent handing each job
 * to the agent's JobRunner with the real web adapter, against the real login site). The trial gets
 * the outcome; the credential keeps its status, history and schedule.
 */

interface Trial {
  id: string;
  targetId: string;
  credentialId: string;
  state: string;
  outcome: string | null;
  reason: string | null;
  reasonLabel: string | null;
  detail: string | null;
  by: string;
  finishedAt: string | null;
}

let c: InProcessCoordinator;
let site: LoginSite;
let siteId: string;
let agent: FakeAgent;
let targetId: string;
let credentialId: string;
const PASSWORD = 'Trial&Pass=1"\\';
const runner = new JobRunner(createAdapterRegistry([webAdapter]), createLogger('trial-test', 'silent'));

beforeAll(async () => {
  site = await startLoginSite();
  c = await startInProcessCoordinator('login-trials', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  targetId = (
    await expectStatus<{ id: string }>(
      c.admin.post('/targets', {
        siteId,
        name: 'trial-web',
        kind: 'web',
        connection: loginSiteConnection(site.url),
      }),
      201,
      'POST /targets',
    )
  ).id;
  site.addUser('trial-user', PASSWORD);
  credentialId = (await createCredential(c.admin, targetId, { username: 'trial-user', password: PASSWORD }))
    .id;
  // The credential's own first verification, so it is in_sync before any trial.
  await runJobs(await agent.claimAll(1));
  expect((await getCredential(c.admin, credentialId)).status).toBe('in_sync');
});
afterAll(async () => {
  await c?.close();
  await site?.close();
});

async function runJobs(jobs: ClaimedJob[]): Promise<void> {
  for (const job of jobs)
    await agent.report([held(job)], await runner.run(job, new AbortController().signal));
}

const start = (workflow: unknown, credential = credentialId, target = targetId) =>
  c.admin.post(`/targets/${target}/login-trials`, { workflow, credentialId: credential });

const read = (id: string) =>
  expectStatus<Trial>(c.admin.get(`/targets/${targetId}/login-trials/${id}`), 200, 'GET trial');

/** Starts a trial, lets the agent run it, returns it finished; checks the credential stayed as it was. */
async function tryLogin(workflow: unknown): Promise<Trial> {
  const before = await getCredential(c.admin, credentialId);
  const trial = await expectStatus<Trial>(start(workflow), 202, 'POST trial');
  expect(trial).toMatchObject({ targetId, credentialId, state: 'queued', outcome: null });
  const jobs = await agent.claimAll(1);
  expect(jobs.map((j) => j.jobId)).toEqual([`t-${trial.id}`]);
  expect(jobs[0]).toMatchObject({ kind: 'verify', credentialId, password: PASSWORD });
  expect((await read(trial.id)).state).toBe('running');
  await runJobs(jobs);
  const after = await getCredential(c.admin, credentialId);
  expect(after).toEqual(before);
  return read(trial.id);
}

describe('login trials', () => {
  it('a good workflow: done, ok; audited without the password', async () => {
    const trial = await tryLogin(loginSiteConnection(site.url).login);
    expect(trial).toMatchObject({ state: 'done', outcome: 'ok', reason: null, reasonLabel: null });
    expect(trial.finishedAt).not.toBeNull();
    const audit = await expectStatus<{ items: { action: string; objectId: string; details: unknown }[] }>(
      c.admin.get(`/audit?action=target.login_trial&objectId=${targetId}`),
      200,
      'audit',
    );
    expect(audit.items[0]?.details).toMatchObject({ trialId: trial.id, credentialId });
    expect(JSON.stringify(audit.items)).not.toContain('Trial&Pass');
  });

  it('a wrong field selector: done, failed with its reason; the credential untouched', async () => {
    const workflow = loginSiteConnection(site.url).login;
    workflow.steps[0]!.extract![0]!.css!.selector = 'input[name=token]';
    const trial = await tryLogin(workflow);
    expect(trial).toMatchObject({
      state: 'done',
      outcome: 'failed',
      reason: 'workflow_failed',
      reasonLabel: 'Login page changed',
    });
    expect(trial.detail).toContain("could not extract 'csrf'");
    expect((await getCredential(c.admin, credentialId)).status).toBe('in_sync');
  });

  it('a wrong password field: failed (mismatch), the detail never holds the password', async () => {
    const workflow = loginSiteConnection(site.url).login;
    (workflow.steps[1] as { form: unknown }).form = {
      csrf: '{{vars.csrf}}',
      username: '{{username}}',
      pass: '{{password}}',
    };
    const trial = await tryLogin(workflow);
    expect(trial).toMatchObject({ state: 'done', outcome: 'failed' });
    expect(JSON.stringify(trial)).not.toContain(PASSWORD);
  });

  it("refusals: invalid workflow (field named), non-web target, another target's credential, sync disabled", async () => {
    const bad = loginSiteConnection(site.url).login;
    (bad.steps[1] as { url: unknown }).url = '';
    const invalid = await start(bad);
    expect(invalid.status).toBe(400);
    expect((invalid.body as ErrorBody).error.issues?.map((i) => i.field)).toEqual([
      'body.workflow.steps.1.url',
    ]);

    const simulated = await expectStatus<{ id: string }>(
      c.admin.post('/targets', { siteId, name: 'trial-sim', kind: 'simulated', connection: {} }),
      201,
      'simulated target',
    );
    const otherCred = await createCredential(c.admin, simulated.id, { username: 'sim', password: 'x-1' });
    expect((await start(loginSiteConnection(site.url).login, otherCred.id, simulated.id)).status).toBe(409);
    const foreign = await start(loginSiteConnection(site.url).login, otherCred.id);
    expect(foreign.status).toBe(400);
    expect((foreign.body as ErrorBody).error.issues?.map((i) => i.field)).toEqual(['body.credentialId']);

    await expectStatus(c.admin.post(`/credentials/${credentialId}/disable`), 200, 'disable');
    try {
      expect((await start(loginSiteConnection(site.url).login)).status).toBe(409);
    } finally {
      await expectStatus(c.admin.post(`/credentials/${credentialId}/enable`), 200, 'enable');
    }
    // The work of the simulated credential and the re-enabled one (not trials): run as any other.
    await runJobs(await agent.claimAll(5, 200));
  });

  it("sending the password beyond the target's own addresses is an admin's trial; file: and javascript: URLs never", async () => {
    const { token } = await expectStatus<{ token: string }>(
      c.admin.post('/tokens', { name: 'trial-operator', role: 'operator' }),
      201,
      'operator token',
    );
    const operator = api(c.url, token);
    // The login's first step posted to another address (loopback, never reached here).
    const elsewhere = loginSiteConnection(site.url).login;
    (elsewhere.steps[0] as { url: string }).url = 'http://127.0.0.2:9/collect';
    const refused = await operator.post(`/api/v1/targets/${targetId}/login-trials`, {
      workflow: elsewhere,
      credentialId,
    });
    expect(refused.status).toBe(403);
    expect((refused.body as ErrorBody).error.message).toContain('http://127.0.0.2:9');
    // Within the target's own addresses an operator may try it.
    const own = await expectStatus<Trial>(
      operator.post(`/api/v1/targets/${targetId}/login-trials`, {
        workflow: loginSiteConnection(site.url).login,
        credentialId,
      }),
      202,
      "operator's trial",
    );
    // An admin may send it elsewhere (an admin may edit the target to go there too).
    const admins = await expectStatus<Trial>(start(elsewhere), 202, "admin's trial");
    await runJobs(await agent.claimAll(2));
    expect((await read(own.id)).outcome).toBe('ok');
    expect((await read(admins.id)).state).toMatch(/done|failed/);
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', ' FILE:/x']) {
      const bad = loginSiteConnection(site.url).login;
      (bad.steps[0] as { url: string }).url = url;
      const res = await start(bad);
      expect(res.status, url).toBe(400);
      expect(
        (res.body as ErrorBody).error.issues?.map((i) => i.field),
        url,
      ).toEqual(['body.workflow.steps.0.url']);
    }
  });

  it("a trial's job is extended and released like any other, the credential untouched", async () => {
    const before = await getCredential(c.admin, credentialId);
    const trial = await expectStatus<Trial>(start(loginSiteConnection(site.url).login), 202, 'POST trial');
    const [job] = await agent.claimAll(1);
    expect(job?.jobId).toBe(`t-${trial.id}`);
    expect((await agent.extend([held(job!)])).extended).toEqual([job!.jobId]);
    expect((await agent.release([held(job!)])).released).toEqual([job!.jobId]);
    expect(await getCredential(c.admin, credentialId)).toEqual(before);
    // Back in the queue: claimed again and run.
    const again = await agent.claimAll(1);
    expect(again.map((j) => j.jobId)).toEqual([`t-${trial.id}`]);
    await runJobs(again);
    expect(await read(trial.id)).toMatchObject({ state: 'done', outcome: 'ok' });
  });

  it('a trial no agent finished in time fails with reason timeout; after a day it is deleted', async () => {
    const trial = await expectStatus<Trial>(start(loginSiteConnection(site.url).login), 202, 'POST trial');
    await c.ctx.db.query(`UPDATE login_trials SET created_at = now() - interval '6 minutes' WHERE id = $1`, [
      trial.id,
    ]);
    expect(await read(trial.id)).toMatchObject({
      state: 'failed',
      outcome: null,
      reason: 'timeout',
      reasonLabel: 'No agent answered in time',
    });
    // Its job, claimed late, is not handed out.
    expect((await agent.claim(5, 300)).filter((j) => j.jobId === `t-${trial.id}`)).toEqual([]);
    await c.ctx.db.query(`UPDATE login_trials SET created_at = now() - interval '25 hours' WHERE id = $1`, [
      trial.id,
    ]);
    expect((await c.admin.get(`/targets/${targetId}/login-trials/${trial.id}`)).status).toBe(404);
  });

  it('site isolation: an agent of another site never gets the trial', async () => {
    const otherSite = (await createSite(c.admin)).id;
    const stranger = await FakeAgent.enroll(c.url, c.admin, otherSite);
    const trial = await expectStatus<Trial>(start(loginSiteConnection(site.url).login), 202, 'POST trial');
    expect(await stranger.claim(10, 300)).toEqual([]);
    const jobs = (await agent.claimAll(5, 500)).filter((j) => j.jobId === `t-${trial.id}`);
    expect(jobs).toHaveLength(1);
    await runJobs(jobs);
    expect((await read(trial.id)).state).toBe('done');
  });
});

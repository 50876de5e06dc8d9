import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAdapterRegistry } from '../../agent/adapters/index.js';
import { webAdapter } from '../../agent/adapters/web/index.js';
import { JobRunner } from '../../agent/runner.js';
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
 * `web` targets through the coordinator's API: validation at creation, the statuses that come
 * from a target's workflows (unsyncable, change_not_configured), and results of the real adapter
 * against the real login site, run by a fake agent that hands each job to the agent's JobRunner.
 */

let c: InProcessCoordinator;
let site: LoginSite;
let siteId: string;
let agent: FakeAgent;
const runner = new JobRunner(createAdapterRegistry([webAdapter]), createLogger('web-test', 'silent'));
let n = 0;

beforeAll(async () => {
  site = await startLoginSite();
  c = await startInProcessCoordinator('web-coordinator', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
});
afterAll(async () => {
  await c?.close();
  await site?.close();
});

async function createWebTarget(connection: unknown): Promise<string> {
  const body = await expectStatus<{ id: string }>(
    c.admin.post('/targets', { siteId, name: `web-${++n}`, kind: 'web', connection }),
    201,
    'POST /targets',
  );
  return body.id;
}

/** Claims what is queued and runs it with the real web adapter, as an agent would; returns how many ran. */
async function runQueuedJobs(): Promise<number> {
  const jobs = await agent.claim(10);
  for (const job of jobs) {
    const result = await runner.run(job, new AbortController().signal);
    await agent.report([held(job)], result);
  }
  return jobs.length;
}

const status = async (id: string) => {
  const view = await getCredential(c.admin, id);
  return { status: view.status, reason: view.statusReason, message: view.lastMessage };
};

describe('web targets through the API', () => {
  it('a bad workflow is refused with a 400 naming the field', async () => {
    const connection = loginSiteConnection(site.url);
    (connection.change.steps[1] as { url: unknown }).url = '';
    const res = await c.admin.post('/targets', { siteId, name: 'bad-web', kind: 'web', connection });
    expect(res.status).toBe(400);
    const body = res.body as ErrorBody;
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.issues?.map((i) => i.field)).toEqual(['body.connection.change.steps.1.url']);

    const unknownVar = loginSiteConnection(site.url);
    unknownVar.login.steps[1]!.form!.csrf = '{{vars.nope}}';
    const second = await c.admin.post('/targets', {
      siteId,
      name: 'bad-web-2',
      kind: 'web',
      connection: unknownVar,
    });
    expect(second.status).toBe(400);
    expect((second.body as ErrorBody).error.issues).toEqual([
      {
        field: 'body.connection.login.steps.1.form.csrf',
        message: '{{vars.nope}} is not extracted by an earlier step',
      },
    ]);
  });

  it('verification of the real site: in_sync, then mismatch, then workflow_failed', async () => {
    const targetId = await createWebTarget(loginSiteConnection(site.url));
    const username = `api-user-${++n}`;
    site.addUser(username, 'Good&Pass=1"\\');
    const cred = await createCredential(c.admin, targetId, { username, password: 'Good&Pass=1"\\' });
    expect(cred.status).toBe('pending_sync');
    expect(await runQueuedJobs()).toBe(1);
    expect(await status(cred.id)).toMatchObject({ status: 'in_sync' });

    site.setPassword(username, 'changed out of band');
    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202, 'verify');
    expect(await runQueuedJobs()).toBe(1);
    expect(await status(cred.id)).toMatchObject({ status: 'out_of_sync', reason: 'mismatch' });
    expect(site.failedLogins(username)).toBe(1);

    site.setPassword(username, 'Good&Pass=1"\\');
    site.redesign();
    try {
      await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202, 'verify');
      expect(await runQueuedJobs()).toBe(1);
      expect(await status(cred.id)).toEqual({
        status: 'out_of_sync',
        reason: 'workflow_failed',
        message: "login workflow, step 'login-page': could not extract 'csrf' from the body (status 200)",
      });
    } finally {
      site.redesign(false);
    }
  });

  it('a target with only a login workflow is unsyncable and never sent to agents', async () => {
    const { baseUrl, login } = loginSiteConnection(site.url);
    const targetId = await createWebTarget({ baseUrl, login });
    const username = `fill-in-${++n}`;
    site.addUser(username, 'whatever-1');
    const before = site.requests().length;
    const cred = await createCredential(c.admin, targetId, { username, password: 'whatever-1' });
    expect(cred.status).toBe('unsyncable');
    await c.admin.post(`/credentials/${cred.id}/verify`);
    await c.admin.post(`/credentials/${cred.id}/change`, {});
    expect(await agent.claim(10)).toEqual([]);
    expect((await status(cred.id)).status).toBe('unsyncable');
    expect(site.requests()).toHaveLength(before);
  });

  it('a change workflow without {{newPassword}} turns change_not_configured once a change is wanted', async () => {
    const connection = loginSiteConnection(site.url);
    connection.change.steps[1]!.form = {
      csrf: '{{vars.changeCsrf}}',
      current: '{{password}}',
      new: '{{password}}',
      confirm: '{{password}}',
    };
    const targetId = await createWebTarget(connection);
    const username = `unmapped-${++n}`;
    site.addUser(username, 'Unmapped-pass-1');
    const cred = await createCredential(c.admin, targetId, { username, password: 'Unmapped-pass-1' });
    expect(await runQueuedJobs()).toBe(1);
    expect((await status(cred.id)).status).toBe('in_sync');

    await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, {}), 202, 'change');
    expect((await status(cred.id)).status).toBe('change_not_configured');
    expect(await agent.claim(10)).toEqual([]);
    expect(site.getPassword(username)).toBe('Unmapped-pass-1');
  });

  it('a change the site refuses is change_failed and the stored password still works', async () => {
    const targetId = await createWebTarget(loginSiteConnection(site.url));
    const username = `refused-${++n}`;
    site.addUser(username, 'Refused-pass-1');
    const cred = await createCredential(c.admin, targetId, { username, password: 'Refused-pass-1' });
    expect(await runQueuedJobs()).toBe(1);
    // The site wants at least 8 characters; the operator gives a shorter one.
    await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, { password: 'short' }), 202, 'change');
    expect(await runQueuedJobs()).toBe(1);
    expect(await status(cred.id)).toMatchObject({ status: 'out_of_sync', reason: 'change_failed' });
    expect(site.getPassword(username)).toBe('Refused-pass-1');
    const stored = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${cred.id}/password`),
      200,
      'password',
    );
    expect(stored.password).toBe('Refused-pass-1');
    expect(await site.canLogIn(username, stored.password)).toBe(true);
  });

  it('a redesigned change page (nothing sent) is workflow_failed, not change_failed: the change stays wanted', async () => {
    const targetId = await createWebTarget(loginSiteConnection(site.url));
    const username = `redesigned-change-${++n}`;
    site.addUser(username, 'Redesign-pass-1');
    const cred = await createCredential(c.admin, targetId, { username, password: 'Redesign-pass-1' });
    expect(await runQueuedJobs()).toBe(1);
    site.redesignChange();
    try {
      await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, {}), 202, 'change');
      expect(await runQueuedJobs()).toBe(1);
      const view = await getCredential(c.admin, cred.id);
      expect(view).toMatchObject({
        status: 'out_of_sync',
        statusReason: 'workflow_failed',
        changePending: false,
        job: { state: 'idle' },
      });
      expect(view.lastMessage).toMatch(/change workflow, step 'change-page'/);
      // Not dropped: the change comes back later (after the verification interval), no reconcile now.
      expect(view.nextChangeAt).not.toBeNull();
      expect(await agent.claim(10)).toEqual([]);
      expect(site.getPassword(username)).toBe('Redesign-pass-1');
    } finally {
      site.redesignChange(false);
    }
    // The page fixed, the operator asks again: it changes.
    await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, {}), 202, 'change');
    expect(await runQueuedJobs()).toBe(1);
    expect(await status(cred.id)).toMatchObject({ status: 'in_sync' });
    const stored = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${cred.id}/password`),
      200,
      'password',
    );
    expect(stored.password).not.toBe('Redesign-pass-1');
    expect(await site.canLogIn(username, stored.password)).toBe(true);
  });

  it('a change whose check before the change fails (redesigned login page) is workflow_failed: no reconcile, no extra logins', async () => {
    const targetId = await createWebTarget(loginSiteConnection(site.url));
    const username = `redesigned-login-${++n}`;
    site.addUser(username, 'Redesign-pass-2');
    const cred = await createCredential(c.admin, targetId, { username, password: 'Redesign-pass-2' });
    expect(await runQueuedJobs()).toBe(1);
    site.redesign();
    try {
      await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, {}), 202, 'change');
      const before = site.requests().length;
      expect(await runQueuedJobs()).toBe(1);
      expect(await status(cred.id)).toMatchObject({ status: 'out_of_sync', reason: 'workflow_failed' });
      expect((await getCredential(c.admin, cred.id)).changePending).toBe(false);
      // One check of the current password (the login page), then nothing: no reconcile follows.
      expect(
        site
          .requests()
          .slice(before)
          .map((r) => `${r.method} ${r.path}`),
      ).toEqual(['GET /login']);
      expect(await agent.claim(10)).toEqual([]);
    } finally {
      site.redesign(false);
    }
    expect(site.getPassword(username)).toBe('Redesign-pass-2');
  });
});

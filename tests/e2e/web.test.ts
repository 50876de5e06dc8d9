import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  expectStatus,
  getCredential,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { loginSiteConnection, startLoginSite, type LoginSite } from '../support/login-site.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  runCli,
  startAgent,
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
} from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/**
 * The whole path for a `web` target: real coordinator and agent processes (dist/), the target and
 * credential created through the API, in_sync reached through the real login site, a change
 * requested with POST /credentials/{id}/change, and the password the coordinator then hands out
 * logs in on the site; then `syncctl targets try-login` tries an edited login workflow (a good one,
 * one with a wrong selector) with that credential, which stays as it was.
 */

let site: LoginSite;
let database: TestDatabase;
let coordinator: CoordinatorProcess;
let admin: ApiClient;
/** The credential of the first test, on the target `intranet`. */
let credentialId = '';
let targetId = '';

beforeAll(async () => {
  site = await startLoginSite();
  database = await createTestDatabase('e2e-web');
  coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: uniquePrefix('e2e-web'),
      HOST: '127.0.0.1',
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      LOG_LEVEL: 'info',
      SCHEDULER_TICK_MS: '200',
    },
    { label: 'coordinator-web' },
  );
  admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
});

afterAll(async () => {
  await stopAll();
  await database?.drop();
  await site?.close();
});

const settled = (status: string) => status === 'in_sync' || status === 'out_of_sync';

describe('web adapter, end to end', () => {
  it('creates a web target and credential, reaches in_sync, changes the password on the real site', async () => {
    const siteId = (await createSite(admin, 'web-e2e')).id;
    await startAgent(
      {
        COORDINATOR_URL: coordinator.url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
        AGENT_CLAIM_WAIT_MS: '1000',
        LOG_LEVEL: 'info',
      },
      { label: 'agent-web' },
    );

    const target = await expectStatus<{ id: string }>(
      admin.post('/targets', {
        siteId,
        name: 'intranet',
        kind: 'web',
        connection: loginSiteConnection(site.url),
      }),
      201,
      'POST /targets',
    );
    const username = 'alice@example.com';
    const initial = 'Initial&Pass="1\\';
    site.addUser(username, initial);
    const cred = await createCredential(admin, target.id, { username, password: initial });
    credentialId = cred.id;
    targetId = target.id;

    const first = await waitFor<CredentialView | null>(
      async () => {
        const view = await getCredential(admin, cred.id);
        return settled(view.status) && view.job.state === 'idle' ? view : null;
      },
      { timeoutMs: 30_000, message: 'the first verification' },
    );
    expect({ status: first?.status, reason: first?.statusReason, message: first?.lastMessage }).toMatchObject(
      {
        status: 'in_sync',
      },
    );

    await expectStatus(
      admin.post(`/credentials/${cred.id}/change`, {}),
      202,
      'POST /credentials/{id}/change',
    );
    const changed = await waitFor<CredentialView | null>(
      async () => {
        const view = await getCredential(admin, cred.id);
        return view.lastChangedAt !== null && !view.changePending && view.job.state === 'idle' ? view : null;
      },
      { timeoutMs: 30_000, message: 'the change to settle' },
    );
    expect(changed?.status).toBe('in_sync');

    const { password } = await expectStatus<{ password: string }>(
      admin.get(`/credentials/${cred.id}/password`),
      200,
      'GET /credentials/{id}/password',
    );
    expect(password).not.toBe(initial);
    expect(site.getPassword(username)).toBe(password);
    expect(await site.canLogIn(username, password)).toBe(true);
    expect(await site.canLogIn(username, initial)).toBe(false);
  });

  it('syncctl targets try-login (the target by name or id): a good workflow works (exit 0), a wrong selector fails with its reason (exit 3)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'try-login-'));
    const good = loginSiteConnection(site.url).login;
    const wrong = loginSiteConnection(site.url).login;
    wrong.steps[0]!.extract![0]!.css!.selector = 'input[name=token]';
    writeFileSync(join(dir, 'good.json'), JSON.stringify(good));
    writeFileSync(join(dir, 'wrong.json'), JSON.stringify(wrong));
    const before = await getCredential(admin, credentialId);
    // The target named by its name, then by its id.
    const tryLogin = (file: string, target: string) =>
      runCli(
        [
          '--url',
          coordinator.url,
          '--token',
          ADMIN_TOKEN,
          'targets',
          'try-login',
          target,
          '--workflow-file',
          join(dir, file),
          '--credential',
          credentialId,
        ],
        {},
        60_000,
      );
    const ok = await tryLogin('good.json', 'intranet');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/state\s+done/);
    expect(ok.stdout).toMatch(/outcome\s+ok/);
    const failed = await tryLogin('wrong.json', targetId);
    expect(failed.code, failed.stderr).toBe(3);
    expect(failed.stdout).toMatch(/reason\s+Login page changed/);
    expect(failed.stdout).toContain("could not extract 'csrf'");
    expect(await getCredential(admin, credentialId)).toEqual(before);
  });
});

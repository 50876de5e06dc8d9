/**
 * Dependencies through the API (docs/adapters/dependencies.md): bad definitions are a 400 naming the
 * field and change nothing; good ones are stored in order and shown on the credential with their
 * status; check and retry ask the next verification; "set stored password" stores the password
 * without changing it, verifies it, and is audited.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DependencyView } from '../../shared/contracts/dependencies.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  getCredential,
  type CreatedCredential,
  type ErrorBody,
} from '../support/fixtures.js';
import { api } from '../support/http.js';
import { loginSiteConnection, settingSteps } from '../support/login-site.js';

let c: InProcessCoordinator;
let siteId: string;
let owner: CreatedCredential;
let other: CreatedCredential;
/** A credential on a workstation target (an SSH login for file and command dependencies). */
let sshLogin: CreatedCredential;
/** A credential on a PostgreSQL service target (a login for service dependencies). */
let dbLogin: CreatedCredential;
/** A credential on a web target (a login for web dependencies). */
let webLogin: CreatedCredential;
let foreign: CreatedCredential;

beforeAll(async () => {
  c = await startInProcessCoordinator('dependencies-api', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  const target = await createTarget(c.admin, siteId);
  owner = await createCredential(c.admin, target);
  other = await createCredential(c.admin, target);
  const ws = await expectStatus<{ id: string }>(
    c.admin.post('/targets', {
      siteId,
      name: 'app-host',
      kind: 'workstation',
      connection: { host: '127.0.0.1', port: 2222 },
    }),
    201,
  );
  sshLogin = await createCredential(c.admin, ws.id);
  const db = await expectStatus<{ id: string }>(
    c.admin.post('/targets', {
      siteId,
      name: 'app-db',
      kind: 'service',
      connection: { driver: 'postgres', host: '127.0.0.1' },
    }),
    201,
  );
  dbLogin = await createCredential(c.admin, db.id);
  const web = await expectStatus<{ id: string }>(
    c.admin.post('/targets', {
      siteId,
      name: 'app-admin',
      kind: 'web',
      connection: loginSiteConnection('http://127.0.0.1:1'),
    }),
    201,
  );
  webLogin = await createCredential(c.admin, web.id);
  const elsewhere = await createTarget(c.admin, (await createSite(c.admin)).id);
  foreign = await createCredential(c.admin, elsewhere);
});
afterAll(() => c?.close());

const file = () => ({
  kind: 'file',
  name: 'app config',
  loginCredentialId: sshLogin.id,
  path: '/etc/app/app.conf',
  format: 'keyvalue',
  key: 'db.password',
  backup: true,
});
const command = () => ({
  kind: 'command',
  name: 'restart app',
  loginCredentialId: sshLogin.id,
  argv: ['systemctl', 'restart', 'app'],
});
const service = () => ({
  kind: 'service',
  name: 'connection string',
  loginCredentialId: dbLogin.id,
  statement: "UPDATE settings SET value = $1 WHERE name = 'db_password'",
});
const web = (steps: unknown[] = settingSteps('db_password')) => ({
  kind: 'web',
  name: 'app settings',
  loginCredentialId: webLogin.id,
  steps,
});
const chain = () => ({ kind: 'credential', name: 'replica account', credentialId: other.id });

async function setRaw(id: string, dependencies: unknown[]) {
  return c.admin.post(`/credentials/${id}/dependencies`, { dependencies });
}

async function expect400(dependencies: unknown[], field: string): Promise<void> {
  const res = await setRaw(owner.id, dependencies);
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  const fields = (res.body as ErrorBody).error.issues?.map((i) => i.field);
  expect(fields, JSON.stringify(res.body)).toContain(field);
}

describe('dependency definitions', () => {
  it('bad definitions are refused naming the field, and change nothing', async () => {
    await expect400([{ ...file(), kind: 'ftp' }], 'body.dependencies.0.kind');
    await expect400([{ ...file(), path: 'relative/app.conf' }], 'body.dependencies.0.path');
    await expect400([{ ...file(), key: undefined }], 'body.dependencies.0.key');
    await expect400(
      [{ ...file(), format: 'pattern', pattern: 'password=.*' }],
      'body.dependencies.0.pattern',
    );
    await expect400([{ ...file(), format: 'pattern', pattern: '(unclosed' }], 'body.dependencies.0.pattern');
    await expect400([file(), { ...command(), argv: [] }], 'body.dependencies.1.argv');
    await expect400([{ ...command(), passwordVia: 'env' }], 'body.dependencies.0.env');
    await expect400([{ ...command(), passwordVia: 'env', env: 'APP PASSWORD' }], 'body.dependencies.0.env');
    await expect400([{ ...command(), extra: 1 }], 'body.dependencies.0');
    await expect400([{ ...file(), loginCredentialId: 'nope' }], 'body.dependencies.0.loginCredentialId');
    // Checked against the database: the login must exist, be of the site, on the right kind of target.
    await expect400([{ ...file(), loginCredentialId: dbLogin.id }], 'body.dependencies.0.loginCredentialId');
    await expect400(
      [{ ...service(), loginCredentialId: sshLogin.id }],
      'body.dependencies.0.loginCredentialId',
    );
    await expect400([{ ...file(), loginCredentialId: foreign.id }], 'body.dependencies.0.loginCredentialId');
    await expect400(
      [{ ...file(), loginCredentialId: crypto.randomUUID() }],
      'body.dependencies.0.loginCredentialId',
    );
    await expect400(
      [{ ...service(), statement: 'UPDATE settings SET value = ?' }],
      'body.dependencies.0.statement',
    );
    await expect400([{ ...web(), loginCredentialId: sshLogin.id }], 'body.dependencies.0.loginCredentialId');
    await expect400([{ ...file(), loginCredentialId: webLogin.id }], 'body.dependencies.0.loginCredentialId');
    await expect400([web([{ name: 'home', url: '/home' }])], 'body.dependencies.0.steps');
    await expect400(
      [web([{ name: 'home', url: '/home', form: { p: '{{newPassword}}' } }])],
      'body.dependencies.0.steps.0.method',
    );
    // {{vars.csrf}} is the login workflow's (known); {{vars.token}} nobody extracts.
    await expect400(
      [
        web([
          {
            name: 'set',
            method: 'POST',
            url: '/s',
            form: { a: '{{vars.csrf}}', b: '{{vars.token}}', c: '{{newPassword}}' },
          },
        ]),
      ],
      'body.dependencies.0.steps.0.form.b',
    );
    await expect400([{ ...chain(), credentialId: owner.id }], 'body.dependencies.0.credentialId');
    await expect400([{ ...chain(), credentialId: foreign.id }], 'body.dependencies.0.credentialId');
    expect((await getCredential(c.admin, owner.id)).dependencies).toEqual([]);
  });

  it('good ones are stored in order and shown on the credential, not run yet', async () => {
    const set = await expectStatus<{ items: DependencyView[] }>(
      setRaw(owner.id, [file(), command(), service(), web(), chain()]),
      200,
    );
    expect(set.items.map((d) => [d.position, d.kind, d.status, d.checkStatus])).toEqual([
      [0, 'file', 'not_run', 'not_run'],
      [1, 'command', 'not_run', 'not_run'],
      [2, 'service', 'not_run', 'not_run'],
      [3, 'web', 'not_run', 'not_run'],
      [4, 'credential', 'not_run', 'not_run'],
    ]);
    // Defaults applied and shown.
    expect(set.items[1]!.definition).toMatchObject({ passwordVia: 'stdin', timeoutMs: 30_000 });
    const view = await getCredential(c.admin, owner.id);
    expect(view.dependencies!.map((d) => d.name)).toEqual([
      'app config',
      'restart app',
      'connection string',
      'app settings',
      'replica account',
    ]);
    // Setting the same list again keeps each dependency's id (and its results).
    const again = await expectStatus<{ items: DependencyView[] }>(setRaw(owner.id, [command(), file()]), 200);
    expect(again.items.map((d) => d.id)).toEqual([set.items[1]!.id, set.items[0]!.id]);
    // Only an admin sets them: they decide where the password goes.
    const operator = await expectStatus<{ token: string }>(
      c.admin.post('/tokens', { name: 'op', role: 'operator' }),
      201,
    );
    const asOperator = await api(`${c.url}/api/v1`, operator.token).post(
      `/credentials/${owner.id}/dependencies`,
      { dependencies: [] },
    );
    expect(asOperator.status).toBe(403);
  });

  it('check and retry ask the next verification; unknown ids are a 400', async () => {
    const check = await expectStatus<{ requested: string[] }>(
      c.admin.post(`/credentials/${owner.id}/dependencies/check`, undefined),
      202,
    );
    expect(check.requested).toHaveLength(2);
    const deps = (await getCredential(c.admin, owner.id)).dependencies!;
    expect(deps.map((d) => d.requested)).toEqual(['check', 'check']);
    const retry = await expectStatus<{ requested: string[] }>(
      c.admin.post(`/credentials/${owner.id}/dependencies/retry`, { dependencyIds: [deps[1]!.id] }),
      202,
    );
    expect(retry.requested).toEqual([deps[1]!.id]);
    const bad = await c.admin.post(`/credentials/${owner.id}/dependencies/retry`, {
      dependencyIds: [crypto.randomUUID()],
    });
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.issues?.map((i) => i.field)).toEqual(['body.dependencyIds']);
    const none = await c.admin.post(`/credentials/${other.id}/dependencies/check`, undefined);
    expect(none.status).toBe(409);
  });

  it('set stored password: stored without a change, verified at once, audited like a reveal', async () => {
    const password = `by-hand-${crypto.randomUUID()}`;
    await expectStatus(c.admin.post(`/credentials/${other.id}/stored-password`, { password }), 202);
    const revealed = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${other.id}/password`),
      200,
    );
    expect(revealed.password).toBe(password);
    const history = await expectStatus<{ items: { kind: string; password: string }[] }>(
      c.admin.get(`/credentials/${other.id}/password-history`),
      200,
    );
    expect(history.items).toEqual([expect.objectContaining({ kind: 'retired', password: other.password })]);
    const view = await getCredential(c.admin, other.id);
    expect(view.job).toEqual({ state: 'queued', kind: 'verify' });
    const { rows } = await c.ctx.db.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_events WHERE action = 'credential.set_stored_password' AND object_id = $1`,
      [other.id],
    );
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows[0]!.details)).not.toContain(password);
  });
});

/**
 * The `web` dependency (docs/adapters/dependencies.md) run by the agent's JobRunner against the real
 * login site (tests/support/login-site.ts): the login credential's web target signs in, then the
 * dependency's steps store the new password as a setting of the site, read back from the site. A
 * site down or a login refused stops the change before anything is sent; a step failing after the
 * change fails the dependency with its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebDependencySchema } from '../../shared/contracts/dependencies.js';
import { changeJob, claimed, MemoryTarget, newPassword, pushesOf } from '../support/dependency-jobs.js';
import { loginSiteConnection, settingSteps, startLoginSite, type LoginSite } from '../support/login-site.js';
import { freePort } from '../support/ports.js';

let site: LoginSite;
const admin = { username: 'app-admin', password: 'Admin-pass-1' };

beforeAll(async () => {
  site = await startLoginSite();
  site.addUser(admin.username, admin.password);
});
afterAll(() => site?.close());

/** The app's settings page, signed in as `admin` on the site at `baseUrl`. */
function webDep(steps: unknown = settingSteps('db_password'), baseUrl = site.url, password = admin.password) {
  const definition = WebDependencySchema.parse({
    kind: 'web',
    name: 'app settings',
    loginCredentialId: crypto.randomUUID(),
    steps,
  });
  return claimed(definition, {
    username: admin.username,
    password,
    target: { kind: 'web', connection: loginSiteConnection(baseUrl) },
  });
}

describe('web dependencies run by the agent', () => {
  it('a change: the login checked first, then the new password stored by the steps, read back', async () => {
    const target = new MemoryTarget('current-1');
    const next = newPassword();
    const outcome = await changeJob(target, next, [webDep()]);
    expect(outcome).toMatchObject({
      outcome: 'ok',
      works: 'pending',
      dependencies: [
        { mode: 'check', status: 'ok' },
        { mode: 'push', status: 'ok' },
      ],
    });
    expect(target.password).toBe(next);
    expect(site.setting('db_password')).toBe(next);
    expect(JSON.stringify(outcome)).not.toContain(next);
    expect(JSON.stringify(outcome)).not.toContain(admin.password);
  });

  it('the site down: pre-validation refuses, the change is not sent', async () => {
    const target = new MemoryTarget('current-2');
    const down = `http://127.0.0.1:${await freePort()}`;
    const outcome = await changeJob(target, newPassword(), [webDep(undefined, down)]);
    expect(outcome).toMatchObject({
      outcome: 'failed',
      reason: 'change_failed',
      detailCode: 'dependency_unreachable',
      message: expect.stringMatching(/dependency 'app settings' cannot be reached.*connection refused/),
    });
    expect(target.sent).toBe(0);
    expect(target.password).toBe('current-2');
  });

  it('the login refused: pre-validation refuses with the site’s answer, the change is not sent', async () => {
    const target = new MemoryTarget('current-3');
    const wrong = 'Not-the-admin-password';
    const outcome = await changeJob(target, newPassword(), [webDep(undefined, site.url, wrong)]);
    expect(outcome).toMatchObject({
      outcome: 'failed',
      detailCode: 'dependency_unreachable',
      message: expect.stringContaining("login workflow, step 'submit-login'"),
    });
    expect(JSON.stringify(outcome)).not.toContain(wrong);
    expect(target.sent).toBe(0);
  });

  it('a step failing after the change: the dependency failed with the step and its reason', async () => {
    const target = new MemoryTarget('current-4');
    const next = newPassword();
    const steps = [
      ...settingSteps('other'),
      { name: 'confirm', method: 'GET', url: '/settings/confirm', expect: [{ status: 200 }] },
    ];
    const outcome = await changeJob(target, next, [webDep(steps)]);
    expect(outcome).toMatchObject({ outcome: 'ok', works: 'pending' });
    expect(target.password).toBe(next);
    expect(pushesOf(outcome)).toEqual([
      ['failed', "web as app-admin: dependency workflow, step 'confirm': expected status 200, got 404"],
    ]);
  });

  it('a definition: steps that never send {{newPassword}}, or a duplicate step name, are refused', () => {
    const parsed = WebDependencySchema.safeParse({
      kind: 'web',
      name: 'x',
      loginCredentialId: crypto.randomUUID(),
      steps: [
        { name: 'a', url: '/settings' },
        { name: 'a', url: '/home' },
      ],
    });
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['steps.1.name', "duplicate step name 'a'"],
      ['steps', 'no step sends {{newPassword}}'],
    ]);
  });
});

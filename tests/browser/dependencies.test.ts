/**
 * A credential's dependencies in the dashboard (docs/adapters/dependencies.md), in real headless
 * Chromium against a real coordinator and agent: two `web` dependencies on the local login site
 * (tests/support/login-site.ts), the site's settings down during a change. The credential page shows
 * each dependency's push (failed with the reason, not run) and check, and the change as partial; as
 * operator, "Retry failed" pushes the stored password again once the site is back (read back from
 * the site); as admin, "Set stored password" stores a password set by hand and pushes it; a viewer
 * sees no button, an operator no "Set stored password".
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import { credentialWhere, revealed } from '../support/credential-waits.js';
import { createCredential, createTarget, expectStatus, type CreatedCredential } from '../support/fixtures.js';
import { loginSiteConnection, settingSteps, startLoginSite, type LoginSite } from '../support/login-site.js';
import { launchChromium, SHOTS, signIn } from './chromium.js';
import { startStack, type Stack } from './stack.js';

let stack: Stack;
let browser: Browser;
let site: LoginSite;
let owner: CreatedCredential;
const tokens: Record<'viewer' | 'operator', string> = { viewer: '', operator: '' };
const errors: string[] = [];
const webAdmin = { username: 'app-admin', password: 'Admin-pass-1' };

beforeAll(async () => {
  [stack, site, browser] = await Promise.all([
    startStack('browser-dependencies'),
    startLoginSite(),
    launchChromium(),
  ]);
  site.addUser(webAdmin.username, webAdmin.password);
  for (const role of ['viewer', 'operator'] as const) {
    tokens[role] = (
      await expectStatus<{ token: string }>(stack.admin.post('/tokens', { name: role, role }), 201)
    ).token;
  }
  const web = await expectStatus<{ id: string }>(
    stack.admin.post('/targets', {
      siteId: stack.siteId,
      name: 'app-admin-ui',
      kind: 'web',
      connection: loginSiteConnection(site.url),
    }),
    201,
  );
  const login = await createCredential(stack.admin, web.id, { ...webAdmin, syncEnabled: false });
  const target = await createTarget(stack.admin, stack.siteId, {}, 'app-server');
  owner = await createCredential(stack.admin, target, { username: 'svc_app' });
  await expectStatus(
    stack.admin.post(`/credentials/${owner.id}/dependencies`, {
      dependencies: [
        { kind: 'web', name: 'app settings', loginCredentialId: login.id, steps: settingSteps('app') },
        { kind: 'web', name: 'report settings', loginCredentialId: login.id, steps: settingSteps('report') },
      ],
    }),
    200,
  );
  await credentialWhere(stack.admin, owner.id, (c) => c.status === 'in_sync', 'the owner in sync');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await site?.close();
});

const card = (page: Page) => page.getByTestId('dependencies');
const row = (page: Page, name: string) =>
  card(page).locator('tbody tr', { has: page.getByRole('cell', { name, exact: true }) });
const dialog = (page: Page) => page.locator('dialog[open]');

describe('dependencies on the credential page', () => {
  it('a change whose dependency failed: partial, failed with its reason, not run; retry failed fixes it', async () => {
    site.failSettings(true);
    const last = (await stack.admin.get<{ lastChangedAt: string | null }>(`/credentials/${owner.id}`)).body
      .lastChangedAt;
    await expectStatus(stack.admin.post(`/credentials/${owner.id}/change`, {}), 202);
    await credentialWhere(
      stack.admin,
      owner.id,
      (c) => c.lastChangedAt !== last && !c.changePending && c.job.state === 'idle',
      'the change to settle',
    );
    const page = await signIn(browser, stack.coordinator.url, tokens.operator, errors);
    await page.goto(`${stack.coordinator.url}/#/credentials/${owner.id}`);
    await card(page).waitFor();
    await expect.poll(() => row(page, 'app settings').textContent()).toMatch(/Failed/);
    expect(await row(page, 'app settings').textContent()).toContain('expected status 200, got 503');
    expect(await row(page, 'report settings').textContent()).toContain(
      "not run: 'app settings' failed before it",
    );
    // Both were checked before the change (the login works).
    expect(await row(page, 'report settings').locator('.dep-ok').count()).toBe(1);
    expect(await page.getByTestId('dependencies-partial').textContent()).toContain(
      'the password was changed, but 2 of 2 dependencies did not follow it',
    );
    expect(await page.getByRole('button', { name: 'Set stored password' }).count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'dependencies-partial.png'), fullPage: true });

    site.failSettings(false);
    await card(page).getByRole('button', { name: 'Retry failed' }).click();
    await page.getByText('Retry queued with the next verification').waitFor();
    await expect.poll(() => card(page).locator('tbody .dep-ok').count(), { timeout: 30_000 }).toBe(4); // each row: push and check ok
    await expect.poll(() => page.getByTestId('dependencies-partial').count()).toBe(0);
    const password = await revealed(stack.admin, owner.id);
    expect([site.setting('app'), site.setting('report')]).toEqual([password, password]);
    await page.close();
  }, 120_000);

  it('check dependencies (operator) asks the next verification to check them', async () => {
    const page = await signIn(browser, stack.coordinator.url, tokens.operator, errors);
    await page.goto(`${stack.coordinator.url}/#/credentials/${owner.id}`);
    await card(page).getByRole('button', { name: 'Check dependencies' }).click();
    await page.getByText('Check queued with the next verification').waitFor();
    await expect
      .poll(async () => {
        const c = await stack.admin.get<{ dependencies: { requested: string | null; checkedAt: string }[] }>(
          `/credentials/${owner.id}`,
        );
        return c.body.dependencies.every((d) => d.requested === null);
      })
      .toBe(true);
    await page.close();
  }, 60_000);

  it('set stored password (admin): stored without a change, verified, pushed to the dependencies', async () => {
    const page = await signIn(browser, stack.coordinator.url, ADMIN_TOKEN, errors);
    await page.goto(`${stack.coordinator.url}/#/credentials/${owner.id}`);
    await page.getByRole('button', { name: 'Set stored password' }).click();
    const byHand = 'Set-by-hand-42!';
    await dialog(page).getByLabel('Password now on the target').fill(byHand);
    await dialog(page).getByLabel('Push it to every dependency once verified').check();
    await dialog(page).getByRole('button', { name: 'Store password' }).click();
    await page.getByText('Password stored; verification queued').waitFor();
    expect(await revealed(stack.admin, owner.id)).toBe(byHand);
    await expect.poll(() => site.setting('report'), { timeout: 30_000 }).toBe(byHand);
    expect(site.setting('app')).toBe(byHand);
    await page.close();
  }, 60_000);

  it('a viewer sees the dependencies and no button', async () => {
    const page = await signIn(browser, stack.coordinator.url, tokens.viewer, errors);
    await page.goto(`${stack.coordinator.url}/#/credentials/${owner.id}`);
    await row(page, 'report settings').waitFor();
    expect(await card(page).getByRole('button').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Set stored password' }).count()).toBe(0);
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);
});

/**
 * Try login on a web target (issue 15), in real headless Chromium against a real coordinator and a
 * real agent, on the real login site of tests/support/login-site.ts. As admin: the target's login
 * workflow in the JSON editor, a bad field refused naming it, a wrong selector tried (failed, with
 * its reason), the good workflow tried (works); the credential's status unchanged. As viewer: no
 * Try login button.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import { createCredential, expectStatus, waitForValue } from '../support/fixtures.js';
import { loginSiteConnection, startLoginSite, type LoginSite } from '../support/login-site.js';
import { launchChromium, signIn } from './chromium.js';
import { startStack, type Stack } from './stack.js';

let stack: Stack;
let site: LoginSite;
let browser: Browser;
let viewer = '';
let credentialId = '';
const errors: string[] = [];
/** The refused workflow is logged by the browser as a failed request. */
const REFUSED = /status of 400/;

beforeAll(async () => {
  site = await startLoginSite();
  stack = await startStack('browser-login-trial');
  viewer = (
    await expectStatus<{ token: string }>(stack.admin.post('/tokens', { name: 'v', role: 'viewer' }), 201)
  ).token;
  const target = await expectStatus<{ id: string }>(
    stack.admin.post('/targets', {
      siteId: stack.siteId,
      name: 'web-app',
      kind: 'web',
      connection: loginSiteConnection(site.url),
    }),
    201,
  );
  site.addUser('portal-admin', 'Portal-pass-1');
  credentialId = (
    await createCredential(stack.admin, target.id, { username: 'portal-admin', password: 'Portal-pass-1' })
  ).id;
  await waitForValue(async () => (await status()) === 'in_sync', {
    timeoutMs: 30_000,
    message: 'first verification',
  });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await site?.close();
});

const status = async () =>
  (await expectStatus<{ status: string }>(stack.admin.get(`/credentials/${credentialId}`), 200)).status;
const dialog = (page: Page) => page.locator('dialog[open]');

describe('Try login', () => {
  it('admin: a bad field named, a wrong selector fails with its reason, the good workflow works', async () => {
    const page = await signIn(browser, stack.coordinator.url, ADMIN_TOKEN, errors, REFUSED);
    await page.goto(`${stack.coordinator.url}/#/targets`);
    await page.getByRole('button', { name: 'Try login on web-app' }).click();
    const editor = dialog(page).getByLabel('Login workflow (JSON)');
    const good = JSON.parse(await editor.inputValue()) as ReturnType<typeof loginSiteConnection>['login'];
    expect(good.steps.map((s) => s.name)).toEqual(['login-page', 'submit-login']);
    await expect
      .poll(() => dialog(page).getByLabel('Credential').locator('option').allTextContents())
      .toEqual(['portal-admin']);

    const bad = structuredClone(good);
    (bad.steps[1] as { url: string }).url = '';
    await editor.fill(JSON.stringify(bad));
    await dialog(page).getByRole('button', { name: 'Try login' }).click();
    await expect
      .poll(() => dialog(page).getByRole('alert').textContent())
      .toMatch(/^workflow\.steps\.1\.url: /);

    const wrong = structuredClone(good);
    wrong.steps[0]!.extract![0]!.css!.selector = 'input[name=token]';
    await editor.fill(JSON.stringify(wrong, null, 2));
    await dialog(page).getByRole('button', { name: 'Try login' }).click();
    const outcome = dialog(page).getByRole('status');
    await expect
      .poll(() => outcome.textContent(), { timeout: 30_000 })
      .toMatch(/^Login failed: Login page changed \(.*could not extract 'csrf'/);

    await editor.fill(JSON.stringify(good, null, 2));
    await dialog(page).getByRole('button', { name: 'Try login' }).click();
    await expect
      .poll(() => outcome.textContent(), { timeout: 30_000 })
      .toBe('Login works: the workflow signed in with the stored password.');
    await dialog(page).getByRole('button', { name: 'Close' }).click();
    expect(await status()).toBe('in_sync');
    await page.close();
  });

  it('viewer: no Try login', async () => {
    const page = await signIn(browser, stack.coordinator.url, viewer, errors, REFUSED);
    await page.goto(`${stack.coordinator.url}/#/targets`);
    await page.getByRole('cell', { name: 'web-app', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Try login on web-app' }).count()).toBe(0);
    await page.close();
  });

  it('no page error in the browser', () => {
    expect(errors).toEqual([]);
  });
});

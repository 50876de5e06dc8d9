/**
 * Administration in the dashboard (issue 15), in real headless Chromium against a real coordinator
 * and agent: as admin, sites (create, rename, enrollment token shown once with the agent command,
 * delete, and the refusal of a site in use) and sync groups (create, disable, enable, delete); as
 * viewer and operator, the buttons their role cannot use are absent.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import { createCredential, createTarget, expectStatus } from '../support/fixtures.js';
import { api } from '../support/http.js';
import { ARTIFACTS_DIR } from '../support/paths.js';
import { docScreenshot } from './chromium.js';
import { startStack, type Stack } from './stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(ARTIFACTS_DIR, 'screenshots');

let stack: Stack;
let browser: Browser;
const tokens: Record<'viewer' | 'operator', string> = { viewer: '', operator: '' };
const errors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (bash .ci/run installs it)`);
  }
  mkdirSync(SHOTS, { recursive: true });
  stack = await startStack('browser-admin');
  for (const role of ['viewer', 'operator'] as const) {
    tokens[role] = (
      await expectStatus<{ token: string }>(stack.admin.post('/tokens', { name: role, role }), 201)
    ).token;
  }
  const target = await createTarget(stack.admin, stack.siteId, {}, 'fileserver-01');
  for (const u of ['svc_web', 'svc_batch']) await createCredential(stack.admin, target, { username: u });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function signIn(token: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // A refused action (a 400 or 409 the dashboard shows) is reported by the console as a failed request.
    if (m.type() === 'error' && !/status of (400|401|409)/.test(m.text())) errors.push(m.text());
  });
  await page.goto(stack.coordinator.url);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return page;
}

const dialog = (page: Page) => page.locator('dialog[open]');

describe('administration as admin', () => {
  let page: Page;
  beforeAll(async () => {
    page = await signIn(ADMIN_TOKEN);
  });

  it('sites: create, rename, enrollment token with the agent command, delete; a site in use is refused', async () => {
    await page.goto(`${stack.coordinator.url}/#/sites`);
    await page.getByRole('button', { name: 'New site' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('branch-office');
    await dialog(page).getByRole('button', { name: 'Create site' }).click();
    await page.getByRole('heading', { name: 'branch-office' }).waitFor();

    const card = page.locator('section.site', { has: page.getByRole('heading', { name: 'branch-office' }) });
    await card.getByRole('button', { name: 'Rename' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('branch-paris');
    await dialog(page).getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('heading', { name: 'branch-paris' }).waitFor();

    const renamed = page.locator('section.site', {
      has: page.getByRole('heading', { name: 'branch-paris' }),
    });
    await renamed.getByRole('button', { name: 'Enrollment token' }).click();
    await dialog(page).getByRole('button', { name: 'Create token' }).click();
    const once = dialog(page).locator('pre.once');
    await once.waitFor();
    expect(await once.textContent()).toMatch(
      new RegExp(`^sudo sync-agent enroll --url ${stack.coordinator.url} --token pwe_\\S+$`),
    );
    await page.screenshot({ path: join(SHOTS, 'enrollment-token.png') });
    await dialog(page).getByRole('button', { name: 'Done' }).click();

    await renamed.getByRole('button', { name: 'Delete site' }).click();
    await dialog(page).getByRole('button', { name: 'Delete site' }).click();
    await page.getByText('branch-paris deleted').waitFor();
    // The Sites page lists what /overview counts (at most COUNTS_MAX_AGE_MS old): gone at its next refresh.
    await expect
      .poll(() => page.getByRole('heading', { name: 'branch-paris' }).count(), { timeout: 30_000 })
      .toBe(0);

    // The stack's site has an agent and credentials: the API's refusal is shown, and nothing is deleted.
    const busy = page.locator(`#site-${stack.siteId}`);
    await busy.getByRole('button', { name: 'Delete site' }).click();
    await dialog(page).getByRole('button', { name: 'Delete site' }).click();
    await expect.poll(() => dialog(page).getByRole('alert').textContent()).toMatch(/still has .*force=true/);
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect((await stack.admin.get(`/sites/${stack.siteId}`)).status).toBe(200);
  });

  it('sync groups: create, disable (no Change now), enable, history, delete', async () => {
    await page.goto(`${stack.coordinator.url}/#/groups`);
    await page.getByRole('heading', { name: 'Sync groups' }).waitFor();
    await page.getByRole('button', { name: 'New sync group' }).click();
    const form = dialog(page);
    await form.getByLabel('Name', { exact: true }).fill('web-farm');
    await form.getByLabel(/Primary/).selectOption({ label: 'svc_web on fileserver-01' });
    await form.getByLabel('Members').selectOption([{ label: 'svc_batch on fileserver-01' }]);
    await form.getByRole('button', { name: 'Create' }).click();
    const card = page.locator('section.group', { has: page.getByRole('heading', { name: 'web-farm' }) });
    await card.waitFor();
    expect(await card.locator('tbody tr').count()).toBe(2);
    await docScreenshot(page, 'sync-groups');

    await card.getByRole('button', { name: 'Disable' }).click();
    await card.getByText('Disabled', { exact: true }).waitFor();
    expect(await card.getByRole('button', { name: 'Change now' }).count()).toBe(0);
    await card.getByRole('button', { name: 'Enable' }).click();
    await card.getByRole('button', { name: 'Change now' }).waitFor();

    await card.getByText('History').click();
    await card.locator('.history table').waitFor();

    await card.getByRole('button', { name: 'Delete' }).click();
    await dialog(page).getByRole('button', { name: 'Delete group' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'web-farm' }).count()).toBe(0);
    const groups = await expectStatus<{ items: unknown[] }>(stack.admin.get('/sync-groups'), 200);
    expect(groups.items).toEqual([]);
  });

  it('policies: create, edit (the API refusal shown in the form), delete; tokens: create shown once, revoke', async () => {
    await page.goto(`${stack.coordinator.url}/#/policies`);
    await page.getByRole('heading', { name: 'Policies & tokens' }).waitFor();
    await page.getByRole('button', { name: 'New policy' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('quarterly');
    await dialog(page).getByLabel('Password length').fill('20');
    await dialog(page).getByRole('button', { name: 'Create policy' }).click();
    await page.getByRole('cell', { name: 'quarterly', exact: true }).waitFor();

    await page.getByRole('button', { name: 'Edit quarterly' }).click();
    await dialog(page).getByLabel('Password length').fill('4');
    await dialog(page).getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => dialog(page).getByRole('alert').textContent()).toMatch(/length/);
    await dialog(page).getByLabel('Password length').fill('32');
    await dialog(page).getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: '32', exact: true }).waitFor();
    await docScreenshot(page, 'policies-tokens');

    await page.getByRole('button', { name: 'Delete quarterly' }).click();
    await dialog(page).getByRole('button', { name: 'Delete policy' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'quarterly', exact: true }).count()).toBe(0);

    await page.getByRole('button', { name: 'New token' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('auditor');
    await dialog(page).getByLabel('Role').selectOption('viewer');
    await dialog(page).getByRole('button', { name: 'Create token' }).click();
    const once = dialog(page).locator('pre.once');
    await once.waitFor();
    const token = (await once.textContent())!;
    expect(token).toMatch(/^pwo_/);
    await dialog(page).getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Revoke auditor' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Revoke auditor' }).count()).toBe(0);
    expect((await api(`${stack.coordinator.url}/api/v1`, token).get('/summary')).status).toBe(401);
  });
});

describe('buttons absent for roles that cannot use them', () => {
  it('viewer: no administration and no actions', async () => {
    const page = await signIn(tokens.viewer);
    await page.goto(`${stack.coordinator.url}/#/sites`);
    await page.locator(`#site-${stack.siteId}`).waitFor();
    for (const name of ['New site', 'Delete site', 'Rename', 'Resync', 'Disable site', 'Enrollment token'])
      expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    await page.goto(`${stack.coordinator.url}/#/groups`);
    await page.getByRole('heading', { name: 'Sync groups' }).waitFor();
    expect(await page.getByRole('button', { name: 'New sync group' }).count()).toBe(0);
    await page.goto(`${stack.coordinator.url}/#/credentials/${await credentialId('svc_web')}`);
    await page
      .getByRole('heading', { name: /svc_web/ })
      .first()
      .waitFor();
    for (const name of ['Sync now', 'Change now', 'Delete', 'Force Delete', 'Disable sync'])
      expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0);
    await page.goto(`${stack.coordinator.url}/#/policies`);
    await page.getByRole('heading', { name: 'Policies & tokens' }).waitFor();
    for (const name of ['New policy', 'New token'])
      expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    await page.close();
  });

  it('operator: Resync and Change now, but no site or group administration', async () => {
    const group = await expectStatus<{ id: string }>(
      stack.admin.post('/sync-groups', {
        name: 'ops-group',
        primaryCredentialId: await credentialId('svc_web'),
        memberCredentialIds: [await credentialId('svc_batch')],
      }),
      201,
    );
    const page = await signIn(tokens.operator);
    await page.goto(`${stack.coordinator.url}/#/sites`);
    await page.locator(`#site-${stack.siteId}`).getByRole('button', { name: 'Resync' }).waitFor();
    for (const name of ['New site', 'Delete site', 'Disable site', 'Enrollment token'])
      expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    await page.goto(`${stack.coordinator.url}/#/groups`);
    const card = page.locator(`[data-group="${group.id}"]`);
    await card.getByRole('button', { name: 'Change now' }).waitFor();
    for (const name of ['Edit', 'Delete', 'Disable'])
      expect(await card.getByRole('button', { name, exact: true }).count(), name).toBe(0);
    expect(await page.getByRole('button', { name: 'New sync group' }).count()).toBe(0);
    await page.close();
    expect(errors).toEqual([]);
  });
});

async function credentialId(username: string): Promise<string> {
  const list = await expectStatus<{ items: { id: string; username: string }[] }>(
    stack.admin.get(`/credentials?q=${username}`),
    200,
  );
  return list.items.find((c) => c.username === username)!.id;
}

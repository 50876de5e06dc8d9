/**
 * Administration in the dashboard (issue 15), in real headless Chromium against a real coordinator
 * and agent: as admin, sites (create, rename, enrollment token shown once with the agent command,
 * delete, and the refusal of a site in use; disable, its credentials then Agent Disabled, and enable;
 * the site's enrollment tokens listed and one revoked, which then enrolls no agent) and sync groups
 * (create, disable, enable, delete; members and policy edited; Change now with its progress until
 * it ends, then in the group's history); as viewer and operator, the buttons their role cannot use
 * are absent.
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
  // A slow target: a group change on it lasts long enough to watch its progress.
  const slow = await createTarget(stack.admin, stack.siteId, { latencyMs: 1500 }, 'slow-box');
  for (const u of ['grp_a', 'grp_b', 'grp_c']) await createCredential(stack.admin, slow, { username: u });
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

  it('sites: disable (the confirmation says what happens; credentials show Agent Disabled), enable again', async () => {
    const web = await credentialId('svc_web');
    await page.goto(`${stack.coordinator.url}/#/sites`);
    const card = page.locator(`#site-${stack.siteId}`);
    await card.getByRole('button', { name: 'Disable site' }).click();
    expect(await dialog(page).textContent()).toContain(
      'Its agents get no work and its credentials show Agent Disabled until the site is enabled again.',
    );
    await dialog(page).getByRole('button', { name: 'Disable site' }).click();
    await card.getByText('Disabled', { exact: true }).waitFor();
    await card.getByRole('button', { name: 'Enable site' }).waitFor();
    expect(
      (await expectStatus<{ enabled: boolean }>(stack.admin.get(`/sites/${stack.siteId}`), 200)).enabled,
    ).toBe(false);
    await page.goto(`${stack.coordinator.url}/#/credentials/${web}`);
    await expect
      .poll(() => page.getByTestId('detail-status').textContent(), { timeout: 10_000 })
      .toContain('Agent Disabled');

    await page.goto(`${stack.coordinator.url}/#/sites`);
    await card.getByRole('button', { name: 'Enable site' }).click();
    await card.getByRole('button', { name: 'Disable site' }).waitFor();
    await page.goto(`${stack.coordinator.url}/#/credentials/${web}`);
    await expect
      .poll(() => page.getByTestId('detail-status').textContent(), { timeout: 20_000 })
      .toContain('In Sync');
  });

  it('sites: enrollment tokens listed, one revoked; the revoked token enrolls no agent', async () => {
    const created = await expectStatus<{ id: string; token: string }>(
      stack.admin.post(`/sites/${stack.siteId}/enrollment-tokens`, { uses: 2 }),
      201,
    );
    await page.goto(`${stack.coordinator.url}/#/sites`);
    await page.locator(`#site-${stack.siteId}`).getByRole('button', { name: 'Enrollment token' }).click();
    const tokens = dialog(page).getByRole('table', { name: /^Enrollment tokens of / });
    // The stack's agent used one; the one made above waits, with its two uses.
    await expect.poll(() => tokens.locator('tbody tr').count()).toBe(2);
    const active = tokens.locator('tbody tr', { hasText: 'active' });
    expect(await active.count()).toBe(1);
    expect(await active.textContent()).toContain('bootstrap-admin');
    expect(await tokens.textContent()).not.toContain(created.token);
    await active.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => tokens.locator('tbody tr', { hasText: 'revoked' }).count()).toBe(1);
    expect(await tokens.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();

    const listed = await expectStatus<{ items: { id: string; state: string }[] }>(
      stack.admin.get(`/sites/${stack.siteId}/enrollment-tokens`),
      200,
    );
    expect(listed.items.find((t) => t.id === created.id)?.state).toBe('revoked');
    const enroll = await api(stack.coordinator.url).post('/agent/v1/enroll', {
      enrollmentToken: created.token,
      name: 'late-agent',
      host: 'h',
      version: '1',
      adapters: [],
      concurrency: 1,
    });
    expect(enroll.status).toBe(401);
    expect(enroll.body).toMatchObject({ error: { code: 'ENROLLMENT_INVALID' } });
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

  it('sync groups: edit members (one added, one removed) and policy; Change now shows its progress, then the history has it', async () => {
    const [a, b, c] = [await credentialId('grp_a'), await credentialId('grp_b'), await credentialId('grp_c')];
    const policy = await expectStatus<{ id: string }>(
      stack.admin.post('/policies', { name: 'group-18', rules: { length: 18 } }),
      201,
    );
    const group = await expectStatus<{ id: string }>(
      stack.admin.post('/sync-groups', {
        name: 'slow-farm',
        primaryCredentialId: a,
        memberCredentialIds: [b],
      }),
      201,
    );
    await page.goto(`${stack.coordinator.url}/#/groups`);
    const card = page.locator(`[data-group="${group.id}"]`);
    await card.getByRole('button', { name: 'Edit' }).click();
    await dialog(page).getByLabel('Policy').selectOption({ label: 'group-18 (18 characters)' });
    await dialog(page)
      .getByLabel('Members')
      .selectOption([{ label: 'grp_a on slow-box' }, { label: 'grp_c on slow-box' }]);
    await dialog(page).getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => card.locator('tbody').textContent()).toContain('grp_c on slow-box');
    expect(await card.locator('tbody').textContent()).not.toContain('grp_b');
    const saved = await expectStatus<{ policyId: string; members: { credentialId: string }[] }>(
      stack.admin.get(`/sync-groups/${group.id}`),
      200,
    );
    expect(saved.policyId).toBe(policy.id);
    expect(saved.members.map((m) => m.credentialId).sort()).toEqual([a, c].sort());

    // The members wait for their first verification before a change is worth watching.
    await expect
      .poll(
        async () =>
          (
            await expectStatus<{ members: { status: string }[] }>(
              stack.admin.get(`/sync-groups/${group.id}`),
              200,
            )
          ).members.every((m) => m.status === 'in_sync'),
        { timeout: 30_000 },
      )
      .toBe(true);
    const before = await expectStatus<{ password: string }>(
      stack.admin.get(`/credentials/${c}/password`),
      200,
    );
    await card.getByRole('button', { name: 'Change now' }).click();
    await card.getByText('Change in progress').waitFor({ timeout: 10_000 });
    const progress = card.getByTestId('group-progress');
    await expect
      .poll(() => progress.textContent(), { timeout: 10_000 })
      .toMatch(/^ ?[01] of 2 members done$/);
    await page.screenshot({ path: join(SHOTS, 'sync-group-change.png'), fullPage: true });
    await expect.poll(() => card.getByText('Change in progress').count(), { timeout: 30_000 }).toBe(0);
    expect(await progress.count()).toBe(0);
    await expect
      .poll(() => card.locator('p.muted', { hasText: 'Last run' }).textContent())
      .toContain('Success');
    const after = await expectStatus<{ password: string }>(
      stack.admin.get(`/credentials/${c}/password`),
      200,
    );
    expect(after.password).not.toBe(before.password);
    expect(after.password).toHaveLength(18);

    await card.getByText('History').click();
    const runs = card.getByRole('table', { name: 'Runs of the group' });
    await expect.poll(() => runs.locator('tbody tr').first().textContent()).toMatch(/Change.*Success/);
    const history = await expectStatus<{ items: { kind: string; outcome: string }[] }>(
      stack.admin.get(`/sync-groups/${group.id}/runs`),
      200,
    );
    expect(history.items[0]).toMatchObject({ kind: 'change', outcome: 'success' });
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
    for (const name of [
      'New site',
      'Delete site',
      'Rename',
      'Resync',
      'Disable site',
      'Enable site',
      'Enrollment token',
    ])
      expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    await page.goto(`${stack.coordinator.url}/#/groups`);
    await page.getByRole('heading', { name: 'Sync groups' }).waitFor();
    expect(await page.getByRole('button', { name: 'New sync group' }).count()).toBe(0);
    await page.locator('section.group').first().waitFor();
    for (const name of ['Change now', 'Edit', 'Disable', 'Enable', 'Delete'])
      expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0);
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
    for (const name of ['New site', 'Delete site', 'Disable site', 'Enable site', 'Enrollment token'])
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

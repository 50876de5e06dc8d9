/**
 * Credentials and targets administration in the dashboard (issue 15), in real headless Chromium
 * against a real coordinator and agent. As admin: targets created and edited with their kind's form
 * (the API's message shown next to the field; the privileged account picked from the site's
 * accounts of the same kind), tested (a verification run) and deleted (refused in
 * use); a credential created; a CSV imported with progress and a result per row; the list's total,
 * problems first, and bulk actions on ticked rows and on the filter; agents waiting for approval
 * approved and denied, then renamed, disabled and revoked; a sync group policy longer than a member
 * takes refused, naming the member; on a credential's page, Sync now with sync off refused with the
 * API's reason, and Delete warning of a change in flight only while it is. As viewer and operator: the
 * buttons their role cannot use are absent, and what the API refuses them is shown.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
} from '../support/fixtures.js';
import { REPO_ROOT } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { docScreenshot, launchChromium, SHOTS, signIn } from './chromium.js';
import { startStack, type Stack } from './stack.js';

let stack: Stack;
let browser: Browser;
const tokens: Record<'viewer' | 'operator', string> = { viewer: '', operator: '' };
const errors: string[] = [];
/** A refusal the dashboard shows is logged by the browser as a failed request. */
const REFUSED = /status of (400|403|409)/;

beforeAll(async () => {
  stack = await startStack('browser-admin-creds');
  for (const role of ['viewer', 'operator'] as const) {
    tokens[role] = (
      await expectStatus<{ token: string }>(stack.admin.post('/tokens', { name: role, role }), 201)
    ).token;
  }
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const dialog = (page: Page) => page.locator('dialog[open]');
const url = (hash: string) => `${stack.coordinator.url}/${hash}`;

interface TargetView {
  id: string;
  name: string;
  connection: Record<string, unknown>;
}

async function targetNamed(name: string): Promise<TargetView | undefined> {
  const list = await expectStatus<{ items: TargetView[] }>(stack.admin.get(`/targets?q=${name}`), 200);
  return list.items.find((t) => t.name === name);
}

async function credentialsOn(targetId: string) {
  return (
    await expectStatus<{ items: { id: string; username: string; syncEnabled: boolean; status: string }[] }>(
      stack.admin.get(`/credentials?targetId=${targetId}&limit=500`),
      200,
    )
  ).items;
}

describe('as admin', () => {
  let page: Page;
  let target: TargetView;
  beforeAll(async () => {
    page = await signIn(browser, stack.coordinator.url, ADMIN_TOKEN, errors, REFUSED);
  });

  it('targets: create by kind (the API message next to the field), edit, delete', async () => {
    await page.goto(url('#/targets'));
    await page.getByRole('heading', { name: 'Targets' }).waitFor();

    // A workstation with a port out of range: the API's message is shown next to the port.
    await page.getByRole('button', { name: 'New target' }).click();
    await dialog(page).getByLabel('Kind').selectOption('workstation');
    await dialog(page).getByRole('button', { name: 'Next' }).click();
    await dialog(page)
      .getByRole('heading', { name: /New SSH workstation target/ })
      .waitFor();
    await dialog(page).getByLabel('Name', { exact: true }).fill('ssh-box');
    await dialog(page).getByLabel('host', { exact: true }).fill('10.0.0.7');
    await dialog(page).getByLabel('port (optional)').fill('70000');
    await dialog(page).getByRole('button', { name: 'Create target' }).click();
    const portError = dialog(page).locator('[data-field="c.port"] .field-error');
    await expect.poll(() => portError.textContent()).toMatch(/65535/);
    expect(await dialog(page).getByLabel('port (optional)').getAttribute('aria-invalid')).toBe('true');
    await docScreenshot(page, 'targets-form');
    await dialog(page).getByLabel('port (optional)').fill('2222');
    await dialog(page).getByRole('button', { name: 'Create target' }).click();
    await page.getByRole('cell', { name: 'ssh-box', exact: true }).waitFor();
    expect((await targetNamed('ssh-box'))?.connection).toMatchObject({ host: '10.0.0.7', port: 2222 });

    // The privileged account is picked among the site's accounts of the same kind, not typed as an id.
    const root = await createCredential(stack.admin, (await targetNamed('ssh-box'))!.id, {
      username: 'root',
      syncEnabled: false,
    });
    await page.getByRole('button', { name: 'Edit ssh-box' }).click();
    await dialog(page).getByLabel('changeVia (optional)').selectOption('privileged');
    const privileged = dialog(page).getByLabel('Privileged account (optional)');
    expect(await privileged.locator('option').allTextContents()).toEqual(['(none)', 'root on ssh-box']);
    await privileged.selectOption({ label: 'root on ssh-box' });
    await dialog(page).getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(async () => (await targetNamed('ssh-box'))?.connection)
      .toMatchObject({ changeVia: 'privileged', privilegedCredentialId: root.id });
    await expectStatus(stack.admin.delete(`/credentials/${root.id}`), 200, 'DELETE root');

    // A simulated target for the credentials below.
    await page.getByRole('button', { name: 'New target' }).click();
    await dialog(page).getByLabel('Kind').selectOption('simulated');
    await dialog(page).getByRole('button', { name: 'Next' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('app-server');
    await dialog(page).getByRole('button', { name: 'Create target' }).click();
    await page.getByRole('cell', { name: 'app-server', exact: true }).waitFor();
    target = (await targetNamed('app-server'))!;

    await page.getByRole('button', { name: 'Edit app-server' }).click();
    await dialog(page).getByLabel('latencyMs (optional)').fill('5');
    await dialog(page).getByRole('button', { name: 'Save' }).click();
    await expect.poll(async () => (await targetNamed('app-server'))?.connection.latencyMs).toBe(5);
    await page.screenshot({ path: join(SHOTS, 'targets.png'), fullPage: true });

    await page.getByRole('button', { name: 'Delete ssh-box' }).click();
    await dialog(page).getByRole('button', { name: 'Delete target' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'ssh-box', exact: true }).count()).toBe(0);
    expect(await targetNamed('ssh-box')).toBeUndefined();
  });

  it('credentials: create one, then import a CSV with a result per row', async () => {
    await page.goto(url('#/credentials'));
    await page.getByRole('button', { name: 'New credential' }).click();
    await dialog(page).getByLabel('Target').selectOption({ label: `app-server (browser-admin-creds-site)` });
    await dialog(page).getByLabel('Username').fill('svc_new');
    await dialog(page).getByLabel('Password').fill('Initial-Pw-1!');
    await dialog(page).getByRole('button', { name: 'Create credential' }).click();
    await page.waitForURL(/#\/credentials\/[0-9a-f-]{36}$/);
    await page
      .getByRole('heading', { name: /svc_new/ })
      .first()
      .waitFor();

    await page.goto(url('#/credentials'));
    await page.getByRole('button', { name: 'Import CSV' }).click();
    const csv = [
      'target,username,password',
      'app-server,svc_a,Pw-aaaaaaaa-1',
      'app-server,svc_b,Pw-bbbbbbbb-2',
      'app-server,"svc_c, quoted",Pw-cccccccc-3',
      'no-such-target,svc_d,Pw-dddddddd-4',
      'app-server,svc_new,Another-Pw-5',
      'app-server,svc_e,',
    ].join('\n');
    await dialog(page)
      .getByLabel('CSV file')
      .setInputFiles({ name: 'creds.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await dialog(page).getByRole('button', { name: 'Import' }).click();
    const status = dialog(page).getByTestId('import-status');
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(/^Done: 3 created/);
    expect(await dialog(page).locator('progress').getAttribute('value')).toBe('4');
    const rows = dialog(page).getByTestId('import-results').locator('tbody tr');
    const byLine = async (line: number) =>
      (await rows
        .filter({ has: page.getByRole('cell', { name: String(line), exact: true }) })
        .textContent()) ?? '';
    expect(await byLine(5)).toMatch(/Not sent.*no target named 'no-such-target'/);
    expect(await byLine(6)).toMatch(/Exists/);
    expect(await byLine(7)).toMatch(/password is empty/);
    expect(await byLine(4)).toMatch(/svc_c, quoted.*Created/);
    await page.screenshot({ path: join(SHOTS, 'import-csv.png'), fullPage: true });
    await dialog(page).getByRole('button', { name: 'Close' }).click();
    const names = (await credentialsOn(target.id)).map((c) => c.username).sort();
    expect(names).toEqual(['svc_a', 'svc_b', 'svc_c, quoted', 'svc_new']);
  });

  it('the list: total count, problems first, bulk actions on ticked rows and on the filter', async () => {
    const creds = await credentialsOn(target.id);
    const id = (u: string) => creds.find((c) => c.username === u)!.id;
    await page.goto(url(`#/credentials?targetId=${target.id}`));
    await expect.poll(() => page.getByTestId('list-count').textContent()).toContain('of 4');

    // Tick two rows: Disable sync.
    await page.getByRole('checkbox', { name: 'Select svc_a on app-server' }).check();
    await page.getByRole('checkbox', { name: 'Select svc_b on app-server' }).check();
    await expect.poll(() => page.locator('#bulk-scope option').first().textContent()).toBe('The 2 ticked');
    await page
      .getByRole('group', { name: 'Bulk actions' })
      .getByRole('button', { name: 'Disable sync' })
      .click();
    await dialog(page).getByRole('button', { name: 'Disable sync' }).click();
    await dialog(page).getByRole('heading', { name: 'Disable sync: 2 done, 0 refused' }).waitFor();
    await dialog(page).getByRole('button', { name: 'OK' }).click();
    const after = await credentialsOn(target.id);
    expect(
      after
        .filter((c) => !c.syncEnabled)
        .map((c) => c.username)
        .sort(),
    ).toEqual(['svc_a', 'svc_b']);

    // Problems first (the default order): the two Not Synced before the others.
    const statusCells = page.getByTestId('credential-table').locator('[data-testid=status]');
    await expect
      .poll(async () => (await statusCells.allTextContents()).map((s) => s.split(' ·')[0]))
      .toEqual(['Not Synced', 'Not Synced', expect.any(String), expect.any(String)]);
    expect(await page.getByLabel('Sort by').inputValue()).toBe('');
    expect(await page.getByLabel('Sort by').locator('option:checked').textContent()).toBe('Problems first');

    // Sync now on everything the filter matches: the two with sync off are refused, saying why.
    await page.locator('#bulk-scope').selectOption('filter');
    await page.getByRole('group', { name: 'Bulk actions' }).getByRole('button', { name: 'Sync now' }).click();
    await dialog(page).getByRole('heading', { name: 'Sync now: 4 credentials?' }).waitFor();
    await dialog(page).getByRole('button', { name: 'Sync now' }).click();
    await dialog(page).getByRole('heading', { name: 'Sync now: 2 done, 2 refused' }).waitFor();
    expect(await dialog(page).locator('tbody').textContent()).toMatch(
      /svc_a on app-server.*sync is disabled/,
    );
    await page.screenshot({ path: join(SHOTS, 'credentials-bulk.png'), fullPage: true });
    // UPDATE_DOCS_SCREENSHOTS=1: docs/dashboard.md shows it.
    if (process.env.UPDATE_DOCS_SCREENSHOTS === '1')
      copyFileSync(
        join(SHOTS, 'credentials-bulk.png'),
        join(REPO_ROOT, 'docs', 'screenshots', 'credentials-bulk.png'),
      );
    await dialog(page).getByRole('button', { name: 'OK' }).click();

    // Delete a ticked one.
    await page.getByRole('checkbox', { name: 'Select svc_b on app-server' }).check();
    await page.locator('#bulk-scope').selectOption('selected');
    await page.getByRole('group', { name: 'Bulk actions' }).getByRole('button', { name: 'Delete' }).click();
    await dialog(page).getByRole('button', { name: 'Delete' }).click();
    await dialog(page).getByRole('heading', { name: 'Delete: 1 done, 0 refused' }).waitFor();
    await dialog(page).getByRole('button', { name: 'OK' }).click();
    expect((await stack.admin.get(`/credentials/${id('svc_b')}`)).status).toBe(404);
    await expect.poll(() => page.getByTestId('list-count').textContent()).toContain('of 3');
  });

  it('targets: Test connection starts a verification run; a target in use is refused, force offered', async () => {
    await page.goto(url('#/targets'));
    await page.getByRole('button', { name: 'Test connection of app-server' }).click();
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    await page
      .getByText(/target app-server|app-server/)
      .first()
      .waitFor();

    await page.goto(url('#/targets'));
    await page.getByRole('button', { name: 'Delete app-server' }).click();
    await dialog(page).getByRole('button', { name: 'Delete target' }).click();
    await expect.poll(() => dialog(page).getByRole('alert').textContent()).toMatch(/force=true/);
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect(await targetNamed('app-server')).toBeDefined();
  });
});

describe('as admin: agents and policies', () => {
  let page: Page;
  beforeAll(async () => {
    page = await signIn(browser, stack.coordinator.url, ADMIN_TOKEN, errors, REFUSED);
  });

  it('agents waiting for approval: approve, deny; then rename, disable, revoke', async () => {
    const site = await expectStatus<{ id: string }>(
      stack.admin.post('/sites', { name: 'approvals', requireApproval: true }),
      201,
    );
    const first = await FakeAgent.enroll(stack.coordinator.url, stack.admin, site.id, 'waiting-1');
    const second = await FakeAgent.enroll(stack.coordinator.url, stack.admin, site.id, 'waiting-2');
    const agent = async (id: string) =>
      (
        await expectStatus<{ items: { id: string; name: string; approved: boolean; enabled: boolean }[] }>(
          stack.admin.get(`/agents?siteId=${site.id}`),
          200,
        )
      ).items.find((a) => a.id === id);
    await page.goto(url(`#/sites?site=${site.id}`));
    const card = page.locator(`#site-${site.id}`);
    await card.getByRole('button', { name: 'Approve waiting-1' }).click();
    await expect.poll(async () => (await agent(first.agentId))?.approved).toBe(true);
    await card.getByRole('button', { name: 'Rename waiting-1' }).waitFor();
    await docScreenshot(page, 'sites-agents');

    await card.getByRole('button', { name: 'Deny waiting-2' }).click();
    await dialog(page).getByRole('button', { name: 'Deny agent' }).click();
    await expect.poll(() => card.getByRole('button', { name: 'Approve waiting-2' }).count()).toBe(0);
    expect((await second.claimRaw(1)).status).toBe(401);

    await card.getByRole('button', { name: 'Rename waiting-1' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('edge-1');
    await dialog(page).getByRole('button', { name: 'Rename' }).click();
    await expect.poll(async () => (await agent(first.agentId))?.name).toBe('edge-1');
    await card.getByRole('button', { name: 'Disable edge-1' }).click();
    await expect.poll(async () => (await agent(first.agentId))?.enabled).toBe(false);
    await card.getByRole('button', { name: 'Revoke edge-1' }).click();
    await dialog(page).getByRole('button', { name: 'Revoke agent' }).click();
    await expect.poll(async () => (await first.claimRaw(1)).status).toBe(401);
  });

  it('a sync group policy longer than a member takes is refused, naming the member', async () => {
    const site = (await createSite(stack.admin, 'short-site')).id;
    const short = await createTarget(stack.admin, site, { maxPasswordLength: 8 }, 'short-box');
    for (const username of ['m1', 'm2']) await createCredential(stack.admin, short, { username });
    await expectStatus(stack.admin.post('/policies', { name: 'long-20', rules: { length: 20 } }), 201);
    await page.goto(url('#/groups'));
    await page.getByRole('button', { name: 'New sync group' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('too-long');
    await dialog(page).getByLabel('Policy').selectOption({ label: 'long-20 (20 characters)' });
    await dialog(page)
      .getByLabel(/Primary/)
      .selectOption({ label: 'm1 on short-box' });
    await dialog(page)
      .getByLabel('Members')
      .selectOption([{ label: 'm2 on short-box' }]);
    await dialog(page).getByRole('button', { name: 'Create' }).click();
    await expect
      .poll(() => dialog(page).getByRole('alert').first().textContent({ timeout: 10_000 }))
      .toMatch(/long-20.*20 characters/);
    const refusal = await dialog(page).getByRole('alert').first().textContent();
    // Each member too short is named, with what its target takes.
    for (const m of ['m1', 'm2']) expect(refusal).toContain(`${m} on short-box (8)`);
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    const groups = await expectStatus<{ items: { name: string }[] }>(stack.admin.get('/sync-groups'), 200);
    expect(groups.items.map((g) => g.name)).not.toContain('too-long');
  });
});

/** A credential with sync off, and one on a slow target (a change on it stays in flight a few seconds). */
const onPage: { off: string; slow: string } = { off: '', slow: '' };
const SYNC_OFF = 'sync is disabled for this credential: enable it to verify it';

describe("as admin: a credential's page", () => {
  let page: Page;
  beforeAll(async () => {
    const slow = await createTarget(stack.admin, stack.siteId, { latencyMs: 2000 }, 'slow-app');
    onPage.off = (await createCredential(stack.admin, slow, { username: 'svc_off', syncEnabled: false })).id;
    onPage.slow = (await createCredential(stack.admin, slow, { username: 'svc_slow' })).id;
    await waitFor(async () => (await getCredential(stack.admin, onPage.slow)).status === 'in_sync', {
      timeoutMs: 30_000,
      message: 'svc_slow to be in sync',
    });
    page = await signIn(browser, stack.coordinator.url, ADMIN_TOKEN, errors, REFUSED);
  }, 60_000);

  it('Sync now with sync disabled: the API refuses (409, saying why) and the page shows its message', async () => {
    const refused = await stack.admin.post(`/credentials/${onPage.off}/verify`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: { code: 'CONFLICT', message: SYNC_OFF } });

    await page.goto(url(`#/credentials/${onPage.off}`));
    const status = page.getByTestId('detail-status');
    await expect.poll(() => status.textContent()).toContain('Not Synced');
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: `Sync now failed: ${SYNC_OFF}` })
      .waitFor();
    expect(await page.getByText('Verification queued').count()).toBe(0);
    const after = await getCredential(stack.admin, onPage.off);
    expect(after).toMatchObject({ status: 'not_synced', syncEnabled: false });
    const verified = await expectStatus<{ items: unknown[] }>(
      stack.admin.get(`/audit?objectId=${onPage.off}&action=credential.verify`),
      200,
    );
    expect(verified.items).toEqual([]);
  });

  it('Delete warns of a change in flight only while it is: not once the change finished', async () => {
    await page.goto(url(`#/credentials/${onPage.slow}`));
    await page.getByRole('button', { name: 'Change now' }).click();
    await dialog(page).getByRole('button', { name: 'Change password' }).click();
    await waitFor(async () => (await getCredential(stack.admin, onPage.slow)).changePending, {
      timeoutMs: 10_000,
      message: 'the change to be in flight',
    });
    const inFlight = 'A password change is in flight: a plain delete is refused; use Force Delete.';
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    expect(await dialog(page).textContent()).toContain(inFlight);
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();

    await waitFor(
      async () => {
        const c = await getCredential(stack.admin, onPage.slow);
        return !c.changePending && c.lastChangedAt !== null;
      },
      { timeoutMs: 30_000, message: 'the change to finish' },
    );
    // Opened at once, before the page's next refresh: the dialog reads the credential again.
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog(page).getByText('This cannot be undone.').waitFor();
    expect(await dialog(page).textContent()).not.toContain('in flight');
    await dialog(page).getByRole('button', { name: 'Delete', exact: true }).click();
    await page.waitForURL(/#\/credentials$/);
    expect((await stack.admin.get(`/credentials/${onPage.slow}`)).status).toBe(404);
  });
});

describe('buttons absent or refused for roles that cannot use them', () => {
  it('viewer: no create, import, bulk actions, tick boxes or target administration', async () => {
    const page = await signIn(browser, stack.coordinator.url, tokens.viewer, errors, REFUSED);
    await page.goto(url('#/credentials'));
    await page.getByTestId('credential-table').waitFor();
    for (const name of ['New credential', 'Import CSV', 'Sync now', 'Delete'])
      expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0);
    expect(await page.getByRole('group', { name: 'Bulk actions' }).count()).toBe(0);
    expect(await page.getByRole('checkbox').count()).toBe(0);
    await page.goto(url('#/targets'));
    await page.getByRole('cell', { name: 'app-server', exact: true }).waitFor();
    for (const name of [
      'New target',
      'Edit app-server',
      'Delete app-server',
      'Test connection of app-server',
    ])
      expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    await page.goto(url(`#/credentials/${onPage.off}`));
    await page.getByTestId('detail-status').waitFor();
    expect(await page.getByRole('group', { name: 'Actions' }).getByRole('button').count()).toBe(0);
    await page.close();
  });

  it('operator: create, import and bulk actions shown; changing where a target sends passwords is refused in the form', async () => {
    const page = await signIn(browser, stack.coordinator.url, tokens.operator, errors, REFUSED);
    await page.goto(url('#/credentials'));
    for (const name of ['New credential', 'Import CSV'])
      await page.getByRole('button', { name, exact: true }).waitFor();
    await page.getByRole('group', { name: 'Bulk actions' }).waitFor();
    await expectStatus(
      stack.admin.post('/targets', {
        siteId: stack.siteId,
        name: 'ops-box',
        kind: 'workstation',
        connection: { host: '10.0.0.8' },
      }),
      201,
    );
    await page.goto(url('#/targets'));
    await page.getByRole('button', { name: 'Edit ops-box' }).click();
    await dialog(page).getByLabel('host', { exact: true }).fill('elsewhere.example');
    await dialog(page).getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => dialog(page).getByRole('alert').first().textContent({ timeout: 10_000 }))
      .toMatch(/needs the admin role/);
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect((await targetNamed('ops-box'))?.connection.host).toBe('10.0.0.8');

    // Sync now (operator) on a credential with sync off: the API's reason, not a silent success.
    await page.goto(url(`#/credentials/${onPage.off}`));
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: `Sync now failed: ${SYNC_OFF}` })
      .waitFor();
    await page.close();
    expect(errors).toEqual([]);
  });
});

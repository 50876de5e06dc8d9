/**
 * Exports, the compliance report and names instead of ids (issue 15), in real headless Chromium
 * against a real coordinator and agent: a viewer exports the credential list (its filter), the sync
 * history and the audit log as files; the audit log, the runs and a credential show names and
 * words, the ids on hover; the site's compliance report lists who revealed a password and prints
 * without the dashboard's chrome.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from '../support/fixtures.js';
import { api } from '../support/http.js';
import { REPO_ROOT } from '../support/paths.js';
import { launchChromium, SHOTS, signIn as openSignedIn } from './chromium.js';
import { startStack, type Stack } from './stack.js';

let stack: Stack;
let browser: Browser;
let viewerToken: string;
let targetId: string;
let groupId: string;
const ids: Record<string, string> = {};
const errors: string[] = [];

beforeAll(async () => {
  stack = await startStack('browser-exports');
  browser = await launchChromium();
  viewerToken = (
    await expectStatus<{ token: string }>(
      stack.admin.post('/tokens', { name: 'auditor', role: 'viewer' }),
      201,
    )
  ).token;
  const adminToken = (
    await expectStatus<{ token: string }>(
      stack.admin.post('/tokens', { name: 'dana-admin', role: 'admin' }),
      201,
    )
  ).token;
  targetId = (
    await expectStatus<{ id: string }>(
      stack.admin.post('/targets', {
        siteId: stack.siteId,
        name: 'files-01',
        kind: 'simulated',
        connection: {},
      }),
      201,
    )
  ).id;
  for (const username of ['alice', 'bob']) {
    ids[username] = (
      await expectStatus<{ id: string }>(
        stack.admin.post('/credentials', { targetId, username, password: `pw-${username}-1234` }),
        201,
      )
    ).id;
  }
  groupId = (
    await expectStatus<{ id: string }>(
      stack.admin.post('/sync-groups', {
        name: 'web-admins',
        primaryCredentialId: ids.alice,
        memberCredentialIds: [ids.bob],
      }),
      201,
    )
  ).id;
  // A named admin reveals bob's password: the audit log and the report name them.
  await expectStatus(
    api(`${stack.coordinator.url}/api/v1`, adminToken).get(`/credentials/${ids.bob}/password`),
    200,
  );
  await expectStatus(
    stack.admin.post('/sync-runs', { kind: 'verify', scope: { siteId: stack.siteId } }),
    201,
  );
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const signIn = (token: string): Promise<Page> => openSignedIn(browser, stack.coordinator.url, token, errors);

/** With UPDATE_DOCS_SCREENSHOTS=1, keeps a screenshot in docs/screenshots (docs/dashboard.md shows it). */
const toDocs = (name: string) => {
  if (process.env.UPDATE_DOCS_SCREENSHOTS === '1')
    copyFileSync(join(SHOTS, name), join(REPO_ROOT, 'docs', 'screenshots', name));
};

/** Clicks `button` and reads the file it downloads. */
async function downloaded(page: Page, button: string): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: button }).first().click(),
  ]);
  return { name: download.suggestedFilename(), text: readFileSync((await download.path())!, 'utf8') };
}

describe('exports', () => {
  it('viewer: Export CSV of the filtered credential list, Export JSON of the sync history and the audit log', async () => {
    const page = await signIn(viewerToken);
    await page.goto(`${stack.coordinator.url}/#/credentials?q=alice`);
    await page.getByRole('link', { name: 'alice' }).waitFor();
    const csv = await downloaded(page, 'Export CSV');
    expect(csv.name).toBe('credentials.csv');
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^id,username,target_id,target_name/);
    expect(lines).toHaveLength(2); // the filter: alice only
    expect(lines[1]).toContain('web-admins');
    expect(csv.text).not.toContain('pw-alice');

    await page.goto(`${stack.coordinator.url}/#/runs`);
    await page.getByRole('table', { name: 'Sync runs' }).waitFor();
    const runs = await downloaded(page, 'Export JSON');
    expect(runs.name).toBe('sync-runs.json');
    expect((JSON.parse(runs.text) as { scopeName: string }[])[0]!.scopeName).toBe(
      'site browser-exports-site',
    );

    await page.goto(`${stack.coordinator.url}/#/audit?action=credential.reveal`);
    await page.getByRole('table', { name: 'Audit events' }).waitFor();
    const audit = await downloaded(page, 'Export CSV');
    expect(audit.text).toContain('dana-admin');
    expect(audit.text).toContain('bob on files-01');
    await page.close();
    expect(errors).toEqual([]);
  });
});

describe('names, not ids', () => {
  it('the audit log, the runs and a credential show names and words, the ids on hover', async () => {
    const page = await signIn(viewerToken);
    await page.goto(`${stack.coordinator.url}/#/audit?objectId=${ids.bob}`);
    const row = page
      .getByRole('table', { name: 'Audit events' })
      .locator('tbody tr', { hasText: 'Revealed password' });
    await row.waitFor();
    const text = (await row.textContent()) ?? '';
    expect(text).toContain('Operator dana-admin');
    expect(text).toContain('Credential bob on files-01');
    expect(text).not.toContain('{'); // no raw JSON
    expect(await row.getByText('bob on files-01').getAttribute('title')).toBe(`id ${ids.bob}`);
    // Ids in the details are named too: the agent's handout names its site.
    const events = page.getByRole('table', { name: 'Audit events' });
    await expect
      .poll(() => events.textContent(), { timeout: 20_000 })
      .toContain('site: browser-exports-site');
    await page.screenshot({ path: join(SHOTS, 'audit-names.png'), fullPage: true });
    toDocs('audit-names.png');

    await page.goto(`${stack.coordinator.url}/#/runs`);
    const run = page.getByRole('table', { name: 'Sync runs' }).locator('tbody tr').first();
    await expect.poll(() => run.textContent()).toContain('site browser-exports-site');
    expect(await run.textContent()).toContain('Manual');
    await run.getByRole('link').click();
    const items = page.getByRole('table', { name: 'Items of this run' });
    // The agent verifies both: each item in words.
    await expect.poll(() => items.textContent(), { timeout: 20_000 }).toContain('Synced');
    expect(await page.locator('dl.sync-summary').textContent()).toContain('bootstrap-admin');

    await page.goto(`${stack.coordinator.url}/#/credentials/${ids.alice}`);
    const group = page.getByRole('link', { name: 'web-admins' });
    await group.waitFor();
    expect(await group.getAttribute('title')).toBe(`id ${groupId}`);
    expect(await page.getByRole('button', { name: 'Copy id of web-admins' }).count()).toBe(1);
    await page.close();
    expect(errors).toEqual([]);
  }, 40_000);
});

describe('compliance report', () => {
  it('from the site: every credential, who revealed it; prints without the dashboard chrome; CSV', async () => {
    const page = await signIn(viewerToken);
    await page.goto(`${stack.coordinator.url}/#/sites`);
    await page.getByRole('link', { name: 'Compliance report' }).first().click();
    await page.getByRole('heading', { name: 'Compliance report: browser-exports-site' }).waitFor();
    const table = page.getByRole('table', { name: 'Compliance report of browser-exports-site' });
    const bob = table.locator('tbody tr', { hasText: 'bob' });
    await bob.waitFor();
    expect(await bob.textContent()).toContain('dana-admin');
    expect(await table.locator('tbody tr', { hasText: 'alice' }).textContent()).toContain('nobody');
    expect(await page.getByRole('button', { name: 'Print' }).isVisible()).toBe(true);

    await page.emulateMedia({ media: 'print' });
    expect(await page.getByRole('button', { name: 'Print' }).isVisible()).toBe(false);
    expect(await page.getByRole('navigation', { name: 'Main' }).isVisible()).toBe(false);
    expect(await bob.isVisible()).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'compliance-report-print.png'), fullPage: true });
    toDocs('compliance-report-print.png');
    await page.emulateMedia({ media: 'screen' });

    const csv = await downloaded(page, 'Export CSV');
    expect(csv.name).toBe('compliance-browser-exports-site.csv');
    expect(csv.text).toMatch(/bob,files-01,.*,1,dana-admin /);
    await page.close();
    expect(errors).toEqual([]);
  });
});

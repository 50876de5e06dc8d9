/**
 * The dashboard in real headless Chromium (Debian's `chromium`, driven by playwright-core) against
 * a real coordinator and agent: sign in, the counts, drill-down from a count to the list, Sync now
 * with the status changing live, disabling the agent and seeing Agent Disabled. Screenshots of the
 * main pages go to tests/artifacts/screenshots/ (UPDATE_DOCS_SCREENSHOTS=1 also refreshes
 * docs/screenshots/overview.png for the README).
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Status } from '../../shared/contracts/status.js';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import { createCredential, createTarget, expectStatus, getCredential } from '../support/fixtures.js';
import { ARTIFACTS_DIR, REPO_ROOT } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { startStack, type Stack } from './stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(ARTIFACTS_DIR, 'screenshots');

let stack: Stack;
let browser: Browser;
let page: Page;
let slowId: string;
const fast: string[] = [];

interface Summary {
  byStatus: Record<Status, number>;
}

const shot = async (name: string) => {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (bash .ci/run installs it)`);
  }
  mkdirSync(SHOTS, { recursive: true });
  stack = await startStack('browser');
  const quick = await createTarget(stack.admin, stack.siteId, {}, 'fileserver-01');
  const slow = await createTarget(stack.admin, stack.siteId, { latencyMs: 2500 }, 'slow-appliance');
  const broken = await createTarget(
    stack.admin,
    stack.siteId,
    { failRate: 1, failReason: 'unreachable' },
    'db-replica',
  );
  for (const u of ['Administrator', 'backup-operator', 'svc_sql']) {
    fast.push((await createCredential(stack.admin, quick, { username: u })).id);
  }
  slowId = (await createCredential(stack.admin, slow, { username: 'root' })).id;
  await createCredential(stack.admin, broken, { username: 'svc_backup' });
  await createCredential(stack.admin, quick, { username: 'lab-tester', syncEnabled: false });
  await waitFor(
    async () => {
      const all = await Promise.all([...fast, slowId].map((id) => getCredential(stack.admin, id)));
      return all.every((c) => c.status === 'in_sync');
    },
    { timeoutMs: 30_000, message: 'the credentials to be in_sync' },
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // The wrong token tried at sign-in is a 401 the console reports; anything else is a fault.
    if (m.type() === 'error' && !m.text().includes('status of 401')) errors.push(m.text());
  });
  (page as Page & { errors?: string[] }).errors = errors;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('dashboard', () => {
  it('is served with security headers and asks for a token', async () => {
    const res = await page.goto(stack.coordinator.url);
    const headers = res!.headers();
    expect(headers['content-security-policy']).toContain("default-src 'none'");
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['x-frame-options']).toBe('DENY');
    await page.getByLabel('API token').fill('not-a-valid-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('not accepted');
    await shot('login');
    await page.getByLabel('API token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  });

  it('shows the counts of every status as the API does', async () => {
    const summary = await expectStatus<Summary>(stack.admin.get('/summary'), 200);
    expect(summary.byStatus.in_sync).toBe(4);
    await expect
      .poll(() => page.getByTestId('count-in_sync').locator('.count-value').textContent(), {
        timeout: 10_000,
      })
      .toBe('4');
    for (const status of Object.keys(summary.byStatus) as Status[]) {
      await expect
        .poll(() => page.getByTestId(`count-${status}`).locator('.count-value').textContent(), {
          timeout: 10_000,
        })
        .toBe(String(summary.byStatus[status]));
    }
    await expect
      .poll(() => page.getByTestId('count-out_of_sync').locator('.count-value').textContent())
      .toBe('1');
    await shot('overview');
    if (process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
      mkdirSync(join(REPO_ROOT, 'docs', 'screenshots'), { recursive: true });
      copyFileSync(join(SHOTS, 'overview.png'), join(REPO_ROOT, 'docs', 'screenshots', 'overview.png'));
    }
  });

  it('drills down from a count to the filtered list', async () => {
    await page.getByTestId('count-in_sync').click();
    await page.waitForURL(/#\/credentials\?status=in_sync/);
    const rows = page.getByTestId('credential-table').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(4);
    const statuses = await rows.locator('[data-testid=status]').allTextContents();
    expect(statuses.every((s) => s.startsWith('In Sync'))).toBe(true);
    expect(await page.getByLabel('Status').inputValue()).toBe('in_sync');
    // Text search on the server narrows it further.
    await page.getByLabel('Search').fill('backup');
    await page.getByLabel('Search').press('Enter');
    await expect.poll(() => rows.count()).toBe(1);
    await expect.poll(() => rows.first().textContent()).toContain('backup-operator');
    await page.getByLabel('Search').fill('');
    await page.getByLabel('Search').press('Enter');
    await expect.poll(() => rows.count()).toBe(4);
    await shot('credentials');
  });

  it('Sync now changes the status live, and the history records it', async () => {
    await page.goto(`${stack.coordinator.url}/#/credentials/${slowId}`);
    const status = page.getByTestId('detail-status');
    await expect.poll(() => status.textContent()).toContain('In Sync');
    await page.getByRole('button', { name: 'Sync now' }).click();
    // The slow target takes 2.5 s: the page shows the job without a reload…
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toMatch(/Being Synced|Pending Sync/);
    await shot('credential-syncing');
    // …and the result when it comes.
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toContain('In Sync');
    const cred = await getCredential(stack.admin, slowId);
    expect(cred.status).toBe('in_sync');
    await expect
      .poll(() => page.getByRole('table', { name: /Status history/ }).textContent())
      .toContain('In Sync');
    await shot('credential');
  });

  it('confirms a delete, saying what will be lost', async () => {
    await page.goto(`${stack.coordinator.url}/#/credentials/${fast[2]}`);
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('password history');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await getCredential(stack.admin, fast[2]!)).id).toBe(fast[2]);
  });

  it('disabling the agent shows Agent Disabled', async () => {
    await page.goto(`${stack.coordinator.url}/#/sites`);
    const row = page.locator(`tr[data-agent="${stack.agentId}"]`);
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('Online');
    await shot('sites');
    await row.getByRole('button', { name: /^Disable / }).click();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('Disabled');
    await page.getByRole('link', { name: 'Overview' }).click();
    // Every sync-enabled credential of the site (5) now waits for an enabled agent.
    await expect
      .poll(() => page.getByTestId('count-agent_disabled').locator('.count-value').textContent(), {
        timeout: 10_000,
      })
      .toBe('5');
    await page.getByTestId('count-agent_disabled').click();
    const rows = page.getByTestId('credential-table').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(5);
    await shot('credentials-agent-disabled');
    await expectStatus(stack.admin.post(`/agents/${stack.agentId}/enable`, {}), 200);
  });

  it('sync runs: Resync a site from the sites page; history, chart and items', async () => {
    await page.goto(`${stack.coordinator.url}/#/sites`);
    await page.getByRole('button', { name: 'Resync' }).click();
    await page.getByRole('link', { name: 'Sync runs' }).click();
    await page.getByRole('heading', { name: 'Sync runs' }).waitFor();
    const table = page.getByRole('table', { name: 'Sync runs' });
    await expect.poll(() => table.locator('tbody tr').count()).toBeGreaterThan(0);
    await expect
      .poll(() => table.textContent(), { timeout: 30_000 })
      .toMatch(/Partial success|Failure|Success/);
    await shot('runs');
    await table.locator('tbody tr a').first().click();
    await page.getByRole('heading', { name: 'Items' }).waitFor();
    await shot('run');
  });

  it('audit log with filters', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Action').fill('agent.disable');
    await page.getByRole('button', { name: 'Apply' }).click();
    const rows = page.getByRole('table', { name: 'Audit events' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    await expect.poll(() => rows.first().textContent()).toContain('agent.disable');
    await shot('audit');
    const errors = (page as Page & { errors?: string[] }).errors ?? [];
    expect(errors, errors.join('\n')).toEqual([]);
  });
});

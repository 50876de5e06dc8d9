/**
 * The dashboard in real headless Chromium (Debian's `chromium`, driven by playwright-core) against
 * a real coordinator and agent: sign in, the counts, drill-down from a count to the list, Sync now
 * with the status changing live, disabling the agent and seeing Agent Disabled. Screenshots of the
 * main pages go to tests/artifacts/screenshots/ (UPDATE_DOCS_SCREENSHOTS=1 also refreshes
 * docs/screenshots/overview.png for the README).
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
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
let slowTarget: string;
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
  slowTarget = slow;
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
    // The unreachable credential is retried with backoff: while a retry runs it is pending or being
    // synced, so allow for one retry's window.
    await expect
      .poll(() => page.getByTestId('count-out_of_sync').locator('.count-value').textContent(), {
        timeout: 20_000,
      })
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
    // The real agent runs the product's own version: up to date, within the range shown above.
    await expect.poll(() => row.locator('.ver-up_to_date').textContent()).toBe('Up to date');
    expect(
      await page
        .getByText(
          /^Agent versions? \S+ (to \S+ are supported; \S+ is the latest|is supported, and the latest)\.$/,
        )
        .count(),
    ).toBeGreaterThan(0);
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
  });

  it('the per-site link of the Overview opens that site on the Sites page', async () => {
    await page.goto(`${stack.coordinator.url}/#/`);
    await page.locator(`[data-key="site-${stack.siteId}"]`).click();
    await page.waitForURL(new RegExp(`#/sites\\?site=${stack.siteId}$`));
    await page.getByRole('heading', { name: 'Sites & agents' }).waitFor();
    const section = page.locator(`#site-${stack.siteId}`);
    await expect
      .poll(() => page.evaluate('document.activeElement && document.activeElement.id'))
      .toBe(`site-${stack.siteId}`);
    await expect.poll(() => section.isVisible()).toBe(true);
    expect(await section.getAttribute('class')).toContain('site-wanted');
    await expect.poll(() => section.textContent()).toContain('Jobs now');
  });

  it('every bucket opens its list: Not Configured, Suspended by Error, With Issues, Active', async () => {
    const rows = page.getByTestId('credential-table').locator('tbody tr');
    await page.goto(`${stack.coordinator.url}/#/`);
    await page.getByTestId('bucket-not-configured').click();
    await page.waitForURL(/#\/credentials\?status=not_synced$/);
    await expect.poll(() => rows.count()).toBe(1);
    await expect.poll(() => rows.first().textContent()).toContain('lab-tester');

    await page.goto(`${stack.coordinator.url}/#/`);
    await page.getByTestId('bucket-suspended').click();
    await page.waitForURL(/#\/credentials\?suspended=true$/);
    await expect.poll(() => rows.first().textContent()).toContain('No credential matches');
    await expect.poll(() => page.locator('.chips').textContent()).toContain('Suspended by error');

    await page.goto(`${stack.coordinator.url}/#/`);
    await page.getByTestId('bucket-issues').click();
    await page.waitForURL(/#\/runs\?outcome=issues&days=7$/);
    await page.getByRole('heading', { name: 'Sync runs' }).waitFor();
    // Filtered on the server: only runs with issues (partial or failure) of the last 7 days, as the
    // API lists them (a run may finish meanwhile: compared at each poll, over more than one 3 s
    // refresh).
    const table = page.getByRole('table', { name: 'Sync runs' });
    await expect
      .poll(
        async () => {
          const runs = await expectStatus<{ items: { id: string }[] }>(
            stack.admin.get('/sync-runs?outcome=issues'),
            200,
          );
          const shown = await table
            .locator('tbody tr a[data-key^="run-"]')
            .evaluateAll((links) => links.map((a) => (a.getAttribute('data-key') ?? '').slice(4)));
          return JSON.stringify(shown) === JSON.stringify(runs.items.map((r) => r.id));
        },
        { timeout: 10_000 },
      )
      .toBe(true);

    await page.goto(`${stack.coordinator.url}/#/`);
    await page.getByTestId('bucket-active').click();
    await page.waitForURL(/#\/credentials\?jobState=active$/);
    await expect.poll(() => page.locator('.chips').textContent()).toContain('Job running');
  });

  it('sorts and pages on the server: Next and Previous walk every credential once', async () => {
    await page.goto(`${stack.coordinator.url}/#/credentials?sort=username&limit=2`);
    const rows = page.getByTestId('credential-table').locator('tbody tr');
    const names: string[] = [];
    for (;;) {
      await expect.poll(() => rows.count()).toBeGreaterThan(0);
      const text = await rows.locator('a[data-key^="cred-"]').allTextContents();
      names.push(...text);
      const next = page.locator('[data-key="next"]');
      if (await next.isDisabled()) break;
      const before = page.url();
      await next.click();
      await expect.poll(() => page.url()).not.toBe(before);
      await expect
        .poll(async () => (await rows.locator('a[data-key^="cred-"]').allTextContents()).join())
        .not.toBe(text.join());
    }
    const all = await expectStatus<{ items: { username: string }[] }>(
      stack.admin.get('/credentials?sort=username&limit=500'),
      200,
    );
    expect(names).toEqual(all.items.map((c) => c.username));
    await page.locator('[data-key="prev"]').click();
    await expect
      .poll(() => page.locator('.pager').textContent())
      .toContain(`Page ${Math.ceil(names.length / 2) - 1}`);
    // The sort select shows the sort of the URL, and changing it starts again at page 1.
    expect(await page.getByLabel('Sort by').inputValue()).toBe('username');
    await page.getByLabel('Sort by').selectOption('-username');
    await expect.poll(() => page.locator('.pager').textContent()).toContain('Page 1');
    await expect.poll(() => rows.first().locator('a[data-key^="cred-"]').textContent()).toBe(names.at(-1));
    await expect.poll(() => page.locator('#announcer').textContent()).toContain('credentials shown');
    expect(
      await page.locator('[data-testid=credential-table]').evaluate((el) => el.closest('[aria-live]')),
    ).toBeNull();
  });

  it('the target filter searches targets on the server', async () => {
    await page.goto(`${stack.coordinator.url}/#/credentials`);
    await page.getByLabel('Find target').fill('slow');
    await expect
      .poll(
        async () =>
          (await page.locator('#f-target option').allTextContents()).filter((t) => t !== 'All targets'),
        { timeout: 5_000 },
      )
      .toEqual(['slow-appliance (browser-site)']);
    await page.locator('#f-target').selectOption({ label: 'slow-appliance (browser-site)' });
    await page.waitForURL(new RegExp(`targetId=${slowTarget}`));
    const rows = page.getByTestId('credential-table').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    await expect.poll(() => rows.first().textContent()).toContain('root');
    expect(await page.locator('#f-target').inputValue()).toBe(slowTarget);
  });

  it('Change now sets a new password; Disable / Enable sync turn sync off and on', async () => {
    const id = fast[0]!;
    const before = await expectStatus<{ password: string }>(
      stack.admin.get(`/credentials/${id}/password`),
      200,
    );
    await page.goto(`${stack.coordinator.url}/#/credentials/${id}`);
    const status = page.getByTestId('detail-status');
    await expect.poll(() => status.textContent()).toContain('In Sync');
    await page.getByRole('button', { name: 'Change now' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('A new password is generated');
    await dialog.getByRole('button', { name: 'Change password' }).click();
    await waitFor(async () => (await getCredential(stack.admin, id)).lastChangedAt !== null, {
      timeoutMs: 20_000,
      message: 'the change to succeed',
    });
    const after = await expectStatus<{ password: string }>(
      stack.admin.get(`/credentials/${id}/password`),
      200,
    );
    expect(after.password).not.toBe(before.password);
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toContain('In Sync');
    await expect
      .poll(() => page.locator('dl.facts').textContent(), { timeout: 10_000 })
      .not.toMatch(/Last changed\s*—/);

    await page.getByRole('button', { name: 'Disable sync' }).click();
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toContain('Not Synced');
    expect((await getCredential(stack.admin, id)).syncEnabled).toBe(false);
    expect(await page.getByRole('button', { name: 'Change now' }).isDisabled()).toBe(true);
    // Sync now on a disabled credential says why nothing happens (the API's refusal, a 409 the
    // console reports: taken out of the page's errors).
    const errors = (page as Page & { errors?: string[] }).errors!;
    const seen = errors.length;
    const syncNow = page.getByRole('button', { name: 'Sync now' });
    expect(await syncNow.getAttribute('title')).toMatch(/Sync is disabled/);
    await syncNow.click();
    await expect
      .poll(() => page.getByRole('alert').filter({ hasText: 'Sync now failed' }).textContent())
      .toContain('sync is disabled for this credential');
    await expect.poll(() => errors.length).toBeGreaterThan(seen);
    errors.splice(
      seen,
      errors.length - seen,
      ...errors.slice(seen).filter((e) => !e.includes('status of 409')),
    );
    await page.getByRole('button', { name: 'Enable sync' }).click();
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toContain('In Sync');
    expect((await getCredential(stack.admin, id)).syncEnabled).toBe(true);
  });

  it('Force Delete removes a credential while its change is in flight, after saying what is lost', async () => {
    const cred = await createCredential(stack.admin, slowTarget, { username: 'svc_inflight' });
    await waitFor(async () => (await getCredential(stack.admin, cred.id)).status === 'in_sync', {
      timeoutMs: 20_000,
      message: 'the credential to be in sync',
    });
    await page.goto(`${stack.coordinator.url}/#/credentials/${cred.id}`);
    await page.getByRole('button', { name: 'Change now' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Change password' }).click();
    await waitFor(async () => (await getCredential(stack.admin, cred.id)).changePending, {
      timeoutMs: 10_000,
      message: 'the change to be in flight',
    });
    await page.getByRole('button', { name: 'Force Delete' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('the new password of a change in flight');
    await shot('force-delete');
    await dialog.getByRole('button', { name: 'Force delete' }).click();
    await page.waitForURL(/#\/credentials$/);
    expect((await stack.admin.get(`/credentials/${cred.id}`)).status).toBe(404);
    const events = await expectStatus<{ items: { action: string }[] }>(
      stack.admin.get(`/audit?objectId=${cred.id}&action=credential.force_delete`),
      200,
    );
    expect(events.items).toHaveLength(1);
  });

  it('Cancel run on the run page ends a run that waits for an agent, after saying what is dropped', async () => {
    // A site without an agent: its run would wait (RUN_AGENT_WAIT_MS) for one.
    const { id: siteId } = await expectStatus<{ id: string }>(
      stack.admin.post('/sites', { name: 'branch-without-agent' }),
      201,
    );
    const target = await createTarget(stack.admin, siteId, {}, 'kiosk-07');
    await createCredential(stack.admin, target, { username: 'kiosk' });
    const run = await expectStatus<{ id: string }>(
      stack.admin.post('/sync-runs', { kind: 'verify', scope: { siteId } }),
      201,
    );
    await page.goto(`${stack.coordinator.url}/#/runs/${run.id}`);
    await page.getByRole('heading', { name: /^Sync run: verify/ }).waitFor();
    await page.getByRole('button', { name: 'Cancel run' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('no agent has started are dropped');
    await dialog.getByRole('button', { name: 'Cancel run' }).click();
    const summary = page.locator('dl.sync-summary');
    await expect.poll(() => summary.textContent(), { timeout: 10_000 }).toContain('Cancelled by');
    await expect.poll(() => page.locator('.page-head').textContent()).toContain('Failure');
    await expect.poll(() => page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
    const items = page.getByRole('table', { name: 'Items of this run' });
    await expect.poll(() => items.textContent()).toContain('kiosk');
    const done = await expectStatus<{ finishedAt: string | null; cancelledAt: string | null }>(
      stack.admin.get(`/sync-runs/${run.id}`),
      200,
    );
    expect(done.finishedAt).not.toBeNull();
    expect(done.cancelledAt).not.toBeNull();
    await shot('run-cancelled');
  });

  it("a run's items come in pages: Load more items", async () => {
    const db = new pg.Client({ connectionString: stack.database.url });
    await db.connect();
    const runId = randomUUID();
    try {
      await db.query(
        `INSERT INTO sync_runs (id, kind, trigger, scope, created_by, finished_at, impacted, success, outcome)
         VALUES ($1, 'verify', 'manual', '{}', 'test', now(), 130, 130, 'success')`,
        [runId],
      );
      await db.query(
        `INSERT INTO sync_run_items (run_id, credential_id, result)
         SELECT $1, $2, 'success' FROM generate_series(1, 130)`,
        [runId, fast[1]],
      );
    } finally {
      await db.end();
    }
    await page.goto(`${stack.coordinator.url}/#/runs/${runId}`);
    const items = page.getByRole('table', { name: 'Items of this run' }).locator('tbody tr');
    await expect.poll(() => items.count()).toBe(100);
    await page.getByRole('button', { name: 'Load more items' }).click();
    await expect.poll(() => items.count()).toBe(130);
    await expect.poll(() => page.getByRole('button', { name: 'Load more items' }).count()).toBe(0);
    // The live refresh keeps what was loaded.
    await page.waitForTimeout(3500);
    expect(await items.count()).toBe(130);
  });

  it('is accessible: every field has a label, every button a name, focus is visible', async () => {
    for (const hash of ['#/', '#/credentials', `#/credentials/${fast[1]}`, '#/sites', '#/runs', '#/audit']) {
      await page.goto(`${stack.coordinator.url}/${hash}`);
      await page.locator('main .page h1').first().waitFor();
      // In the page (a script, not a function: these tests are typed without the DOM library).
      const problems = (await page.evaluate(`(() => {
        const out = [];
        const named = (el) =>
          Boolean(
            el.getAttribute('aria-label') ||
              el.getAttribute('aria-labelledby') ||
              (el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]')) ||
              el.closest('label'),
          );
        for (const el of document.querySelectorAll('input, select, textarea')) {
          if (el.type !== 'hidden' && !named(el)) out.push('unlabelled ' + el.outerHTML.slice(0, 80));
        }
        for (const el of document.querySelectorAll('button, a[href]')) {
          const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
          if (!name && !el.querySelector('img[alt]:not([alt=""])')) out.push('nameless ' + el.outerHTML.slice(0, 80));
        }
        for (const el of document.querySelectorAll('table')) {
          if (!el.querySelector('caption')) out.push('table without caption');
        }
        if (!document.documentElement.lang) out.push('no lang');
        return out;
      })()`)) as string[];
      expect(problems, hash).toEqual([]);
      // Keyboard focus shows: the first Tab stops go to visible elements with an outline.
      await page.locator('body').click({ position: { x: 1, y: 1 } });
      for (let i = 0; i < 3; i++) {
        await page.keyboard.press('Tab');
        const focus = (await page.evaluate(`(() => {
          const el = document.activeElement;
          if (!el || el === document.body) return null;
          const style = getComputedStyle(el);
          return { tag: el.tagName, outline: style.outlineStyle, visible: el.getClientRects().length > 0 };
        })()`)) as { tag: string; outline: string; visible: boolean } | null;
        expect(focus, `${hash}: tab ${i + 1}`).not.toBeNull();
        expect(focus!.visible).toBe(true);
        expect(focus!.outline, `${hash}: ${focus!.tag}`).not.toBe('none');
      }
    }
  });

  it('the page logged no errors', () => {
    const errors = (page as Page & { errors?: string[] }).errors ?? [];
    expect(errors, errors.join('\n')).toEqual([]);
  });
});

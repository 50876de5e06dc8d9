/**
 * The dashboard's Alerts page and the Overview's issues (issue 13), in real headless Chromium against
 * a real coordinator and agent: as admin, a webhook channel created against a local receiver (its
 * signing secret shown once), a test alert sent and its delivery shown as sent, the channel disabled
 * and deleted; an e-mail channel whose bad port the API refuses (the dialog names the field) and
 * that is created once corrected; a channel's older deliveries loaded page by page; a viewer sees a
 * short message instead; an agent stopped shows on the Overview under
 * Needs attention, linking to its site.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhookReceiver } from '../support/alert-receivers.js';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import { expectStatus } from '../support/fixtures.js';
import { launchChromium, SHOTS, signIn as openSignedIn } from './chromium.js';
import { startStack, type Stack } from './stack.js';

let stack: Stack;
let browser: Browser;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
const errors: string[] = [];

beforeAll(async () => {
  stack = await startStack('browser-alerts', { ALERT_AGENT_OFFLINE_MS: '1000', ALERT_EVERY_MS: '200' });
  receiver = await startWebhookReceiver();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await stack?.close();
});

// A refusal the dialog shows (the bad SMTP port) is logged by the browser as a failed request.
const signIn = (token: string): Promise<Page> =>
  openSignedIn(browser, stack.coordinator.url, token, errors, /status of 400/);

const dialog = (page: Page) => page.locator('dialog[open]');

describe('alerts page', () => {
  it('admin: create a webhook (secret shown once), send a test, see it sent; disable and delete', async () => {
    const page = await signIn(ADMIN_TOKEN);
    // The site's agent works: the site is not listed, even if a sweep saw it before the agent enrolled.
    expect(await page.getByTestId(`issue-site-${stack.siteId}`).count()).toBe(0);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
    await page.getByText('No notification channels yet').waitFor();

    await page.getByRole('button', { name: 'New webhook' }).click();
    await dialog(page).getByLabel('Name', { exact: true }).fill('ops-hook');
    await dialog(page).getByLabel('URL').fill(receiver.url);
    await dialog(page).getByLabel('Format').selectOption('json');
    await dialog(page).getByRole('button', { name: 'Create channel' }).click();
    const once = dialog(page).locator('pre.once');
    await once.waitFor();
    const secret = (await once.textContent()) ?? '';
    expect(secret).toMatch(/^whsec_/);
    await dialog(page).getByRole('button', { name: 'Done' }).click();

    const card = page.locator('section.channel', { has: page.getByRole('heading', { name: 'ops-hook' }) });
    await card.getByText(receiver.url).waitFor();
    expect(await page.getByText(secret).count()).toBe(0);

    await card.getByRole('button', { name: 'Send a test alert to ops-hook' }).click();
    await card.locator('td .badge', { hasText: 'sent' }).waitFor();
    await expect.poll(() => receiver.received.length).toBe(1);
    expect(receiver.received[0]!.headers['x-event-type']).toBe('test');
    expect(receiver.verify(receiver.received[0]!, secret)).toBe(true);
    const row = card.locator('tbody tr').first();
    expect(await row.locator('td').nth(3).textContent()).toBe('1');
    expect(await row.locator('td').nth(4).textContent()).toBe('200');
    await page.screenshot({ path: join(SHOTS, 'alerts.png'), fullPage: true });

    await card.getByRole('button', { name: 'Disable ops-hook' }).click();
    await card.getByText('Disabled', { exact: true }).waitFor();
    await card.getByRole('button', { name: 'Enable ops-hook' }).waitFor();

    await card.getByRole('button', { name: 'Delete ops-hook' }).click();
    await dialog(page).getByRole('button', { name: 'Delete channel' }).click();
    await page.getByText('No notification channels yet').waitFor();
    const left = await expectStatus<{ items: unknown[] }>(stack.admin.get('/notification-channels'), 200);
    expect(left.items).toEqual([]);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('admin: an e-mail channel (a bad port named by the API, then corrected); older deliveries page by page', async () => {
    const page = await signIn(ADMIN_TOKEN);
    await page.goto(`${stack.coordinator.url}/#/alerts`);
    await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'New e-mail channel' }).click();
    const form = dialog(page);
    await form.getByLabel('Name', { exact: true }).fill('ops-mail');
    await form.getByLabel('SMTP host').fill('127.0.0.1');
    await form.getByLabel('SMTP port').fill('70000');
    await form.getByLabel('Security').selectOption('starttls');
    await form.getByLabel('SMTP user name').fill('sync');
    await form.getByLabel('SMTP password').fill('smtp-pw');
    await form.getByLabel('From').fill('sync@example.com');
    await form.getByLabel('To').fill('oncall@example.com, backup@example.com');
    await form.getByRole('button', { name: 'Create channel' }).click();
    const error = form.getByRole('alert');
    await expect.poll(async () => (await error.textContent()) ?? '').toContain('body.email.port');
    await form.getByLabel('SMTP port').fill('2525');
    await form.getByRole('button', { name: 'Create channel' }).click();
    await form.waitFor({ state: 'detached' });
    const card = page.locator('section.channel', { has: page.getByRole('heading', { name: 'ops-mail' }) });
    await card.getByText('oncall@example.com, backup@example.com via 127.0.0.1').waitFor();
    const listed = await expectStatus<{
      items: { id: string; name: string; email: Record<string, unknown> | null }[];
    }>(stack.admin.get('/notification-channels'), 200);
    const mail = listed.items.find((c) => c.name === 'ops-mail')!;
    expect(mail.email).toMatchObject({
      port: 2525,
      security: 'starttls',
      username: 'sync',
      hasPassword: true,
    });
    expect(await page.getByText('smtp-pw').count()).toBe(0);

    // 25 test alerts to a webhook: the newest 20 are shown, the older 5 on asking.
    const hook = await expectStatus<{ id: string }>(
      stack.admin.post('/notification-channels', {
        kind: 'webhook',
        name: 'busy-hook',
        webhook: { url: receiver.url },
      }),
      201,
    );
    for (let i = 0; i < 25; i++)
      await expectStatus(stack.admin.post(`/notification-channels/${hook.id}/test`), 200);
    await page.reload();
    const busy = page.locator('section.channel', { has: page.getByRole('heading', { name: 'busy-hook' }) });
    await busy.locator('tbody tr').first().waitFor();
    expect(await busy.locator('tbody tr').count()).toBe(20);
    await busy.getByRole('button', { name: 'Load older deliveries to busy-hook' }).click();
    await expect.poll(() => busy.locator('tbody tr').count()).toBe(25);
    expect(await busy.getByRole('button', { name: 'Load older deliveries to busy-hook' }).count()).toBe(0);
    // A refresh shows as many as before, from the newest: the older ones again on asking.
    await page.getByRole('button', { name: 'Send a test alert to busy-hook' }).click();
    await busy.getByRole('button', { name: 'Load older deliveries to busy-hook' }).waitFor();
    expect(await busy.locator('tbody tr').count()).toBe(25);

    for (const id of [mail.id, hook.id])
      await expectStatus(stack.admin.delete(`/notification-channels/${id}`), 200);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('viewer: a short message, no channel data and no buttons', async () => {
    const { token } = await expectStatus<{ token: string }>(
      stack.admin.post('/tokens', { name: 'viewer', role: 'viewer' }),
      201,
    );
    const page = await signIn(token);
    await page.goto(`${stack.coordinator.url}/#/alerts`);
    await page.getByTestId('alerts-admin-only').waitFor();
    expect(await page.getByRole('button', { name: 'New webhook' }).count()).toBe(0);
    await page.close();
    expect(errors).toEqual([]);
  });
});

describe('overview issues', () => {
  it('a stopped agent is listed under Needs attention, linking to its site', async () => {
    await stack.agent.stop();
    const page = await signIn(ADMIN_TOKEN);
    const issue = page.getByTestId(`issue-agent-${stack.agentId}`);
    await issue.waitFor({ timeout: 20_000 });
    expect(await issue.textContent()).toContain('browser-alerts-agent');
    await issue.getByRole('link', { name: 'browser-alerts-site' }).click();
    await page.waitForURL(`**/#/sites?site=${stack.siteId}`);
    await page.getByRole('heading', { name: 'Sites & agents' }).waitFor();
    await page.close();
    expect(errors).toEqual([]);
  }, 30_000);
});

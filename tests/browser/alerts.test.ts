/**
 * The dashboard's Alerts page and the Overview's issues (issue 13), in real headless Chromium against
 * a real coordinator and agent: as admin, a webhook channel created against a local receiver (its
 * signing secret shown once), a test alert sent and its delivery shown as sent, the channel disabled
 * and deleted; a viewer sees a short message instead; an agent stopped shows on the Overview under
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

const signIn = (token: string): Promise<Page> => openSignedIn(browser, stack.coordinator.url, token, errors);

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

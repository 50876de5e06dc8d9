/**
 * Alerts with the real processes (docs/alerts.md): an agent killed on its site → within
 * ALERT_AGENT_OFFLINE_MS (plus a round) one signed webhook and one mail (STARTTLS, to a local
 * SMTP server) arrive, naming the agent and its site, and a receiver that answers 500 three times
 * gets the same event, signed, on the fourth try; 1,000 credentials of one site going
 * unreachable under a real agent → one alert naming the site and the count (the rest held for the
 * digest), not a thousand.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { AlertBody } from '../../shared/contracts/alerts.js';
import { startSmtpServer, startWebhookReceiver } from '../support/alert-receivers.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
  waitForValue,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startAgent, startCoordinator, stopAll, type CoordinatorProcess } from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { createPki } from '../support/tls.js';

const OFFLINE_MS = 4000;
let database: TestDatabase;
let coordinator: CoordinatorProcess;
let admin: ApiClient;
const pki = createPki();
const server = pki.issue('smtp', 'server');

beforeAll(async () => {
  database = await createTestDatabase('e2e-alerts');
  coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: uniquePrefix('e2e-alerts'),
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      HEARTBEAT_EVERY_MS: '1000',
      ALERT_AGENT_OFFLINE_MS: String(OFFLINE_MS),
      ALERT_GROUP_WINDOW_MS: '0',
      ALERT_EVERY_MS: '250',
      // Retries 200 ms, 400 ms, 800 ms after a failed attempt.
      ALERT_RETRY_BASE_MS: '200',
      ALERT_SMTP_CA_FILE: pki.caCert,
    },
    { label: 'e2e-alerts-coordinator' },
  );
  admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
}, 120_000);

afterAll(async () => {
  await stopAll();
  await database?.drop();
});

it('an agent killed: one signed webhook and one mail within the configured time; a failing receiver gets it on the fourth try', async () => {
  const receiver = await startWebhookReceiver();
  const flaky = await startWebhookReceiver(3);
  const smtp = await startSmtpServer({ cert: pki.pem(server.cert), key: pki.pem(server.key) });
  try {
    const site = await createSite(admin, 'branch-e2e');
    const hook = await expectStatus<{ id: string; secret: string }>(
      admin.post('/notification-channels', {
        kind: 'webhook',
        name: 'ops',
        webhook: { url: receiver.url },
        filter: { eventTypes: ['agent.offline'] },
      }),
      201,
    );
    const flakyHook = await expectStatus<{ id: string; secret: string }>(
      admin.post('/notification-channels', {
        kind: 'webhook',
        name: 'ops-flaky',
        webhook: { url: flaky.url },
        filter: { eventTypes: ['agent.offline'] },
      }),
      201,
    );
    await expectStatus(
      admin.post('/notification-channels', {
        kind: 'email',
        name: 'oncall',
        email: { host: '127.0.0.1', port: smtp.port, from: 'sync@example.com', to: ['oncall@example.com'] },
        filter: { eventTypes: ['agent.offline'] },
      }),
      201,
    );
    const agent = await startAgent(
      {
        COORDINATOR_URL: coordinator.url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(admin, site.id),
        AGENT_NAME: 'edge-e2e',
      },
      { label: 'e2e-alerts-agent' },
    );
    await waitForValue(
      async () => {
        const r = await admin.get<{ items: { lastHeartbeatAt: string | null }[] }>(
          `/agents?siteId=${site.id}`,
        );
        return r.body.items[0]?.lastHeartbeatAt ?? false;
      },
      { timeoutMs: 15_000, message: 'the agent heartbeating' },
    );
    agent.kill('SIGKILL');
    await agent.exited;
    const killedAt = Date.now();
    await waitForValue(() => receiver.received.length > 0 && smtp.mails.length > 0, {
      timeoutMs: OFFLINE_MS + 10_000,
      intervalMs: 100,
      message: 'the webhook and the mail',
    });
    expect(Date.now() - killedAt).toBeLessThan(OFFLINE_MS + 10_000);
    // Later rounds send nothing more.
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.received).toHaveLength(1);
    expect(smtp.mails).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(receiver.verify(got, hook.secret)).toBe(true);
    const body = JSON.parse(got.body) as AlertBody;
    expect(body).toMatchObject({
      type: 'agent.offline',
      site: { id: site.id, name: 'branch-e2e' },
      subject: { type: 'agent', name: 'edge-e2e' },
    });
    expect(smtp.mails[0]).toMatchObject({ to: ['oncall@example.com'], secure: true });
    expect(smtp.mails[0]!.subject).toContain('edge-e2e');
    expect(smtp.mails[0]!.text).toContain(body.id);

    // Three 500s, then taken: the same event (its id) each time, each attempt signed.
    await waitForValue(() => flaky.received.length >= 4, {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'the fourth try',
    });
    expect(flaky.received).toHaveLength(4);
    expect(new Set(flaky.received.map((r) => r.headers['x-event-id']))).toEqual(new Set([body.id]));
    for (const r of flaky.received) expect(flaky.verify(r, flakyHook.secret)).toBe(true);
    const deliveries = await expectStatus<{
      items: { state: string; attempts: number; lastStatus: number }[];
    }>(admin.get(`/notification-channels/${flakyHook.id}/deliveries`), 200);
    expect(deliveries.items).toEqual([
      expect.objectContaining({ state: 'sent', attempts: 4, lastStatus: 200 }),
    ]);
  } finally {
    await receiver.close();
    await flaky.close();
    await smtp.close();
  }
}, 120_000);

it('1,000 credentials of one site going unreachable: one alert naming the site', async () => {
  const receiver = await startWebhookReceiver();
  try {
    const site = await createSite(admin, 'branch-mass');
    await expectStatus(
      admin.post('/notification-channels', {
        kind: 'webhook',
        name: 'mass',
        webhook: { url: receiver.url },
        filter: { siteIds: [site.id] },
      }),
      201,
    );
    // The target is down from the start; every step takes 500 ms, so an agent running 50 at once
    // (on one host) reports them in bunches, as a site going dark would.
    const target = await createTarget(admin, site.id, {
      failRate: 1,
      failReason: 'unreachable',
      latencyMs: 500,
    });
    const COUNT = 1000;
    const batch = await expectStatus<{ counts: { created: number } }>(
      admin.post('/credentials/batch', {
        items: Array.from({ length: COUNT }, (_, i) => ({
          targetId: target,
          username: `mass-${i}`,
          password: `Mass-Password-${i}-x9!`,
        })),
      }),
      200,
    );
    expect(batch.counts.created).toBe(COUNT);
    await startAgent(
      {
        COORDINATOR_URL: coordinator.url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(admin, site.id),
        AGENT_NAME: 'edge-mass',
        AGENT_CONCURRENCY: '50',
        AGENT_PER_HOST_LIMIT: '50',
      },
      { label: 'e2e-alerts-mass-agent' },
    );
    await waitForValue(
      async () => {
        const r = await admin.get<{ byStatus: Record<string, number> }>('/summary');
        return (r.body.byStatus.out_of_sync ?? 0) >= COUNT;
      },
      { timeoutMs: 150_000, intervalMs: 500, message: 'every credential of the site out of sync' },
    );
    await waitForValue(() => receiver.received.length > 0, {
      timeoutMs: 10_000,
      message: 'the alert',
    });
    // Later rounds (and the failures' retries) send nothing more: the rest waits for the digest.
    await new Promise((r) => setTimeout(r, 3000));
    const alerts = receiver.received.map((r) => JSON.parse(r.body) as AlertBody);
    expect(alerts.map((a) => `${a.type}/${a.grouping}`)).toEqual(['credential.out_of_sync/site']);
    const [alert] = alerts;
    expect(alert).toMatchObject({
      reason: 'unreachable',
      site: { id: site.id, name: 'branch-mass' },
      subject: { type: 'site', id: site.id },
    });
    expect(alert!.count).toBeGreaterThanOrEqual(10);
    expect(alert!.summary).toBe(`${alert!.count} credentials of site branch-mass: out of sync (unreachable)`);
  } finally {
    await receiver.close();
  }
}, 300_000);

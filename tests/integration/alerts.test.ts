/**
 * Alerts (docs/alerts.md) on an in-process coordinator, on both databases: channel validation,
 * a signed webhook retried until the receiver takes it, an e-mail over STARTTLS, one alert for a
 * site's mass failure, the delivery history in pages, and old events pruned. The alerting round is run by the test
 * (Alerting.once), as each replica runs it every ALERT_EVERY_MS.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Alerting } from '../../coordinator/alerts/service.js';
import { sweepRuns } from '../../coordinator/runs/sweep.js';
import type { AlertBody, ChannelView, DeliveryView } from '../../shared/contracts/alerts.js';
import { startSmtpServer, startWebhookReceiver } from '../support/alert-receivers.js';
import {
  startInProcessCoordinator,
  testDatabaseKind,
  type InProcessCoordinator,
} from '../support/coordinator.js';
import {
  createCredentials,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  held,
  type ErrorBody,
} from '../support/fixtures.js';
import { createPki } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

let c: InProcessCoordinator;
let alerting: Alerting;
const pki = createPki();
const server = pki.issue('smtp', 'server');

beforeAll(async () => {
  c = await startInProcessCoordinator('alerts', inject('redisUrl'), {
    ALERT_AGENT_OFFLINE_MS: '1000',
    ALERT_GROUP_WINDOW_MS: '0',
    ALERT_RETRY_BASE_MS: '100',
    ALERT_SMTP_CA_FILE: pki.caCert,
    ALERT_EVENT_RETENTION_MS: '3600000',
  });
  alerting = new Alerting(c.ctx);
});
afterAll(() => c?.close());

/** Runs alerting rounds until `check` holds. */
async function until<T>(check: () => T | undefined | false, what: string): Promise<T> {
  let value: T | undefined | false;
  await waitFor(
    async () => {
      await alerting.once();
      value = check();
      return Boolean(value);
    },
    { timeoutMs: 20_000, intervalMs: 100, message: what },
  );
  return value as T;
}

describe('channel configuration', () => {
  it.each([
    ['no URL', { kind: 'webhook', name: 'w', webhook: {} }, 'body.webhook.url'],
    [
      'a non-http URL',
      { kind: 'webhook', name: 'w', webhook: { url: 'ftp://example.com/x' } },
      'body.webhook.url',
    ],
    [
      'a bad SMTP port',
      {
        kind: 'email',
        name: 'm',
        email: { host: 'mail', port: 70000, from: 'a@example.com', to: ['b@example.com'] },
      },
      'body.email.port',
    ],
    ['no kind', { name: 'x' }, 'body.kind'],
    [
      'a filter status that is not a credential status (it never matched anything)',
      {
        kind: 'webhook',
        name: 'f',
        webhook: { url: 'http://127.0.0.1:9/hook' },
        filter: { statuses: ['whatever'] },
      },
      'body.filter.statuses.0',
    ],
  ])('%s → 400 naming the field, nothing created', async (_what, body, field) => {
    const r = await c.admin.post<ErrorBody>('/notification-channels', body);
    expect(r.status).toBe(400);
    expect(r.body.error.issues?.map((i) => i.field)).toContain(field);
    const list = await expectStatus<{ items: ChannelView[] }>(c.admin.get('/notification-channels'), 200);
    expect(list.items.filter((ch) => ch.name === (body as { name?: string }).name)).toEqual([]);
  });
});

describe('delivery', () => {
  it('an agent gone quiet: a signed webhook on the fourth try after three 500s, and a mail over STARTTLS', async () => {
    const receiver = await startWebhookReceiver(3);
    const smtp = await startSmtpServer({ cert: pki.pem(server.cert), key: pki.pem(server.key) });
    try {
      const siteId = (await createSite(c.admin, 'quiet-site')).id;
      const hook = await expectStatus<ChannelView & { secret: string }>(
        c.admin.post('/notification-channels', {
          kind: 'webhook',
          name: 'ops-hook',
          webhook: { url: receiver.url },
          filter: { eventTypes: ['agent.offline'], siteIds: [siteId] },
        }),
        201,
      );
      expect(hook.secret).toMatch(/^whsec_/);
      const mail = await expectStatus<ChannelView>(
        c.admin.post('/notification-channels', {
          kind: 'email',
          name: 'ops-mail',
          email: { host: '127.0.0.1', port: smtp.port, from: 'sync@example.com', to: ['oncall@example.com'] },
          filter: { eventTypes: ['agent.offline'] },
        }),
        201,
      );
      expect(mail.email).toMatchObject({ security: 'starttls', hasPassword: false });
      const listed = await expectStatus<{ items: (ChannelView & { secret?: string })[] }>(
        c.admin.get('/notification-channels'),
        200,
      );
      expect(listed.items.every((ch) => ch.secret === undefined)).toBe(true);

      const agent = await FakeAgent.enroll(c.url, c.admin, siteId, 'edge-1');
      await expectStatus(agent.heartbeatRaw(), 200);
      // The agent stops heartbeating: ALERT_AGENT_OFFLINE_MS later it is offline.
      const got = await until(
        () =>
          receiver.received.find(
            (r) => r.headers['x-event-type'] === 'agent.offline' && receiver.received.length >= 4,
          ),
        'the webhook',
      );
      expect(receiver.received).toHaveLength(4);
      const ids = new Set(receiver.received.map((r) => r.headers['x-event-id']));
      expect(ids.size).toBe(1); // the same event, retried
      for (const r of receiver.received) expect(receiver.verify(r, hook.secret)).toBe(true);
      expect(receiver.verify(got, 'whsec_wrong')).toBe(false);
      const body = JSON.parse(got.body) as AlertBody;
      expect(body).toMatchObject({
        type: 'agent.offline',
        severity: 'critical',
        site: { id: siteId, name: 'quiet-site' },
        subject: { type: 'agent', id: agent.agentId, name: 'edge-1' },
        count: 1,
      });
      const deliveries = await expectStatus<{ items: DeliveryView[] }>(
        c.admin.get(`/notification-channels/${hook.id}/deliveries`),
        200,
      );
      expect(deliveries.items).toEqual([
        expect.objectContaining({ alertId: body.id, state: 'sent', attempts: 4, lastStatus: 200 }),
      ]);

      await until(() => smtp.mails.length > 0, 'the mail');
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]).toMatchObject({ to: ['oncall@example.com'], secure: true });
      expect(smtp.mails[0]!.subject).toContain('edge-1');
      expect(smtp.mails[0]!.text).toContain(body.id);

      // The Overview lists it as an issue, naming its site.
      const overview = await expectStatus<{
        issues: { agentsOffline: { agentId: string; siteId: string }[] };
      }>(c.admin.get('/overview'), 200);
      expect(overview.issues.agentsOffline).toContainEqual(
        expect.objectContaining({ agentId: agent.agentId, siteId, siteName: 'quiet-site' }),
      );

      // Back online: the heartbeat clears it (an agent.online event; these channels filter it out).
      await expectStatus(agent.heartbeatRaw(), 200);
      const row = await c.ctx.db.query('SELECT offline_since FROM agents WHERE id = $1', [agent.agentId]);
      expect(row.rows).toEqual([{ offline_since: null }]);

      // The test action answers the delivery.
      const test = await expectStatus<DeliveryView>(
        c.admin.post(`/notification-channels/${hook.id}/test`),
        200,
      );
      expect(test).toMatchObject({ type: 'test', state: 'sent', lastStatus: 200 });
    } finally {
      await receiver.close();
      await smtp.close();
    }
  });

  it('1,000 credentials of one site going unreachable are one alert naming the site', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const siteId = (await createSite(c.admin, 'mass-site')).id;
      await expectStatus(
        c.admin.post('/notification-channels', {
          kind: 'webhook',
          name: 'mass-hook',
          webhook: { url: receiver.url },
          filter: { siteIds: [siteId], eventTypes: ['credential.out_of_sync'] },
        }),
        201,
      );
      const target = await createTarget(c.admin, siteId, {}, 'mass-target');
      // 1,000 on PostgreSQL; the embedded database (one session) takes 200 in the test's time.
      const count = testDatabaseKind() === 'pglite' ? 200 : 1000;
      await createCredentials(c.admin, target, count, 20);
      const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
      const jobs = [];
      while (jobs.length < count)
        jobs.push(...(await agent.claimAll(Math.min(500, count - jobs.length), 5000)));
      expect(jobs).toHaveLength(count);
      for (let i = 0; i < jobs.length; i += 200) {
        await agent.report(jobs.slice(i, i + 200).map(held), {
          outcome: 'failed',
          reason: 'unreachable',
          message: 'connection refused',
        });
      }
      await until(() => receiver.received.length > 0, 'the alert');
      await alerting.once();
      expect(receiver.received).toHaveLength(1);
      const body = JSON.parse(receiver.received[0]!.body) as AlertBody;
      expect(body).toMatchObject({
        type: 'credential.out_of_sync',
        grouping: 'site',
        count,
        reason: 'unreachable',
        site: { id: siteId, name: 'mass-site' },
        subject: { type: 'site', id: siteId },
      });
      expect(body.summary).toBe(`${count} credentials of site mass-site: out of sync (unreachable)`);
    } finally {
      await receiver.close();
    }
  }, 240_000);

  it('the delivery history comes in pages, newest first; a cursor not from a page is a 400', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const hook = await expectStatus<ChannelView>(
        c.admin.post('/notification-channels', {
          kind: 'webhook',
          name: 'paged-hook',
          webhook: { url: receiver.url },
          // Only its test alerts.
          filter: { eventTypes: ['test'] },
        }),
        201,
      );
      const sent: string[] = [];
      for (let i = 0; i < 5; i++) {
        sent.push(
          (await expectStatus<DeliveryView>(c.admin.post(`/notification-channels/${hook.id}/test`), 200)).id,
        );
      }
      type Page = { items: DeliveryView[]; nextCursor: string | null };
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page: Page = await expectStatus<Page>(
          c.admin.get(`/notification-channels/${hook.id}/deliveries${q}`),
          200,
        );
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((d) => d.id));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual([...sent].reverse());
      const sentOnly = await expectStatus<Page>(
        c.admin.get(`/notification-channels/${hook.id}/deliveries?state=sent&limit=500`),
        200,
      );
      expect(sentOnly).toEqual({ items: expect.any(Array), nextCursor: null });
      expect(sentOnly.items).toHaveLength(5);
      const bad = await c.admin.get<ErrorBody>(
        `/notification-channels/${hook.id}/deliveries?cursor=nonsense`,
      );
      expect(bad.status).toBe(400);
      expect(bad.body.error.issues?.map((i) => i.field)).toContain('query.cursor');
    } finally {
      await receiver.close();
    }
  });
});

describe('a site without a working agent', () => {
  it('is reported once its agents can no longer work, its end only then: never for a new site getting its first', async () => {
    const siteId = (await createSite(c.admin, 'outage-site')).id;
    const siteEvents = async () =>
      (
        await c.ctx.db.query<{ type: string; disposition: string | null }>(
          `SELECT type, disposition FROM events WHERE subject_type = 'site' AND subject_id = $1 ORDER BY id`,
          [siteId],
        )
      ).rows;
    // Waiting for its first agent: no incident; the agent arrives: nothing was restored.
    await sweepRuns(c.ctx);
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId, 'outage-edge');
    await expectStatus(agent.heartbeatRaw(), 200);
    await sweepRuns(c.ctx);
    expect(await siteEvents()).toEqual([]);
    // Its only agent disabled: reported; enabled again: restored, each once however often swept.
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/disable`), 200);
    await sweepRuns(c.ctx);
    await sweepRuns(c.ctx);
    expect((await siteEvents()).map((e) => e.type)).toEqual(['site.no_working_agent']);
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/enable`), 200);
    await expectStatus(agent.heartbeatRaw(), 200);
    await sweepRuns(c.ctx);
    await sweepRuns(c.ctx);
    const events = await siteEvents();
    expect(events.map((e) => e.type)).toEqual(['site.no_working_agent', 'site.agent_restored']);
    // Dispatched as alerts, neither muted as the repeat of an earlier one.
    await waitFor(
      async () => {
        await alerting.once();
        return (await siteEvents()).every((e) => e.disposition !== null);
      },
      { timeoutMs: 20_000, intervalMs: 100, message: 'site events dispatched' },
    );
    expect((await siteEvents()).map((e) => e.disposition)).not.toContain('muted');
  });
});

describe('retention', () => {
  it('events older than ALERT_EVENT_RETENTION_MS are pruned once dispatched, and digested when held back', async () => {
    const insert = async (agoMs: number, done: 'alerted' | 'muted' | 'digested' | 'waiting') => {
      const at = new Date(Date.now() - agoMs).toISOString();
      const { rows } = await c.ctx.db.query<{ id: string }>(
        `INSERT INTO events (at, type, subject_type, subject_id, data, dispatched_at, disposition, digested_at)
         VALUES ($1, 'credential.out_of_sync', 'credential', 'retention-test', '{}',
                 CASE WHEN $2 = 'waiting' THEN NULL ELSE $1::timestamptz END,
                 CASE WHEN $2 = 'waiting' THEN NULL WHEN $2 = 'alerted' THEN 'alerted' ELSE 'muted' END,
                 CASE WHEN $2 = 'digested' THEN $1::timestamptz END)
         RETURNING id::text`,
        [at, done],
      );
      return rows[0]!.id;
    };
    const hour = 3_600_000;
    const gone = [await insert(2 * hour, 'alerted'), await insert(2 * hour, 'digested')];
    const kept = [
      await insert(2 * hour, 'muted'), // still waits for the digest
      await insert(2 * hour, 'waiting'), // not dispatched yet
      await insert(hour / 2, 'alerted'), // recent
    ];
    try {
      expect(await alerting.prune(new Date())).toBe(gone.length);
      const { rows } = await c.ctx.db.query<{ id: string }>(
        `SELECT id::text FROM events WHERE subject_id = 'retention-test' ORDER BY id`,
      );
      expect(rows.map((r) => r.id)).toEqual(kept);
    } finally {
      await c.ctx.db.query(`DELETE FROM events WHERE subject_id = 'retention-test'`);
    }
  });
});

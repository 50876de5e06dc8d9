/**
 * GET /metrics: the scrape-time gauges agree with GET /api/v1/summary (credentials per site and
 * status), the agents online per site, and the site queues' depth.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { request } from 'undici';
import type { Status } from '../../shared/contracts/status.js';
import { STATUSES } from '../../shared/contracts/status.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { createCredential, createSite, createTarget, expectStatus, FakeAgent } from '../support/fixtures.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, samples only. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

let c: InProcessCoordinator;
const sites: string[] = [];

beforeAll(async () => {
  c = await startInProcessCoordinator('metrics-gauges', inject('redisUrl'));
  for (const n of [0, 1]) sites.push((await createSite(c.admin, `metrics-site-${n}-${Date.now()}`)).id);
  const t0 = await createTarget(c.admin, sites[0]!);
  const t1 = await createTarget(c.admin, sites[1]!);
  for (let i = 0; i < 3; i++) await createCredential(c.admin, t0);
  await createCredential(c.admin, t0, { syncEnabled: false });
  await createCredential(c.admin, t1);
  await createCredential(c.admin, t1, { syncEnabled: false });
  // One agent at site 0 that heartbeats (online); site 1 has none.
  const agent = await FakeAgent.enroll(c.url, c.admin, sites[0]!);
  await expectStatus(agent.heartbeatRaw(0), 200, 'heartbeat');
});

afterAll(async () => {
  await c?.close();
});

it('reports credentials per site and status as GET /summary does, agents online and queue depth', async () => {
  const res = await request(`${c.url}/metrics`);
  expect(res.statusCode).toBe(200);
  const samples = parseMetrics(await res.body.text());
  const summary = await expectStatus<{
    byStatus: Record<Status, number>;
    sites: { siteId: string; byStatus: Record<Status, number> }[];
  }>(c.admin.get('/summary'), 200);

  const gauge = (name: string, labels: Record<string, string>) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      ?.value;

  for (const site of summary.sites) {
    for (const status of STATUSES) {
      expect(gauge('sync_credentials', { site: site.siteId, status }), `${site.siteId} ${status}`).toBe(
        site.byStatus[status],
      );
    }
  }
  for (const status of STATUSES) {
    const total = samples
      .filter((s) => s.name === 'sync_credentials' && s.labels.status === status)
      .reduce((n, s) => n + s.value, 0);
    expect(total, status).toBe(summary.byStatus[status]);
  }
  expect(summary.byStatus.not_synced).toBe(2);

  expect(gauge('sync_agents_online', { site: sites[0]! })).toBe(1);
  expect(gauge('sync_agents_online', { site: sites[1]! })).toBe(0);
  expect(gauge('sync_agents_enabled', { site: sites[0]! })).toBe(1);
  expect(gauge('sync_site_info', { site: sites[0]! })).toBe(1);

  // Queue depth: what waits in each site's queue (the first verifications of the sync-enabled
  // credentials: 3 at site 0, 1 at site 1), as BullMQ counts it.
  for (const [i, siteId] of sites.entries()) {
    const counts = await c.ctx.queues.counts(siteId);
    const depth = ['wait', 'prioritized', 'active', 'delayed'].reduce(
      (n, state) => n + (gauge('sync_queue_jobs', { site: siteId, state }) ?? 0),
      0,
    );
    expect(depth).toBe(Object.values(counts).reduce((n, v) => n + v, 0));
    expect(depth).toBe(i === 0 ? 3 : 1);
  }

  // The counters and histograms are still there.
  const text = samples.map((s) => s.name).join('\n');
  for (const name of ['sync_jobs_enqueued_total', 'sync_http_request_duration_seconds_bucket']) {
    expect(text).toContain(name);
  }
});

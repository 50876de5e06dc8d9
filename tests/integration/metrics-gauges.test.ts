/**
 * GET /metrics: the scrape-time gauges agree with GET /api/v1/summary (credentials per site and
 * status, suspended), the agents online per site, and the site queues' depth; the counters and
 * histograms count real claims, results, lost locks, refused reports and requests.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { request } from 'undici';
import type { Status } from '../../shared/contracts/status.js';
import { STATUSES } from '../../shared/contracts/status.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  held,
} from '../support/fixtures.js';
import { waitFor } from '../support/wait.js';

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
  // One failure suspends (to see the suspended gauge move); short locks (to see one expire).
  c = await startInProcessCoordinator('metrics-gauges', inject('redisUrl'), {
    SUSPEND_AFTER_FAILURES: '1',
    JOB_LOCK_MS: '5000',
    STALLED_CHECK_MS: '1000',
  });
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

  expect(gauge('sync_credentials_suspended', { site: sites[0]! })).toBe(0);
});

async function scrape(): Promise<(name: string, labels: Record<string, string>) => number> {
  const res = await request(`${c.url}/metrics`);
  const samples = parseMetrics(await res.body.text());
  return (name, labels) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + s.value, 0);
}

it('counts claims, results by outcome, durations per adapter, lost locks, refused reports and request latencies', async () => {
  const siteId = (await createSite(c.admin, `metrics-jobs-${Date.now()}`)).id;
  const sim = await createTarget(c.admin, siteId);
  const svcRes = await c.admin.post<{ id: string }>('/targets', {
    siteId,
    name: 'metrics-db',
    kind: 'service',
    connection: { driver: 'postgres', host: '127.0.0.1' },
  });
  expect(svcRes.status).toBe(201);
  const svc = svcRes.body.id;
  const before = await scrape();
  const simCreds = [];
  for (let i = 0; i < 3; i++) simCreds.push(await createCredential(c.admin, sim));
  const svcCreds = [await createCredential(c.admin, svc), await createCredential(c.admin, svc)];
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);

  const jobs = await agent.claim(10);
  expect(jobs).toHaveLength(5);
  const job = (id: string) => jobs.find((j) => j.credentialId === id)!;
  const claimed = await scrape();
  expect(claimed('sync_jobs_claimed_total', { site: siteId, kind: 'verify' })).toBe(5);
  expect(claimed('sync_jobs_enqueued_total', { site: siteId, kind: 'verify' })).toBe(5);

  await agent.report([held(job(simCreds[0]!.id)), held(job(simCreds[1]!.id)), held(job(svcCreds[0]!.id))]);
  await agent.report([held(job(simCreds[2]!.id))], { outcome: 'failed', reason: 'error', message: 'boom' });
  await agent.report([held(job(svcCreds[1]!.id))], { outcome: 'failed', reason: 'error', message: 'boom' });
  // The same result again: the job is no longer held.
  const again = await agent.report([held(job(simCreds[0]!.id))]);
  expect(again.rejected).toEqual([{ jobId: job(simCreds[0]!.id).jobId, code: 'JOB_NOT_HELD' }]);

  const after = await scrape();
  const completed = (outcome: string) =>
    after('sync_jobs_completed_total', { site: siteId, kind: 'verify', outcome });
  expect(completed('ok')).toBe(3);
  expect(completed('failed')).toBe(2);
  const durations = (adapter: string) =>
    after('sync_job_duration_seconds_count', { kind: 'verify', adapter }) -
    before('sync_job_duration_seconds_count', { kind: 'verify', adapter });
  expect(durations('simulated')).toBe(3);
  expect(durations('service')).toBe(2);
  // Reported as 1 ms each (FakeAgent), in seconds.
  const sum =
    after('sync_job_duration_seconds_sum', { kind: 'verify', adapter: 'service' }) -
    before('sync_job_duration_seconds_sum', { kind: 'verify', adapter: 'service' });
  expect(sum).toBeCloseTo(0.002, 6);
  expect(after('sync_reports_rejected_total', { site: siteId, code: 'JOB_NOT_HELD' })).toBe(1);

  // Gateway and API latencies by route pattern: every call of this test is in there.
  const requests = (route: string, method: string, status: string) =>
    after('sync_http_request_duration_seconds_count', { route, method, status }) -
    before('sync_http_request_duration_seconds_count', { route, method, status });
  expect(requests('/api/v1/credentials', 'POST', '201')).toBe(5);
  expect(requests(GATEWAY_PATHS.claim, 'POST', '200')).toBe(1);
  expect(requests(GATEWAY_PATHS.report, 'POST', '200')).toBe(4);
  expect(
    after('sync_http_request_duration_seconds_bucket', {
      route: GATEWAY_PATHS.report,
      method: 'POST',
      status: '200',
      le: '+Inf',
    }),
  ).toBe(
    after('sync_http_request_duration_seconds_count', {
      route: GATEWAY_PATHS.report,
      method: 'POST',
      status: '200',
    }),
  );

  // Two failures with SUSPEND_AFTER_FAILURES=1: two suspended, as the API lists them.
  const suspended = await expectStatus<{ items: unknown[] }>(
    c.admin.get(`/credentials?siteId=${siteId}&suspended=true`),
    200,
  );
  expect(suspended.items).toHaveLength(2);
  expect(after('sync_credentials_suspended', { site: siteId })).toBe(2);
  const summary = await expectStatus<{ suspended: number }>(c.admin.get('/summary'), 200);
  expect(after('sync_credentials_suspended', {})).toBe(summary.suspended);

  // A job whose agent never extends or reports: its lock expires and the job goes back (counted).
  const lost = await createCredential(c.admin, sim);
  const [held1] = await agent.claim(1);
  expect(held1?.credentialId).toBe(lost.id);
  await waitFor(
    async () => (await scrape())('sync_jobs_stalled_total', { site: siteId, kind: 'verify' }) === 1,
    {
      timeoutMs: 20_000,
      intervalMs: 500,
      message: 'the lost lock to be counted',
    },
  );
});

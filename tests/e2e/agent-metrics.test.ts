/** The agent's own metrics on AGENT_METRICS_PORT: jobs by kind and outcome, in flight, backlog. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  createTarget,
  getCredential,
  waitForValue,
} from '../support/fixtures.js';
import { freePort } from '../support/ports.js';
import { startAgent, stopAll } from '../support/processes.js';

let c: InProcessCoordinator;
beforeAll(async () => {
  c = await startInProcessCoordinator('e2e-agent-metrics', inject('redisUrl'));
}, 60_000);
afterAll(async () => {
  await stopAll();
  await c?.close();
});

const sample = (text: string, name: string, labels: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${name}${labels}`))
      ?.split(' ')
      .at(-1) ?? NaN,
  );

it('counts the jobs it ran, by kind and outcome, and shows its concurrency', async () => {
  const site = await createSite(c.admin);
  const port = await freePort();
  await startAgent(
    {
      COORDINATOR_URL: c.url,
      ENROLLMENT_TOKEN: await createEnrollmentToken(c.admin, site.id),
      AGENT_CONCURRENCY: '7',
      AGENT_METRICS_PORT: String(port),
    },
    { label: 'e2e-agent-metrics' },
  );
  const ok = await createTarget(c.admin, site.id);
  const bad = await createTarget(c.admin, site.id, { failRate: 1, failReason: 'mismatch' });
  const creds = [
    await createCredential(c.admin, ok),
    await createCredential(c.admin, ok),
    await createCredential(c.admin, bad),
  ];
  for (const cred of creds) {
    await waitForValue(async () => (await getCredential(c.admin, cred.id)).lastResultAt !== null);
  }
  const text = await waitForValue(async () => {
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return sample(body, 'sync_agent_jobs_total', '{kind="verify",outcome="ok",reason=""}') === 2 && body;
  });
  expect(sample(text, 'sync_agent_jobs_total', '{kind="verify",outcome="failed",reason="mismatch"}')).toBe(1);
  expect(sample(text, 'sync_agent_concurrency', '')).toBe(7);
  expect(sample(text, 'sync_agent_jobs_in_flight', '')).toBe(0);
  expect(text).toContain('sync_agent_job_duration_seconds_bucket');
  expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
}, 60_000);

it('a metrics port it cannot listen on stops the first start before the enrollment token is used', async () => {
  const site = await createSite(c.admin);
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as AddressInfo;
  try {
    // The start fails (the process exits before 'agent ready'), its last lines naming the setting.
    await expect(
      startAgent(
        {
          COORDINATOR_URL: c.url,
          ENROLLMENT_TOKEN: await createEnrollmentToken(c.admin, site.id),
          AGENT_METRICS_PORT: String(port),
        },
        { label: 'e2e-agent-metrics-taken' },
      ),
    ).rejects.toThrow(`AGENT_METRICS_PORT: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
    // Nothing enrolled: the token is still the operator's to use once the port is fixed.
    const agents = (await c.admin.get(`/agents?siteId=${site.id}`)).body as { items: unknown[] };
    expect(agents.items).toEqual([]);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
}, 60_000);

import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { createCredential, createSite, createTarget, expectStatus, FakeAgent } from '../support/fixtures.js';

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('password-history', inject('redisUrl'));
});
afterAll(() => c?.close());

interface History {
  items: { id: string; kind: string; at: string; password: string }[];
}

it('an admin can reveal the passwords a change replaced and the new ones set aside after a hand-out; audited', async () => {
  const site = await createSite(c.admin);
  const target = await createTarget(c.admin, site.id);
  const cred = await createCredential(c.admin, target, { password: 'first-pw' });
  const agent = await FakeAgent.enroll(c.url, c.admin, site.id);
  await agent.report(await agent.claim(5, 2000));
  expect(
    (await expectStatus<History>(c.admin.get(`/credentials/${cred.id}/password-history`), 200)).items,
  ).toEqual([]);

  // A change that worked retires the first password; one the target refused sets its new one aside.
  await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, { password: 'second-pw' }), 202);
  await agent.report(await agent.claim(5, 2000), { outcome: 'ok', works: 'pending' });
  await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, { password: 'refused-pw' }), 202);
  await agent.report(await agent.claim(5, 2000), { outcome: 'failed', reason: 'change_failed' });

  const history = await expectStatus<History>(c.admin.get(`/credentials/${cred.id}/password-history`), 200);
  expect(history.items.map((h) => [h.kind, h.password])).toEqual([
    ['discarded_pending', 'refused-pw'],
    ['retired', 'first-pw'],
  ]);
  expect(
    (await expectStatus<{ password: string }>(c.admin.get(`/credentials/${cred.id}/password`), 200)).password,
  ).toBe('second-pw');
  const limited = await expectStatus<History>(
    c.admin.get(`/credentials/${cred.id}/password-history?limit=1`),
    200,
  );
  expect(limited.items).toHaveLength(1);

  const audit = await expectStatus<{ items: { action: string; objectId: string; details: unknown }[] }>(
    c.admin.get(`/audit?action=credential.reveal_history&objectId=${cred.id}`),
    200,
  );
  expect(audit.items.map((a) => a.details)).toEqual(
    [1, 2, 0].map((entries) => expect.objectContaining({ entries })),
  );
  expect(JSON.stringify(audit.items)).not.toMatch(/first-pw|second-pw|refused-pw/);

  expect((await c.admin.get(`/credentials/${crypto.randomUUID()}/password-history`)).status).toBe(404);
  const bad = await c.admin.get(`/credentials/${cred.id}/password-history?limit=0`);
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toContain('query.limit');
});

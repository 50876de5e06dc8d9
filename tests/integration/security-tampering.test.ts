import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  waitForValue,
} from '../support/fixtures.js';

let c: InProcessCoordinator;
beforeAll(async () => {
  c = await startInProcessCoordinator('security-tampering', inject('redisUrl'));
});
afterAll(() => c?.close());

describe('encryption at rest', () => {
  it('stores no plaintext: the column holds an envelope, not the password', async () => {
    const site = await createSite(c.admin);
    const target = await createTarget(c.admin, site.id);
    const cred = await createCredential(c.admin, target, { password: 'Recognisable-Canary-Pw-1' });
    const { rows } = await c.ctx.db.query<{ secret: string }>(
      'SELECT secret FROM credentials WHERE id = $1',
      [cred.id],
    );
    expect(rows[0]!.secret).toMatch(/^v1\./);
    expect(rows[0]!.secret).not.toContain('Canary');
  });

  it('a ciphertext swapped between two credentials fails to open: reported, never returned', async () => {
    const site = await createSite(c.admin);
    const target = await createTarget(c.admin, site.id);
    const a = await createCredential(c.admin, target, { password: 'Password-Of-A-111' });
    const b = await createCredential(c.admin, target, { password: 'Password-Of-B-222' });
    await c.ctx.db.query(
      `UPDATE credentials SET secret = CASE WHEN id = $1 THEN (SELECT secret FROM credentials WHERE id = $2)
                                            ELSE (SELECT secret FROM credentials WHERE id = $1) END
        WHERE id IN ($1, $2)`,
      [a.id, b.id],
    );

    // The audited reveal refuses, with a code, and says nothing of either password.
    const reveal = await c.admin.get(`/credentials/${a.id}/password`);
    expect(reveal.status).toBe(422);
    expect(reveal.body).toMatchObject({ error: { code: 'DECRYPT_FAILED' } });
    expect(JSON.stringify(reveal.body)).not.toMatch(/Password-Of-/);

    // An agent claiming the work never receives either secret; the credentials report the problem.
    const agent = await FakeAgent.enroll(c.url, c.admin, site.id);
    const jobs = await agent.claim(10, 0);
    expect(JSON.stringify(jobs)).not.toMatch(/Password-Of-/);
    expect(jobs.map((j) => j.credentialId)).not.toContain(a.id);
    for (const id of [a.id, b.id]) {
      const view = await waitForValue(async () => {
        const v = await getCredential(c.admin, id);
        return v.status === 'out_of_sync' && v;
      });
      expect(view.statusReason).toBe('error');
      expect(view.lastMessage).toMatch(/integrity/);
    }
    const audit = await expectStatus<{ items: { action: string }[] }>(
      c.admin.get('/audit?action=secret.handout'),
      200,
    );
    expect(JSON.stringify(audit)).not.toContain(a.id);
  });
});

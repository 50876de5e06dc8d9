/**
 * Defence in depth for messages (the audit's finding 8): whatever an agent reports as a message is
 * checked by the coordinator against the passwords it handed out with the job (current, pending,
 * the privileged account's) before it becomes the credential's last message or status history.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WITHHELD_MESSAGE } from '../../shared/message-guard.js';
import { LogCapture, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  waitForValue,
} from '../support/fixtures.js';

let c: InProcessCoordinator;
let siteId: string;
let agent: FakeAgent;

const logs = new LogCapture();

beforeAll(async () => {
  c = await startInProcessCoordinator('report-scrub', inject('redisUrl'), { LOG_LEVEL: 'info' }, { logs });
  siteId = (await createSite(c.admin)).id;
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
});
afterAll(() => c?.close());

/** Everything stored about the credential's messages: the row and its status history. */
async function storedMessages(id: string): Promise<string> {
  const { rows } = await c.ctx.db.query<{ m: string | null }>(
    `SELECT last_message AS m FROM credentials WHERE id = $1
     UNION ALL SELECT message FROM credential_status_history WHERE credential_id = $1`,
    [id],
  );
  return rows.map((r) => r.m ?? '').join('\n');
}

async function claimOne(credentialId: string) {
  return waitForValue(async () => (await agent.claim(10, 500)).find((j) => j.credentialId === credentialId));
}

describe("an agent's reported message", () => {
  it('is withheld when it quotes the current password', async () => {
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId));
    const job = await claimOne(cred.id);
    const res = await agent.report([held(job)], {
      outcome: 'failed',
      reason: 'mismatch',
      message: `login refused for ${cred.username}:${encodeURIComponent(cred.password)}`,
    });
    expect(res.accepted).toEqual([job.jobId]);
    const view = await getCredential(c.admin, cred.id);
    expect(view).toMatchObject({
      status: 'out_of_sync',
      statusReason: 'mismatch',
      lastMessage: WITHHELD_MESSAGE,
    });
    expect(await storedMessages(cred.id)).not.toContain(encodeURIComponent(cred.password));
    // The log's line of the failed job carries the message as stored, not the agent's words.
    const line = await waitForValue(() =>
      logs.lines.find((l) => l.includes(job.jobId) && l.includes('job failed')),
    );
    expect(line).toContain(WITHHELD_MESSAGE);
    expect(logs.lines.join('\n')).not.toContain(encodeURIComponent(cred.password));
    // A message without a password is kept as it is.
    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`, {}), 202);
    const again = await claimOne(cred.id);
    await agent.report([held(again)], { outcome: 'failed', reason: 'mismatch', message: 'wrong password' });
    expect((await getCredential(c.admin, cred.id)).lastMessage).toBe('wrong password');
  });

  it("is withheld when it quotes the pending password or the privileged account's", async () => {
    const ws = (connection: Record<string, unknown>) =>
      expectStatus<{ id: string }>(
        c.admin.post('/targets', {
          siteId,
          name: `ws-${Math.random().toString(36).slice(2, 8)}`,
          kind: 'workstation',
          connection: { host: 'srv.example', ...connection },
        }),
        201,
      );
    const root = await createCredential(c.admin, (await ws({})).id, { username: 'root', syncEnabled: false });
    const app = await createCredential(
      c.admin,
      (await ws({ changeVia: 'privileged', privilegedCredentialId: root.id })).id,
    );
    await agent.report([held(await claimOne(app.id))]);
    for (const leak of ['privileged', 'pending'] as const) {
      await waitForValue(async () => (await getCredential(c.admin, app.id)).job.state === 'idle');
      await expectStatus(c.admin.post(`/credentials/${app.id}/change`, {}), 202);
      const change = await claimOne(app.id);
      expect(change.kind).toBe('change');
      const secret = leak === 'privileged' ? change.privileged!.password : change.pendingPassword!;
      await agent.report([held(change)], {
        outcome: 'failed',
        reason: 'change_failed',
        message: `sudo said: ${secret}`,
      });
      const view = await waitForValue(async () => {
        const v = await getCredential(c.admin, app.id);
        return v.lastMessage !== null && v;
      });
      expect(view.lastMessage, leak).toBe(WITHHELD_MESSAGE);
      expect(await storedMessages(app.id)).not.toContain(secret);
      await c.ctx.db.query('UPDATE credentials SET last_message = NULL WHERE id = $1', [app.id]);
    }
  });
});

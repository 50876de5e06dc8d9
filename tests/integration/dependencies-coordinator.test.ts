/**
 * The coordinator's side of dependencies (docs/adapters/dependencies.md), with a fake agent: a
 * change's claim carries the dependencies the agent runs with their login passwords (audited against
 * the login credential), never the chained credentials; a report with a failed dependency promotes
 * the password and counts the change `partial` (reason dependency_failed), never a silent success;
 * the chained credential gets a change with the same password; a retry pushes the failed dependency
 * alone with the next verification; a change handed back before its dependencies ran gives them to
 * the next holder again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tick } from '../../coordinator/scheduler/tick.js';
import type { SyncRunView } from '../../shared/contracts/api.js';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  type CreatedCredential,
  type ErrorBody,
} from '../support/fixtures.js';

let c: InProcessCoordinator;
let agent: FakeAgent;
let targetId: string;
let owner: CreatedCredential;
let chained: CreatedCredential;
let login: CreatedCredential;
let commandId: string;
let chainId: string;

async function claimOne(kind: string): Promise<ClaimedJob> {
  const jobs = await agent.claimAll(1, 3000);
  expect(jobs.map((j) => j.kind)).toEqual([kind]);
  return jobs[0]!;
}

beforeAll(async () => {
  c = await startInProcessCoordinator('dependencies-coordinator', inject('redisUrl'));
  const siteId = (await createSite(c.admin)).id;
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  targetId = await createTarget(c.admin, siteId);
  const other = await createTarget(c.admin, siteId);
  owner = await createCredential(c.admin, targetId);
  chained = await createCredential(c.admin, other);
  const ws = await expectStatus<{ id: string }>(
    c.admin.post('/targets', {
      siteId,
      name: 'app-host',
      kind: 'workstation',
      connection: { host: '127.0.0.1' },
    }),
    201,
  );
  login = await createCredential(c.admin, ws.id, { syncEnabled: false });
  // First verifications: in sync.
  for (const job of await agent.claimAll(2, 3000)) await agent.report([held(job)]);
  const set = await expectStatus<{ items: { id: string; kind: string }[] }>(
    c.admin.post(`/credentials/${owner.id}/dependencies`, {
      dependencies: [
        {
          kind: 'command',
          name: 'restart app',
          loginCredentialId: login.id,
          argv: ['systemctl', 'restart', 'app'],
        },
        { kind: 'credential', name: 'replica', credentialId: chained.id },
      ],
    }),
    200,
  );
  [commandId, chainId] = set.items.map((d) => d.id) as [string, string];
});
afterAll(() => c?.close());

describe('dependencies through the change protocol', () => {
  it('a change hands out its dependencies; one failing after the change makes it partial', async () => {
    const run = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'change', scope: { targetId } }),
      201,
    );
    await tick(c.ctx);
    const job = await claimOne('change');
    expect(job.dependencies).toEqual([
      {
        id: commandId,
        mode: 'push',
        definition: expect.objectContaining({ kind: 'command', name: 'restart app' }),
        login: {
          username: login.username,
          password: login.password,
          target: expect.objectContaining({ kind: 'workstation' }),
        },
      },
    ]);
    const audits = await c.ctx.db.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_events WHERE action = 'secret.handout' AND object_id = $1`,
      [login.id],
    );
    expect(audits.rows.map((r) => r.details.dependencyFor)).toEqual([owner.id]);

    const report = await agent.report([held(job)], {
      outcome: 'ok',
      works: 'pending',
      dependencies: [
        { id: commandId, mode: 'check', status: 'ok' },
        { id: commandId, mode: 'push', status: 'failed', message: 'systemctl exited 1: unit app failed' },
      ],
    });
    expect(report.accepted).toEqual([job.jobId]);
    const view = await getCredential(c.admin, owner.id);
    expect(view.status).toBe('in_sync');
    expect(view.lastMessage).toBe(
      "password changed; dependency 'restart app' failed: systemctl exited 1: unit app failed",
    );
    expect(view.dependencies!.map((d) => [d.name, d.status, d.checkStatus])).toEqual([
      ['restart app', 'failed', 'ok'],
      ['replica', 'ok', 'not_run'],
    ]);
    const password = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${owner.id}/password`),
      200,
    );
    expect(password.password).toBe(job.pendingPassword);
    const ended = await expectStatus<SyncRunView>(c.admin.get(`/sync-runs/${run.id}`), 200);
    expect(ended.counts).toMatchObject({ impacted: 1, partial: 1, success: 0 });
    const items = await c.ctx.db.query<{ result: string; reason: string }>(
      'SELECT result, reason FROM sync_run_items WHERE run_id = $1',
      [run.id],
    );
    expect(items.rows).toEqual([{ result: 'partial', reason: 'dependency_failed' }]);

    // The chained credential: a change of its own, with the same password.
    const chain = await claimOne('change');
    expect(chain.credentialId).toBe(chained.id);
    expect(chain.pendingPassword).toBe(job.pendingPassword);
    await agent.report([held(chain)], { outcome: 'ok', works: 'pending' });
  });

  it('retry pushes the failed dependency alone with a verification, without a change', async () => {
    await expectStatus(c.admin.post(`/credentials/${owner.id}/dependencies/retry`, {}), 202);
    const job = await claimOne('verify');
    expect(job.pendingPassword).toBeUndefined();
    expect(job.dependencies?.map((d) => [d.id, d.mode])).toEqual([[commandId, 'push']]);
    await agent.report([held(job)], {
      outcome: 'ok',
      dependencies: [{ id: commandId, mode: 'push', status: 'ok' }],
    });
    const view = await getCredential(c.admin, owner.id);
    expect(view.dependencies!.map((d) => [d.status, d.requested])).toEqual([
      ['ok', null],
      ['ok', null],
    ]);
  });

  it('a change handed back before its dependencies ran: the next holder gets them again', async () => {
    await expectStatus(c.admin.post(`/credentials/${owner.id}/change`, {}), 202);
    const first = await claimOne('change');
    expect(first.dependencies).toHaveLength(1);
    // The agent set the password, then stopped before its dependencies (its job goes back).
    await agent.release([held(first)]);
    const next = await claimOne('change');
    expect(next).toMatchObject({ pendingMayBeSet: true, pendingPassword: first.pendingPassword });
    expect(next.dependencies?.map((d) => d.id)).toEqual([commandId]);
    await agent.report([held(next)], {
      outcome: 'ok',
      works: 'pending',
      dependencies: [{ id: commandId, mode: 'push', status: 'ok' }],
    });
    const view = await getCredential(c.admin, owner.id);
    expect(view.lastMessage).toBeNull();
    expect(view.dependencies!.map((d) => d.status)).toEqual(['ok', 'ok']);
  });

  it('a report naming another credential’s dependency changes nothing of it', async () => {
    // The change above chained the same password to the replica again: its job.
    const job = await claimOne('change');
    expect(job.credentialId).toBe(chained.id);
    await agent.report([held(job)], {
      outcome: 'ok',
      works: 'pending',
      dependencies: [{ id: commandId, mode: 'push', status: 'failed', message: 'forged' }],
    });
    const view = await getCredential(c.admin, owner.id);
    expect(view.dependencies!.map((d) => [d.id, d.status])).toEqual([
      [commandId, 'ok'],
      [chainId, 'ok'],
    ]);
  });
});

describe('a chain never comes back to where it starts', () => {
  it('a dependency that would close a cycle, directly or through others, is refused naming it', async () => {
    // The owner passes its password on to `chained` (beforeAll): `chained` may not pass it back.
    const back = { kind: 'credential', name: 'back', credentialId: owner.id };
    const direct = await c.admin.post(`/credentials/${chained.id}/dependencies`, { dependencies: [back] });
    expect(direct.status).toBe(400);
    expect((direct.body as ErrorBody).error.issues).toEqual([
      {
        field: 'body.dependencies.0.credentialId',
        message: expect.stringContaining('a chain may not come back to where it starts') as string,
      },
    ]);
    // Through a third credential: chained → third is fine, third → owner closes owner → chained → third → owner.
    const third = await createCredential(c.admin, targetId);
    await expectStatus(
      c.admin.post(`/credentials/${chained.id}/dependencies`, {
        dependencies: [{ kind: 'credential', name: 'third', credentialId: third.id }],
      }),
      200,
    );
    const indirect = await c.admin.post(`/credentials/${third.id}/dependencies`, { dependencies: [back] });
    expect(indirect.status).toBe(400);
    expect(JSON.stringify(indirect.body)).toContain('body.dependencies.0.credentialId');
    // The owner may set its own chain again (nothing comes back to it once the detour is gone).
    await expectStatus(c.admin.post(`/credentials/${chained.id}/dependencies`, { dependencies: [] }), 200);
    await expectStatus(
      c.admin.post(`/credentials/${owner.id}/dependencies`, {
        dependencies: (await getCredential(c.admin, owner.id)).dependencies!.map((d) => d.definition),
      }),
      200,
    );
    // The first verification of `third`, so that nothing else is queued below.
    for (const job of await agent.claimAll(1, 3000)) await agent.report([held(job)]);
  });

  it('a cycle that got in anyway (two edits at once) ends: a credential that already has the password gets no change', async () => {
    // What two concurrent edits could leave: owner → chained and chained → owner.
    await c.ctx.db.query(
      `INSERT INTO credential_dependencies (id, credential_id, position, name, kind, definition)
       VALUES ($1, $2, 0, 'back', 'credential', $3)`,
      [
        randomUUID(),
        chained.id,
        JSON.stringify({ kind: 'credential', name: 'back', credentialId: owner.id }),
      ],
    );
    await expectStatus(c.admin.post(`/credentials/${owner.id}/change`, {}), 202);
    const change = await claimOne('change');
    expect(change.credentialId).toBe(owner.id);
    await agent.report([held(change)], {
      outcome: 'ok',
      works: 'pending',
      dependencies: [{ id: commandId, mode: 'push', status: 'ok' }],
    });
    const chain = await claimOne('change');
    expect(chain).toMatchObject({ credentialId: chained.id, pendingPassword: change.pendingPassword });
    await agent.report([held(chain)], { outcome: 'ok', works: 'pending' });
    // Back at the owner: it already has that password, so no change starts and the chain ends.
    expect(await agent.claimAll(1, 1000)).toEqual([]);
    const view = await getCredential(c.admin, chained.id);
    expect(view.dependencies!.map((d) => [d.name, d.status, d.message])).toEqual([
      ['back', 'ok', `credential ${owner.id} already has this password`],
    ]);
  });
});

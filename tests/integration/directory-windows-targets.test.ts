/**
 * The coordinator's side of the `directory` and `windows` kinds, through the API and the agent
 * gateway (a FakeAgent reports what a real agent would): the documented POST /targets bodies are
 * taken; bad connections are 400s naming the field and create nothing; a privileged credential
 * must be on the same target (same server, TLS and pinned identity); what an agent observes is
 * pinned on first use, and a different identity later is stored as the credential's
 * `lastErrorCode` and audited, the pin left alone. The adapters themselves run against real servers
 * in directory-*-adapter.test.ts and windows-adapter.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  type ErrorBody,
} from '../support/fixtures.js';
import { REPO_ROOT } from '../support/paths.js';

let c: InProcessCoordinator;
let siteId: string;
let agent: FakeAgent;

const FP_1 = Array(32).fill('A1').join(':');
const FP_2 = Array(32).fill('B2').join(':');
const CA_1 = '-----BEGIN CERTIFICATE-----\nMIIBone\n-----END CERTIFICATE-----\n';
const CA_2 = '-----BEGIN CERTIFICATE-----\nMIIBtwo\n-----END CERTIFICATE-----\n';

beforeAll(async () => {
  c = await startInProcessCoordinator('directory-windows-targets', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
});
afterAll(() => c?.close());

let n = 0;
const post = (kind: string, connection: Record<string, unknown>) =>
  c.admin.post('/targets', { siteId, name: `${kind}-${++n}-${Date.now()}`, kind, connection });
async function target(kind: string, connection: Record<string, unknown>): Promise<string> {
  return (await expectStatus<{ id: string }>(post(kind, connection), 201, 'POST /targets')).id;
}
const connectionOf = async (id: string) =>
  (await expectStatus<{ connection: Record<string, unknown> }>(c.admin.get(`/targets/${id}`), 200))
    .connection;

async function expect400(kind: string, connection: Record<string, unknown>, field: string): Promise<void> {
  const before = (await expectStatus<{ items: unknown[] }>(c.admin.get(`/targets?siteId=${siteId}`), 200))
    .items.length;
  const res = await post(kind, connection);
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  const issues = (res.body as ErrorBody).error.issues ?? [];
  expect(
    issues.map((i) => i.field),
    JSON.stringify(issues),
  ).toContain(field);
  const after = (await expectStatus<{ items: unknown[] }>(c.admin.get(`/targets?siteId=${siteId}`), 200))
    .items.length;
  expect(after).toBe(before);
}

async function claimFor(id: string): Promise<ClaimedJob> {
  const jobs = await agent.claim(1, 2_000);
  expect(jobs.map((j) => j.credentialId)).toEqual([id]);
  return jobs[0]!;
}

interface AuditItem {
  action: string;
  details: Record<string, unknown>;
}
const auditOf = async (targetId: string, action: string) =>
  (
    await expectStatus<{ items: AuditItem[] }>(
      c.admin.get(`/audit?objectType=target&objectId=${targetId}&action=${action}`),
      200,
    )
  ).items;

/** The POST /targets bodies of an adapter document (json blocks with a kind). */
function documented(file: string): { kind: string; connection: Record<string, unknown> }[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  return [...text.matchAll(/```json\n([\s\S]*?)\n```/g)]
    .map((m) => JSON.parse(m[1]!) as { kind?: string; connection?: Record<string, unknown> })
    .filter((b): b is { kind: string; connection: Record<string, unknown> } => typeof b.kind === 'string');
}

describe('directory targets', () => {
  const ad = { flavour: 'active_directory', host: 'dc01.corp.example', domain: 'CORP' };

  it('the bodies of docs/adapters/directory.md are taken (the privileged one once its credential exists)', async () => {
    for (const body of documented('docs/adapters/directory.md')) {
      const connection = { ...body.connection };
      if (connection.privilegedCredentialId !== undefined) {
        const admin = await target('directory', {
          ...connection,
          changeVia: 'self',
          privilegedCredentialId: undefined,
        });
        connection.privilegedCredentialId = (
          await createCredential(c.admin, admin, { syncEnabled: false })
        ).id;
      }
      const id = await target(body.kind, connection);
      expect((await connectionOf(id)).flavour).toBe(connection.flavour);
    }
  });

  it('a malformed DN, a host that is not a host, a port out of range: 400 naming the field, nothing created', async () => {
    await expect400('directory', { ...ad, baseDn: 'OU=Service,DC=corp,example' }, 'body.connection.baseDn');
    await expect400('directory', { ...ad, host: 'ldaps://dc01.corp.example:636' }, 'body.connection.host');
    await expect400('directory', { ...ad, host: 'dc01 corp' }, 'body.connection.host');
    await expect400('directory', { ...ad, port: 0 }, 'body.connection.port');
    await expect400('directory', { ...ad, port: 65_536 }, 'body.connection.port');
    await expect400(
      'directory',
      { flavour: 'ldap', host: 'ldap1', userDnTemplate: 'uid={username},ou=people,,dc=x' },
      'body.connection.userDnTemplate',
    );
    await expect400(
      'directory',
      { ...ad, tls: { mode: 'ldaps', certificateSha256: 'SHA256:abc' } },
      'body.connection.tls.certificateSha256',
    );
    await expect400('directory', { ...ad, tls: { mode: 'ssl' } }, 'body.connection.tls.mode');
    await expect400('directory', { host: 'dc01' }, 'body.connection.flavour');
  });

  it('a privileged credential must be on the same server, TLS mode and CA; a target without a pin takes over its pin', async () => {
    const adminTarget = await target('directory', { ...ad, tls: { mode: 'ldaps', certificateSha256: FP_1 } });
    const admin = await createCredential(c.admin, adminTarget, {
      username: 'CORP\\pwadmin',
      syncEnabled: false,
    });
    const naming = (extra: Record<string, unknown>) => ({
      ...ad,
      changeVia: 'privileged',
      privilegedCredentialId: admin.id,
      ...extra,
    });
    await expect400(
      'directory',
      naming({ host: 'dc02.corp.example' }),
      'body.connection.privilegedCredentialId',
    );
    await expect400(
      'directory',
      naming({ tls: { mode: 'starttls' } }),
      'body.connection.privilegedCredentialId',
    );
    await expect400(
      'directory',
      naming({ tls: { mode: 'ldaps', ca: CA_1 } }),
      'body.connection.privilegedCredentialId',
    );
    await expect400(
      'directory',
      naming({ tls: { mode: 'ldaps', certificateSha256: FP_2 } }),
      'body.connection.privilegedCredentialId',
    );
    const id = await target('directory', naming({}));
    expect(await connectionOf(id)).toMatchObject({ tls: { mode: 'ldaps', certificateSha256: FP_1 } });

    // Two targets trusting the same CA are the same endpoint; another CA is not.
    const caTarget = await target('directory', { ...ad, tls: { mode: 'ldaps', ca: CA_1 } });
    const caAdmin = await createCredential(c.admin, caTarget, {
      username: 'CORP\\pwadmin2',
      syncEnabled: false,
    });
    await target('directory', {
      ...ad,
      tls: { mode: 'ldaps', ca: CA_1 },
      changeVia: 'privileged',
      privilegedCredentialId: caAdmin.id,
    });
    await expect400(
      'directory',
      {
        ...ad,
        tls: { mode: 'ldaps', ca: CA_2 },
        changeVia: 'privileged',
        privilegedCredentialId: caAdmin.id,
      },
      'body.connection.privilegedCredentialId',
    );
  });

  it('pins the first certificate an agent sees, audited; a different one later is tls_certificate_changed, audited with both, the pin stays', async () => {
    const targetId = await target('directory', ad);
    const cred = await createCredential(c.admin, targetId, { username: 'svc-backup@corp.example' });
    const first = await claimFor(cred.id);
    expect(first.target.connection).toMatchObject({ tls: { mode: 'ldaps' }, port: 636 });
    await agent.report([held(first)], { outcome: 'ok', observed: { tlsCertificateSha256: FP_1 } });
    expect(await connectionOf(targetId)).toMatchObject({ tls: { mode: 'ldaps', certificateSha256: FP_1 } });
    expect(await auditOf(targetId, 'target.pin_observed')).toMatchObject([
      { details: { observed: { tlsCertificateSha256: FP_1 } } },
    ]);

    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202);
    const second = await claimFor(cred.id);
    expect(second.target.connection).toMatchObject({ tls: { certificateSha256: FP_1 } });
    await agent.report([held(second)], {
      outcome: 'failed',
      reason: 'error',
      message: `TLS certificate of ldaps://dc01.corp.example:636 changed: expected ${FP_1}, got ${FP_2}`,
      detailCode: 'tls_certificate_changed',
      observed: { tlsCertificateSha256: FP_2 },
    });
    expect(await getCredential(c.admin, cred.id)).toMatchObject({
      status: 'out_of_sync',
      statusReason: 'error',
      lastErrorCode: 'tls_certificate_changed',
    });
    expect(await connectionOf(targetId)).toMatchObject({ tls: { certificateSha256: FP_1 } });
    expect(await auditOf(targetId, 'target.tls_certificate_mismatch')).toMatchObject([
      { details: { credentialId: cred.id, pinned: FP_1, presented: FP_2 } },
    ]);
  });

  it('a target trusting a CA records no certificate', async () => {
    const targetId = await target('directory', {
      ...ad,
      host: 'dc03.corp.example',
      tls: { mode: 'ldaps', ca: CA_1 },
    });
    const cred = await createCredential(c.admin, targetId, { username: 'svc@corp.example' });
    const job = await claimFor(cred.id);
    await agent.report([held(job)], { outcome: 'ok', observed: { tlsCertificateSha256: FP_1 } });
    expect((await connectionOf(targetId)).tls).toEqual({ mode: 'ldaps', ca: CA_1 });
    expect(await auditOf(targetId, 'target.pin_observed')).toEqual([]);
  });
});

describe('windows targets', () => {
  const ws = { host: 'ws01.corp.example', domain: 'WS01' };
  const SID_1 = 'S-1-5-21-1004336348-1177238915-682003330';
  const SID_2 = 'S-1-5-21-2222222222-3333333333-4444444444';

  it('the bodies of docs/adapters/windows.md are taken', async () => {
    const bodies = documented('docs/adapters/windows.md');
    expect(bodies.length).toBeGreaterThanOrEqual(1);
    for (const body of bodies) {
      const connection = { ...body.connection };
      if (connection.privilegedCredentialId !== undefined) {
        const adminTarget = await target('windows', {
          ...connection,
          changeVia: 'self',
          privilegedCredentialId: undefined,
        });
        connection.privilegedCredentialId = (
          await createCredential(c.admin, adminTarget, { username: 'Administrator', syncEnabled: false })
        ).id;
      }
      await target(body.kind, connection);
    }
  });

  it('a host that is not a host, a port out of range, a malformed SID or domain: 400 naming the field', async () => {
    await expect400('windows', { host: '\\\\ws01\\c$' }, 'body.connection.host');
    await expect400('windows', { host: 'smb://ws01' }, 'body.connection.host');
    await expect400('windows', { host: 'ws01', port: 70_000 }, 'body.connection.port');
    await expect400(
      'windows',
      { host: 'ws01', accountDomainSid: 'S-1-5-32-544' },
      'body.connection.accountDomainSid',
    );
    await expect400('windows', { host: 'ws01', domain: 'CORP\\WS01' }, 'body.connection.domain');
    await expect400('windows', { host: 'ws01', protection: 'off' }, 'body.connection.protection');
  });

  it('a privileged credential must be on the same host, port and pinned SID; a target without a pin takes it over', async () => {
    const adminTarget = await target('windows', { ...ws, accountDomainSid: SID_1 });
    const admin = await createCredential(c.admin, adminTarget, {
      username: 'Administrator',
      syncEnabled: false,
    });
    const naming = (extra: Record<string, unknown>) => ({
      ...ws,
      changeVia: 'privileged',
      privilegedCredentialId: admin.id,
      ...extra,
    });
    await expect400(
      'windows',
      naming({ host: 'ws02.corp.example' }),
      'body.connection.privilegedCredentialId',
    );
    await expect400('windows', naming({ port: 1445 }), 'body.connection.privilegedCredentialId');
    await expect400('windows', naming({ accountDomainSid: SID_2 }), 'body.connection.privilegedCredentialId');
    // A directory credential is not a Windows one, even on the same host.
    const dirTarget = await target('directory', { flavour: 'active_directory', host: ws.host });
    const dirAdmin = await createCredential(c.admin, dirTarget, { username: 'a@b.c', syncEnabled: false });
    await expect400(
      'windows',
      naming({ privilegedCredentialId: dirAdmin.id }),
      'body.connection.privilegedCredentialId',
    );
    const id = await target('windows', naming({}));
    expect((await connectionOf(id)).accountDomainSid).toBe(SID_1);
  });

  it('pins the account domain SID an agent sees first; another one later is account_domain_changed, audited, the pin stays', async () => {
    const targetId = await target('windows', { ...ws, host: 'ws03.corp.example' });
    const cred = await createCredential(c.admin, targetId, { username: 'backup-admin' });
    const first = await claimFor(cred.id);
    expect(first.target.connection).toMatchObject({ port: 445, protection: 'sign' });
    await agent.report([held(first)], { outcome: 'ok', observed: { accountDomainSid: SID_1 } });
    expect((await connectionOf(targetId)).accountDomainSid).toBe(SID_1);
    expect(await auditOf(targetId, 'target.pin_observed')).toMatchObject([
      { details: { observed: { accountDomainSid: SID_1 } } },
    ]);

    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202);
    const second = await claimFor(cred.id);
    expect(second.target.connection.accountDomainSid).toBe(SID_1);
    await agent.report([held(second)], {
      outcome: 'failed',
      reason: 'error',
      message: `smb://ws03.corp.example:445 answers for account domain ${SID_2}, not the pinned ${SID_1}`,
      detailCode: 'account_domain_changed',
      observed: { accountDomainSid: SID_2 },
    });
    expect(await getCredential(c.admin, cred.id)).toMatchObject({
      statusReason: 'error',
      lastErrorCode: 'account_domain_changed',
    });
    expect((await connectionOf(targetId)).accountDomainSid).toBe(SID_1);
    expect(await auditOf(targetId, 'target.account_domain_mismatch')).toMatchObject([
      { details: { credentialId: cred.id, pinned: SID_1, presented: SID_2 } },
    ]);
  });

  it('a new password the kind cannot take (over 128 characters, a control character) is refused at once, naming it', async () => {
    const targetId = await target('windows', { ...ws, host: 'ws04.corp.example' });
    const cred = await createCredential(c.admin, targetId, { username: 'svc' });
    for (const password of ['a'.repeat(129), 'ab\ncd-1234']) {
      const res = await c.admin.post(`/credentials/${cred.id}/change`, { password });
      expect(res.status).toBe(400);
      const issues = (res.body as ErrorBody).error.issues ?? [];
      expect(issues.map((i) => i.field)).toEqual(['body.password']);
      expect(issues[0]!.message).toMatch(/maximum of 128 characters|forbids \(control characters\)/);
    }
  });
});

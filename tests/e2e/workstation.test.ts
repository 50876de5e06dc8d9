/**
 * The `workstation` family end to end: the real `sync-coordinator` and `sync-agent` processes, a
 * real OpenSSH sshd with throw-away local users. Targets and credentials are created through the
 * API; the first verification pins the host key (trust on first use); a change requested with
 * POST /credentials/{id}/change leaves a password that logs in over SSH. Needs root.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { createCredential, createEnrollmentToken, createSite, expectStatus } from '../support/fixtures.js';
import {
  changeThroughApi as changeAndWait,
  credentialWhere as waitForCredential,
} from '../support/credential-waits.js';
import { api, type ApiClient } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startAgent, startCoordinator, stopAll } from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { canLogin, sshdUnavailable, startSshd, type Sshd, type TestUser } from '../support/sshd.js';

const skipReason = sshdUnavailable();
if (skipReason) console.warn(`e2e workstation: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('workstation, end to end', () => {
  let database: TestDatabase;
  let sshd: Sshd;
  let admin: ApiClient;
  let siteId: string;

  beforeAll(async () => {
    sshd = await startSshd();
    database = await createTestDatabase('e2e-workstation');
    const coordinator = await startCoordinator(
      {
        DATABASE_URL: database.url,
        REDIS_URL: inject('redisUrl'),
        QUEUE_PREFIX: uniquePrefix('e2e-workstation'),
        COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
        COORDINATOR_MASTER_KEY: newMasterKey(),
        LOG_LEVEL: 'info',
      },
      { label: 'e2e-workstation-coordinator' },
    );
    admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
    siteId = (await createSite(admin, 'e2e-workstation-site')).id;
    await startAgent(
      {
        COORDINATOR_URL: coordinator.url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
        AGENT_NAME: 'e2e-workstation-agent',
        LOG_LEVEL: 'info',
      },
      { label: 'e2e-workstation-agent' },
    );
  }, 120_000);

  afterAll(async () => {
    await stopAll();
    await database?.drop();
    await sshd?.stop();
  });

  const createTarget = async (connection: Record<string, unknown>): Promise<string> =>
    (
      await expectStatus<{ id: string }>(
        admin.post('/targets', {
          siteId,
          name: `ssh-${Math.random().toString(36).slice(2, 8)}`,
          kind: 'workstation',
          connection: { host: sshd.host, port: sshd.port, ...connection },
        }),
        201,
        'POST /targets',
      )
    ).id;

  const credentialWhere = (id: string, check: (c: CredentialView) => boolean, message: string) =>
    waitForCredential(admin, id, check, message);

  /** Requests a change through the API and waits for it to settle in_sync with a new password. */
  async function changeThroughApi(credentialId: string, before: string): Promise<string> {
    const { credential, password } = await changeAndWait(admin, credentialId);
    expect(credential).toMatchObject({ status: 'in_sync', statusReason: null });
    expect(password).not.toBe(before);
    return password;
  }

  it('verifies in sync, pins the host key, and changes the password with passwd', async () => {
    const user: TestUser = await sshd.createUser();
    const targetId = await createTarget({});
    const cred = await createCredential(admin, targetId, {
      username: user.username,
      password: user.password,
    });
    await credentialWhere(cred.id, (c) => c.status === 'in_sync', 'the credential to reach in_sync');

    // Trust on first use: the key the agent saw is now the target's pin.
    const target = await expectStatus<{ connection: Record<string, unknown> }>(
      admin.get(`/targets/${targetId}`),
      200,
      'GET target',
    );
    expect(target.connection.hostKeySha256).toBe(sshd.fingerprint());

    const next = await changeThroughApi(cred.id, user.password);
    expect(await canLogin(sshd.host, sshd.port, user.username, next)).toBe(true);
    expect(await canLogin(sshd.host, sshd.port, user.username, user.password)).toBe(false);
  });

  it('changes a password through the privileged account (sudo chpasswd)', async () => {
    const root: TestUser = await sshd.createUser({ sudo: true });
    const user: TestUser = await sshd.createUser();
    // The privileged account is a credential of the same site (here on a self-change target).
    const adminTarget = await createTarget({ hostKeySha256: sshd.fingerprint() });
    const privileged = await createCredential(admin, adminTarget, {
      username: root.username,
      password: root.password,
      syncEnabled: false,
    });
    const targetId = await createTarget({
      hostKeySha256: sshd.fingerprint(),
      changeVia: 'privileged',
      privilegedCredentialId: privileged.id,
    });
    const cred = await createCredential(admin, targetId, {
      username: user.username,
      password: user.password,
    });
    await credentialWhere(cred.id, (c) => c.status === 'in_sync', 'the credential to reach in_sync');

    const next = await changeThroughApi(cred.id, user.password);
    expect(await canLogin(sshd.host, sshd.port, user.username, next)).toBe(true);
    // The privileged account's own password is untouched.
    expect(await canLogin(sshd.host, sshd.port, root.username, root.password)).toBe(true);
  });

  it('a host key that differs from the pin is refused: out_of_sync / error, lastErrorCode host_key_changed, audited', async () => {
    const user: TestUser = await sshd.createUser();
    // The pin of another machine's key: to the agent, this server's key has changed.
    const pinned = `SHA256:${'Q'.repeat(43)}`;
    const targetId = await createTarget({ hostKeySha256: pinned });
    const cred = await createCredential(admin, targetId, {
      username: user.username,
      password: user.password,
    });
    const failed = await credentialWhere(
      cred.id,
      (c) => c.status === 'out_of_sync' && c.job.state === 'idle',
      'the verification to fail on the host key',
    );
    expect(failed).toMatchObject({
      statusReason: 'error',
      lastErrorCode: 'host_key_changed',
      lastMessage: `host key changed: expected ${pinned}, got ${sshd.fingerprint()}`,
    });
    const audit = await expectStatus<{ items: { action: string; details: Record<string, unknown> }[] }>(
      admin.get(`/audit?objectType=target&objectId=${targetId}&action=target.host_key_mismatch`),
      200,
      'GET /audit',
    );
    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]!.details).toMatchObject({
      credentialId: cred.id,
      pinned,
      presented: sshd.fingerprint(),
    });
    // The pin is never replaced by what the agent saw.
    const target = await expectStatus<{ connection: Record<string, unknown> }>(
      admin.get(`/targets/${targetId}`),
      200,
      'GET target',
    );
    expect(target.connection.hostKeySha256).toBe(pinned);
  });
});

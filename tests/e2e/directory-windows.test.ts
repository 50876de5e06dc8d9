/**
 * The `directory` and `windows` kinds end to end: the real `sync-coordinator` and `sync-agent`
 * processes, a private OpenLDAP (slapd with ppolicy and TLS) and a standalone Samba with local
 * accounts. Targets and credentials are created through the API; the first verification pins the
 * server (the TLS certificate, the account domain SID: trust on first use); a change requested with
 * POST /credentials/{id}/change leaves a generated password that an independent client (ldapwhoami,
 * smbclient) logs on with, while the old one is refused. Needs root (Samba's local accounts).
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
import {
  sambaStandaloneUnavailable,
  startSambaStandalone,
  type SambaStandalone,
} from '../support/samba-standalone.js';
import { ADMIN_DN, slapdUnavailable, startSlapd, USER_DN_TEMPLATE, type Slapd } from '../support/slapd.js';

const skipReason = slapdUnavailable() ?? sambaStandaloneUnavailable();
if (skipReason) console.warn(`e2e directory-windows: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('directory and windows targets, end to end', () => {
  let database: TestDatabase;
  let slapd: Slapd;
  let smb: SambaStandalone;
  let admin: ApiClient;
  let siteId: string;

  beforeAll(async () => {
    [slapd, smb, database] = await Promise.all([
      startSlapd(),
      startSambaStandalone(),
      createTestDatabase('e2e-directory-windows'),
    ]);
    const coordinator = await startCoordinator(
      {
        DATABASE_URL: database.url,
        REDIS_URL: inject('redisUrl'),
        QUEUE_PREFIX: uniquePrefix('e2e-directory-windows'),
        COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
        COORDINATOR_MASTER_KEY: newMasterKey(),
        LOG_LEVEL: 'info',
      },
      { label: 'e2e-directory-windows-coordinator' },
    );
    admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
    siteId = (await createSite(admin, 'e2e-directory-windows-site')).id;
    await startAgent(
      {
        COORDINATOR_URL: coordinator.url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
        AGENT_NAME: 'e2e-directory-windows-agent',
        LOG_LEVEL: 'info',
      },
      { label: 'e2e-directory-windows-agent' },
    );
  }, 120_000);

  afterAll(async () => {
    await stopAll();
    await database?.drop();
    await slapd?.stop();
    await smb?.stop();
  });

  const createTarget = async (kind: string, connection: Record<string, unknown>): Promise<string> =>
    (
      await expectStatus<{ id: string }>(
        admin.post('/targets', {
          siteId,
          name: `${kind}-${Math.random().toString(36).slice(2, 8)}`,
          kind,
          connection,
        }),
        201,
        'POST /targets',
      )
    ).id;
  const connectionOf = async (id: string) =>
    (await expectStatus<{ connection: Record<string, unknown> }>(admin.get(`/targets/${id}`), 200))
      .connection;
  const credentialWhere = (id: string, check: (c: CredentialView) => boolean, message: string) =>
    waitForCredential(admin, id, check, message);

  /** Requests a change through the API and waits for it to settle in_sync with a new password. */
  async function changeThroughApi(credentialId: string, before: string): Promise<string> {
    const { credential, password } = await changeAndWait(admin, credentialId);
    expect(credential).toMatchObject({ status: 'in_sync', statusReason: null });
    expect(password).not.toBe(before);
    return password;
  }

  it('OpenLDAP over StartTLS: in sync, the certificate pinned on first use, a self change and a privileged reset proven by ldapwhoami', async () => {
    const u = await slapd.createUser();
    const targetId = await createTarget('directory', {
      flavour: 'ldap',
      host: slapd.host,
      port: slapd.ldapPort,
      tls: { mode: 'starttls' },
      userDnTemplate: USER_DN_TEMPLATE,
    });
    const cred = await createCredential(admin, targetId, { username: u.uid, password: u.password });
    await credentialWhere(cred.id, (c) => c.status === 'in_sync', 'the credential to reach in_sync');
    expect(await connectionOf(targetId)).toMatchObject({
      tls: { mode: 'starttls', certificateSha256: await slapd.certificateSha256() },
    });

    const next = await changeThroughApi(cred.id, u.password);
    expect(await slapd.canBind(u.dn, next)).toBe(true);
    expect(await slapd.canBind(u.dn, u.password)).toBe(false);

    // A privileged reset by the directory's administrator, a credential on a target of its own.
    const adminTarget = await createTarget('directory', {
      flavour: 'ldap',
      host: slapd.host,
      port: slapd.ldapPort,
      tls: { mode: 'starttls', ca: slapd.caPem },
    });
    const adminCred = await createCredential(admin, adminTarget, {
      username: ADMIN_DN,
      password: slapd.adminPassword,
    });
    await credentialWhere(
      adminCred.id,
      (c) => c.status === 'in_sync',
      'the admin credential to reach in_sync',
    );
    const resetTarget = await createTarget('directory', {
      flavour: 'ldap',
      host: slapd.host,
      port: slapd.ldapPort,
      tls: { mode: 'starttls', ca: slapd.caPem },
      userDnTemplate: USER_DN_TEMPLATE,
      changeVia: 'privileged',
      privilegedCredentialId: adminCred.id,
    });
    const other = await slapd.createUser();
    const resetCred = await createCredential(admin, resetTarget, {
      username: other.uid,
      password: other.password,
    });
    await credentialWhere(resetCred.id, (c) => c.status === 'in_sync', 'the second account to reach in_sync');
    const reset = await changeThroughApi(resetCred.id, other.password);
    expect(await slapd.canBind(other.dn, reset)).toBe(true);
    expect(await slapd.canBind(other.dn, other.password)).toBe(false);
  });

  it('a local Windows account over SMB: in sync, the machine SID pinned on first use, a change proven by smbclient', async () => {
    const u = await smb.createUser();
    const targetId = await createTarget('windows', {
      host: smb.host,
      port: smb.port,
      domain: smb.netbiosName,
    });
    const cred = await createCredential(admin, targetId, { username: u.username, password: u.password });
    await credentialWhere(cred.id, (c) => c.status === 'in_sync', 'the credential to reach in_sync');
    expect((await connectionOf(targetId)).accountDomainSid).toBe(smb.machineSid);

    const next = await changeThroughApi(cred.id, u.password);
    expect(await smb.canSmb(u.username, next)).toBe(true);
    expect(await smb.canSmb(u.username, u.password)).toBe(false);
  });

  it('a wrong stored password is out_of_sync (mismatch); a locked-out LDAP account is locked_or_disabled with its code', async () => {
    const u = await smb.createUser();
    const targetId = await createTarget('windows', {
      host: smb.host,
      port: smb.port,
      domain: smb.netbiosName,
    });
    const cred = await createCredential(admin, targetId, {
      username: u.username,
      password: `${u.password}-wrong`,
    });
    await credentialWhere(
      cred.id,
      (c) => c.status === 'out_of_sync' && c.statusReason === 'mismatch',
      'the credential to be out_of_sync (mismatch)',
    );

    const locked = await slapd.createUser();
    await slapd.modify(
      `dn: ${locked.dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`,
    );
    const ldapTarget = await createTarget('directory', {
      flavour: 'ldap',
      host: slapd.host,
      port: slapd.ldapsPort,
      tls: { mode: 'ldaps', ca: slapd.caPem },
      userDnTemplate: USER_DN_TEMPLATE,
    });
    const lockedCred = await createCredential(admin, ldapTarget, {
      username: locked.uid,
      password: locked.password,
    });
    expect(
      await credentialWhere(
        lockedCred.id,
        (c) => c.status === 'out_of_sync' && c.statusReason === 'locked_or_disabled',
        'the locked account to be out_of_sync',
      ),
    ).toMatchObject({ lastErrorCode: 'account_locked' });
  });
});

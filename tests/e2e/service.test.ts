/**
 * The `service` target kind end to end: the real `sync-coordinator` (PGlite) and `sync-agent`
 * processes (dist/), targets and credentials created through the API, on real database servers:
 * a private PostgreSQL cluster (password auth; the machine's own trusts loopback) with a self
 * change, and the machine's MariaDB with a change through a privileged (admin) credential.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createMysqlUser,
  mysqlCanLogin,
  mysqlServer,
  startPostgresCluster,
  type MysqlUser,
  type PostgresCluster,
  type PostgresRole,
} from '../support/databases.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  expectStatus,
  getCredential,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import {
  startAgent,
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

let cluster: PostgresCluster;
let coordinator: CoordinatorProcess;
let agent: ManagedProcess;
/** Every password of these tests: none may show up in a log line. */
const passwords: string[] = [];
let admin: ApiClient;
let siteId: string;
const pgRoles: PostgresRole[] = [];
const mysqlUsers: MysqlUser[] = [];

beforeAll(async () => {
  const [started] = await Promise.all([
    startPostgresCluster(),
    (async () => {
      coordinator = await startCoordinator(
        {
          REDIS_URL: inject('redisUrl'),
          QUEUE_PREFIX: uniquePrefix('e2e-service'),
          COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
          COORDINATOR_MASTER_KEY: newMasterKey(),
          LOG_LEVEL: 'info',
        },
        { label: 'e2e-service-coordinator' },
      );
      admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
      siteId = (await createSite(admin, `service-${randomBytes(3).toString('hex')}`)).id;
      agent = await startAgent(
        {
          COORDINATOR_URL: coordinator.url,
          ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
          AGENT_NAME: 'e2e-service-agent',
          AGENT_SHUTDOWN_GRACE_MS: '2000',
          LOG_LEVEL: 'info',
        },
        { label: 'e2e-service-agent' },
      );
    })(),
  ]);
  cluster = started;
}, 120_000);

afterAll(async () => {
  await stopAll();
  for (const user of mysqlUsers) await user.drop().catch(() => undefined);
  for (const role of pgRoles) await role.drop().catch(() => undefined);
  await cluster?.stop();
});

async function createServiceTarget(name: string, connection: Record<string, unknown>): Promise<string> {
  const body = await expectStatus<{ id: string }>(
    admin.post('/targets', { siteId, name, kind: 'service', connection }),
    201,
    'POST /targets',
  );
  return body.id;
}

const credentialWhere = async (
  id: string,
  check: (c: CredentialView) => boolean,
  message: string,
): Promise<CredentialView> => {
  const found = await waitFor(
    async () => {
      const c = await getCredential(admin, id);
      return check(c) ? c : false;
    },
    { timeoutMs: 30_000, intervalMs: 200, message },
  );
  return found as CredentialView;
};

const settledInSync = (c: CredentialView) =>
  c.status === 'in_sync' && c.job.state === 'idle' && !c.changePending;

/** Asks for a change through the API and returns the password the coordinator then holds. */
async function changeThroughApi(id: string): Promise<string> {
  await expectStatus(admin.post(`/credentials/${id}/change`, {}), 202, 'POST /credentials/{id}/change');
  const done = await credentialWhere(
    id,
    (c) => settledInSync(c) && c.lastChangedAt !== null,
    `credential ${id} changed and in_sync`,
  );
  expect(done.statusReason).toBeNull();
  const { password } = await expectStatus<{ password: string }>(
    admin.get(`/credentials/${id}/password`),
    200,
    'GET /credentials/{id}/password',
  );
  return password;
}

describe('service targets, end to end', () => {
  it('postgres (self change): in_sync, then a change through the API logs in to the real server', async () => {
    const role = await cluster.createRole();
    pgRoles.push(role);
    const targetId = await createServiceTarget('pg-private', {
      driver: 'postgres',
      host: cluster.host,
      port: cluster.port,
      connectTimeoutMs: 5_000,
    });
    const cred = await createCredential(admin, targetId, { username: role.name, password: role.password });
    await credentialWhere(cred.id, settledInSync, 'the postgres credential to reach in_sync');

    const next = await changeThroughApi(cred.id);
    passwords.push(role.password, next);
    expect(next).not.toBe(role.password);
    expect(await cluster.canLogin(role.name, next)).toBe(true);
    expect(await cluster.canLogin(role.name, role.password)).toBe(false);
  });

  it('mysql (MariaDB, privileged change by an admin credential): the new password logs in', async () => {
    const adminUser = await createMysqlUser({ grant: 'CREATE USER ON *.*', prefix: 'adm' });
    const account = await createMysqlUser();
    mysqlUsers.push(adminUser, account);
    const { host, port } = mysqlServer();
    const adminTarget = await createServiceTarget('mariadb-admins', { driver: 'mysql', host, port });
    const adminCred = await createCredential(admin, adminTarget, {
      username: adminUser.name,
      password: adminUser.password,
    });
    await credentialWhere(adminCred.id, settledInSync, 'the admin credential to reach in_sync');

    const targetId = await createServiceTarget('mariadb-app', {
      driver: 'mysql',
      host,
      port,
      changeVia: 'privileged',
      privilegedCredentialId: adminCred.id,
    });
    const cred = await createCredential(admin, targetId, {
      username: account.name,
      password: account.password,
    });
    await credentialWhere(cred.id, settledInSync, 'the mysql credential to reach in_sync');

    const next = await changeThroughApi(cred.id);
    passwords.push(adminUser.password, account.password, next);
    expect(next).not.toBe(account.password);
    expect(await mysqlCanLogin(account.name, next)).toBe(true);
    expect(await mysqlCanLogin(account.name, account.password)).toBe(false);
    // The admin's own password was only used, not changed.
    expect(await mysqlCanLogin(adminUser.name, adminUser.password)).toBe(true);
  });

  it('no password appears in the coordinator’s or the agent’s log', () => {
    expect(passwords.length).toBe(5);
    const lines = [...coordinator.logs(), ...agent.logs()];
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) for (const pw of passwords) expect(line).not.toContain(pw);
  });
});

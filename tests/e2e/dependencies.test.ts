/**
 * Dependencies end to end (docs/adapters/dependencies.md): the real `sync-coordinator` and agent
 * processes, the owner a real PostgreSQL role of a private cluster, and its dependencies on real
 * servers: a config file and a systemd-like command stand-in over Debian's sshd, a table of the
 * cluster holding a connection string, a setting of the local login site (tests/support/login-site.ts)
 * and a second credential in a chain. Each is proven by reading it back:
 * - a change updates every dependency;
 * - a dependency failing after the change ends partial with its reason; a retry of it alone fixes it;
 * - a dependency host down: pre-validation refuses, the target keeps its password;
 * - the agent killed (SIGKILL, the test-only fault agent: tests/support/fault-agent.ts) after the
 *   password change and before its dependencies: the next holder finishes them.
 * Needs root (sshd).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import type { DependencyView } from '../../shared/contracts/dependencies.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { credentialWhere, revealed } from '../support/credential-waits.js';
import { startPostgresCluster, type PostgresCluster, type PostgresRole } from '../support/databases.js';
import { FAULT_AGENT_SCRIPT } from '../support/fault-points.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  expectStatus,
  getCredential,
  type CreatedCredential,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { loginSiteConnection, settingSteps, startLoginSite, type LoginSite } from '../support/login-site.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startAgent, startCoordinator, stopAll, type ManagedProcess } from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { sshdUnavailable, startSshd, type Sshd, type TestUser } from '../support/sshd.js';

const skipReason = sshdUnavailable();
if (skipReason) console.warn(`e2e dependencies: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('dependencies, end to end', () => {
  let sshd: Sshd;
  let app: TestUser;
  let home: string;
  let cluster: PostgresCluster;
  let site: LoginSite;
  let database: TestDatabase;
  let admin: ApiClient;
  let coordinatorUrl: string;
  let siteId: string;
  let serviceTarget: string;
  let agentDir: string;
  let agent: ManagedProcess | undefined;
  const roles: PostgresRole[] = [];
  /** Login credentials (sync off): an SSH account, a database role, the web site's admin. */
  let sshLogin: CreatedCredential;
  let dbLogin: CreatedCredential;
  let webLogin: CreatedCredential;
  const webAdmin = { username: 'app-admin', password: 'Admin-pass-1' };

  beforeAll(async () => {
    [sshd, cluster, site, database] = await Promise.all([
      // The file dependency reads and writes over SFTP.
      startSshd({ config: ['Subsystem sftp internal-sftp'] }),
      startPostgresCluster(),
      startLoginSite(),
      createTestDatabase('e2e-dependencies'),
    ]);
    site.addUser(webAdmin.username, webAdmin.password);
    app = await sshd.createUser();
    home = `/home/${app.username}`;
    await root(
      [
        // The systemd-like stand-in: "restarts" the app with the password on its standard input,
        // unless $HOME/broken exists.
        `printf '#!/bin/sh\\n[ -e "$HOME/broken" ] && { echo "app would not start" >&2; exit 3; }\\ncat > "$HOME/restarted-with"\\n' > ${home}/restart-app`,
        `chmod 0755 ${home}/restart-app`,
        `chown ${app.username}:${app.username} ${home}/restart-app`,
      ].join(' && '),
    );
    const appDb = await cluster.createRole({ prefix: 'appdb' });
    roles.push(appDb);
    await cluster.query(`CREATE TABLE app_settings (owner text PRIMARY KEY, dsn text NOT NULL)`);
    await cluster.query(`GRANT SELECT, UPDATE ON app_settings TO ${appDb.name}`);

    const coordinator = await startCoordinator(
      {
        DATABASE_URL: database.url,
        REDIS_URL: inject('redisUrl'),
        QUEUE_PREFIX: uniquePrefix('e2e-dependencies'),
        COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
        COORDINATOR_MASTER_KEY: newMasterKey(),
        LOG_LEVEL: 'info',
        JOB_LOCK_MS: '5000',
        STALLED_CHECK_MS: '1000',
        RECONCILE_EVERY_MS: '2000',
        RECONCILE_GRACE_MS: '2000',
        SCHEDULER_TICK_MS: '250',
      },
      { label: 'e2e-dependencies-coordinator' },
    );
    coordinatorUrl = coordinator.url;
    admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
    siteId = (await createSite(admin, 'e2e-dependencies-site')).id;
    agentDir = mkdtempSync(join(tmpdir(), 'test-e2e-dependencies-agent-'));
    await launchAgent(true);

    serviceTarget = await createTarget('service', {
      driver: 'postgres',
      host: cluster.host,
      port: cluster.port,
      database: 'postgres',
      connectTimeoutMs: 3000,
    });
    const sshTarget = await createTarget('workstation', {
      host: sshd.host,
      port: sshd.port,
      hostKeySha256: sshd.fingerprint(),
    });
    const webTarget = await createTarget('web', loginSiteConnection(site.url));
    const off = { syncEnabled: false };
    sshLogin = await createCredential(admin, sshTarget, { ...app, ...off });
    dbLogin = await createCredential(admin, serviceTarget, {
      username: appDb.name,
      password: appDb.password,
      ...off,
    });
    webLogin = await createCredential(admin, webTarget, { ...webAdmin, ...off });
  }, 120_000);

  afterAll(async () => {
    await stopAll();
    await Promise.all(roles.map((r) => r.drop().catch(() => undefined)));
    await cluster?.stop();
    await sshd?.stop();
    await site?.close();
    await database?.drop();
    if (agentDir) rmSync(agentDir, { recursive: true, force: true });
  });

  function root(script: string): Promise<string> {
    return sshd.root('sh', ['-c', script]);
  }

  /** The agent of the site (the same identity each time); `fault`: the fault agent, armed after the change. */
  async function launchAgent(enroll = false, fault = false): Promise<void> {
    agent = await startAgent(
      {
        COORDINATOR_URL: coordinatorUrl,
        ...(enroll ? { ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId) } : {}),
        AGENT_STATE_DIR: agentDir,
        AGENT_NAME: 'e2e-dependencies-agent',
        AGENT_CLAIM_WAIT_MS: '1000',
        AGENT_REPORT_FLUSH_MS: '200',
        AGENT_SHUTDOWN_GRACE_MS: '500',
        LOG_LEVEL: 'info',
        ...(fault ? { FAULT_POINT: 'after-change', FAULT_BATCH: '1' } : {}),
      },
      {
        label: fault ? 'e2e-dependencies-fault-agent' : 'e2e-dependencies-agent',
        ...(fault ? { script: FAULT_AGENT_SCRIPT } : {}),
      },
    );
  }

  async function createTarget(kind: string, connection: Record<string, unknown>): Promise<string> {
    const name = `${kind}-${Math.random().toString(36).slice(2, 8)}`;
    const body = { siteId, name, kind, connection };
    return (await expectStatus<{ id: string }>(admin.post('/targets', body), 201, 'POST /targets')).id;
  }

  /**
   * A credential on a fresh role of the cluster, in sync, with its own config file, a row of
   * app_settings and a setting of the web site named after it (each holding "old").
   */
  async function owner(): Promise<{ cred: CreatedCredential; role: PostgresRole; name: string }> {
    const role = await cluster.createRole({ prefix: 'owner' });
    roles.push(role);
    const name = role.name;
    await root(
      `printf 'db_password = old\\nport = 8080\\n' > ${home}/${name}.conf && chown ${app.username}: ${home}/${name}.conf`,
    );
    await cluster.query(`INSERT INTO app_settings VALUES ($1, 'postgres://app:old@db/app')`, [name]);
    const cred = await createCredential(admin, serviceTarget, { username: name, password: role.password });
    await credentialWhere(admin, cred.id, (c) => c.status === 'in_sync', 'the owner to be in sync');
    return { cred, role, name };
  }

  /** The agent-run dependencies of an owner: file, command, service, web, in that order. */
  const agentDependencies = (name: string, loginId = sshLogin.id) => [
    {
      kind: 'file',
      name: 'app config',
      loginCredentialId: loginId,
      path: `${home}/${name}.conf`,
      format: 'keyvalue',
      key: 'db_password',
    },
    { kind: 'command', name: 'restart app', loginCredentialId: loginId, argv: [`${home}/restart-app`] },
    {
      kind: 'service',
      name: 'connection string',
      loginCredentialId: dbLogin.id,
      statement: `UPDATE app_settings SET dsn = 'postgres://app:' || $1 || '@db/app' WHERE owner = '${name}'`,
    },
    { kind: 'web', name: 'app settings', loginCredentialId: webLogin.id, steps: settingSteps(name) },
  ];

  async function setDependencies(id: string, dependencies: unknown[]): Promise<DependencyView[]> {
    const body = { dependencies };
    return (
      await expectStatus<{ items: DependencyView[] }>(
        admin.post(`/credentials/${id}/dependencies`, body),
        200,
        'POST dependencies',
      )
    ).items;
  }

  const dependenciesOf = async (id: string): Promise<DependencyView[]> =>
    (await getCredential(admin, id)).dependencies ?? [];

  /** What each dependency of the owner holds now: the file, the command's input, the row, the setting. */
  async function readBack(name: string): Promise<string[]> {
    const conf = await root(`cat ${home}/${name}.conf`);
    const restarted = await root(`cat ${home}/restarted-with 2>/dev/null || true`);
    const [row] = await cluster.query<{ dsn: string }>(`SELECT dsn FROM app_settings WHERE owner = $1`, [
      name,
    ]);
    return [conf, restarted, row!.dsn, site.setting(name) ?? '(none)'];
  }
  const expected = (password: string) => [
    `db_password = ${password}\nport = 8080\n`,
    `${password}\n`,
    `postgres://app:${password}@db/app`,
    password,
  ];

  /** Requests a change and waits until it settled (the job idle, nothing pending). */
  async function changeAndSettle(id: string): Promise<CredentialView> {
    const last = (await getCredential(admin, id)).lastChangedAt;
    await expectStatus(admin.post(`/credentials/${id}/change`, {}), 202, 'POST change');
    return credentialWhere(
      admin,
      id,
      (c) => c.lastChangedAt !== last && !c.changePending && c.job.state === 'idle',
      'the change to settle',
    );
  }

  it('a change: every dependency updated (file, command, row, web setting, chained credential), each read back', async () => {
    const { cred, role, name } = await owner();
    const followerRole = await cluster.createRole({ prefix: 'follower' });
    roles.push(followerRole);
    const follower = await createCredential(admin, serviceTarget, {
      username: followerRole.name,
      password: followerRole.password,
    });
    await credentialWhere(admin, follower.id, (c) => c.status === 'in_sync', 'the follower in sync');
    await setDependencies(cred.id, [
      ...agentDependencies(name),
      { kind: 'credential', name: 'follower', credentialId: follower.id },
    ]);

    const after = await changeAndSettle(cred.id);
    expect(after).toMatchObject({ status: 'in_sync', statusReason: null });
    const next = await revealed(admin, cred.id);
    expect(await cluster.canLogin(role.name, next)).toBe(true);
    expect(await readBack(name)).toEqual(expected(next));
    const deps = await dependenciesOf(cred.id);
    expect(deps.map((d) => [d.name, d.status, d.checkStatus])).toEqual([
      ['app config', 'ok', 'ok'],
      ['restart app', 'ok', 'ok'],
      ['connection string', 'ok', 'ok'],
      ['app settings', 'ok', 'ok'],
      ['follower', 'ok', 'not_run'],
    ]);
    // The chain: the follower's own change to the same password, proven on its role.
    await credentialWhere(
      admin,
      follower.id,
      (c) => c.lastChangedAt !== null && !c.changePending && c.job.state === 'idle' && c.status === 'in_sync',
      'the chained change to settle',
    );
    expect(await revealed(admin, follower.id)).toBe(next);
    expect(await cluster.canLogin(followerRole.name, next)).toBe(true);
  }, 120_000);

  it('a dependency failing after the change: partial with its reason; a retry of it alone fixes it', async () => {
    const { cred, role, name } = await owner();
    await setDependencies(cred.id, agentDependencies(name));
    await root(`touch ${home}/broken`);
    try {
      const after = await changeAndSettle(cred.id);
      expect(after.lastMessage).toContain("password changed; dependency 'restart app' failed");
    } finally {
      await root(`rm -f ${home}/broken`);
    }
    const next = await revealed(admin, cred.id);
    expect(await cluster.canLogin(role.name, next)).toBe(true);
    const failed = await dependenciesOf(cred.id);
    expect(failed.map((d) => [d.status, d.message])).toEqual([
      ['ok', null],
      ['failed', `${home}/restart-app exited 3: app would not start`],
      ['not_run', "not run: 'restart app' failed before it"],
      ['not_run', "not run: 'restart app' failed before it"],
    ]);
    const [conf, , dsn, setting] = await readBack(name);
    expect([conf, dsn, setting]).toEqual([expected(next)[0], 'postgres://app:old@db/app', '(none)']);

    // The failed ones alone, with the stored password: no new change.
    await expectStatus(admin.post(`/credentials/${cred.id}/dependencies/retry`, {}), 202, 'retry');
    await credentialWhere(
      admin,
      cred.id,
      (c) => (c.dependencies ?? []).every((d) => d.status === 'ok' && d.requested === null),
      'the retried dependencies to be ok',
    );
    expect(await revealed(admin, cred.id)).toBe(next);
    expect(await readBack(name)).toEqual(expected(next));
  }, 120_000);

  it('a dependency host down: pre-validation refuses, the target keeps its password', async () => {
    const { cred, role, name } = await owner();
    const downTarget = await createTarget('workstation', { host: '127.0.0.1', port: await freePort() });
    const downLogin = await createCredential(admin, downTarget, { ...app, syncEnabled: false });
    await setDependencies(cred.id, agentDependencies(name, downLogin.id));
    await expectStatus(admin.post(`/credentials/${cred.id}/change`, {}), 202, 'POST change');
    const refused = await credentialWhere(
      admin,
      cred.id,
      (c) => c.lastErrorCode === 'dependency_unreachable' && c.job.state === 'idle' && !c.changePending,
      'the change to be refused by pre-validation',
    );
    expect(refused.lastMessage).toMatch(/dependency 'app config' cannot be reached/);
    expect(await revealed(admin, cred.id)).toBe(role.password);
    expect(await cluster.canLogin(role.name, role.password)).toBe(true);
    const deps = await dependenciesOf(cred.id);
    expect(deps.map((d) => [d.checkStatus, d.status])).toEqual([
      ['failed', 'not_run'],
      ['failed', 'not_run'],
      ['ok', 'not_run'],
      ['ok', 'not_run'],
    ]);
    expect((await readBack(name)).slice(2)).toEqual(['postgres://app:old@db/app', '(none)']);
  }, 120_000);

  it('the agent killed after the password change, before its dependencies: the next holder finishes them', async () => {
    const { cred, role, name } = await owner();
    await setDependencies(cred.id, agentDependencies(name));
    await agent!.stop();
    await launchAgent(false, true);
    const killed = agent!;
    await expectStatus(admin.post(`/credentials/${cred.id}/change`, {}), 202, 'POST change');
    expect(await killed.exited, 'the fault agent died by SIGKILL').toBeNull();
    // At the kill: the role has a new password the API does not show yet, no dependency has it.
    const before = await getCredential(admin, cred.id);
    expect(before.changePending).toBe(true);
    expect(await revealed(admin, cred.id)).toBe(role.password);
    expect(await cluster.canLogin(role.name, role.password)).toBe(false);
    const [conf, , dsn, setting] = await readBack(name);
    expect([conf, dsn, setting]).toEqual([
      'db_password = old\nport = 8080\n',
      'postgres://app:old@db/app',
      '(none)',
    ]);

    await launchAgent();
    const after = await credentialWhere(
      admin,
      cred.id,
      (c) => !c.changePending && c.job.state === 'idle' && c.status === 'in_sync',
      'the reconcile to finish the change',
    );
    expect(after.statusReason).toBeNull();
    const next = await revealed(admin, cred.id);
    expect(next).not.toBe(role.password);
    expect(await cluster.canLogin(role.name, next)).toBe(true);
    expect(await readBack(name)).toEqual(expected(next));
    expect((await dependenciesOf(cred.id)).map((d) => d.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
  }, 180_000);
});

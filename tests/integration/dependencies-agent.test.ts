/**
 * The agent's side of dependencies (docs/adapters/dependencies.md) on real servers: Debian's sshd
 * with a local account owning a config file and a systemd-like command stand-in, and a PostgreSQL
 * table holding a connection string. A change job run by the agent's JobRunner: the dependencies
 * are checked before the change and pushed after it, each proven by reading it back; a dependency
 * host down refuses the change before anything is sent; a dependency failing after the change is
 * reported failed and the ones after it not run. Needs root for sshd (skipped otherwise).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DependencyDefinition } from '../../shared/contracts/dependencies.js';
import { changeJob, claimed, MemoryTarget, newPassword, pushesOf } from '../support/dependency-jobs.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { sshdUnavailable, startSshd, type Sshd, type TestUser } from '../support/sshd.js';

const skipReason = sshdUnavailable();
if (skipReason) console.warn(`dependencies-agent: ${skipReason}`);

let sshd: Sshd;
let app: TestUser;
let db: TestDatabase;
let home: string;

const id = () => crypto.randomUUID();

function sshLogin(port = sshd.port) {
  return {
    username: app.username,
    password: app.password,
    target: {
      kind: 'workstation',
      connection: { host: '127.0.0.1', port, connectTimeoutMs: 5_000, promptTimeoutMs: 5_000 },
    },
  };
}

function dbLogin() {
  const url = new URL(db.url);
  return {
    username: url.username || 'postgres',
    password: 'unused-with-trust',
    target: {
      kind: 'service',
      connection: {
        driver: 'postgres',
        host: url.hostname,
        port: Number(url.port || 5432),
        database: db.name,
      },
    },
  };
}

/** A dependency reached over SSH as the test account (on `port`: the sshd's unless told). */
const dep = (definition: DependencyDefinition, port?: number) => claimed(definition, sshLogin(port));

/** The app's key=value config file, `db_password` in it. */
const appConf = (backup = false) =>
  dep({
    kind: 'file',
    name: 'app.conf',
    loginCredentialId: id(),
    path: `${home}/app.conf`,
    format: 'keyvalue',
    key: 'db_password',
    backup,
  });

/** A nested `database.password` in the JSON or YAML settings file. */
const settingsFile = (format: 'json' | 'yaml') =>
  dep({
    kind: 'file',
    name: format,
    loginCredentialId: id(),
    path: `${home}/settings.${format}`,
    format,
    key: 'database.password',
    backup: false,
  });

/** A command getting the password on its standard input (or in `env`). */
const command = (name: string, argv: string[], env?: string, port?: number) =>
  dep(
    {
      kind: 'command',
      name,
      loginCredentialId: id(),
      argv,
      passwordVia: env === undefined ? 'stdin' : 'env',
      ...(env === undefined ? {} : { env }),
      timeoutMs: 10_000,
    },
    port,
  );

const root = (script: string) => sshd.root('sh', ['-c', script]);
const read = (path: string) => root(`cat ${path}`);

async function dbValue(): Promise<string> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<{ value: string }>(`SELECT value FROM settings WHERE name = 'dsn'`)).rows[0]!
      .value;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  if (skipReason) return;
  // The file dependency reads and writes over SFTP (Debian's sshd_config has it; the test one not by default).
  sshd = await startSshd({ config: ['Subsystem sftp internal-sftp'] });
  app = await sshd.createUser();
  home = `/home/${app.username}`;
  await root(
    [
      `printf '# app\\ndb_password = old-one\\nport=8080\\n' > ${home}/app.conf`,
      `printf '{\\n  "database": { "password": "old", "host": "db" }\\n}\\n' > ${home}/settings.json`,
      `printf 'database:\\n  # the app database\\n  password: old\\n' > ${home}/settings.yaml`,
      // The systemd-like stand-in: "restarts" the app with the password it reads (stdin or env).
      `printf '#!/bin/sh\\ncat > "$HOME/restarted-with"\\n' > ${home}/restart-app`,
      `printf '#!/bin/sh\\nprintf %%s "$APP_SECRET" > "$HOME/env-with"\\n' > ${home}/reload-env`,
      `chmod 0640 ${home}/app.conf ${home}/settings.json ${home}/settings.yaml`,
      `chmod 0755 ${home}/restart-app ${home}/reload-env`,
      `chown ${app.username}:${app.username} ${home}/*`,
    ].join(' && '),
  );
  db = await createTestDatabase('dependencies-agent');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`CREATE TABLE settings (name text PRIMARY KEY, value text NOT NULL)`);
  await client.query(`INSERT INTO settings VALUES ('dsn', 'postgres://app:old@db/app')`);
  await client.end();
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
  await db?.drop();
});

describe.skipIf(skipReason !== undefined)('dependencies run by the agent', () => {
  it('a change: checked first, then every dependency updated, each read back', async () => {
    const target = new MemoryTarget('current-1');
    const next = newPassword();
    const deps = [
      appConf(true),
      settingsFile('json'),
      settingsFile('yaml'),
      command('restart', [`${home}/restart-app`]),
      command('reload', [`${home}/reload-env`], 'APP_SECRET'),
      claimed(
        {
          kind: 'service',
          name: 'dsn',
          loginCredentialId: id(),
          statement: `UPDATE settings SET value = 'postgres://app:' || $1 || '@db/app' WHERE name = 'dsn'`,
        },
        dbLogin(),
      ),
    ];
    const outcome = await changeJob(target, next, deps);
    expect(outcome).toMatchObject({ outcome: 'ok', works: 'pending' });
    expect(target.password).toBe(next);
    const results = outcome.outcome === 'ok' ? outcome.dependencies! : [];
    expect(results.filter((r) => r.mode === 'check').map((r) => r.status)).toEqual(Array(6).fill('ok'));
    expect(pushesOf(outcome)).toEqual([
      ['ok', undefined],
      ['ok', undefined],
      ['ok', undefined],
      ['ok', undefined],
      ['ok', undefined],
      ['ok', '1 row(s) changed'],
    ]);
    // Read back: the value in place, the rest of each file kept, owner and mode kept, a backup.
    expect(await read(`${home}/app.conf`)).toBe(`# app\ndb_password = ${next}\nport=8080\n`);
    expect(await read(`${home}/app.conf.bak`)).toBe(`# app\ndb_password = old-one\nport=8080\n`);
    expect((await root(`stat -c '%U %a' ${home}/app.conf ${home}/app.conf.bak`)).trim().split('\n')).toEqual([
      `${app.username} 640`,
      `${app.username} 640`,
    ]);
    expect(JSON.parse(await read(`${home}/settings.json`))).toEqual({
      database: { password: next, host: 'db' },
    });
    expect(await read(`${home}/settings.yaml`)).toBe(
      `database:\n  # the app database\n  password: ${next}\n`,
    );
    expect(await read(`${home}/restarted-with`)).toBe(`${next}\n`);
    expect(await read(`${home}/env-with`)).toBe(next);
    expect(await dbValue()).toBe(`postgres://app:${next}@db/app`);
    // No temporary file left behind.
    expect(await root(`ls -a ${home} | grep -c sync- || true`)).toBe('0\n');
    expect(JSON.stringify(outcome)).not.toContain(next);
  }, 60_000);

  it('a dependency host down: the change is refused before anything is sent', async () => {
    const target = new MemoryTarget('current-2');
    const down = await freePort();
    const outcome = await changeJob(target, newPassword(), [
      appConf(),
      command('restart elsewhere', ['true'], undefined, down),
    ]);
    expect(outcome).toMatchObject({
      outcome: 'failed',
      reason: 'change_failed',
      detailCode: 'dependency_unreachable',
      message: expect.stringContaining("dependency 'restart elsewhere' cannot be reached"),
    });
    expect(target.sent).toBe(0);
    expect(target.password).toBe('current-2');
  }, 60_000);

  it('a dependency failing after the change: failed with its reason, the ones after it not run', async () => {
    const target = new MemoryTarget('current-3');
    const next = newPassword();
    await root(
      `printf '#!/bin/sh\\necho "app would not start" >&2\\nexit 3\\n' > ${home}/broken && chmod 755 ${home}/broken`,
    );
    const outcome = await changeJob(target, next, [command('broken restart', [`${home}/broken`]), appConf()]);
    expect(outcome).toMatchObject({ outcome: 'ok', works: 'pending' });
    expect(pushesOf(outcome)).toEqual([
      ['failed', `${home}/broken exited 3: app would not start`],
      ['not_run', "not run: 'broken restart' failed before it"],
    ]);
    expect(await read(`${home}/app.conf`)).not.toContain(next);
  }, 60_000);

  it('an agent killed after the change and before its dependencies: the next holder finishes them', async () => {
    const next = newPassword();
    // The first holder set the password on the target, then died: its dependencies never ran.
    const target = new MemoryTarget(next);
    const outcome = await changeJob(target, next, [appConf()], true);
    expect(outcome).toMatchObject({
      outcome: 'ok',
      works: 'pending',
      dependencies: [expect.objectContaining({ mode: 'push', status: 'ok' })],
    });
    expect(target.sent).toBe(0);
    expect(await read(`${home}/app.conf`)).toContain(`db_password = ${next}\n`);
  }, 60_000);
});

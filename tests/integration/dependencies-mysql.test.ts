/**
 * The `service` dependency on MariaDB (docs/adapters/dependencies.md), driver `mysql`, run by the
 * agent's JobRunner against the machine's server (root on 127.0.0.1:3306, or TEST_MYSQL_ADMIN_URL):
 * a table of a fresh database holding a connection string, updated by its own account with the new
 * password as the `?` parameter and read back; a login refused stops the change before anything is
 * sent; a statement that changes no row fails the dependency.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceDependencySchema } from '../../shared/contracts/dependencies.js';
import {
  createMysqlUser,
  mysqlAdmin,
  mysqlServer,
  randomName,
  type MysqlUser,
} from '../support/databases.js';
import { changeJob, claimed, MemoryTarget, newPassword, pushesOf } from '../support/dependency-jobs.js';

const database = randomName('deps');
let app: MysqlUser;

beforeAll(async () => {
  await mysqlAdmin(`CREATE DATABASE ${database}`);
  await mysqlAdmin(`CREATE TABLE ${database}.app_settings (name varchar(64) PRIMARY KEY, value text)`);
  await mysqlAdmin(`INSERT INTO ${database}.app_settings VALUES ('dsn', 'mysql://app:old@db/app')`);
  app = await createMysqlUser({ prefix: 'deps', grant: `SELECT, UPDATE ON ${database}.*` });
});

afterAll(async () => {
  await app?.drop();
  await mysqlAdmin(`DROP DATABASE IF EXISTS ${database}`);
});

/** The app's row, updated as `app` (or with `password` for it). */
function rowDep(statement: string, password = app.password) {
  const { host, port } = mysqlServer();
  return claimed(
    ServiceDependencySchema.parse({
      kind: 'service',
      name: 'dsn',
      loginCredentialId: crypto.randomUUID(),
      statement,
    }),
    {
      username: app.name,
      password,
      target: {
        kind: 'service',
        connection: { driver: 'mysql', host, port, database, connectTimeoutMs: 5_000 },
      },
    },
  );
}

const UPDATE = `UPDATE app_settings SET value = CONCAT('mysql://app:', ?, '@db/app') WHERE name = 'dsn'`;

const dsn = async (): Promise<string> =>
  (await mysqlAdmin<{ value: string }[]>(`SELECT value FROM ${database}.app_settings WHERE name = 'dsn'`))[0]!
    .value;

describe('service dependencies on MariaDB', () => {
  it('a change: checked first, then the row updated with the password as a bound parameter, read back', async () => {
    const target = new MemoryTarget('current-1');
    const next = `${newPassword()}'"\\;--`; // quotes and a backslash: a parameter, never statement text
    const outcome = await changeJob(target, next, [rowDep(UPDATE)]);
    expect(outcome).toMatchObject({
      outcome: 'ok',
      works: 'pending',
      dependencies: [{ mode: 'check', status: 'ok' }, { mode: 'push' }],
    });
    expect(pushesOf(outcome)).toEqual([['ok', '1 row(s) changed']]);
    expect(await dsn()).toBe(`mysql://app:${next}@db/app`);
    expect(JSON.stringify(outcome)).not.toContain(next);
  });

  it('the login refused: pre-validation refuses, the change is not sent', async () => {
    const target = new MemoryTarget('current-2');
    const before = await dsn();
    const outcome = await changeJob(target, newPassword(), [rowDep(UPDATE, 'not-the-password')]);
    expect(outcome).toMatchObject({
      outcome: 'failed',
      detailCode: 'dependency_unreachable',
      message: expect.stringContaining(`dependency 'dsn' cannot be reached or written: mysql as ${app.name}`),
    });
    expect(JSON.stringify(outcome)).not.toContain('not-the-password');
    expect(target.sent).toBe(0);
    expect(await dsn()).toBe(before);
  });

  it('a statement that changes no row fails the dependency after the change', async () => {
    const target = new MemoryTarget('current-3');
    const next = newPassword();
    const outcome = await changeJob(target, next, [
      rowDep(`UPDATE app_settings SET value = ? WHERE name = 'nothing-here'`),
    ]);
    expect(outcome).toMatchObject({ outcome: 'ok', works: 'pending' });
    expect(target.password).toBe(next);
    expect(pushesOf(outcome)).toEqual([['failed', 'the statement changed no row']]);
  });
});

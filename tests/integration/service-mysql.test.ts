/**
 * The `service` adapter, driver `mysql`, against the machine's MariaDB (root without password on
 * 127.0.0.1:3306, or TEST_MYSQL_ADMIN_URL): users with random names, dropped afterwards. That
 * server has no SSL; TLS that works is tested on a private MariaDB in service-mysql-tls.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  createMysqlUser,
  mysqlAdmin,
  mysqlCanLogin,
  mysqlServer,
  recordingServiceAdapter,
  strongPassword,
  type MysqlUser,
} from '../support/databases.js';
import { freePort } from '../support/ports.js';
import { startSilentTcpServer } from '../support/quiet-servers.js';

const users: MysqlUser[] = [];
const secrets = new Set<string>();
const messages: string[] = [];

afterAll(async () => {
  for (const user of users) await user.drop().catch(() => undefined);
});

const connection = (extra: Record<string, unknown> = {}) => ({
  driver: 'mysql',
  host: mysqlServer().host,
  port: mysqlServer().port,
  connectTimeoutMs: 5_000,
  ...extra,
});

async function user(options: { password?: string; grant?: string } = {}): Promise<MysqlUser> {
  const u = await createMysqlUser(options);
  users.push(u);
  secrets.add(u.password);
  return u;
}

/** An admin that may reset other accounts' passwords. */
const admin = () => user({ grant: 'CREATE USER ON *.*' });
const asAdmin = (a: MysqlUser) => ({ username: a.name, password: a.password });
const privileged = () => connection({ changeVia: 'privileged', privilegedCredentialId: crypto.randomUUID() });

const { verify, change } = recordingServiceAdapter(secrets, messages);

describe('service / mysql (MariaDB): verify', () => {
  it('the right password → ok; a wrong one → mismatch (definite)', async () => {
    const u = await user();
    expect(await verify(connection(), u.name, u.password)).toEqual({ ok: true });
    expect(await verify(connection(), u.name, `${u.password}-wrong`)).toMatchObject({
      ok: false,
      reason: 'mismatch',
      definite: true,
    });
  });

  it('ACCOUNT LOCK → locked_or_disabled (with the right password; a wrong one stays mismatch)', async () => {
    const u = await user();
    await mysqlAdmin('ALTER USER ?@? ACCOUNT LOCK', [u.name, u.host]);
    const attempt = await verify(connection(), u.name, u.password);
    expect(attempt).toMatchObject({ ok: false, reason: 'locked_or_disabled' });
    expect(!attempt.ok && attempt.message).toMatch(/locked/);
    expect(await verify(connection(), u.name, `${u.password}-wrong`)).toMatchObject({ reason: 'mismatch' });
  });

  it('PASSWORD EXPIRE → locked_or_disabled', async () => {
    const u = await user();
    await mysqlAdmin('ALTER USER ?@? PASSWORD EXPIRE', [u.name, u.host]);
    const attempt = await verify(connection(), u.name, u.password);
    expect(attempt).toMatchObject({ ok: false, reason: 'locked_or_disabled' });
    expect(!attempt.ok && attempt.message).toMatch(/expired/);
  });

  it('nothing listening → unreachable (definite); an unknown host → unreachable', async () => {
    const port = await freePort();
    expect(await verify(connection({ port }), 'someone', strongPassword())).toMatchObject({
      ok: false,
      reason: 'unreachable',
      definite: true,
    });
    expect(
      await verify(connection({ host: 'no-such-host.invalid' }), 'someone', strongPassword()),
    ).toMatchObject({
      reason: 'unreachable',
    });
  });

  it('a server that accepts TCP and never answers → unreachable within connectTimeoutMs (definite)', async () => {
    const silent = await startSilentTcpServer();
    try {
      const started = Date.now();
      const attempt = await verify(
        connection({ host: silent.host, port: silent.port, connectTimeoutMs: 700 }),
        'someone',
        strongPassword(),
      );
      const took = Date.now() - started;
      expect(attempt).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
      expect(took).toBeGreaterThanOrEqual(600);
      expect(took).toBeLessThan(5_000);
      expect(silent.connections()).toBe(1);
    } finally {
      await silent.stop();
    }
  });

  it('tls require against a server without TLS → error, not a password verdict', async () => {
    const u = await user();
    const attempt = await verify(connection({ tls: { mode: 'require' } }), u.name, u.password);
    expect(attempt).toMatchObject({ ok: false, reason: 'error', definite: true });
  });
});

describe('service / mysql (MariaDB): change', () => {
  it('self: the account changes its own password; new logs in, old does not', async () => {
    const u = await user();
    const next = strongPassword();
    expect(await change(connection(), u.name, u.password, next)).toEqual({ ok: true });
    expect(await mysqlCanLogin(u.name, next)).toBe(true);
    expect(await mysqlCanLogin(u.name, u.password)).toBe(false);
    expect(await verify(connection(), u.name, next)).toEqual({ ok: true });
  });

  it("privileged: ALTER USER 'user'@'%' by an admin with CREATE USER; new logs in, old does not", async () => {
    const u = await user();
    const a = await admin();
    const next = strongPassword();
    expect(await change(privileged(), u.name, 'not-the-current-one', next, asAdmin(a))).toEqual({ ok: true });
    expect(await mysqlCanLogin(u.name, next)).toBe(true);
    expect(await mysqlCanLogin(u.name, u.password)).toBe(false);
  });

  it('privileged: an admin without the privilege, or that cannot log in → change_failed (definite)', async () => {
    const u = await user();
    const weakling = await user();
    const noRight = await change(privileged(), u.name, u.password, strongPassword(), asAdmin(weakling));
    expect(noRight).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
    const a = await admin();
    const badLogin = await change(privileged(), u.name, u.password, strongPassword(), {
      username: a.name,
      password: 'wrong-admin-password',
    });
    expect(badLogin).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
    expect(!badLogin.ok && badLogin.message).toMatch(/privileged account/);
    expect(await mysqlCanLogin(u.name, u.password)).toBe(true);
  });

  it('an accountHost that does not exist → change_failed, nothing changed', async () => {
    const u = await user();
    const a = await admin();
    const conn = connection({
      changeVia: 'privileged',
      privilegedCredentialId: crypto.randomUUID(),
      accountHost: '10.9.9.9',
    });
    expect(await change(conn, u.name, u.password, strongPassword(), asAdmin(a))).toMatchObject({
      ok: false,
      reason: 'change_failed',
      definite: true,
    });
    expect(await mysqlCanLogin(u.name, u.password)).toBe(true);
  });

  it('quotes, backslashes and SQL in a password are escaped, never executed', async () => {
    const decoy = await user();
    const u = await user();
    const a = await admin();
    const tricky = [
      `it's a "quote" \\ and \\' then '; DROP USER '${decoy.name}'@'%'; --`,
      `\\\\'\\"\\0%_\`; SELECT SLEEP(0); # ü€𝄞`,
    ];
    let current = u.password;
    for (const next of tricky) {
      expect(await change(connection(), u.name, current, next)).toEqual({ ok: true });
      expect(await mysqlCanLogin(u.name, next)).toBe(true);
      current = next;
    }
    const viaAdmin = `'); DROP USER '${decoy.name}'@'%'; -- \\'"`;
    expect(await change(privileged(), u.name, current, viaAdmin, asAdmin(a))).toEqual({ ok: true });
    expect(await mysqlCanLogin(u.name, viaAdmin)).toBe(true);
    expect(await mysqlCanLogin(decoy.name, decoy.password)).toBe(true);
  });

  it('a change to a server that is not there → unreachable (definite)', async () => {
    const port = await freePort();
    expect(await change(connection({ port }), 'someone', strongPassword(), strongPassword())).toMatchObject({
      ok: false,
      reason: 'unreachable',
      definite: true,
    });
  });

  describe('with the password_reuse_check plugin', () => {
    let installedHere = false;

    afterAll(async () => {
      if (installedHere) await mysqlAdmin("UNINSTALL SONAME 'password_reuse_check'");
    });

    it('a password the server refuses (ER_NOT_VALID_PASSWORD 1819) → change_failed (definite), the old one still works', async () => {
      const rows = await mysqlAdmin<{ status: string }[]>(
        "SELECT PLUGIN_STATUS AS status FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'password_reuse_check'",
      );
      if (rows.length === 0) {
        await mysqlAdmin("INSTALL SONAME 'password_reuse_check'");
        installedHere = true;
      }
      const u = await user();
      const next = strongPassword();
      expect(await change(connection(), u.name, u.password, next)).toEqual({ ok: true });
      // Back to the first password: refused by the policy (self and privileged alike).
      const self = await change(connection(), u.name, next, u.password);
      expect(self).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
      expect(!self.ok && self.message).toMatch(/1819/);
      const a = await admin();
      const viaAdmin = await change(privileged(), u.name, next, u.password, asAdmin(a));
      expect(viaAdmin).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
      expect(await mysqlCanLogin(u.name, next)).toBe(true);
      expect(await mysqlCanLogin(u.name, u.password)).toBe(false);
    });
  });
});

describe('service / mysql: messages', () => {
  it('no message returned by these tests contains a password', () => {
    expect(messages.length).toBeGreaterThan(5);
    for (const message of messages) {
      for (const secret of secrets) if (secret.length >= 8) expect(message).not.toContain(secret);
    }
  });
});

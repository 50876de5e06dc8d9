/**
 * The `service` adapter, driver `postgres`, against a real PostgreSQL server: a private cluster
 * (the machine's server trusts every loopback login, so it could not tell a wrong password) with
 * scram-sha-256 authentication and the `passwordcheck` module preloaded.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAdapter } from '../../agent/adapters/service/index.js';
import { scrub } from '../../agent/adapters/common.js';
import { runChange } from '../../agent/change-protocol.js';
import { serviceSpec, ServiceConnectionSchema } from '../../shared/targets/service.js';
import {
  recordingServiceAdapter,
  serviceContext,
  startPostgresCluster,
  strongPassword,
  type PostgresCluster,
  type PostgresRole,
} from '../support/databases.js';
import { freePort } from '../support/ports.js';
import { startSilentTcpServer } from '../support/quiet-servers.js';

let cluster: PostgresCluster;
const roles: PostgresRole[] = [];
/** Every password the tests used, and every message the adapter returned. */
const secrets = new Set<string>();
const messages: string[] = [];

beforeAll(async () => {
  cluster = await startPostgresCluster({ preload: ['passwordcheck'] });
}, 120_000);

afterAll(async () => {
  for (const role of roles) await role.drop().catch(() => undefined);
  await cluster?.stop();
});

const connection = (extra: Record<string, unknown> = {}) => ({
  driver: 'postgres',
  host: cluster.host,
  port: cluster.port,
  connectTimeoutMs: 5_000,
  ...extra,
});

async function role(options: { password?: string; with?: string } = {}): Promise<PostgresRole> {
  const r = await cluster.createRole(options);
  roles.push(r);
  secrets.add(r.password);
  return r;
}

/** An admin that may reset other roles' passwords (CREATEROLE, not superuser). */
const admin = () => role({ with: 'LOGIN CREATEROLE' });

const { verify, change } = recordingServiceAdapter(secrets, messages);

describe('service connection schema', () => {
  it('applies the defaults and derives host and capabilities', () => {
    const c = ServiceConnectionSchema.parse({ driver: 'postgres', host: 'db.example' });
    expect(c).toMatchObject({
      driver: 'postgres',
      port: 5432,
      database: 'postgres',
      tls: { mode: 'disable' },
      changeVia: 'self',
      connectTimeoutMs: 10_000,
    });
    expect(serviceSpec.host(c)).toBe('db.example:5432');
    expect(serviceSpec.capabilities(c)).toEqual({ verify: true, change: true, changeConfigured: true });
    expect(serviceSpec.passwordConstraints!(c)).toEqual({ forbidden: '\u0000' });
    const m = ServiceConnectionSchema.parse({ driver: 'mysql', host: 'db', changeVia: 'privileged' });
    expect(m).toMatchObject({ port: 3306, accountHost: '%' });
    expect(serviceSpec.capabilities(m).changeConfigured).toBe(false);
    expect(serviceSpec.privilegedCredentialId!(m)).toBeUndefined();
    const id = '2b1f4a52-6a43-4c1e-9a57-0c0f6f7e0a11';
    const p = ServiceConnectionSchema.parse({
      driver: 'mysql',
      host: 'db',
      changeVia: 'privileged',
      privilegedCredentialId: id,
    });
    expect(serviceSpec.capabilities(p).changeConfigured).toBe(true);
    expect(serviceSpec.privilegedCredentialId!(p)).toBe(id);
    // A self-change target never asks for the admin account, even when one is named.
    const s = ServiceConnectionSchema.parse({ driver: 'postgres', host: 'db', privilegedCredentialId: id });
    expect(serviceSpec.privilegedCredentialId!(s)).toBeUndefined();
    expect(ServiceConnectionSchema.safeParse({ driver: 'oracle', host: 'db' }).success).toBe(false);
    expect(
      ServiceConnectionSchema.safeParse({ driver: 'postgres', host: 'db', accountHost: '%' }).success,
    ).toBe(false);
    expect(
      ServiceConnectionSchema.safeParse({
        driver: 'postgres',
        host: 'db',
        tls: { mode: 'verify-full', ca: 'nope' },
      }).success,
    ).toBe(false);
  });
});

describe('service / postgres: verify', () => {
  it('the right password → ok; a wrong one → mismatch (definite)', async () => {
    const r = await role();
    expect(await verify(connection(), r.name, r.password)).toEqual({ ok: true });
    expect(await verify(connection(), r.name, `${r.password}-wrong`)).toMatchObject({
      ok: false,
      reason: 'mismatch',
      definite: true,
    });
    expect(await verify(connection(), 'no_such_role_anywhere', r.password)).toMatchObject({
      reason: 'mismatch',
    });
  });

  it('a NOLOGIN role → locked_or_disabled', async () => {
    const r = await role({ with: 'NOLOGIN' });
    const attempt = await verify(connection(), r.name, r.password);
    expect(attempt).toMatchObject({ ok: false, reason: 'locked_or_disabled' });
    expect(!attempt.ok && attempt.message).toMatch(/not permitted to log in/);
  });

  it('an expired VALID UNTIL: mismatch to the client, locked_or_disabled once the admin account can look', async () => {
    const r = await role({ with: "LOGIN VALID UNTIL '2000-01-01'" });
    const a = await admin();
    // PostgreSQL answers an expired password exactly like a wrong one (28P01).
    expect(await verify(connection(), r.name, r.password)).toMatchObject({ reason: 'mismatch' });
    const viaAdmin = connection({ changeVia: 'privileged', privilegedCredentialId: crypto.randomUUID() });
    const attempt = await verify(viaAdmin, r.name, r.password, { username: a.name, password: a.password });
    expect(attempt).toMatchObject({ ok: false, reason: 'locked_or_disabled' });
    expect(!attempt.ok && attempt.message).toMatch(/expired/);
  });

  it('nothing listening → unreachable (definite); an unknown host → unreachable', async () => {
    const port = await freePort();
    expect(await verify(connection({ port }), 'x', 'y')).toMatchObject({
      ok: false,
      reason: 'unreachable',
      definite: true,
    });
    expect(await verify(connection({ host: 'no-such-host.invalid' }), 'x', 'y')).toMatchObject({
      reason: 'unreachable',
    });
  });

  it('a server that accepts TCP and never answers → unreachable within connectTimeoutMs (definite)', async () => {
    const silent = await startSilentTcpServer();
    try {
      const started = Date.now();
      const attempt = await verify(
        connection({ host: silent.host, port: silent.port, connectTimeoutMs: 700 }),
        'x',
        'y',
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
    const r = await role();
    const attempt = await verify(connection({ tls: { mode: 'require' } }), r.name, r.password);
    expect(attempt).toMatchObject({ ok: false, reason: 'error', definite: true });
    expect(!attempt.ok && attempt.message).toMatch(/SSL/i);
  });

  it('an aborted job → unreachable without connecting', async () => {
    const controller = new AbortController();
    controller.abort();
    const ctx = serviceContext(connection(), 'x', { signal: controller.signal });
    expect(await serviceAdapter.verify(ctx, 'y')).toMatchObject({ ok: false, reason: 'unreachable' });
  });
});

describe('service / postgres: TLS', () => {
  let tlsCluster: PostgresCluster;
  let r: PostgresRole;

  beforeAll(async () => {
    tlsCluster = await startPostgresCluster({ tls: true });
    r = await tlsCluster.createRole();
    secrets.add(r.password);
  }, 120_000);

  afterAll(async () => {
    await tlsCluster?.stop();
  });

  const at = (tls: Record<string, unknown>, host = '127.0.0.1') => ({
    driver: 'postgres',
    host,
    port: tlsCluster.port,
    connectTimeoutMs: 5_000,
    tls,
  });

  it('require: encrypted without checking the certificate', async () => {
    expect(await verify(at({ mode: 'require' }), r.name, r.password)).toEqual({ ok: true });
  });

  it('verify-full with the CA: ok, and a change works over it', async () => {
    const conn = at({ mode: 'verify-full', ca: tlsCluster.caPem });
    expect(await verify(conn, r.name, r.password)).toEqual({ ok: true });
    expect(
      await verify(at({ mode: 'verify-full', ca: tlsCluster.caPem }, 'localhost'), r.name, r.password),
    ).toEqual({
      ok: true,
    });
    const next = strongPassword();
    expect(await change(conn, r.name, r.password, next)).toEqual({ ok: true });
    expect(await verify(conn, r.name, next)).toEqual({ ok: true });
    r.password = next;
  });

  it('verify-full without the CA (system roots) → error, never a password verdict', async () => {
    const attempt = await verify(at({ mode: 'verify-full' }), r.name, r.password);
    expect(attempt).toMatchObject({ ok: false, reason: 'error', definite: true });
    expect(!attempt.ok && attempt.message).toMatch(/certificate/i);
  });
});

describe('service / postgres: change', () => {
  it('self: ALTER ROLE as the account; the new password logs in, the old one no longer does', async () => {
    const r = await role();
    const next = strongPassword();
    expect(await change(connection(), r.name, r.password, next)).toEqual({ ok: true });
    expect(await cluster.canLogin(r.name, next)).toBe(true);
    expect(await cluster.canLogin(r.name, r.password)).toBe(false);
    expect(await verify(connection(), r.name, next)).toEqual({ ok: true });
  });

  it('privileged: an admin with CREATEROLE resets it; new logs in, old does not', async () => {
    const r = await role();
    const a = await admin();
    const next = strongPassword();
    const conn = connection({ changeVia: 'privileged', privilegedCredentialId: crypto.randomUUID() });
    // The current password plays no part: the admin resets it.
    expect(
      await change(conn, r.name, 'not-the-current-one', next, { username: a.name, password: a.password }),
    ).toEqual({
      ok: true,
    });
    expect(await cluster.canLogin(r.name, next)).toBe(true);
    expect(await cluster.canLogin(r.name, r.password)).toBe(false);
  });

  it('privileged: an admin that cannot log in → change_failed (definite), never the account’s mismatch', async () => {
    const r = await role();
    const a = await admin();
    const conn = connection({ changeVia: 'privileged', privilegedCredentialId: crypto.randomUUID() });
    const attempt = await change(conn, r.name, r.password, strongPassword(), {
      username: a.name,
      password: 'wrong-admin-pw',
    });
    expect(attempt).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
    expect(await cluster.canLogin(r.name, r.password)).toBe(true);
    // And without the admin account handed out at all.
    expect(await change(conn, r.name, r.password, strongPassword())).toMatchObject({
      ok: false,
      reason: 'change_failed',
      definite: true,
    });
  });

  it('the whole change protocol resets an out-of-sync account through the admin', async () => {
    const r = await role();
    const a = await admin();
    const next = strongPassword();
    const ctx = serviceContext(
      connection({ changeVia: 'privileged', privilegedCredentialId: crypto.randomUUID() }),
      r.name,
      { privileged: { username: a.name, password: a.password } },
    );
    const outcome = await runChange(
      {
        verify: (pw) => serviceAdapter.verify(ctx, pw),
        change: (cur, nxt) => serviceAdapter.change(ctx, cur, nxt),
        mayStartChange: () => Promise.resolve(true),
      },
      'stale-stored-password',
      next,
      { pendingMayBeSet: true, canReset: true },
    );
    expect(outcome).toEqual({ outcome: 'ok', works: 'pending' });
    expect(await cluster.canLogin(r.name, next)).toBe(true);
  });

  it('a password passwordcheck refuses → change_failed (definite), the old one still works', async () => {
    const r = await role();
    for (const weak of ['short1!', 'onlyletterspassword', `x${r.name}9!`]) {
      const attempt = await change(connection(), r.name, r.password, weak);
      expect(attempt).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
      expect(!attempt.ok && attempt.message).toMatch(/server refused the change \(22023\): password/);
    }
    expect(await cluster.canLogin(r.name, r.password)).toBe(true);
  });

  it('quotes, backslashes and SQL in a password are escaped, never executed', async () => {
    const decoy = await role({ with: 'NOLOGIN' });
    const r = await role();
    const a = await admin();
    const tricky = [
      `it's a "quote" \\ and \\' then '; DROP ROLE ${decoy.name}; --`,
      `E'\\x41'\\\\''"; SELECT pg_sleep(0); -- ü€𝄞 9`,
      `$$; DROP ROLE ${decoy.name}; $$ 1a`,
    ];
    let current = r.password;
    for (const next of tricky) {
      expect(await change(connection(), r.name, current, next)).toEqual({ ok: true });
      expect(await cluster.canLogin(r.name, next)).toBe(true);
      current = next;
    }
    const conn = connection({ changeVia: 'privileged', privilegedCredentialId: crypto.randomUUID() });
    const viaAdmin = `'; DROP ROLE ${decoy.name}; -- \\'"admin9`;
    expect(await change(conn, r.name, current, viaAdmin, { username: a.name, password: a.password })).toEqual(
      { ok: true },
    );
    expect(await cluster.canLogin(r.name, viaAdmin)).toBe(true);
    const still = await cluster.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [decoy.name]);
    expect(still).toHaveLength(1);
  });

  it('a role name that needs quoting is handled (escapeIdentifier)', async () => {
    const name = `Svc "odd" ${crypto.randomUUID().slice(0, 8)}`;
    const pw = strongPassword();
    await cluster.query(`CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN PASSWORD ${pg.escapeLiteral(pw)}`);
    roles.push({
      name,
      password: pw,
      drop: () => cluster.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`).then(() => undefined),
    });
    const next = strongPassword();
    expect(await change(connection(), name, pw, next)).toEqual({ ok: true });
    expect(await cluster.canLogin(name, next)).toBe(true);
  });

  it('a change to a server that is not there → unreachable (definite: nothing was sent)', async () => {
    const port = await freePort();
    expect(await change(connection({ port }), 'x', 'y', strongPassword())).toMatchObject({
      ok: false,
      reason: 'unreachable',
      definite: true,
    });
  });
});

describe('service: messages', () => {
  it('no message returned by these tests contains a password', () => {
    expect(messages.length).toBeGreaterThan(5);
    for (const message of messages) {
      for (const secret of secrets) if (secret.length >= 8) expect(message).not.toContain(secret);
    }
  });

  it('scrub removes passwords, escaped forms, and withholds a message quoting part of one', () => {
    const pw = `O'Brien\\secret-123`;
    expect(scrub(`bad literal 'O''Brien\\\\secret-123'`, [pw])).toBe(`bad literal '[redacted]'`);
    expect(scrub(`near 'O\\'Brien\\\\secret-123' at line 1`, [pw])).not.toContain('secret');
    expect(scrub(`near 'Brien\\secr' at line 1`, [pw])).toMatch(/withheld/);
    expect(scrub('password authentication failed for user "bob"', [pw])).toBe(
      'password authentication failed for user "bob"',
    );
    // Words of a password in the server's own text are no leak (passwordcheck's message).
    expect(scrub('password must contain both letters and nonletters', ['onlyletterspassword'])).toBe(
      'password must contain both letters and nonletters',
    );
  });
});

/**
 * The `service` adapter, driver `mysql`, over TLS: a private MariaDB (tests/support/mariadb.ts)
 * with a certificate from a throw-away CA, since the machine's shared server runs without SSL.
 * The accounts are created with REQUIRE SSL, so a login that works went over TLS.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingServiceAdapter, strongPassword } from '../support/databases.js';
import {
  mariadbUnavailable,
  startMariadbServer,
  type MariadbServer,
  type MariadbUser,
} from '../support/mariadb.js';
import { createPki, type Pki } from '../support/tls.js';

const skipReason = mariadbUnavailable();
if (skipReason !== undefined) console.warn(`service-mysql-tls: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('service / mysql: TLS on a private MariaDB', () => {
  let server: MariadbServer;
  /** A second CA that did not sign the server's certificate. */
  let stranger: Pki;
  let u: MariadbUser;
  const secrets = new Set<string>();
  const messages: string[] = [];

  beforeAll(async () => {
    server = await startMariadbServer();
    stranger = createPki();
    u = await user();
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (stranger) rmSync(stranger.dir, { recursive: true, force: true });
  });

  async function user(options: { grant?: string } = {}): Promise<MariadbUser> {
    const created = await server.createUser({ ...options, require: 'SSL' });
    secrets.add(created.password);
    return created;
  }

  const at = (tls: Record<string, unknown>, host = '127.0.0.1', extra: Record<string, unknown> = {}) => ({
    driver: 'mysql',
    host,
    port: server.port,
    connectTimeoutMs: 5_000,
    tls,
    ...extra,
  });
  const full = (host = '127.0.0.1', extra: Record<string, unknown> = {}) =>
    at({ mode: 'verify-full', ca: server.caPem }, host, extra);

  const { verify, change } = recordingServiceAdapter(secrets, messages);

  /** A failure that says nothing about the password. */
  const tlsError = { ok: false, reason: 'error', definite: true };

  it('the set-up: the server speaks TLS and the account only logs in over it', async () => {
    expect(await server.canLogin(u.name, u.password)).toBe(true);
    expect(await server.canLogin(u.name, u.password, { tls: false })).toBe(false);
    const [row] = await server.admin<{ Value: string }[]>("SHOW GLOBAL VARIABLES LIKE 'have_ssl'");
    expect(row?.Value).toBe('YES');
  });

  it('require: encrypted without checking the certificate → ok; a wrong password → mismatch', async () => {
    expect(await verify(at({ mode: 'require' }), u.name, u.password)).toEqual({ ok: true });
    expect(await verify(at({ mode: 'require' }), u.name, `${u.password}-wrong`)).toMatchObject({
      ok: false,
      reason: 'mismatch',
      definite: true,
    });
    // Without a CA it does not care who signed the certificate.
    expect(await verify(at({ mode: 'require' }, 'localhost'), u.name, u.password)).toEqual({ ok: true });
  });

  it('verify-full by IP (127.0.0.1) with the CA → ok; a wrong password → mismatch', async () => {
    expect(await verify(full('127.0.0.1'), u.name, u.password)).toEqual({ ok: true });
    expect(await verify(full('127.0.0.1'), u.name, `${u.password}-wrong`)).toMatchObject({
      ok: false,
      reason: 'mismatch',
      definite: true,
    });
  });

  it('verify-full by name (localhost) with the CA → ok', async () => {
    expect(await verify(full('localhost'), u.name, u.password)).toEqual({ ok: true });
  });

  it('verify-full with a CA that did not sign the certificate → error, never a password verdict', async () => {
    const otherCa = stranger.pem(stranger.caCert).toString('utf8');
    for (const host of ['127.0.0.1', 'localhost']) {
      for (const password of [u.password, `${u.password}-wrong`]) {
        const attempt = await verify(at({ mode: 'verify-full', ca: otherCa }, host), u.name, password);
        expect(attempt, `${host}`).toMatchObject(tlsError);
        expect(!attempt.ok && attempt.message).toMatch(/certificate/i);
      }
    }
  });

  it('verify-full without a CA (the system roots) → error', async () => {
    const attempt = await verify(at({ mode: 'verify-full' }), u.name, u.password);
    expect(attempt).toMatchObject(tlsError);
    expect(!attempt.ok && attempt.message).toMatch(/certificate/i);
  });

  describe('a certificate of the right CA for other names', () => {
    afterAll(async () => {
      await server.useDefaultCertificate();
    });

    it('names neither 127.0.0.1 nor localhost → error by IP and by name, whatever the password', async () => {
      await server.useCertificate(server.pki.issue('elsewhere', 'server', 'DNS:db.example.test,IP:10.9.8.7'));
      for (const host of ['127.0.0.1', 'localhost']) {
        for (const password of [u.password, `${u.password}-wrong`]) {
          const attempt = await verify(full(host), u.name, password);
          expect(attempt, host).toMatchObject(tlsError);
          expect(!attempt.ok && attempt.message, host).toMatch(/127\.0\.0\.1|localhost|altnames/i);
        }
      }
      // The certificate is served: require, which checks no name, still logs in.
      expect(await verify(at({ mode: 'require' }), u.name, u.password)).toEqual({ ok: true });
    });

    it('names localhost but not 127.0.0.1 → error by IP (whatever the password), ok by name', async () => {
      // mysql2 compares an IP host against 'localhost': only the adapter's own check catches this.
      await server.useCertificate(server.pki.issue('localhost-only', 'server', 'DNS:localhost'));
      for (const password of [u.password, `${u.password}-wrong`]) {
        const attempt = await verify(full('127.0.0.1'), u.name, password);
        expect(attempt).toMatchObject(tlsError);
        expect(!attempt.ok && attempt.message).toMatch(/127\.0\.0\.1/);
      }
      expect(await verify(full('localhost'), u.name, u.password)).toEqual({ ok: true });
    });

    it('names 127.0.0.1 but not localhost → error by name, ok by IP', async () => {
      await server.useCertificate(server.pki.issue('ip-only', 'server', 'IP:127.0.0.1'));
      const attempt = await verify(full('localhost'), u.name, u.password);
      expect(attempt).toMatchObject(tlsError);
      expect(!attempt.ok && attempt.message).toMatch(/localhost/);
      expect(await verify(full('127.0.0.1'), u.name, u.password)).toEqual({ ok: true });
    });

    it('a change to a server whose certificate does not name the host → error, nothing changed', async () => {
      await server.useCertificate(server.pki.issue('localhost-only-2', 'server', 'DNS:localhost'));
      const v = await user();
      const attempt = await change(full('127.0.0.1'), v.name, v.password, strongPassword());
      expect(attempt).toMatchObject(tlsError);
      expect(await server.canLogin(v.name, v.password)).toBe(true);
    });
  });

  it('self change over verify-full (IP): then the new password logs in over TLS, the old one does not', async () => {
    const v = await user();
    const next = strongPassword();
    expect(await change(full('127.0.0.1'), v.name, v.password, next)).toEqual({ ok: true });
    expect(await server.canLogin(v.name, next)).toBe(true);
    expect(await server.canLogin(v.name, v.password)).toBe(false);
    expect(await verify(full('127.0.0.1'), v.name, next)).toEqual({ ok: true });
  });

  it('privileged change over verify-full (localhost): an admin with CREATE USER resets it', async () => {
    const v = await user();
    const a = await user({ grant: 'CREATE USER ON *.*' });
    const next = strongPassword();
    const conn = full('localhost', { changeVia: 'privileged', privilegedCredentialId: crypto.randomUUID() });
    expect(
      await change(conn, v.name, 'not-the-current-one', next, { username: a.name, password: a.password }),
    ).toEqual({ ok: true });
    expect(await server.canLogin(v.name, next)).toBe(true);
    expect(await server.canLogin(v.name, v.password)).toBe(false);
  });

  it('no message returned by these tests contains a password', () => {
    expect(messages.length).toBeGreaterThan(0);
    for (const message of messages) {
      for (const secret of secrets) expect(message).not.toContain(secret);
    }
  });
});

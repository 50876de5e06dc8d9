/**
 * The `directory` adapter's `ldap` flavour against a real OpenLDAP server (tests/support/slapd.ts:
 * a private slapd with the ppolicy overlay and TLS from a throw-away CA), and the connection
 * schema both flavours share. Every change is proven with the OpenLDAP tools (ldapwhoami binds
 * with the new password, and the old one is refused).
 */
import { randomBytes } from 'node:crypto';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directoryAdapter } from '../../agent/adapters/directory/index.js';
import type { AdapterContext, Attempt } from '../../agent/adapters/types.js';
import { runChange } from '../../agent/change-protocol.js';
import {
  DirectoryConnectionSchema,
  directorySpec,
  type DirectoryConnection,
} from '../../shared/targets/directory.js';
import { adapterContext, runVerifyJob } from '../support/adapter-jobs.js';
import { freePort } from '../support/ports.js';
import { startScriptedLdapServer, startSilentTcpServer } from '../support/quiet-servers.js';
import {
  ADMIN_DN,
  slapdUnavailable,
  startSlapd,
  USER_DN_TEMPLATE,
  type LdapUser,
  type Slapd,
} from '../support/slapd.js';
import { createPki } from '../support/tls.js';

const skipReason = slapdUnavailable();
if (skipReason) console.warn(`directory-ldap-adapter: ${skipReason}`);

const newPassword = (): string => `Nw-${randomBytes(12).toString('base64url')}`;

/** Every password the tests used, and every message the adapter returned: none may quote one. */
const secrets = new Set<string>();
const messages: string[] = [];

const ctx = (
  connection: Record<string, unknown>,
  username: string,
  privileged?: { username: string; password: string },
): AdapterContext<DirectoryConnection> =>
  adapterContext(
    DirectoryConnectionSchema,
    { flavour: 'ldap', connectTimeoutMs: 3_000, operationTimeoutMs: 3_000, ...connection },
    username,
    privileged,
  );

function seen(attempt: Attempt): Attempt {
  if (!attempt.ok && attempt.message) messages.push(attempt.message);
  return attempt;
}

describe('directory target spec', () => {
  it('defaults to LDAPS (port 636); StartTLS and plain LDAP use 389 and only when asked', () => {
    const c = DirectoryConnectionSchema.parse({ flavour: 'ldap', host: 'ldap.example' });
    expect(c).toMatchObject({ host: 'ldap.example', port: 636, tls: { mode: 'ldaps' }, changeVia: 'self' });
    expect(
      DirectoryConnectionSchema.parse({ flavour: 'ldap', host: 'ldap.example', tls: { mode: 'starttls' } })
        .port,
    ).toBe(389);
    expect(
      DirectoryConnectionSchema.parse({
        flavour: 'active_directory',
        host: 'dc1.corp.example',
        port: 3269,
        tls: { mode: 'none' },
      }).port,
    ).toBe(3269);
  });

  it('refuses a host that is not a host, a port out of range, malformed DNs and templates, naming the field', () => {
    const issues = (input: Record<string, unknown>) => {
      const r = DirectoryConnectionSchema.safeParse(input);
      return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    };
    expect(issues({ flavour: 'ldap', host: 'ldap://dc1.example' })).toEqual(['host']);
    expect(issues({ flavour: 'ldap', host: 'two words' })).toEqual(['host']);
    expect(issues({ flavour: 'ldap', host: 'dc1.example', port: 70_000 })).toEqual(['port']);
    expect(issues({ flavour: 'active_directory', host: 'dc1', baseDn: 'DC=corp,DC' })).toEqual(['baseDn']);
    expect(issues({ flavour: 'active_directory', host: 'dc1', baseDn: 'CN=a;b,DC=corp' })).toEqual([
      'baseDn',
    ]);
    expect(issues({ flavour: 'ldap', host: 'ldap1', userDnTemplate: 'uid=alice,dc=example' })).toEqual([
      'userDnTemplate',
    ]);
    expect(issues({ flavour: 'ldap', host: 'ldap1', userDnTemplate: 'uid={username},dc' })).toEqual([
      'userDnTemplate',
    ]);
    expect(issues({ flavour: 'ldap', host: 'ldap1', tls: { certificateSha256: 'abc' } })).toEqual([
      'tls.certificateSha256',
    ]);
    expect(issues({ flavour: 'kerberos', host: 'ldap1' })).toEqual(['flavour']);
    expect(
      issues({ flavour: 'active_directory', host: 'dc1', baseDn: 'CN=Users, DC=corp,DC=example' }),
    ).toEqual([]);
  });

  it('keeps a fingerprint in one form, and pins the certificate seen only when neither a CA nor a fingerprint does', () => {
    const hex = 'ab'.repeat(32);
    const c = DirectoryConnectionSchema.parse({
      flavour: 'ldap',
      host: 'ldap1',
      tls: { certificateSha256: hex },
    });
    expect(c.tls.certificateSha256).toBe(Array(32).fill('AB').join(':'));
    const fp = Array(32).fill('CD').join(':');
    const open = DirectoryConnectionSchema.parse({ flavour: 'ldap', host: 'ldap1' });
    expect(directorySpec.pinObserved?.(open, { tlsCertificateSha256: fp })).toEqual({
      ...open,
      tls: { ...open.tls, certificateSha256: fp },
    });
    expect(directorySpec.pinObserved?.(c, { tlsCertificateSha256: fp })).toBeUndefined();
    const withCa = DirectoryConnectionSchema.parse({
      flavour: 'ldap',
      host: 'ldap1',
      tls: { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' },
    });
    expect(directorySpec.pinObserved?.(withCa, { tlsCertificateSha256: fp })).toBeUndefined();
    const plain = DirectoryConnectionSchema.parse({ flavour: 'ldap', host: 'ldap1', tls: { mode: 'none' } });
    expect(directorySpec.pinObserved?.(plain, { tlsCertificateSha256: fp })).toBeUndefined();
    // A privileged account must be on the same server, reached the same way, trusting the same CA.
    expect(directorySpec.endpoint?.(open)).toBe('ldaps://ldap1:636');
    expect(directorySpec.endpoint?.(withCa)).toMatch(/^ldaps:\/\/ldap1:636 \(CA [0-9a-f]{16}\)$/);
  });
});

describe.skipIf(skipReason !== undefined)('directory adapter (ldap) against OpenLDAP', () => {
  let slapd: Slapd;
  let ldaps: Record<string, unknown>;
  let starttls: Record<string, unknown>;
  const admin = () => ({ username: ADMIN_DN, password: slapd.adminPassword });

  beforeAll(async () => {
    slapd = await startSlapd();
    secrets.add(slapd.adminPassword);
    ldaps = {
      host: slapd.host,
      port: slapd.ldapsPort,
      tls: { mode: 'ldaps', ca: slapd.caPem },
      userDnTemplate: USER_DN_TEMPLATE,
    };
    starttls = { ...ldaps, port: slapd.ldapPort, tls: { mode: 'starttls', ca: slapd.caPem } };
  }, 60_000);

  afterAll(async () => {
    await slapd?.stop();
    for (const message of messages) {
      for (const secret of secrets) expect(message).not.toContain(secret);
    }
  });

  async function user(options: Parameters<Slapd['createUser']>[0] = {}): Promise<LdapUser> {
    const u = await slapd.createUser(options);
    secrets.add(u.password);
    return u;
  }
  const fresh = (): string => {
    const p = newPassword();
    secrets.add(p);
    return p;
  };

  it('verifies over LDAPS and StartTLS with the CA, by DN template or by DN', async () => {
    const u = await user();
    expect(seen(await directoryAdapter.verify(ctx(ldaps, u.uid), u.password))).toEqual({ ok: true });
    expect(seen(await directoryAdapter.verify(ctx(starttls, u.uid), u.password))).toEqual({ ok: true });
    expect(
      seen(await directoryAdapter.verify(ctx({ ...ldaps, userDnTemplate: undefined }, u.dn), u.password)),
    ).toEqual({ ok: true });
    // Without a template, a name that is not a DN cannot be bound: a definite error, nothing sent.
    expect(
      seen(await directoryAdapter.verify(ctx({ ...ldaps, userDnTemplate: undefined }, u.uid), u.password)),
    ).toMatchObject({ ok: false, reason: 'error', definite: true });
  });

  it('without a CA, observes the certificate on first use (trust on first use) and accepts it pinned', async () => {
    const u = await user();
    const fingerprint = await slapd.certificateSha256();
    const tofu = { ...ldaps, tls: { mode: 'ldaps' } };
    expect(await directoryAdapter.verify(ctx(tofu, u.uid), u.password)).toEqual({
      ok: true,
      observed: { tlsCertificateSha256: fingerprint },
    });
    const pinned = { ...ldaps, tls: { mode: 'ldaps', certificateSha256: fingerprint } };
    expect(await directoryAdapter.verify(ctx(pinned, u.uid), u.password)).toEqual({ ok: true });
    const starttlsPinned = { ...starttls, tls: { mode: 'starttls', certificateSha256: fingerprint } };
    expect(await directoryAdapter.verify(ctx(starttlsPinned, u.uid), u.password)).toEqual({ ok: true });
  });

  it('a wrong password is a definite mismatch; an empty one is never an anonymous bind', async () => {
    const u = await user();
    const wrong = seen(await directoryAdapter.verify(ctx(ldaps, u.uid), `${u.password}x`));
    expect(wrong).toMatchObject({ ok: false, reason: 'mismatch', definite: true });
    expect(wrong.ok || wrong.detailCode).toBeUndefined();
    const empty = seen(await directoryAdapter.verify(ctx(ldaps, u.uid), ''));
    expect(empty).toMatchObject({ ok: false, reason: 'mismatch', definite: true });
  });

  it('refuses a certificate from another CA, or one naming another host, before any bind (tls_untrusted)', async () => {
    const u = await user();
    const other = createPki();
    try {
      const foreignCa = readFileSync(other.caCert, 'utf8');
      for (const c of [
        { ...ldaps, tls: { mode: 'ldaps', ca: foreignCa } },
        { ...starttls, tls: { mode: 'starttls', ca: foreignCa } },
      ]) {
        const a = seen(await directoryAdapter.verify(ctx(c, u.uid), u.password));
        expect(a).toMatchObject({ ok: false, reason: 'error', definite: true, detailCode: 'tls_untrusted' });
      }
      await slapd.useCertificate(slapd.pki.issue('elsewhere', 'server', 'DNS:ldap.elsewhere.example'));
      const misnamed = seen(await directoryAdapter.verify(ctx(ldaps, u.uid), u.password));
      expect(misnamed).toMatchObject({ ok: false, reason: 'error', detailCode: 'tls_untrusted' });
      expect(!misnamed.ok && misnamed.message).toMatch(/not trusted/);
    } finally {
      await slapd.useCertificate();
      rmSync(other.dir, { recursive: true, force: true });
    }
  });

  it('refuses a certificate other than the pinned one: error tls_certificate_changed, with the one seen', async () => {
    const u = await user();
    const fingerprint = await slapd.certificateSha256();
    const stale = Array(32).fill('0F').join(':');
    for (const mode of ['ldaps', 'starttls'] as const) {
      const base = mode === 'ldaps' ? ldaps : starttls;
      const a = seen(
        await directoryAdapter.verify(
          ctx({ ...base, tls: { mode, certificateSha256: stale } }, u.uid),
          u.password,
        ),
      );
      expect(a).toEqual({
        ok: false,
        reason: 'error',
        message: `TLS certificate of ${mode === 'ldaps' ? 'ldaps' : 'ldap'}://127.0.0.1:${base.port} changed: expected ${stale}, got ${fingerprint}`,
        definite: true,
        detailCode: 'tls_certificate_changed',
        observed: { tlsCertificateSha256: fingerprint },
      });
    }
    // Through the job runner, the outcome the agent reports keeps the detail code and what was seen.
    const outcome = await runVerifyJob(
      directoryAdapter,
      {
        kind: 'directory',
        host: slapd.host,
        connection: { flavour: 'ldap', ...ldaps, tls: { mode: 'ldaps', certificateSha256: stale } },
      },
      u.uid,
      u.password,
    );
    expect(outcome).toMatchObject({
      outcome: 'failed',
      reason: 'error',
      detailCode: 'tls_certificate_changed',
      observed: { tlsCertificateSha256: fingerprint },
    });
  });

  it('an impostor with another certificate receives no byte of the bind (the check runs before it)', async () => {
    const pki = createPki();
    const files = pki.issue('impostor', 'server');
    const received: Buffer[] = [];
    const server = createTlsServer({ cert: pki.pem(files.cert), key: pki.pem(files.key) }, (s: TLSSocket) => {
      s.on('data', (d: Buffer) => received.push(d));
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const pinned = {
        ...ldaps,
        port,
        tls: { mode: 'ldaps', certificateSha256: await slapd.certificateSha256() },
      };
      const a = seen(await directoryAdapter.verify(ctx(pinned, 'alice'), 'Impostor-Bait-1'));
      expect(a).toMatchObject({ ok: false, reason: 'error', detailCode: 'tls_certificate_changed' });
      const untrusted = { ...ldaps, port };
      const b = seen(await directoryAdapter.verify(ctx(untrusted, 'alice'), 'Impostor-Bait-1'));
      expect(b).toMatchObject({ ok: false, reason: 'error', detailCode: 'tls_untrusted' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(Buffer.concat(received).length).toBe(0);
    } finally {
      server.close();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  it('plain LDAP works only when asked for (tls.mode none)', async () => {
    const u = await user();
    const plain = { ...ldaps, port: slapd.ldapPort, tls: { mode: 'none' } };
    expect(seen(await directoryAdapter.verify(ctx(plain, u.uid), u.password))).toEqual({ ok: true });
  });

  it('a locked account, an expired password and a reset awaiting change are locked_or_disabled, each with its code', async () => {
    const locked = await user();
    await slapd.modify(
      `dn: ${locked.dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`,
    );
    expect(seen(await directoryAdapter.verify(ctx(ldaps, locked.uid), locked.password))).toMatchObject({
      ok: false,
      reason: 'locked_or_disabled',
      detailCode: 'account_locked',
      definite: true,
    });

    const expiring = await user({ policy: 'expiring' });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(seen(await directoryAdapter.verify(ctx(ldaps, expiring.uid), expiring.password))).toMatchObject({
      ok: false,
      reason: 'locked_or_disabled',
      detailCode: 'password_expired',
    });

    const reset = await user({ policy: 'mustChange' });
    const byAdmin = fresh();
    await slapd.resetPassword(reset.dn, byAdmin);
    expect(seen(await directoryAdapter.verify(ctx(ldaps, reset.uid), byAdmin))).toMatchObject({
      ok: false,
      reason: 'locked_or_disabled',
      detailCode: 'password_must_change',
    });
  });

  it('changes the password as the account (Password Modify): the new one binds, the old one is refused', async () => {
    const u = await user();
    const next = fresh();
    expect(seen(await directoryAdapter.change(ctx(starttls, u.uid), u.password, next))).toEqual({ ok: true });
    expect(await slapd.canBind(u.dn, next)).toBe(true);
    expect(await slapd.canBind(u.dn, u.password)).toBe(false);
  });

  it('runs the whole change protocol as the account', async () => {
    const u = await user();
    const next = fresh();
    const c = ctx(ldaps, u.uid);
    const outcome = await runChange(
      {
        verify: (p) => directoryAdapter.verify(c, p),
        change: (cur, nxt) => directoryAdapter.change(c, cur, nxt),
        mayStartChange: () => Promise.resolve(true),
      },
      u.password,
      next,
    );
    expect(outcome).toEqual({ outcome: 'ok', works: 'pending' });
    expect(await slapd.canBind(u.dn, next)).toBe(true);
    expect(await slapd.canBind(u.dn, u.password)).toBe(false);
  });

  it('policy refusals are change_failed with a detail code each, and the stored password still works', async () => {
    const u = await user();
    const short = seen(await directoryAdapter.change(ctx(ldaps, u.uid), u.password, 'Sh0rt!'));
    expect(short).toMatchObject({
      ok: false,
      reason: 'change_failed',
      definite: true,
      detailCode: 'password_policy',
    });

    const second = fresh();
    expect(await directoryAdapter.change(ctx(ldaps, u.uid), u.password, second)).toEqual({ ok: true });
    const back = seen(await directoryAdapter.change(ctx(ldaps, u.uid), second, u.password));
    expect(back).toMatchObject({
      ok: false,
      reason: 'change_failed',
      definite: true,
      detailCode: 'password_history',
    });
    expect(await slapd.canBind(u.dn, second)).toBe(true);

    const young = await user({ policy: 'minAge' });
    const tooSoon = seen(await directoryAdapter.change(ctx(ldaps, young.uid), young.password, fresh()));
    expect(tooSoon).toMatchObject({
      ok: false,
      reason: 'change_failed',
      definite: true,
      detailCode: 'password_min_age',
    });
    expect(await slapd.canBind(young.dn, young.password)).toBe(true);
  });

  it('a self-change with a current password that does not bind is a definite mismatch, nothing changed', async () => {
    const u = await user();
    const a = seen(await directoryAdapter.change(ctx(ldaps, u.uid), 'Not-The-Password-1', fresh()));
    expect(a).toMatchObject({ ok: false, reason: 'mismatch', definite: true });
    expect(await slapd.canBind(u.dn, u.password)).toBe(true);
  });

  it('resets the password through the privileged account (Password Modify without the old one)', async () => {
    const u = await user();
    const next = fresh();
    const c = ctx({ ...ldaps, changeVia: 'privileged' }, u.uid, admin());
    expect(seen(await directoryAdapter.change(c, 'stale-password', next))).toEqual({ ok: true });
    expect(await slapd.canBind(u.dn, next)).toBe(true);
    expect(await slapd.canBind(u.dn, u.password)).toBe(false);
  });

  it("a privileged account that cannot bind is the privileged account's failure (change_failed), not the credential's", async () => {
    const u = await user();
    const c = ctx({ ...ldaps, changeVia: 'privileged' }, u.uid, {
      username: ADMIN_DN,
      password: 'wrong-admin-pw',
    });
    const a = seen(await directoryAdapter.change(c, u.password, fresh()));
    expect(a).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
    expect(!a.ok && a.message).toMatch(/privileged account/);
    expect(a.ok || a.detailCode).toBeUndefined();
    const none = seen(
      await directoryAdapter.change(ctx({ ...ldaps, changeVia: 'privileged' }, u.uid), u.password, fresh()),
    );
    expect(none).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
    expect(await slapd.canBind(u.dn, u.password)).toBe(true);
  });

  it('a closed port and an unknown host are unreachable', async () => {
    const port = await freePort();
    expect(seen(await directoryAdapter.verify(ctx({ ...ldaps, port }, 'x'), 'pw-123456'))).toMatchObject({
      ok: false,
      reason: 'unreachable',
      definite: true,
    });
    expect(
      seen(await directoryAdapter.verify(ctx({ ...ldaps, host: 'no-such-host.invalid' }, 'x'), 'pw-123456')),
    ).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
  });
});

/** Timeouts, against servers that go quiet (tests/support/quiet-servers.ts). */
describe('directory adapter timeouts', () => {
  it('a server that accepts TCP and never speaks TLS is unreachable within the connect timeout', async () => {
    const server = await startSilentTcpServer();
    try {
      const started = Date.now();
      const c = ctx({ host: server.host, port: server.port, connectTimeoutMs: 600 }, 'uid=a,dc=x');
      const a = seen(await directoryAdapter.verify(c, 'a-password'));
      expect(a).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
      expect(!a.ok && a.message).toMatch(/within 600 ms/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await server.stop();
    }
  });

  it('a server that never answers the bind is unreachable within the operation timeout', async () => {
    const server = await startSilentTcpServer();
    try {
      const started = Date.now();
      const c = ctx(
        { host: server.host, port: server.port, tls: { mode: 'none' }, operationTimeoutMs: 600 },
        'uid=a,dc=x',
      );
      const a = seen(await directoryAdapter.verify(c, 'a-password'));
      expect(a).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await server.stop();
    }
  });

  it('a server that goes quiet after the change was sent: uncertain (the change may have happened)', async () => {
    const server = await startScriptedLdapServer();
    try {
      const c = ctx(
        { host: server.host, port: server.port, tls: { mode: 'none' }, operationTimeoutMs: 600 },
        'uid=a,dc=x',
      );
      const a = seen(await directoryAdapter.change(c, 'current-pw-1', 'next-pw-0123'));
      expect(a).toMatchObject({ ok: false, reason: 'change_outcome_unknown' });
      expect(!a.ok && a.definite).toBeFalsy();
      // A bind, then the Password Modify extended request.
      expect(server.operations()).toEqual([0x60, 0x77]);
    } finally {
      await server.stop();
    }
  });
});

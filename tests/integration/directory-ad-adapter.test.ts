/**
 * The `directory` adapter's `active_directory` flavour against Samba as an Active Directory domain
 * controller (tests/support/samba-dc.ts: the run's one DC, TLS from a throw-away CA). Every change
 * is proven with an independent client: ldapsearch binds over LDAPS (and smbclient logs in over SMB)
 * with the new password, and, once the DC keeps no old password (`old password allowed period = 0`),
 * the old one is refused. With the default period (60 minutes, as on Windows) the old password still
 * logs in for a while after a change: the adapter must not read that as a failed change.
 */
import { readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directoryAdapter } from '../../agent/adapters/directory/index.js';
import type { AdapterContext, Attempt } from '../../agent/adapters/types.js';
import { runChange, runReconcile, type Primitives } from '../../agent/change-protocol.js';
import { DirectoryConnectionSchema, type DirectoryConnection } from '../../shared/targets/directory.js';
import { adapterContext, runVerifyJob } from '../support/adapter-jobs.js';
import { acquireSambaDc, sambaDcSkipReason, type DcUser, type SambaDc } from '../support/samba-dc.js';
import { createPki } from '../support/tls.js';

const skipReason = await sambaDcSkipReason();
if (skipReason) console.warn(`directory-ad-adapter: ${skipReason}`);

/** Every password the tests used, and every message the adapter returned: none may quote one. */
const secrets = new Set<string>();
const messages: string[] = [];

function seen(attempt: Attempt): Attempt {
  if (!attempt.ok && attempt.message) messages.push(attempt.message);
  return attempt;
}

describe.skipIf(skipReason !== undefined)(
  'directory adapter (active_directory) against a Samba AD DC',
  () => {
    let dc: SambaDc;
    let ldaps: Record<string, unknown>;

    beforeAll(async () => {
      dc = await acquireSambaDc({ oldPasswordPeriodMinutes: 60 });
      secrets.add(dc.admin.password);
      ldaps = { host: dc.host, tls: { mode: 'ldaps', ca: dc.caPem }, domain: dc.domain };
    }, 300_000);

    afterAll(async () => {
      await dc?.release();
      for (const message of messages) {
        for (const secret of secrets) expect(message).not.toContain(secret);
      }
    });

    const ctx = (
      connection: Record<string, unknown>,
      username: string,
      privileged?: { username: string; password: string },
    ): AdapterContext<DirectoryConnection> =>
      adapterContext(
        DirectoryConnectionSchema,
        { flavour: 'active_directory', connectTimeoutMs: 5_000, operationTimeoutMs: 10_000, ...connection },
        username,
        privileged,
      );
    const primitives = (c: AdapterContext<DirectoryConnection>): Primitives => ({
      verify: (p) => directoryAdapter.verify(c, p),
      change: (cur, nxt) => directoryAdapter.change(c, cur, nxt),
      mayStartChange: () => Promise.resolve(true),
    });
    async function user(options: Parameters<SambaDc['createUser']>[0] = {}): Promise<DcUser> {
      const u = await dc.createUser(options);
      secrets.add(u.password);
      return u;
    }
    const fresh = (): string => {
      const p = `Nw-${randomBytes(12).toString('base64url')}-5b!`;
      secrets.add(p);
      return p;
    };
    const privileged = () => ({ ...ldaps, changeVia: 'privileged' });

    it('verifies by UPN, DOMAIN\\name, bare name (with the target domain) and DN, over LDAPS and StartTLS', async () => {
      const u = await user();
      const starttls = { ...ldaps, tls: { mode: 'starttls', ca: dc.caPem } };
      for (const name of [u.upn, `${dc.domain}\\${u.username}`, u.username, u.dn]) {
        expect(seen(await directoryAdapter.verify(ctx(ldaps, name), u.password)), name).toEqual({ ok: true });
      }
      expect(seen(await directoryAdapter.verify(ctx(starttls, u.upn), u.password))).toEqual({ ok: true });
      // A bare name without a domain on the target cannot be bound: a definite error, nothing sent.
      const noDomain = { ...ldaps, domain: undefined };
      expect(seen(await directoryAdapter.verify(ctx(noDomain, u.username), u.password))).toMatchObject({
        ok: false,
        reason: 'error',
        definite: true,
      });
    });

    it('records the certificate on first use, refuses another one (tls_certificate_changed) and a foreign CA (tls_untrusted)', async () => {
      const u = await user();
      const tofu = { ...ldaps, tls: { mode: 'ldaps' } };
      expect(await directoryAdapter.verify(ctx(tofu, u.upn), u.password)).toEqual({
        ok: true,
        observed: { tlsCertificateSha256: dc.certificateSha256 },
      });
      const stale = Array(32).fill('5A').join(':');
      const outcome = await runVerifyJob(
        directoryAdapter,
        {
          kind: 'directory',
          host: dc.host,
          connection: {
            flavour: 'active_directory',
            ...ldaps,
            tls: { mode: 'ldaps', certificateSha256: stale },
          },
        },
        u.upn,
        u.password,
      );
      expect(outcome).toMatchObject({
        outcome: 'failed',
        reason: 'error',
        detailCode: 'tls_certificate_changed',
        observed: { tlsCertificateSha256: dc.certificateSha256 },
      });
      const other = createPki();
      try {
        const foreign = { ...ldaps, tls: { mode: 'ldaps', ca: readFileSync(other.caCert, 'utf8') } };
        expect(seen(await directoryAdapter.verify(ctx(foreign, u.upn), u.password))).toMatchObject({
          ok: false,
          reason: 'error',
          detailCode: 'tls_untrusted',
        });
      } finally {
        rmSync(other.dir, { recursive: true, force: true });
      }
    });

    it('a wrong password is mismatch (data 52e); plain LDAP is refused by the DC with a clear error', async () => {
      const u = await user();
      const wrong = seen(await directoryAdapter.verify(ctx(ldaps, u.upn), `${u.password}x`));
      expect(wrong).toMatchObject({ ok: false, reason: 'mismatch', definite: true });
      expect(!wrong.ok && wrong.message).toMatch(/data 52e/);
      const plain = seen(
        await directoryAdapter.verify(ctx({ ...ldaps, tls: { mode: 'none' } }, u.upn), u.password),
      );
      expect(plain).toMatchObject({ ok: false, reason: 'error', definite: true });
      expect(!plain.ok && plain.message).toMatch(/encrypted connection/);
    });

    it('disabled (533), expired account (701), must change (773), locked out (775) and expired password (532): locked_or_disabled, a code each', async () => {
      const accounts = await dc.accountsInEveryState();
      for (const u of Object.values(accounts)) secrets.add(u.password);
      const cases: [DcUser, string, string][] = [
        [accounts.account_disabled, 'account_disabled', 'data 533'],
        [accounts.account_expired, 'account_expired', 'data 701'],
        [accounts.password_must_change, 'password_must_change', 'data 773'],
        [accounts.account_locked, 'account_locked', 'data 775'],
        [accounts.password_expired, 'password_expired', 'data 532'],
      ];
      for (const [u, code, data] of cases) {
        const a = seen(await directoryAdapter.verify(ctx(ldaps, u.upn), u.password));
        expect(a, code).toMatchObject({
          ok: false,
          reason: 'locked_or_disabled',
          definite: true,
          detailCode: code,
        });
        expect(!a.ok && a.message, code).toContain(data);
      }
    });

    it('changes the password as the account (unicodePwd delete + add) and proves it binds with the new one, though the DC still lets the old one in for a while', async () => {
      expect(dc.oldPasswordPeriodMinutes()).toBe(60);
      const u = await user();
      const next = fresh();
      const outcome = await runChange(primitives(ctx(ldaps, u.upn)), u.password, next);
      expect(outcome).toEqual({ outcome: 'ok', works: 'pending' });
      expect(await dc.canBind(u.upn, next)).toBe(true);
      expect(await dc.canSmb(u.username, next)).toBe(true);
      // Windows' and Samba's "old password allowed period": the old password keeps working for NTLM
      // and simple binds for 60 minutes. The change above was still reported as done, and a reconcile
      // (which tries the new password first) settles on the new one, not on the old.
      expect(await dc.canBind(u.upn, u.password)).toBe(true);
      expect(await runReconcile(primitives(ctx(ldaps, u.upn)), u.password, next)).toEqual({
        outcome: 'ok',
        works: 'pending',
      });
    });

    it('over StartTLS too', async () => {
      const u = await user();
      const next = fresh();
      const starttls = { ...ldaps, tls: { mode: 'starttls', ca: dc.caPem } };
      expect(seen(await directoryAdapter.change(ctx(starttls, u.username), u.password, next))).toEqual({
        ok: true,
      });
      expect(await dc.canBind(u.upn, next)).toBe(true);
    });

    it('policy refusals (0000052D) are change_failed with a code each, and the stored password still works', async () => {
      const u = await user();
      const simple = seen(await directoryAdapter.change(ctx(ldaps, u.upn), u.password, 'abcdefghij'));
      expect(simple).toMatchObject({
        ok: false,
        reason: 'change_failed',
        definite: true,
        detailCode: 'password_policy',
      });
      expect(!simple.ok && simple.message).toMatch(/0000052D/);

      const second = fresh();
      expect(await directoryAdapter.change(ctx(ldaps, u.upn), u.password, second)).toEqual({ ok: true });
      const back = seen(await directoryAdapter.change(ctx(ldaps, u.upn), second, u.password));
      expect(back).toMatchObject({
        ok: false,
        reason: 'change_failed',
        definite: true,
        detailCode: 'password_history',
      });
      expect(await dc.canBind(u.upn, second)).toBe(true);

      // Minimum password age (a PSO of one day on this account): a second change is refused.
      const young = await user({ settings: { minAgeSeconds: 86_400 } });
      const once = fresh();
      // Its first password was set at creation, so even the first change comes too soon.
      const tooSoon = seen(await directoryAdapter.change(ctx(ldaps, young.upn), young.password, once));
      expect(tooSoon).toMatchObject({
        ok: false,
        reason: 'change_failed',
        definite: true,
        detailCode: 'password_min_age',
      });
      expect(await dc.canBind(young.upn, young.password)).toBe(true);
      // Through the change protocol the refusal stays change_failed (the agent reports it so).
      const outcome = await runChange(primitives(ctx(ldaps, young.upn)), young.password, fresh());
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'change_failed' });
      expect(await dc.canBind(young.upn, young.password)).toBe(true);
    });

    it('a self-change with a current password that does not bind is a definite mismatch, nothing changed', async () => {
      const u = await user();
      const a = seen(await directoryAdapter.change(ctx(ldaps, u.upn), 'Not-The-Password-1!', fresh()));
      expect(a).toMatchObject({ ok: false, reason: 'mismatch', definite: true });
      expect(await dc.canBind(u.upn, u.password)).toBe(true);
    });

    it('resets the password through a privileged account (unicodePwd replace), found by sAMAccountName or UPN', async () => {
      for (const name of ['username', 'upn'] as const) {
        const u = await user();
        const next = fresh();
        const a = seen(
          await directoryAdapter.change(ctx(privileged(), u[name], dc.admin), 'stale-password', next),
        );
        expect(a, name).toEqual({ ok: true });
        expect(await dc.canBind(u.upn, next)).toBe(true);
      }
    });

    it("the privileged account's own failures are change_failed; an account that does not exist is account_not_found", async () => {
      const u = await user();
      const wrongAdmin = seen(
        await directoryAdapter.change(
          ctx(privileged(), u.upn, { username: dc.admin.username, password: 'Wrong-Admin-1!' }),
          u.password,
          fresh(),
        ),
      );
      expect(wrongAdmin).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
      expect(!wrongAdmin.ok && wrongAdmin.message).toMatch(/privileged account/);
      expect(wrongAdmin.ok || wrongAdmin.detailCode).toBeUndefined();

      // A plain account may not reset another one's password.
      const other = await user();
      const notAdmin = seen(
        await directoryAdapter.change(
          ctx(privileged(), u.upn, { username: other.upn, password: other.password }),
          u.password,
          fresh(),
        ),
      );
      expect(notAdmin).toMatchObject({
        ok: false,
        reason: 'change_failed',
        definite: true,
        detailCode: 'change_not_allowed',
      });
      expect(await dc.canBind(u.upn, u.password)).toBe(true);

      const missing = seen(
        await directoryAdapter.change(
          ctx(privileged(), `nobody-${randomBytes(3).toString('hex')}`, dc.admin),
          'x',
          fresh(),
        ),
      );
      expect(missing).toMatchObject({
        ok: false,
        reason: 'change_failed',
        definite: true,
        detailCode: 'account_not_found',
      });
    });

    describe('with no old password kept (old password allowed period = 0)', () => {
      beforeAll(() => dc.useOldPasswordPeriod(0), 120_000);
      afterAll(() => dc.useOldPasswordPeriod(60), 120_000);

      it('after a self change the new password binds and logs in over SMB, and the old one is refused', async () => {
        const u = await user();
        const next = fresh();
        expect(await runChange(primitives(ctx(ldaps, u.upn)), u.password, next)).toEqual({
          outcome: 'ok',
          works: 'pending',
        });
        expect(await dc.canBind(u.upn, next)).toBe(true);
        expect(await dc.canBind(u.upn, u.password)).toBe(false);
        expect(await dc.canSmb(u.username, next)).toBe(true);
        expect(await dc.canSmb(u.username, u.password)).toBe(false);
        // And the adapter itself now reads the old password as a mismatch.
        expect(seen(await directoryAdapter.verify(ctx(ldaps, u.upn), u.password))).toMatchObject({
          ok: false,
          reason: 'mismatch',
        });
      });

      it('after a privileged reset the new password binds and the old one is refused', async () => {
        const u = await user();
        const next = fresh();
        expect(
          seen(await directoryAdapter.change(ctx(privileged(), u.username, dc.admin), u.password, next)),
        ).toEqual({
          ok: true,
        });
        expect(await dc.canBind(u.upn, next)).toBe(true);
        expect(await dc.canBind(u.upn, u.password)).toBe(false);
      });
    });
  },
);

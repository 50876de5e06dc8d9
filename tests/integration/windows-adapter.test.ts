/**
 * The `windows` adapter (Samba's rpcclient over SMB) against real SMB servers: the run's Samba AD
 * DC (tests/support/samba-dc.ts; domain accounts stand in for a Windows host's local ones: the SAMR
 * calls are the same), and a standalone Samba with local accounts (samba-standalone.ts). Every
 * change is proven with an independent client (smbclient logs on with the new password; with the
 * DC's old password period at 0, the old one is refused). No password may appear on a command line
 * or in the environment of a process: a test reads /proc while rpcclient runs.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowsAdapter } from '../../agent/adapters/windows/index.js';
import { rpcArg } from '../../agent/adapters/windows/rpcclient.js';
import type { AdapterContext, Attempt } from '../../agent/adapters/types.js';
import { runChange, type Primitives } from '../../agent/change-protocol.js';
import {
  WindowsConnectionSchema,
  windowsSpec,
  type WindowsConnection,
} from '../../shared/targets/windows.js';
import { adapterContext, runVerifyJob } from '../support/adapter-jobs.js';
import { freePort } from '../support/ports.js';
import { startSilentTcpServer } from '../support/quiet-servers.js';
import { acquireSambaDc, sambaDcSkipReason, type DcUser, type SambaDc } from '../support/samba-dc.js';
import {
  sambaStandaloneUnavailable,
  startSambaStandalone,
  type LocalUser,
  type SambaStandalone,
} from '../support/samba-standalone.js';

const dcSkip = await sambaDcSkipReason();
const standaloneSkip = sambaStandaloneUnavailable();
if (dcSkip) console.warn(`windows-adapter (DC): ${dcSkip}`);
if (standaloneSkip) console.warn(`windows-adapter (standalone): ${standaloneSkip}`);

/** Every password the tests used, and every message the adapter returned: none may quote one. */
const secrets = new Set<string>();
const messages: string[] = [];
afterAll(() => {
  for (const message of messages) {
    for (const secret of secrets) expect(message).not.toContain(secret);
  }
});

function seen(attempt: Attempt): Attempt {
  if (!attempt.ok && attempt.message) messages.push(attempt.message);
  return attempt;
}

const ctx = (
  connection: Record<string, unknown>,
  username: string,
  privileged?: { username: string; password: string },
): AdapterContext<WindowsConnection> =>
  adapterContext(
    WindowsConnectionSchema,
    { connectTimeoutMs: 10_000, operationTimeoutMs: 10_000, ...connection },
    username,
    privileged,
  );
const primitives = (c: AdapterContext<WindowsConnection>): Primitives => ({
  verify: (p) => windowsAdapter.verify(c, p),
  change: (cur, nxt) => windowsAdapter.change(c, cur, nxt),
  mayStartChange: () => Promise.resolve(true),
});
const fresh = (): string => {
  const p = `Nw-${randomBytes(12).toString('base64url')}-4d!`;
  secrets.add(p);
  return p;
};

describe('windows target spec', () => {
  it('defaults to port 445 and signing; validates host, port, domain and the pinned SID', () => {
    expect(WindowsConnectionSchema.parse({ host: 'ws01.corp.example' })).toEqual({
      host: 'ws01.corp.example',
      port: 445,
      protection: 'sign',
      changeVia: 'self',
      connectTimeoutMs: 10_000,
      operationTimeoutMs: 10_000,
    });
    const issues = (input: Record<string, unknown>) => {
      const r = WindowsConnectionSchema.safeParse(input);
      return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    };
    expect(issues({ host: '\\\\ws01\\c$' })).toEqual(['host']);
    expect(issues({ host: 'ws01', port: 0 })).toEqual(['port']);
    expect(issues({ host: 'ws01', domain: 'CORP\\X' })).toEqual(['domain']);
    expect(issues({ host: 'ws01', accountDomainSid: 'S-1-5-32-544' })).toEqual(['accountDomainSid']);
    expect(issues({ host: 'ws01', protection: 'none' })).toEqual(['protection']);
  });

  it('pins the account domain SID seen first; forbids control characters; 128 characters at most', () => {
    const c = WindowsConnectionSchema.parse({ host: 'ws01' });
    const sid = 'S-1-5-21-1-2-3';
    expect(windowsSpec.pinObserved?.(c, { accountDomainSid: sid })).toEqual({ ...c, accountDomainSid: sid });
    expect(
      windowsSpec.pinObserved?.({ ...c, accountDomainSid: sid }, { accountDomainSid: 'S-1-5-21-4-5-6' }),
    ).toBeUndefined();
    expect(windowsSpec.endpoint?.(c)).toBe('smb://ws01:445');
    expect(windowsSpec.passwordConstraints?.(c)).toMatchObject({ maxLength: 128 });
  });

  it("escapes arguments for rpcclient's command parser", () => {
    expect(rpcArg('plain')).toBe('plain');
    expect(rpcArg('a b"c\'d\\e')).toBe('a\\ b\\"c\\\'d\\\\e');
    expect(rpcArg('')).toBe('""');
  });
});

describe.skipIf(dcSkip !== undefined)('windows adapter against the Samba AD DC (domain accounts)', () => {
  let dc: SambaDc;
  let at: Record<string, unknown>;

  beforeAll(async () => {
    dc = await acquireSambaDc({ oldPasswordPeriodMinutes: 60 });
    secrets.add(dc.admin.password);
    at = { host: dc.host, domain: dc.domain };
  }, 300_000);
  afterAll(() => dc?.release());

  async function user(options: Parameters<SambaDc['createUser']>[0] = {}): Promise<DcUser> {
    const u = await dc.createUser(options);
    secrets.add(u.password);
    return u;
  }
  /** The test admin as rpcclient names it (DOMAIN\name). */
  const admin = () => ({ username: dc.admin.username.replace(/@.*/, ''), password: dc.admin.password });

  it('verifies with a signed NTLM session (and an encrypted one), and observes the account domain SID on first use', async () => {
    const u = await user();
    expect(await windowsAdapter.verify(ctx(at, u.username), u.password)).toEqual({
      ok: true,
      observed: { accountDomainSid: dc.domainSid },
    });
    expect(
      await windowsAdapter.verify(ctx({ ...at, accountDomainSid: dc.domainSid }, u.username), u.password),
    ).toEqual({
      ok: true,
    });
    // SMB 3 encryption required as well (protection: encrypt).
    expect(
      await windowsAdapter.verify(ctx({ ...at, protection: 'encrypt' }, u.username), u.password),
    ).toMatchObject({
      ok: true,
    });
    expect(seen(await windowsAdapter.verify(ctx(at, u.username), `${u.password}x`))).toMatchObject({
      ok: false,
      reason: 'mismatch',
      definite: true,
    });
    expect(
      seen(await windowsAdapter.verify(ctx(at, `nobody${randomBytes(3).toString('hex')}`), 'Some-Pass-1!')),
    ).toMatchObject({
      ok: false,
      reason: 'mismatch',
    });
  });

  it('disabled, locked out, expired account, must change, expired password: locked_or_disabled with a code each', async () => {
    const accounts = await dc.accountsInEveryState();
    for (const u of Object.values(accounts)) secrets.add(u.password);
    const cases: [DcUser, string, string][] = [
      [accounts.account_disabled, 'account_disabled', 'NT_STATUS_ACCOUNT_DISABLED'],
      [accounts.account_expired, 'account_expired', 'NT_STATUS_ACCOUNT_EXPIRED'],
      [accounts.password_must_change, 'password_must_change', 'NT_STATUS_PASSWORD_MUST_CHANGE'],
      [accounts.account_locked, 'account_locked', 'NT_STATUS_ACCOUNT_LOCKED_OUT'],
      [accounts.password_expired, 'password_expired', 'NT_STATUS_PASSWORD_EXPIRED'],
    ];
    for (const [u, code, status] of cases) {
      const a = seen(await windowsAdapter.verify(ctx(at, u.username), u.password));
      expect(a, code).toMatchObject({
        ok: false,
        reason: 'locked_or_disabled',
        definite: true,
        detailCode: code,
      });
      expect(!a.ok && a.message, code).toContain(status);
    }
  });

  it('changes the password as the account (SAMR chgpasswd2): the new one logs on; the old one still does for the old password period', async () => {
    const u = await user();
    const next = fresh();
    expect(await runChange(primitives(ctx(at, u.username)), u.password, next)).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
    expect(await dc.canSmb(u.username, next)).toBe(true);
    expect(await dc.canBind(u.upn, next)).toBe(true);
    // 60 minutes of the old password (NTLM): not a failed change.
    expect(await dc.canSmb(u.username, u.password)).toBe(true);
  });

  it('sets the password through a privileged account (SAMR setuserinfo2, as net rpc password does)', async () => {
    const u = await user();
    const next = fresh();
    const c = ctx({ ...at, changeVia: 'privileged' }, u.username, admin());
    expect(seen(await windowsAdapter.change(c, 'stale-password', next))).toMatchObject({ ok: true });
    expect(await dc.canSmb(u.username, next)).toBe(true);
  });

  it('passwords with spaces, quotes and backslashes, 120 characters long, go through intact', async () => {
    const odd = `a b"c'd\\e ${'Xy9!'.repeat(27)}`.slice(0, 120);
    const u = await user({ password: odd });
    secrets.add(odd);
    expect(await windowsAdapter.verify(ctx(at, u.username), odd)).toMatchObject({ ok: true });
    const next = `Z\\ "q' ${randomBytes(40).toString('base64')}`.slice(0, 120);
    secrets.add(next);
    expect(seen(await windowsAdapter.change(ctx(at, u.username), odd, next))).toMatchObject({ ok: true });
    expect(await dc.canSmb(u.username, next)).toBe(true);
  });

  it('policy refusals are change_failed (password_policy), the stored password still working', async () => {
    const u = await user();
    const simple = seen(await windowsAdapter.change(ctx(at, u.username), u.password, 'abcdefghij'));
    expect(simple).toMatchObject({
      ok: false,
      reason: 'change_failed',
      definite: true,
      detailCode: 'password_policy',
    });
    expect(!simple.ok && simple.message).toContain('NT_STATUS_PASSWORD_RESTRICTION');
    const young = await user({ settings: { minAgeSeconds: 86_400 } });
    const tooSoon = seen(await windowsAdapter.change(ctx(at, young.username), young.password, fresh()));
    expect(tooSoon).toMatchObject({ ok: false, reason: 'change_failed', detailCode: 'password_policy' });
    expect(await dc.canSmb(young.username, young.password)).toBe(true);
    expect(await dc.canSmb(u.username, u.password)).toBe(true);
  });

  it("a privileged account's own failures are change_failed; an unknown account is account_not_found", async () => {
    const u = await user();
    const wrong = seen(
      await windowsAdapter.change(
        ctx({ ...at, changeVia: 'privileged' }, u.username, { ...admin(), password: 'Wrong-1!' }),
        'x',
        fresh(),
      ),
    );
    expect(wrong).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
    expect(!wrong.ok && wrong.message).toMatch(/privileged account/);
    const other = await user();
    const notAdmin = seen(
      await windowsAdapter.change(
        ctx({ ...at, changeVia: 'privileged' }, u.username, {
          username: other.username,
          password: other.password,
        }),
        'x',
        fresh(),
      ),
    );
    expect(notAdmin).toMatchObject({
      ok: false,
      reason: 'change_failed',
      definite: true,
      detailCode: 'change_not_allowed',
    });
    const missing = seen(
      await windowsAdapter.change(
        ctx({ ...at, changeVia: 'privileged' }, `nobody${randomBytes(3).toString('hex')}`, admin()),
        'x',
        fresh(),
      ),
    );
    expect(missing).toMatchObject({ ok: false, reason: 'change_failed', detailCode: 'account_not_found' });
    expect(await dc.canSmb(u.username, u.password)).toBe(true);
  });

  it('refuses a server answering for another account domain before sending the change (account_domain_changed)', async () => {
    const u = await user();
    const other = 'S-1-5-21-1111111111-2222222222-3333333333';
    const c = ctx({ ...at, accountDomainSid: other }, u.username);
    const a = seen(await windowsAdapter.change(c, u.password, fresh()));
    expect(a).toEqual({
      ok: false,
      reason: 'error',
      message: `smb://127.0.0.1:445 answers for account domain ${dc.domainSid}, not the pinned ${other}`,
      definite: true,
      detailCode: 'account_domain_changed',
      observed: { accountDomainSid: dc.domainSid },
    });
    expect(await dc.canSmb(u.username, u.password)).toBe(true);
    const outcome = await runVerifyJob(
      windowsAdapter,
      { kind: 'windows', host: dc.host, connection: { ...at, accountDomainSid: other } },
      u.username,
      u.password,
    );
    expect(outcome).toMatchObject({
      outcome: 'failed',
      reason: 'error',
      detailCode: 'account_domain_changed',
      observed: { accountDomainSid: dc.domainSid },
    });
  });

  it('no password is ever on a command line or in the environment of a process while rpcclient runs', async () => {
    const u = await user();
    const next = fresh();
    const found: string[] = [];
    let sawRpcclient = false;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
          let cmdline = '';
          let environ = '';
          try {
            cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
          } catch {
            continue;
          }
          if (cmdline.includes('rpcclient')) sawRpcclient = true;
          for (const secret of [u.password, next, dc.admin.password]) {
            if (cmdline.includes(secret) || environ.includes(secret))
              found.push(`${pid}: ${cmdline.replace(/\0/g, ' ')}`);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    try {
      expect(await windowsAdapter.verify(ctx(at, u.username), u.password)).toMatchObject({ ok: true });
      expect(await windowsAdapter.change(ctx(at, u.username), u.password, next)).toMatchObject({ ok: true });
      const reset = fresh();
      expect(
        await windowsAdapter.change(
          ctx({ ...at, changeVia: 'privileged' }, u.username, admin()),
          next,
          reset,
        ),
      ).toMatchObject({
        ok: true,
      });
    } finally {
      polling = false;
      await poll;
    }
    expect(sawRpcclient).toBe(true);
    expect(found).toEqual([]);
  });

  describe('with no old password kept (old password allowed period = 0)', () => {
    beforeAll(() => dc.useOldPasswordPeriod(0), 120_000);
    afterAll(() => dc.useOldPasswordPeriod(60), 120_000);

    it('after a change the new password logs on and the old one is refused', async () => {
      const u = await user();
      const next = fresh();
      expect(await runChange(primitives(ctx(at, u.username)), u.password, next)).toEqual({
        outcome: 'ok',
        works: 'pending',
      });
      expect(await dc.canSmb(u.username, next)).toBe(true);
      expect(await dc.canSmb(u.username, u.password)).toBe(false);
      const reset = fresh();
      expect(
        seen(
          await windowsAdapter.change(
            ctx({ ...at, changeVia: 'privileged' }, u.username, admin()),
            next,
            reset,
          ),
        ),
      ).toMatchObject({
        ok: true,
      });
      expect(await dc.canSmb(u.username, reset)).toBe(true);
      expect(await dc.canSmb(u.username, next)).toBe(false);
    });
  });
});

describe.skipIf(standaloneSkip !== undefined)(
  'windows adapter against a standalone Samba (local accounts)',
  () => {
    let smb: SambaStandalone;
    let at: Record<string, unknown>;

    beforeAll(async () => {
      smb = await startSambaStandalone();
      secrets.add(smb.admin.password);
      at = { host: smb.host, port: smb.port, domain: smb.netbiosName };
    }, 120_000);
    afterAll(() => smb?.stop());

    async function user(): Promise<LocalUser> {
      const u = await smb.createUser();
      secrets.add(u.password);
      return u;
    }

    it('verifies a local account and observes the machine SID; the domain may be left out', async () => {
      const u = await user();
      expect(await windowsAdapter.verify(ctx(at, u.username), u.password)).toEqual({
        ok: true,
        observed: { accountDomainSid: smb.machineSid },
      });
      expect(
        await windowsAdapter.verify(ctx({ host: smb.host, port: smb.port }, u.username), u.password),
      ).toMatchObject({
        ok: true,
      });
      expect(seen(await windowsAdapter.verify(ctx(at, u.username), 'Wrong-Pass-1!'))).toMatchObject({
        ok: false,
        reason: 'mismatch',
      });
    });

    it('an unknown account mapped to the guest account is mismatch (guest_session), never a success', async () => {
      const a = seen(
        await windowsAdapter.verify(ctx(at, `nobody${randomBytes(3).toString('hex')}`), 'Any-Pass-1!'),
      );
      expect(a).toMatchObject({ ok: false, reason: 'mismatch', detailCode: 'guest_session' });
    });

    it('a disabled local account is locked_or_disabled (account_disabled)', async () => {
      const u = await user();
      await smb.smbpasswd('-d', u.username);
      expect(seen(await windowsAdapter.verify(ctx(at, u.username), u.password))).toMatchObject({
        ok: false,
        reason: 'locked_or_disabled',
        detailCode: 'account_disabled',
      });
    });

    it('changes a local password as the account, and through the privileged account; smbclient proves each', async () => {
      const u = await user();
      const next = fresh();
      expect(await runChange(primitives(ctx(at, u.username)), u.password, next)).toEqual({
        outcome: 'ok',
        works: 'pending',
      });
      expect(await smb.canSmb(u.username, next)).toBe(true);
      expect(await smb.canSmb(u.username, u.password)).toBe(false);
      const reset = fresh();
      const c = ctx({ ...at, changeVia: 'privileged' }, u.username, smb.admin);
      expect(seen(await windowsAdapter.change(c, 'stale', reset))).toMatchObject({ ok: true });
      expect(await smb.canSmb(u.username, reset)).toBe(true);
      expect(await smb.canSmb(u.username, next)).toBe(false);
    });

    it('the longest password rpcclient takes (128 bytes, with spaces, quotes and backslashes) is set, changed and logs on', async () => {
      const u = await user();
      const longest = (seed: string) => `${seed}1 "q'\\ ${'Zx9'.repeat(50)}`.slice(0, 128);
      const first = longest('A');
      const second = longest('B');
      secrets.add(first);
      secrets.add(second);
      const c = ctx({ ...at, changeVia: 'privileged' }, u.username, smb.admin);
      expect(seen(await windowsAdapter.change(c, u.password, first))).toMatchObject({ ok: true });
      expect(await windowsAdapter.verify(ctx(at, u.username), first)).toMatchObject({ ok: true });
      expect(seen(await windowsAdapter.change(ctx(at, u.username), first, second))).toMatchObject({
        ok: true,
      });
      expect(await smb.canSmb(u.username, second)).toBe(true);
      expect(await windowsAdapter.verify(ctx(at, u.username), second)).toMatchObject({ ok: true });
    });

    it('a password shorter than the policy is change_failed (password_policy); the stored one still works', async () => {
      const u = await user();
      await smb.setPolicy('min password length', 30);
      try {
        const a = seen(await windowsAdapter.change(ctx(at, u.username), u.password, 'Short-1!'));
        expect(a).toMatchObject({
          ok: false,
          reason: 'change_failed',
          definite: true,
          detailCode: 'password_policy',
        });
        expect(await smb.canSmb(u.username, u.password)).toBe(true);
      } finally {
        await smb.setPolicy('min password length', 5);
      }
    });
  },
);

describe('windows adapter without a server', () => {
  it('a closed port and an unknown host are unreachable; a server that never speaks SMB is unreachable within the connect timeout', async () => {
    const port = await freePort();
    expect(
      seen(await windowsAdapter.verify(ctx({ host: '127.0.0.1', port }, 'someone'), 'Pw-1234567')),
    ).toMatchObject({
      ok: false,
      reason: 'unreachable',
      definite: true,
    });
    expect(
      seen(await windowsAdapter.verify(ctx({ host: 'no-such-host.invalid' }, 'someone'), 'Pw-1234567')),
    ).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
    const server = await startSilentTcpServer();
    try {
      const started = Date.now();
      const a = seen(
        await windowsAdapter.verify(
          ctx({ host: server.host, port: server.port, connectTimeoutMs: 800 }, 'someone'),
          'Pw-1234567',
        ),
      );
      expect(a).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await server.stop();
    }
  });

  it('a password longer than rpcclient can log on with (128 bytes) is an error, never a truncated logon; an empty one a mismatch', async () => {
    const a = seen(await windowsAdapter.verify(ctx({ host: '127.0.0.1' }, 'someone'), 'x'.repeat(129)));
    expect(a).toMatchObject({ ok: false, reason: 'error', definite: true });
    expect(!a.ok && a.message).toMatch(/longer than 128 bytes/);
    expect(seen(await windowsAdapter.verify(ctx({ host: '127.0.0.1' }, 'someone'), ''))).toMatchObject({
      ok: false,
      reason: 'mismatch',
      definite: true,
    });
    const b = seen(
      await windowsAdapter.change(ctx({ host: '127.0.0.1' }, 'someone'), 'Pw-123456', 'é'.repeat(65)),
    );
    expect(b).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
  });

  it('without rpcclient on the agent host: error tool_missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(
        seen(await windowsAdapter.verify(ctx({ host: '127.0.0.1' }, 'someone'), 'Pw-1234567')),
      ).toMatchObject({
        ok: false,
        reason: 'error',
        detailCode: 'tool_missing',
      });
    } finally {
      process.env.PATH = path;
    }
  });
});

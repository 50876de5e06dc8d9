/**
 * Samba as an Active Directory domain controller, shared by the test files of one run.
 *
 * A DC listens on fixed ports (LDAP 389, LDAPS 636, SMB 445, RPC 135 on 127.0.0.1), so one run has
 * one DC: the first file that needs it provisions it (`samba-tool domain provision`, about 10 s)
 * and starts `samba` detached, in a folder named by the run (global-setup.ts provides it, and
 * stops the DC when the run ends). Files take the DC one at a time (a use lock in that folder), so
 * a file may restart it with another `old password allowed period` without disturbing another.
 *
 * Only the services the tests use run (LDAP, SMB, RPC, winbindd); no DNS, Kerberos or NetBIOS.
 * TLS uses a throw-away CA. The domain's password policy: complexity on, 7 characters, 24 in
 * history, no minimum age, no lockout; tests give single accounts stricter rules with password
 * settings objects (PSOs). Accounts and changes are made over LDAPS as a domain admin with the
 * OpenLDAP tools, passwords in 0600 files (`-y`, LDIF files), never on a command line.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { smbLogon } from './smb-logon.js';
import {
  acquireLock,
  alive,
  DC_BASE_DN,
  DC_DNS_DOMAIN,
  DC_DOMAIN,
  DC_HOST,
  DC_PORTS,
  DC_REALM,
  exec,
  must,
  portOpen,
  provision,
  readState,
  start,
  stopDc,
  type State,
} from './samba-dc-process.js';

export { DC_BASE_DN, DC_DNS_DOMAIN, DC_DOMAIN, DC_HOST, DC_REALM } from './samba-dc-process.js';

const TOOLS = ['/usr/sbin/samba', '/usr/bin/samba-tool', '/usr/bin/ldapsearch', '/usr/bin/smbclient'];

/**
 * Writes pwdLastSet into the domain partition's database file without Samba's modules (they allow
 * only 0 and -1): argv = smb.conf, the account's DN, the FILETIME.
 */
const AGE_PASSWORD_PY = `
import glob, os, sys, ldb
from samba.param import LoadParm
lp = LoadParm()
lp.load(sys.argv[1])
part = glob.glob(os.path.join(lp.get('private dir'), 'sam.ldb.d', 'DC=PWS,DC=TEST.ldb'))[0]
db = ldb.Ldb(url=part, options=['modules:'])
m = ldb.Message()
m.dn = ldb.Dn(db, sys.argv[2])
m['pwdLastSet'] = ldb.MessageElement(sys.argv[3], ldb.FLAG_MOD_REPLACE, 'pwdLastSet')
db.modify(m)
`;

/** 100 ns intervals, negative, as AD stores password ages. */
const adInterval = (seconds: number): string => String(-Math.round(seconds * 10_000_000));

export interface DcUser {
  /** sAMAccountName */
  username: string;
  upn: string;
  dn: string;
  password: string;
}

export interface PasswordSettings {
  minAgeSeconds?: number;
  maxAgeSeconds?: number;
  lockoutThreshold?: number;
  historyLength?: number;
  minLength?: number;
  complexity?: boolean;
}

export type AccountState =
  'account_disabled' | 'account_expired' | 'password_must_change' | 'account_locked' | 'password_expired';

export interface SambaDc {
  host: string;
  realm: string;
  domain: string;
  baseDn: string;
  caPem: string;
  /** SHA-256 fingerprint of the DC's TLS certificate (AB:CD:…, openssl). */
  certificateSha256: string;
  /** The account domain SID (S-1-5-21-…), as `net getdomainsid` reads it from the DC's database. */
  domainSid: string;
  /** A member of Domain Admins made for the tests (not Administrator). */
  admin: { username: string; password: string };
  oldPasswordPeriodMinutes(): number;
  /** Restarts the DC when its `old password allowed period` is not `minutes`. */
  useOldPasswordPeriod(minutes: number): Promise<void>;
  /** A new enabled account; `settings` become its own PSO. */
  createUser(options?: { password?: string; settings?: PasswordSettings }): Promise<DcUser>;
  /** True when `name` (UPN, DOMAIN\user or DN) binds over LDAPS with `password`; false on invalid credentials. */
  canBind(name: string, password: string): Promise<boolean>;
  /** True when smbclient opens a signed session as DOMAIN\username with `password`; false on a logon failure. */
  canSmb(username: string, password: string): Promise<boolean>;
  /** An administrator's reset (replace unicodePwd). */
  resetPassword(user: DcUser, password: string): Promise<void>;
  /** LDIF changes as the test admin (ldapmodify over LDAPS). */
  modify(ldif: string): Promise<void>;
  /**
   * Makes the account's password `days` old (pwdLastSet written in the DC's database directly: AD
   * accepts only 0 and -1 over LDAP), so a maximum age shorter than that has expired it.
   */
  agePassword(user: DcUser, days: number): Promise<void>;
  /**
   * One new account in each state a logon refuses with a right password, keyed by the detail code
   * the adapters report: disabled, expired, must change, locked out (two failed binds under a PSO
   * with a threshold of two), and with an expired password (a maximum age of two days, aged ten).
   */
  accountsInEveryState(): Promise<Record<AccountState, DcUser>>;
  /** Lets the next file use the DC. */
  release(): Promise<void>;
}

/** Why the DC tests cannot run here (tools, root), or undefined. Ports are checked by acquireSambaDc. */
export function sambaDcUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'Samba AD tests need root (samba runs as root); skipped';
  const missing = TOOLS.filter((t) => !existsSync(t));
  if (missing.length > 0) {
    return `Samba AD tests need ${missing.join(', ')} (Debian packages samba, samba-ad-dc, samba-ad-provision, smbclient, ldap-utils); skipped`;
  }
  return undefined;
}

const runDir = (): string => inject('sambaDcDir');

/**
 * Why the DC cannot be used in this run (see sambaDcUnavailable), or because its fixed ports are
 * taken by something else than this run's DC; undefined when it can.
 */
export async function sambaDcSkipReason(): Promise<string | undefined> {
  const unavailable = sambaDcUnavailable();
  if (unavailable !== undefined) return unavailable;
  if (existsSync(join(runDir(), 'state.json'))) return undefined;
  const busy: number[] = [];
  for (const port of DC_PORTS) if (await portOpen(port)) busy.push(port);
  if (busy.length > 0) {
    return `127.0.0.1 ports ${busy.join(', ')} are in use by something else than this run's Samba DC (it needs 135, 389, 445, 636); skipped`;
  }
  return undefined;
}

/**
 * Takes the run's DC for this file (starting it on first use), with its `old password allowed
 * period` set to `oldPasswordPeriodMinutes` (60 is Windows' and Samba's default). Call release()
 * in afterAll.
 */
export async function acquireSambaDc(options: { oldPasswordPeriodMinutes?: number } = {}): Promise<SambaDc> {
  const minutes = options.oldPasswordPeriodMinutes ?? 60;
  const dir = runDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await acquireLock(dir);
  let state: State;
  try {
    const existing = readState(dir);
    if (existing === undefined) state = await provision(dir, minutes);
    else if (existing.status !== 'running' || existing.pid === undefined || !alive(existing.pid)) {
      await stopDc(existing);
      state = await start(dir, existing, minutes);
    } else if (existing.oldPasswordPeriodMinutes !== minutes) {
      await stopDc(existing);
      state = await start(dir, existing, minutes);
    } else state = existing;
  } catch (error) {
    rmSync(join(dir, 'use.lock'), { force: true });
    throw error;
  }
  return handle(dir, state);
}

async function handle(dir: string, initial: State): Promise<SambaDc> {
  let state = initial;
  const scratch = join(dir, `files-${process.pid}`);
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  const secretFile = (content: string | Buffer): string => {
    const path = join(scratch, randomBytes(8).toString('hex'));
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const tlsEnv = (): NodeJS.ProcessEnv => ({ LDAPTLS_CACERT: state.caFile, LDAPTLS_REQCERT: 'demand' });
  const ldif = async (tool: 'ldapadd' | 'ldapmodify', text: string, as = state.admin) => {
    const pw = secretFile(as.password);
    const file = secretFile(text);
    try {
      await must(
        `/usr/bin/${tool}`,
        ['-H', `ldaps://${DC_HOST}`, '-x', '-D', as.username, '-y', pw, '-f', file],
        {
          env: tlsEnv(),
        },
      );
    } finally {
      rmSync(pw, { force: true });
      rmSync(file, { force: true });
    }
  };
  const unicodePwd = (password: string) => Buffer.from(`"${password}"`, 'utf16le').toString('base64');
  const canBind = async (name: string, password: string) => {
    const pw = secretFile(password);
    try {
      const r = await exec(
        '/usr/bin/ldapsearch',
        ['-H', `ldaps://${DC_HOST}`, '-x', '-D', name, '-y', pw, '-b', '', '-s', 'base', 'dn'],
        { env: tlsEnv(), timeoutMs: 20_000 },
      );
      if (r.code === 0) return true;
      if (r.code === 49) return false;
      throw new Error(`ldapsearch as ${name}: exit ${r.code}: ${r.out}`);
    } finally {
      rmSync(pw, { force: true });
    }
  };

  // A domain admin of our own, so the tests never hand out the Administrator's password.
  let admin = existsSync(join(dir, 'test-admin.json'))
    ? (JSON.parse(readFileSync(join(dir, 'test-admin.json'), 'utf8')) as {
        username: string;
        password: string;
      })
    : undefined;
  if (admin === undefined) {
    const name = 'pwsadmin';
    const password = `Adm-${randomBytes(12).toString('base64url')}1!`;
    const dn = `CN=${name},CN=Users,${DC_BASE_DN}`;
    await ldif(
      'ldapadd',
      [
        `dn: ${dn}`,
        'objectClass: user',
        `sAMAccountName: ${name}`,
        `userPrincipalName: ${name}@${DC_DNS_DOMAIN}`,
        `unicodePwd:: ${unicodePwd(password)}`,
        'userAccountControl: 512',
        '',
      ].join('\n'),
    );
    await ldif(
      'ldapmodify',
      `dn: CN=Domain Admins,CN=Users,${DC_BASE_DN}\nchangetype: modify\nadd: member\nmember: ${dn}\n`,
    );
    admin = { username: `${name}@${DC_DNS_DOMAIN}`, password };
    writeFileSync(join(dir, 'test-admin.json'), JSON.stringify(admin), { mode: 0o600 });
  }
  const testAdmin = admin;
  const fingerprint = (
    await must('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', join(dir, 'tls', 'cert.pem')])
  )
    .trim()
    .replace(/^.*=/, '');
  const domainSid = (await must('/usr/bin/net', ['getdomainsid', '-s', state.conf])).match(
    /S-1-5-21(?:-\d+){3}/,
  )?.[0];
  if (domainSid === undefined) throw new Error('net getdomainsid named no SID');

  const dc: SambaDc = {
    host: DC_HOST,
    realm: DC_REALM,
    domain: DC_DOMAIN,
    baseDn: DC_BASE_DN,
    caPem: state.caPem,
    certificateSha256: fingerprint,
    domainSid,
    admin: testAdmin,
    oldPasswordPeriodMinutes: () => state.oldPasswordPeriodMinutes,
    async useOldPasswordPeriod(minutes) {
      if (state.oldPasswordPeriodMinutes === minutes) return;
      await stopDc(state);
      state = await start(dir, state, minutes);
    },
    async createUser(options = {}) {
      const username = `u${randomBytes(5).toString('hex')}`;
      const password = options.password ?? `Pw-${randomBytes(9).toString('base64url')}-7a!`;
      const dn = `CN=${username},CN=Users,${DC_BASE_DN}`;
      await ldif(
        'ldapadd',
        [
          `dn: ${dn}`,
          'objectClass: user',
          `sAMAccountName: ${username}`,
          `userPrincipalName: ${username}@${DC_DNS_DOMAIN}`,
          `unicodePwd:: ${unicodePwd(password)}`,
          'userAccountControl: 512',
          '',
        ].join('\n'),
      );
      const s = options.settings;
      if (s !== undefined) {
        const day = 86_400;
        await ldif(
          'ldapadd',
          [
            `dn: CN=pso-${username},CN=Password Settings Container,CN=System,${DC_BASE_DN}`,
            'objectClass: msDS-PasswordSettings',
            'msDS-PasswordSettingsPrecedence: 1',
            'msDS-PasswordReversibleEncryptionEnabled: FALSE',
            `msDS-PasswordHistoryLength: ${s.historyLength ?? 24}`,
            `msDS-PasswordComplexityEnabled: ${s.complexity === false ? 'FALSE' : 'TRUE'}`,
            `msDS-MinimumPasswordLength: ${s.minLength ?? 7}`,
            `msDS-MinimumPasswordAge: ${adInterval(s.minAgeSeconds ?? 0)}`,
            `msDS-MaximumPasswordAge: ${adInterval(s.maxAgeSeconds ?? 42 * day)}`,
            `msDS-LockoutThreshold: ${s.lockoutThreshold ?? 0}`,
            `msDS-LockoutObservationWindow: ${adInterval(1_800)}`,
            `msDS-LockoutDuration: ${adInterval(1_800)}`,
            `msDS-PSOAppliesTo: ${dn}`,
            '',
          ].join('\n'),
        );
      }
      return { username, upn: `${username}@${DC_DNS_DOMAIN}`, dn, password };
    },
    canBind,
    canSmb: (username, password) =>
      smbLogon({ host: DC_HOST, port: 445, domain: DC_DOMAIN }, username, password),
    async resetPassword(user, password) {
      await ldif(
        'ldapmodify',
        `dn: ${user.dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: ${unicodePwd(password)}\n`,
      );
    },
    modify: (text) => ldif('ldapmodify', text),
    async accountsInEveryState() {
      const replace = async (attribute: string, value: string) => {
        const u = await dc.createUser();
        await dc.modify(`dn: ${u.dn}\nchangetype: modify\nreplace: ${attribute}\n${attribute}: ${value}\n`);
        return u;
      };
      const locked = await dc.createUser({ settings: { lockoutThreshold: 2 } });
      for (let i = 0; i < 2; i++) {
        if (await canBind(locked.upn, 'Wrong-Password-1!')) throw new Error('a wrong password bound');
      }
      const expiring = await dc.createUser({ settings: { maxAgeSeconds: 2 * 86_400 } });
      await dc.agePassword(expiring, 10);
      return {
        account_disabled: await replace('userAccountControl', '514'),
        account_expired: await replace('accountExpires', '1'),
        password_must_change: await replace('pwdLastSet', '0'),
        account_locked: locked,
        password_expired: expiring,
      };
    },
    async agePassword(user, days) {
      // FILETIME: 100 ns since 1601-01-01.
      const filetime = (
        BigInt(Date.now() - days * 86_400_000) * 10_000n +
        116_444_736_000_000_000n
      ).toString();
      await must('/usr/bin/python3', ['-c', AGE_PASSWORD_PY, state.conf, user.dn, filetime]);
    },
    async release() {
      rmSync(scratch, { recursive: true, force: true });
      rmSync(join(dir, 'use.lock'), { force: true });
    },
  };
  return dc;
}

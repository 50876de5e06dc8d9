/**
 * A private OpenLDAP server for one test file (Debian's slapd): its own slapd.conf and MDB database
 * in a temp folder, `ldap://` and `ldaps://` on free loopback ports, TLS from a throw-away CA, and
 * the password policy overlay (ppolicy) with a few policies a test can give an account:
 *
 * - `default`: at least 8 characters, quality checked, the last 3 passwords refused, no minimum age;
 * - `mustChange`: as default, and a reset by the administrator makes the account change its password;
 * - `minAge`: as default, and a password may not be changed for an hour after it was set;
 * - `expiring`: as default, and a password expires one second after it was set (no grace binds).
 *
 * Accounts are `uid=<name>,ou=people,dc=example,dc=org`; the administrator is the rootdn
 * `cn=admin,dc=example,dc=org`. The test's own checks use the OpenLDAP command-line tools
 * (ldapwhoami, ldapmodify) with passwords in 0600 files (`-y`), never on their command lines.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnChild, type Child } from './children.js';
import { freePort } from './ports.js';
import { createPki, type Pki } from './tls.js';
import { waitFor } from './wait.js';

export const SLAPD = process.env.TEST_SLAPD ?? '/usr/sbin/slapd';
export const BASE_DN = 'dc=example,dc=org';
export const PEOPLE_DN = `ou=people,${BASE_DN}`;
export const ADMIN_DN = `cn=admin,${BASE_DN}`;
export const USER_DN_TEMPLATE = `uid={username},${PEOPLE_DN}`;

export type LdapPolicy = 'default' | 'mustChange' | 'minAge' | 'expiring';

/** Why a private slapd cannot run here, or undefined when it can. */
export function slapdUnavailable(): string | undefined {
  const missing = [SLAPD, '/usr/bin/ldapadd', '/usr/bin/ldapwhoami', '/usr/bin/openssl'].filter(
    (f) => !existsSync(f),
  );
  if (missing.length > 0) {
    return `a private OpenLDAP needs ${missing.join(', ')} (Debian packages slapd, ldap-utils, openssl); skipped`;
  }
  return undefined;
}

export interface LdapUser {
  uid: string;
  dn: string;
  password: string;
}

export interface Slapd {
  host: '127.0.0.1';
  ldapPort: number;
  ldapsPort: number;
  pki: Pki;
  caPem: string;
  adminPassword: string;
  /** The SHA-256 fingerprint of the certificate slapd presents now (AB:CD:…, from openssl). */
  certificateSha256(): Promise<string>;
  createUser(options?: { password?: string; policy?: LdapPolicy }): Promise<LdapUser>;
  /** True when `dn` / `password` binds (ldapwhoami over ldaps, checking the CA); false on invalid credentials. */
  canBind(dn: string, password: string): Promise<boolean>;
  /** Sets a password as the administrator (Password Modify), as an out-of-band reset would. */
  resetPassword(dn: string, password: string): Promise<void>;
  /** Applies LDIF changes as the administrator (ldapmodify). */
  modify(ldif: string): Promise<void>;
  /** Restarts slapd presenting this certificate (files from `pki.issue`), or the default one. */
  useCertificate(files?: { cert: string; key: string }): Promise<void>;
  stop(): Promise<void>;
}

function exec(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** Starts slapd on free loopback ports; stop() kills it and removes its folder and CA. */
export async function startSlapd(): Promise<Slapd> {
  const unavailable = slapdUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  const dir = mkdtempSync(join(tmpdir(), 'test-slapd-'));
  const db = join(dir, 'db');
  mkdirSync(db);
  const pki = createPki();
  const defaultCert = pki.issue('slapd', 'server', 'IP:127.0.0.1');
  const adminPassword = `Admin-${randomBytes(9).toString('base64url')}`;
  const [ldapPort, ldapsPort] = [await freePort(), await freePort()];
  const confPath = join(dir, 'slapd.conf');
  const secretFile = (value: string): string => {
    const path = join(dir, `pw-${randomBytes(6).toString('hex')}`);
    writeFileSync(path, value, { mode: 0o600 });
    return path;
  };
  const writeConf = (cert: { cert: string; key: string }) =>
    writeFileSync(
      confPath,
      [
        'include /etc/ldap/schema/core.schema',
        'include /etc/ldap/schema/cosine.schema',
        'include /etc/ldap/schema/inetorgperson.schema',
        'modulepath /usr/lib/ldap',
        'moduleload back_mdb',
        'moduleload ppolicy',
        `pidfile ${join(dir, 'slapd.pid')}`,
        `TLSCACertificateFile ${pki.caCert}`,
        `TLSCertificateFile ${cert.cert}`,
        `TLSCertificateKeyFile ${cert.key}`,
        'password-hash {SSHA}',
        'database mdb',
        'maxsize 10485760',
        `suffix "${BASE_DN}"`,
        `rootdn "${ADMIN_DN}"`,
        `rootpw ${adminPassword}`,
        `directory ${db}`,
        'overlay ppolicy',
        `ppolicy_default "cn=default,ou=policies,${BASE_DN}"`,
        'ppolicy_use_lockout',
        'access to attrs=userPassword by self write by anonymous auth by * none',
        'access to * by self read by users read by * none',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  writeConf(defaultCert);
  let current = defaultCert;
  let child: Child | undefined;
  let log = '';
  const start = async () => {
    const c = spawnChild(
      SLAPD,
      ['-h', `ldap://127.0.0.1:${ldapPort}/ ldaps://127.0.0.1:${ldapsPort}/`, '-f', confPath, '-d', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const s of [c.process.stdout, c.process.stderr])
      s?.setEncoding('utf8').on('data', (d: string) => (log += d));
    child = c;
    let exited = false;
    void c.exited.then(() => (exited = true));
    await waitFor(
      async () => {
        if (exited) throw new Error(`slapd exited: ${log.slice(-2000)}`);
        return (await exec('/usr/bin/ldapwhoami', ['-H', `ldap://127.0.0.1:${ldapPort}`, '-x'])).code === 0;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: `slapd on 127.0.0.1:${ldapPort}` },
    );
  };
  const adminFile = secretFile(adminPassword);
  /** Runs an OpenLDAP tool as the administrator with `content` in a 0600 file given after `flag`. */
  const asAdmin = async (tool: string, flag: string, content: string, extra: string[] = []) => {
    const file = secretFile(content);
    const r = await exec(`/usr/bin/${tool}`, [
      ...['-H', `ldap://127.0.0.1:${ldapPort}`, '-x', '-D', ADMIN_DN, '-y', adminFile],
      ...[flag, file, ...extra],
    ]);
    rmSync(file, { force: true });
    if (r.code !== 0) throw new Error(`${tool} failed (${r.code}): ${r.out}`);
  };
  const admin = (tool: 'ldapadd' | 'ldapmodify', ldif: string) => asAdmin(tool, '-f', ldif);
  const passwd = (dn: string, password: string) => asAdmin('ldappasswd', '-T', password, [dn]);
  const policy = (name: LdapPolicy, extra: string[]) =>
    [
      `dn: cn=${name},ou=policies,${BASE_DN}`,
      'objectClass: organizationalRole',
      'objectClass: pwdPolicy',
      `cn: ${name}`,
      'pwdAttribute: userPassword',
      'pwdMinLength: 8',
      'pwdCheckQuality: 1',
      'pwdInHistory: 3',
      'pwdAllowUserChange: TRUE',
      'pwdLockout: TRUE',
      'pwdMaxFailure: 20',
      ...extra,
      '',
    ].join('\n');

  try {
    await start();
    await admin(
      'ldapadd',
      [
        `dn: ${BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
        `dn: ${PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n`,
        `dn: ou=policies,${BASE_DN}\nobjectClass: organizationalUnit\nou: policies\n`,
        policy('default', []),
        policy('mustChange', ['pwdMustChange: TRUE']),
        policy('minAge', ['pwdMinAge: 3600']),
        policy('expiring', ['pwdMaxAge: 1', 'pwdGraceAuthNLimit: 0']),
      ].join('\n'),
    );
  } catch (error) {
    await child?.stop(5_000);
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
    throw error;
  }

  return {
    host: '127.0.0.1',
    ldapPort,
    ldapsPort,
    pki,
    caPem: readFileSync(pki.caCert, 'utf8'),
    adminPassword,
    certificateSha256: () => opensslFingerprint(current.cert),
    async createUser(options = {}) {
      const uid = `u${randomBytes(5).toString('hex')}`;
      const dn = `uid=${uid},${PEOPLE_DN}`;
      const password = options.password ?? `Pw-${randomBytes(9).toString('base64url')}`;
      const policyName = options.policy ?? 'default';
      await admin(
        'ldapadd',
        [
          `dn: ${dn}`,
          'objectClass: inetOrgPerson',
          `uid: ${uid}`,
          `cn: ${uid}`,
          'sn: test',
          ...(policyName === 'default' ? [] : [`pwdPolicySubentry: cn=${policyName},ou=policies,${BASE_DN}`]),
          '',
        ].join('\n'),
      );
      await passwd(dn, password);
      if (policyName === 'mustChange') {
        // The first password was set by the administrator: that counts as a reset. Start clean.
        await admin('ldapmodify', `dn: ${dn}\nchangetype: modify\ndelete: pwdReset\n`);
      }
      return { uid, dn, password };
    },
    async canBind(dn, password) {
      const file = secretFile(password);
      const r = await exec(
        '/usr/bin/ldapwhoami',
        ['-H', `ldaps://127.0.0.1:${ldapsPort}`, '-x', '-D', dn, '-y', file],
        { LDAPTLS_CACERT: pki.caCert, LDAPTLS_REQCERT: 'demand' },
      );
      rmSync(file, { force: true });
      if (r.code === 0) return true;
      if (r.code === 49) return false;
      throw new Error(`ldapwhoami as ${dn}: exit ${r.code}: ${r.out}`);
    },
    resetPassword: passwd,
    modify: (ldif) => admin('ldapmodify', ldif),
    async useCertificate(files) {
      current = files ?? defaultCert;
      writeConf(current);
      await child?.stop(5_000);
      await start();
    },
    async stop() {
      await child?.stop(5_000);
      rmSync(dir, { recursive: true, force: true });
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}

/** A certificate file's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it (AB:CD:…). */
export async function opensslFingerprint(certFile: string): Promise<string> {
  const r = await exec('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', certFile]);
  const m = /=([0-9A-F:]{95})/.exec(r.out);
  if (!m) throw new Error(`openssl fingerprint of ${certFile}: ${r.out}`);
  return m[1]!;
}

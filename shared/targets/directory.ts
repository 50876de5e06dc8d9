import { z } from 'zod';
import { dnProblem, fillDnTemplate, USERNAME_PLACEHOLDER } from './dn.js';
import { HostSchema, hostPort, PortSchema } from './host.js';
import { changeViaParts, type TargetKindSpec } from './spec.js';
import { caDigest, CertificateSha256Schema, PemCertificateSchema } from './tls-pin.js';

const DnSchema = z
  .string()
  .trim()
  .max(2_000)
  .superRefine((v, ctx) => {
    const problem = dnProblem(v);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `not a DN: ${problem}` });
  });

/**
 * How the connection is protected (docs/adapters/directory.md). `ldaps`: TLS from the first byte
 * (port 636); `starttls`: plain LDAP upgraded with StartTLS before anything else is sent (port 389);
 * `none`: no encryption at all, only when set explicitly. The server is trusted by `ca` (its
 * certificate must chain to it and name `host`), by `certificateSha256` (its certificate must be
 * that one), both, or neither: then the first certificate an agent sees is recorded in
 * `certificateSha256` (trust on first use, audited) and any other is refused afterwards.
 */
export const DirectoryTlsSchema = z.strictObject({
  mode: z.enum(['ldaps', 'starttls', 'none']).default('ldaps'),
  ca: PemCertificateSchema.optional(),
  certificateSha256: CertificateSha256Schema.optional(),
});
export type DirectoryTls = z.output<typeof DirectoryTlsSchema>;

const common = {
  host: HostSchema,
  /** Default 636 for `ldaps`, 389 otherwise. */
  port: PortSchema.optional(),
  tls: DirectoryTlsSchema.prefault({}),
  /**
   * `self`: the account changes its own password (bound with the current one).
   * `privileged`: the account `privilegedCredentialId` (same target) resets it.
   */
  changeVia: z.enum(['self', 'privileged']).default('self'),
  privilegedCredentialId: z.uuid().optional(),
  /** Time allowed to connect (TCP and TLS). */
  connectTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  /** Time allowed for each LDAP operation (bind, search, modify, extended operation). */
  operationTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
};

/**
 * Active Directory (and Samba AD). The credential's username is a UPN (`svc@corp.example`), a
 * down-level name (`CORP\svc`), a DN, or a bare sAMAccountName bound as `<domain>\<name>`.
 */
export const ActiveDirectoryConnectionSchema = z.strictObject({
  flavour: z.literal('active_directory'),
  ...common,
  /** NetBIOS domain name: a bare username binds as `DOMAIN\username`. */
  domain: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,14}$/, {
      message: 'expected a NetBIOS domain name (up to 15 characters)',
    })
    .optional(),
  /** Where accounts are looked up for a change (default: the server's defaultNamingContext). */
  baseDn: DnSchema.optional(),
});

/**
 * An LDAP directory with the Password Modify extended operation (RFC 3062), e.g. OpenLDAP. The
 * credential's username is a DN, or a name put into `userDnTemplate`.
 */
export const LdapConnectionSchema = z
  .strictObject({
    flavour: z.literal('ldap'),
    ...common,
    /** e.g. `uid={username},ou=people,dc=example,dc=org`; the username is escaped into the RDN. */
    userDnTemplate: z.string().trim().max(2_000).optional(),
  })
  .superRefine((c, ctx) => {
    const t = c.userDnTemplate;
    if (t === undefined) return;
    if (!t.includes(USERNAME_PLACEHOLDER)) {
      ctx.addIssue({
        code: 'custom',
        path: ['userDnTemplate'],
        message: `must contain ${USERNAME_PLACEHOLDER}`,
      });
      return;
    }
    const problem = dnProblem(fillDnTemplate(t, 'x'));
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['userDnTemplate'], message: `not a DN template: ${problem}` });
    }
  });

const withPort = <C extends { port?: number | undefined; tls: DirectoryTls }>(c: C) => ({
  ...c,
  port: c.port ?? (c.tls.mode === 'ldaps' ? 636 : 389),
});

/** A directory server: `flavour` decides how accounts are named and passwords changed. */
export const DirectoryConnectionSchema = z
  .discriminatedUnion('flavour', [ActiveDirectoryConnectionSchema, LdapConnectionSchema])
  .transform(withPort);
export type DirectoryConnection = z.output<typeof DirectoryConnectionSchema>;
export type ActiveDirectoryConnection = Extract<DirectoryConnection, { flavour: 'active_directory' }>;
export type LdapConnection = Extract<DirectoryConnection, { flavour: 'ldap' }>;

const scheme = (c: DirectoryConnection): string => (c.tls.mode === 'ldaps' ? 'ldaps' : 'ldap');

export const directorySpec: TargetKindSpec<typeof DirectoryConnectionSchema> = {
  kind: 'directory',
  connectionSchema: DirectoryConnectionSchema,
  host: (c) => c.host,
  // A privileged account must be on the same server, reached the same way and trusting the same CA.
  endpoint: (c) =>
    `${scheme(c)}://${hostPort(c.host.toLowerCase(), c.port)}${c.tls.mode === 'starttls' ? ' (StartTLS)' : ''}${
      c.tls.ca ? ` (CA ${caDigest(c.tls.ca)})` : ''
    }`,
  routing: (c) => ({
    flavour: c.flavour,
    host: c.host.toLowerCase(),
    port: c.port,
    tls: c.tls,
    changeVia: c.changeVia,
    privilegedCredentialId: c.privilegedCredentialId ?? null,
    // Where the account's DN comes from decides which entry a privileged reset writes to.
    ...(c.flavour === 'ldap' ? { userDnTemplate: c.userDnTemplate ?? null } : { baseDn: c.baseDn ?? null }),
  }),
  pinned: (c) =>
    c.tls.certificateSha256 === undefined ? undefined : { tlsCertificateSha256: c.tls.certificateSha256 },
  ...changeViaParts<DirectoryConnection>(),
  // A CA pins the server by name; only without one is the certificate seen recorded.
  pinObserved: (c, observed) =>
    c.tls.mode !== 'none' &&
    c.tls.ca === undefined &&
    c.tls.certificateSha256 === undefined &&
    observed.tlsCertificateSha256 !== undefined
      ? { ...c, tls: { ...c.tls, certificateSha256: observed.tlsCertificateSha256 } }
      : undefined,
  // AD's unicodePwd is a quoted UTF-16 string of at most 256 characters; a NUL ends a C string on
  // the server side of either flavour.
  passwordConstraints: (c) => ({
    forbidden: '\u0000',
    forbiddenText: 'NUL',
    ...(c.flavour === 'active_directory' ? { maxLength: 256 } : {}),
  }),
};
